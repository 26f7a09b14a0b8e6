/** The README's main command: `gantry quickstart` (npm start) from nothing to finished example jobs with logs. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from '../helpers/server.js';

it('npm start: runs the two-worker gang and the checkpointing script and prints their logs', () => {
  const dir = tempDir('gantry-quickstart-');
  try {
    const r = spawnSync(process.execPath, [resolve('bin/gantry.js'), 'quickstart', '--exit', '--port', '0', '--data-dir', join(dir, '.gantry')], { encoding: 'utf8', timeout: 60_000, cwd: dir });
    const workspace = /jobs: +(\S+)/.exec(r.stdout)?.[1];
    if (workspace !== undefined && !workspace.startsWith(dir)) rmSync(workspace, { recursive: true, force: true });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /8x H100-80GB \(simulated\)/);
    assert.match(r.stdout, /job-1 succeeded/);
    assert.match(r.stdout, /job-2 succeeded/);
    assert.match(r.stdout, /all-reduce: sum of ranks = 1/);
    assert.match(r.stdout, /rank 1: sent my value/);
    assert.match(r.stdout, /checkpoint saved at step/);
    assert.match(r.stdout, /Both examples finished/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
