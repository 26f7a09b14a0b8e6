/**
 * The container runner: what it asks the daemon for (the create body, checked as data, which is
 * the only way to check GPU requests on a machine without GPUs), and what it does against a
 * real Docker daemon (test/helpers/dockerd.ts): logs, exit codes, OOM, signals, refusals.
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBody, killAfterMs, PIDS_LIMIT, type ContainerSpec } from '../../src/adapters/executor/container-runner.js';
import { bindProblems } from '../../src/adapters/executor/container-binds.js';
import { dockerCall, LogDemuxer } from '../../src/adapters/executor/docker-api.js';
import { detectDocker } from '../../src/adapters/executor/docker.js';
import { dockerTestOptions, startDockerd, TEST_IMAGE, type PrivateDockerd } from '../helpers/dockerd.js';

const dir = mkdtempSync(join(tmpdir(), 'gantry-runner-'));
const jobDir = join(dir, 'jobs', 'job-1');
mkdirSync(jobDir, { recursive: true });
// At file level: also when the real-daemon tests are skipped.
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const spec = (over: Partial<ContainerSpec> = {}): ContainerSpec => ({
  socket: join(dir, 'docker.sock'),
  name: `gantry-test-${process.pid}-${++n}`,
  image: TEST_IMAGE,
  command: 'echo out; echo err >&2; exit 3',
  env: { RANK: '0', WORLD_SIZE: '2', CUDA_VISIBLE_DEVICES: 'GPU-a,GPU-b' },
  cwd: jobDir,
  binds: [jobDir],
  allowedRoots: [jobDir],
  hiddenPaths: [join(dir, 'data')],
  gpuUuids: [],
  stopGraceSeconds: 2,
  labels: { 'gantry.dev/job': 'job-1', 'gantry.dev/rank': '0' },
  network: 'none',
  exitFile: join(jobDir, `exit-${n}`),
  ...over,
});

test('container: the create body carries limits, no network, the user, mounts (not binds), init and only the granted GPUs', () => {
  const s = spec({ gpuUuids: ['GPU-a', 'MIG-b'], limits: { milliCpu: 1500, memoryMiB: 512 }, user: '1001:1002', command: ['python', 'train.py'] });
  const b = createBody(s, 8) as { Cmd: string[]; Env: string[]; User: string; HostConfig: Record<string, unknown> };
  assert.deepEqual(b.Cmd, ['python', 'train.py']);
  assert.ok(b.Env.includes('RANK=0') && b.Env.includes('CUDA_VISIBLE_DEVICES=GPU-a,GPU-b'));
  assert.equal(b.User, '1001:1002');
  const h = b.HostConfig;
  assert.equal(h['NanoCpus'], 1_500_000_000);
  assert.equal(h['Memory'], 512 * 1024 * 1024);
  assert.equal(h['MemorySwap'], 512 * 1024 * 1024, 'no swap beyond the memory limit');
  assert.equal(h['PidsLimit'], PIDS_LIMIT);
  assert.equal(h['NetworkMode'], 'none');
  assert.equal(h['Init'], true);
  assert.equal(h['Binds'], undefined, 'Binds would create a missing host folder');
  assert.deepEqual(h['Mounts'], [{ Type: 'bind', Source: jobDir, Target: jobDir }]);
  assert.deepEqual(h['DeviceRequests'], [{ Driver: 'nvidia', DeviceIDs: ['GPU-a', 'MIG-b'], Capabilities: [['gpu']] }]);

  const plain = createBody(spec({ command: 'echo hi', network: 'host', limits: { milliCpu: 64_000, memoryMiB: 64 } }), 2) as { Cmd: string[]; User?: string; HostConfig: Record<string, unknown> };
  assert.deepEqual(plain.Cmd, ['/bin/sh', '-c', 'echo hi']);
  assert.equal(plain.User, undefined, 'no identity: the image decides');
  assert.equal(plain.HostConfig['NetworkMode'], 'host');
  assert.equal(plain.HostConfig['NanoCpus'], 2_000_000_000, 'clamped to the host: the daemon refuses more CPUs than it has');
  assert.equal(plain.HostConfig['DeviceRequests'], undefined, 'a simulated inventory passes no devices');
  const unlimited = createBody(spec({ limits: { milliCpu: 0, memoryMiB: 0 } }), 2) as { HostConfig: Record<string, unknown> };
  for (const k of ['NanoCpus', 'Memory', 'MemorySwap', 'ShmSize']) assert.equal(unlimited.HostConfig[k], undefined, `0 = no ${k} limit`);
  assert.equal(unlimited.HostConfig['PidsLimit'], PIDS_LIMIT);
});

test('container: binds outside the job folders, the host root and folders holding the data directory are refused', () => {
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  symlinkSync('/', join(dir, 'to-root'));
  assert.deepEqual(bindProblems([jobDir, join(jobDir, 'sub')], [jobDir], [data]), []);
  assert.match(bindProblems(['/etc'], [jobDir], [data]).join(), /"\/etc" is outside the job's own folders/);
  assert.match(bindProblems(['/'], ['/'], [data]).join(), /host's root folder/);
  assert.match(bindProblems([join(dir, 'to-root')], [join(dir, 'to-root')], [data]).join(), /\(\/\) is the host's root folder/);
  assert.match(bindProblems([dir], [dir], [data]).join(), /contains the server's data directory/);
  assert.match(bindProblems([`${jobDir}/../..`], [jobDir], [data]).join(), /outside the job's own folders/);
  assert.match(bindProblems(['relative'], [jobDir], [data]).join(), /not an absolute path/);
});

test('container: log frames are demultiplexed, also when split across chunks; SIGKILL comes before the executor\'s', () => {
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
  assert.equal(killAfterMs(2), 1500);
  assert.equal(killAfterMs(30), 29_000);
  assert.equal(killAfterMs(0), 0);
});

test('docker detection: a non-unix DOCKER_HOST or a silent socket is unavailable, with the reason', async () => {
  const saved = process.env['DOCKER_HOST'];
  try {
    process.env['DOCKER_HOST'] = 'tcp://10.0.0.1:2375';
    const tcp = await detectDocker();
    assert.equal(tcp.available, false);
    assert.match(tcp.detail, /DOCKER_HOST=tcp:\/\/10\.0\.0\.1:2375 is not a unix socket/);
    process.env['DOCKER_HOST'] = `unix://${join(dir, 'nobody.sock')}`;
    const none = await detectDocker();
    assert.equal(none.available, false);
    assert.match(none.detail, /no Docker daemon on .*nobody\.sock \(ENOENT\)/);
  } finally {
    if (saved === undefined) delete process.env['DOCKER_HOST'];
    else process.env['DOCKER_HOST'] = saved;
  }
});

interface Run {
  readonly pid: number;
  readonly done: Promise<number | null>;
  log(): string;
}

function runRunner(s: ContainerSpec): Run {
  const file = `${s.exitFile}.container.json`;
  writeFileSync(file, JSON.stringify(s));
  const logPath = `${s.exitFile}.log`;
  const fd = openSync(logPath, 'a');
  const child = spawn(process.execPath, ['dist/src/adapters/executor/container-runner.js', file], { stdio: ['ignore', fd, 'inherit'] });
  closeSync(fd);
  return { pid: child.pid as number, done: new Promise((r) => child.on('exit', (code) => r(code))), log: () => readFileSync(logPath, 'utf8') };
}

async function waitForLog(r: Run, re: RegExp, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!re.test(r.log())) {
    if (Date.now() > end) throw new Error(`log never matched ${String(re)}:\n${r.log()}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('container runner against a real Docker daemon', dockerTestOptions(), () => {
  let d: PrivateDockerd;
  const containers = async (): Promise<{ Labels: Record<string, string> }[]> => JSON.parse((await dockerCall(d.socket, 'GET', '/containers/json?all=1')).text) as { Labels: Record<string, string> }[];
  before(async () => {
    d = await startDockerd();
  });
  after(async () => {
    await d?.stop();
  });

  it('runs the command, streams stdout and stderr, exits with its code and removes the container', async () => {
    const r = runRunner(spec({ socket: d.socket, user: '65534:65534', command: 'echo out; echo err >&2; echo "uid=$(id -u) gid=$(id -g) rank=$RANK"; exit 3' }));
    assert.equal(await r.done, 3, r.log());
    assert.match(r.log(), /^out$/m);
    assert.match(r.log(), /^err$/m);
    assert.match(r.log(), /uid=65534 gid=65534 rank=0/, 'runs as the given identity');
    assert.deepEqual(await containers(), []);
  });

  it('a container over its memory leaves the .oom marker and exits 137', async () => {
    const s = spec({ socket: d.socket, limits: { milliCpu: 500, memoryMiB: 32 }, command: 'dd if=/dev/zero of=/dev/null bs=128M count=1; echo survived' });
    const r = runRunner(s);
    assert.equal(await r.done, 137, r.log());
    assert.ok(existsSync(`${s.exitFile}.oom`), 'the OOM marker exists');
    assert.match(r.log(), /killed for using more than its memory limit \(32 MiB\)/);
  });

  it('forwards the checkpoint signal; SIGTERM reaches the command; one that ignores it is killed within the grace', async () => {
    const trapping = runRunner(spec({ socket: d.socket, command: 'trap "echo got-usr1" USR1; trap "echo got-term; exit 0" TERM; echo ready; while true; do sleep 0.1; done' }));
    await waitForLog(trapping, /ready/);
    process.kill(trapping.pid, 'SIGUSR1');
    await waitForLog(trapping, /got-usr1/);
    process.kill(trapping.pid, 'SIGTERM');
    assert.equal(await trapping.done, 0, trapping.log());
    assert.match(trapping.log(), /got-term/);

    const stubborn = runRunner(spec({ socket: d.socket, stopGraceSeconds: 2, command: 'trap "echo ignoring-term" TERM; echo ready; while true; do sleep 0.1; done' }));
    await waitForLog(stubborn, /ready/);
    const t0 = Date.now();
    process.kill(stubborn.pid, 'SIGTERM');
    assert.equal(await stubborn.done, 137, stubborn.log());
    const took = Date.now() - t0;
    assert.ok(took < 2000, `the runner reported the kill before the executor's grace of 2 s ended (${took} ms)`);
    assert.match(stubborn.log(), /ignoring-term/);
    assert.deepEqual(await containers(), []);
  });

  it('refuses a bind outside the job folders before asking the daemon, with the reason beside the exit file', async () => {
    const s = spec({ socket: d.socket, binds: [jobDir, '/etc'] });
    const r = runRunner(s);
    assert.equal(await r.done, 125);
    assert.match(readFileSync(`${s.exitFile}.reason`, 'utf8'), /refusing to start the container: bind "\/etc" is outside the job's own folders/);
    assert.deepEqual(await containers(), []);
  });

  it('a missing host folder is an error, not created; GPUs without the NVIDIA runtime fail with a clear reason', async () => {
    const missing = join(jobDir, 'not-there');
    const s = spec({ socket: d.socket, binds: [jobDir, missing] });
    const r = runRunner(s);
    assert.equal(await r.done, 125);
    assert.match(readFileSync(`${s.exitFile}.reason`, 'utf8'), /refused to create the container: .*not-there/);
    assert.equal(existsSync(missing), false, 'the daemon did not create the folder');

    const g = spec({ socket: d.socket, gpuUuids: ['GPU-0a1b'] });
    const gr = runRunner(g);
    assert.equal(await gr.done, 125);
    const reason = readFileSync(`${g.exitFile}.reason`, 'utf8');
    assert.match(reason, /granted GPUs GPU-0a1b but the Docker daemon cannot pass GPUs to containers \(.*could not select device driver.*\): install the NVIDIA Container Toolkit/);
    assert.doesNotMatch(gr.log(), /\n\s+at /, 'no stack trace');
    assert.deepEqual(await containers(), [], 'the container that could not start was removed');
  });

  it('removes a container whose runner was killed, when the next runner starts', async () => {
    const s = spec({ socket: d.socket, command: 'echo ready; while true; do sleep 0.1; done' });
    const r = runRunner(s);
    await waitForLog(r, /ready/);
    process.kill(r.pid, 'SIGKILL');
    await r.done;
    const left = await containers();
    assert.equal(left.length, 1, 'SIGKILL left the container running');
    assert.equal(left[0]?.Labels['gantry.dev/job'], 'job-1');
    assert.equal(left[0]?.Labels['gantry.dev/rank'], '0');
    assert.match(left[0]?.Labels['gantry.dev/runner'] ?? '', new RegExp(` ${r.pid} \\d+$`), 'labelled with its runner');
    const next = runRunner(spec({ socket: d.socket, command: 'exit 0' }));
    assert.equal(await next.done, 0, next.log());
    assert.deepEqual(await containers(), []);
  });
});
