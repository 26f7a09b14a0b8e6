/** The README's main command: `gantry quickstart` (npm start) from nothing to finished example jobs with logs. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startTestServer, tempDir } from '../helpers/server.js';

it('npm start: runs the two-worker gang and the checkpointing script and prints their logs', () => {
  const dir = tempDir('gantry-quickstart-');
  try {
    const r = spawnSync(process.execPath, [resolve('bin/gantry.js'), 'quickstart', '--exit', '--port', '0', '--data-dir', join(dir, '.gantry')], { encoding: 'utf8', timeout: 60_000, cwd: dir });
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

it('Ctrl-C during the quickstart cancels its jobs and stops the server', async () => {
  const dir = tempDir('gantry-quickstart-int-');
  const dataDir = join(dir, '.gantry');
  try {
    const child = spawn(process.execPath, [resolve('bin/gantry.js'), 'quickstart', '--port', '0', '--data-dir', dataDir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    for (let i = 0; i < 300 && !/job-2 running/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(out, /job-2 running/);
    child.kill('SIGINT');
    assert.equal(await exited, 130, out);
    assert.match(out, /Ctrl-C: cancelling the examples \(job-1, job-2\)/);
    assert.match(out, /Cancelled 2 example job\(s\); stopping the server/);
    const t = await startTestServer({ dataDir, gpus: '8xH100-80GB' });
    try {
      const j = await t.api('GET', '/v1/jobs/job-2');
      assert.equal(j.body['state'], 'cancelled', j.text);
    } finally {
      await t.server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
