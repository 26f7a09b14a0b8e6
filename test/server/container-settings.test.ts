/** The controller's container settings: the job's folders only, its network, its granted GPUs or MIG slices. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containerSettings, workingDirProblems } from '../../src/server/container-settings.js';

test('container settings: job folders, network, and the GPUs the environment names (none when simulated)', () => {
  const root = mkdtempSync(join(tmpdir(), 'gantry-cs-'));
  try {
    const dataDir = join(root, 'data');
    const jobDir = join(dataDir, 'jobs', 'job-1');
    const work = join(root, 'project');
    mkdirSync(jobDir, { recursive: true });
    mkdirSync(work);
    const base = { socket: '/run/d.sock', jobDir, dataDir, stopGraceMs: 2500, simulated: false, env: { NVIDIA_VISIBLE_DEVICES: 'GPU-1,MIG-2' } };
    const own = containerSettings({ network: 'host' }, { ...base, cwd: work });
    assert.deepEqual(own.binds, [jobDir, work]);
    assert.deepEqual(own.allowedRoots, own.binds);
    assert.deepEqual(own.hiddenPaths, [dataDir]);
    assert.equal(own.network, 'host');
    assert.equal(own.stopGraceSeconds, 2.5);
    assert.deepEqual(own.gpuUuids, ['GPU-1', 'MIG-2']);
    const inside = containerSettings({ network: 'none' }, { ...base, cwd: join(jobDir, 'work'), simulated: true });
    assert.deepEqual(inside.binds, [jobDir], 'a working directory inside the job directory is not mounted twice');
    assert.deepEqual(inside.gpuUuids, [], 'a simulated inventory passes no devices');
    assert.deepEqual(containerSettings({ network: 'none' }, { ...base, env: { NVIDIA_VISIBLE_DEVICES: 'void' }, cwd: jobDir }).gpuUuids, []);
    assert.throws(() => containerSettings({ network: 'none' }, { ...base, cwd: root }), /refusing to start the container: bind ".*" contains the server's data directory/);
    assert.deepEqual(workingDirProblems({ workingDir: work }, dataDir), []);
    assert.match(workingDirProblems({ workingDir: root }, dataDir).join(), /contains the server's data directory/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
