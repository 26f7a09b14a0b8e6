import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBody, LogDemuxer, type ContainerSpec } from '../../src/adapters/executor/container-runner.js';
import { startDockerStandIn } from '../helpers/docker-engine.js';

const dir = mkdtempSync(join(tmpdir(), 'gantry-docker-'));
const spec = (over: Partial<ContainerSpec> = {}): ContainerSpec => ({
  socket: join(dir, 'docker.sock'),
  name: 'gantry-job-1-0',
  image: 'python:3.11',
  command: 'echo out; echo err >&2; exit 3',
  env: { RANK: '0', WORLD_SIZE: '2', CUDA_VISIBLE_DEVICES: 'GPU-a,GPU-b' },
  cwd: dir,
  binds: [dir, '/data/job-1'],
  gpuUuids: ['GPU-a', 'GPU-b'],
  stopGraceSeconds: 5,
  labels: { 'gantry.dev/job': 'job-1' },
  ...over,
});

test('container: the create request carries the image, command, environment, mounts and GPUs', () => {
  const b = createBody(spec()) as { Image: string; Cmd: string[]; Env: string[]; HostConfig: { Binds: string[]; NetworkMode: string; DeviceRequests: { DeviceIDs: string[]; Capabilities: string[][] }[] } };
  assert.equal(b.Image, 'python:3.11');
  assert.deepEqual(b.Cmd, ['/bin/sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.ok(b.Env.includes('RANK=0') && b.Env.includes('CUDA_VISIBLE_DEVICES=GPU-a,GPU-b'));
  assert.deepEqual(b.HostConfig.Binds, [`${dir}:${dir}`, '/data/job-1:/data/job-1']);
  assert.equal(b.HostConfig.NetworkMode, 'host');
  assert.deepEqual(b.HostConfig.DeviceRequests[0]?.DeviceIDs, ['GPU-a', 'GPU-b']);
  assert.deepEqual(b.HostConfig.DeviceRequests[0]?.Capabilities, [['gpu']]);
  const sim = createBody(spec({ gpuUuids: [], command: ['python', 'train.py'] })) as { Cmd: string[]; HostConfig: Record<string, unknown> };
  assert.deepEqual(sim.Cmd, ['python', 'train.py']);
  assert.equal(sim.HostConfig['DeviceRequests'], undefined, 'a simulated inventory passes no devices');
});

test('container: log frames are demultiplexed, also when split across chunks', () => {
  const out: string[] = [];
  const d = new LogDemuxer((b) => out.push(b.toString()));
  const f = (s: string, stream = 1): Buffer => {
    const h = Buffer.alloc(8);
    h.writeUInt8(stream, 0);
    h.writeUInt32BE(Buffer.byteLength(s), 4);
    return Buffer.concat([h, Buffer.from(s)]);
  };
  const all = Buffer.concat([f('hello\n'), f('oops\n', 2), f('bye\n')]);
  d.push(all.subarray(0, 5));
  d.push(all.subarray(5, 17));
  d.push(all.subarray(17));
  assert.deepEqual(out, ['hello\n', 'oops\n', 'bye\n']);
});

function runRunner(s: ContainerSpec, log: string): { done: Promise<number | null>; pid: number } {
  const file = join(dir, `${s.name}.json`);
  writeFileSync(file, JSON.stringify(s));
  const child = spawn(process.execPath, ['dist/src/adapters/executor/container-runner.js', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout?.on('data', (c: Buffer) => (text += c.toString()));
  return { pid: child.pid as number, done: new Promise((r) => child.on('exit', (code) => { writeFileSync(log, text); r(code); })) };
}

test('container runner: runs through the Engine API, streams logs, exits with the container\'s code, cleans up', async () => {
  const docker = await startDockerStandIn(join(dir, 'docker.sock'));
  try {
    const log = join(dir, 'w0.log');
    const r = runRunner(spec(), log);
    assert.equal(await r.done, 3);
    assert.match(readFileSync(log, 'utf8'), /out\n/);
    assert.match(readFileSync(log, 'utf8'), /err\n/);
    assert.deepEqual(
      docker.calls.map((c) => c.replace(/\/c\d+\b/, '/ID').replace(/\?.*$/, '')),
      ['POST /containers/create', 'POST /containers/ID/start', 'GET /containers/ID/logs', 'POST /containers/ID/wait', 'DELETE /containers/ID'].filter((c, i, a) => a.indexOf(c) === i),
    );
  } finally {
    await docker.close();
  }
});

test('container runner: the checkpoint signal reaches the container; SIGTERM becomes stop with the grace', async () => {
  const docker = await startDockerStandIn(join(dir, 'docker2.sock'));
  try {
    const script = 'trap "echo got-usr1" USR1; trap "echo got-term; exit 0" TERM; i=0; while [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done';
    const s = spec({ socket: docker.socket, name: 'sig', command: script, stopGraceSeconds: 7 });
    const log = join(dir, 'sig.log');
    const r = runRunner(s, log);
    const started = Date.now();
    while (!docker.calls.some((c) => c.includes('/logs')) && Date.now() - started < 5000) await new Promise((res) => setTimeout(res, 50));
    await new Promise((res) => setTimeout(res, 300));
    process.kill(r.pid, 'SIGUSR1');
    await new Promise((res) => setTimeout(res, 400));
    process.kill(r.pid, 'SIGTERM');
    assert.equal(await r.done, 0);
    const text = readFileSync(log, 'utf8');
    assert.match(text, /got-usr1/);
    assert.match(text, /got-term/);
    assert.ok(docker.calls.some((c) => /\/kill\?signal=SIGUSR1$/.test(c)), docker.calls.join('\n'));
    assert.ok(docker.calls.some((c) => /\/stop\?t=7$/.test(c)), docker.calls.join('\n'));
  } finally {
    await docker.close();
  }
});
