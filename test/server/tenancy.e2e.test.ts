/**
 * End to end: a job is a tenant, never a guest of the control plane. A probe job of team A, a
 * shell script running as A's job uid, tries to read the server's state (token, database, log,
 * /proc of the server), team B's files and environment, to forge exit files, to kill B's
 * worker, the server and its own wrapper, and to stall the server with a FIFO, a symlink to
 * /dev/zero and a 10 GB sparse file as its progress file. It prints `GOT: ...` for anything that
 * worked; nothing may. Also: every process a job starts ends with it, OOM kills are reported,
 * the data dir is private. Needs root (per-job uids) and cgroups; skipped otherwise.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { call, startTestServer, tempDir, waitFor, waitState, job, type TestServer } from '../helpers/server.js';

const root = process.getuid?.() === 0;

/** Pids whose command line contains `marker`. */
function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      if (readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0').includes(marker)) out.push(Number(n));
    } catch {
      // gone
    }
  }
  return out;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(n));
    } catch {
      // gone
    }
  }
  return out;
}

const PROBE = String.raw`
got() { echo "GOT: $*"; }
W="$GANTRY_JOB_DIR/.."
try_read() { if head -c 64 "$1" >/dev/null 2>&1; then got "read $1"; fi; }
try_read "$DATA/admin-token"
try_read "$DATA/gantry.db"
try_read "$DATA/gantry.db-wal"
try_read "$DATA/server.log"
try_read "$DATA/server.json"
try_read "/proc/$SERVER_PID/root$DATA/admin-token"
try_read "/proc/$SERVER_PID/environ"
try_read "/proc/$SERVER_PID/cwd/admin-token"
if ls "/proc/$SERVER_PID/fd/" >/dev/null 2>&1; then got "list server fds"; fi
for f in /proc/$SERVER_PID/fd/*; do if [ -f "$f" ] && timeout 1 head -c 1 "$f" >/dev/null 2>&1; then got "read server fd $f"; fi; done
try_read "$B_DIR/logs/worker-0.log"
try_read "$B_DIR/checkpoints/secret"
if ls "$B_DIR" >/dev/null 2>&1; then got "list B's job dir"; fi
if ls "$WORKSPACE" >/dev/null 2>&1; then got "list the workspace root"; fi
if touch "$B_DIR/work/planted" 2>/dev/null; then got "write into B's work dir"; fi
for p in $B_PIDS; do
  if grep -q B-ENV-SECRET "/proc/$p/environ" 2>/dev/null; then got "B's env via /proc/$p/environ"; fi
done
if (echo 0 > "$B_EXIT") 2>/dev/null; then got "wrote B's exit file"; fi
if (echo 0 > "$DATA/workers/$GANTRY_JOB/exit-$GANTRY_ATTEMPT-0") 2>/dev/null; then got "wrote my own exit file"; fi
if mkdir -p "$DATA/workers/x" 2>/dev/null; then got "wrote into the state dir"; fi
if rm -f "$GANTRY_JOB_DIR/logs/worker-0.log" 2>/dev/null && ln -s "$DATA/admin-token" "$GANTRY_JOB_DIR/logs/worker-0.log" 2>/dev/null; then got "replaced my log with a link"; fi
for p in $B_PIDS $SERVER_PID $MY_WRAPPER; do if kill -0 "$p" 2>/dev/null; then got "may signal $p"; fi; kill -KILL "$p" 2>/dev/null && got "killed $p"; done
P="$GANTRY_PROGRESS_FILE"; A="$GANTRY_CHECKPOINT_ACK_FILE"
echo "phase fifo"; mkfifo "$P"; mkfifo "$A"; sleep 1.5; rm -f "$P" "$A"
echo "phase zero"; ln -s /dev/zero "$P"; ln -s /dev/zero "$A"; sleep 1.5; rm -f "$P" "$A"
echo "phase sparse"; truncate -s 10G "$P"; sleep 1.5; rm -f "$P"
echo '{"step": 42}' > "$P"
sleep 1
kill -KILL -1 2>/dev/null
echo "PROBE DONE"
`;

describe('tenancy: a probe job of team A against the server and team B', { skip: !root && 'needs root (per-job uids)' }, () => {
  let t: TestServer;
  let tokA = '';
  let tokB = '';
  before(async () => {
    const dir = tempDir();
    t = await startTestServer({ dataDir: dir, gpus: '2xH100-80GB', log: (l) => appendFileSync(join(dir, 'server.log'), `${l}\n`) });
    tokA = String((await t.api('POST', '/v1/users', { name: 'alice', team: 'team-a' })).body['token']);
    tokB = String((await t.api('POST', '/v1/users', { name: 'bob', team: 'team-b' })).body['token']);
  });
  after(async () => {
    await t.close();
  });

  it('the probe gets nothing, B ends with its own status, the server stays responsive', async () => {
    const b = await t.api('POST', '/v1/jobs', job({ name: 'b', env: { B_SECRET: 'B-ENV-SECRET' }, command: 'echo B-LOG-SECRET; echo B-CKPT > "$GANTRY_CHECKPOINT_DIR/secret"; sleep 14; exit 7' }), tokB);
    assert.equal(b.status, 201, b.text);
    const bId = String(b.body['id']);
    await waitState(t, bId, ['running']);
    const bRow = t.server.controller.activeJob(bId);
    assert.ok(bRow?.workers[0]);
    const bWrapper = bRow.workers[0].pid;
    const bPids = [bWrapper, ...(await waitFor('B\'s job process', async () => childrenOf(bWrapper).length > 0 && childrenOf(bWrapper)))];
    const bDir = t.server.controller.paths(bId, 'team-b').dir;

    const env = { DATA: t.dir, WORKSPACE: t.server.workspace, SERVER_PID: String(process.pid), B_DIR: bDir, B_EXIT: bRow.workers[0].exitFile, B_PIDS: bPids.join(' ') };
    const a = await t.api('POST', '/v1/jobs', job({ name: 'probe', env, command: `GANTRY_JOB_DIR="$(dirname "$PWD")"; MY_WRAPPER=$PPID; ${PROBE}` }), tokA);
    assert.equal(a.status, 201, a.text);
    const aId = String(a.body['id']);

    // While the probe runs: the API answers fast (no FIFO, /dev/zero or sparse file stalls the loop).
    let slowest = 0;
    let aState: Record<string, unknown> = {};
    const end = Date.now() + 40_000;
    while (Date.now() < end) {
      const t0 = performance.now();
      const r = await t.api('GET', `/v1/jobs/${aId}`);
      slowest = Math.max(slowest, performance.now() - t0);
      aState = r.body;
      if (['succeeded', 'failed', 'cancelled'].includes(String(r.body['state']))) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const log = (await t.api('GET', `/v1/jobs/${aId}/logs`)).text;
    assert.match(log, /PROBE DONE/, log);
    assert.doesNotMatch(log, /GOT:/, log);
    assert.equal(aState['state'], 'succeeded', String(aState['reason']));
    assert.equal((aState['progress'] as Record<string, unknown> | null)?.['step'], 42, 'progress still read after the attacks');
    assert.ok(slowest < 2000, `an API request took ${Math.round(slowest)} ms during the probe`);

    const bDone = await waitState(t, bId, ['succeeded', 'failed'], 30_000);
    assert.equal(bDone['state'], 'failed');
    assert.equal(bDone['exitCode'], 7, String(bDone['reason']));
    assert.match(String(bDone['reason']), /exit code 7/);
    assert.match((await t.api('GET', `/v1/jobs/${bId}/logs`, undefined, tokB)).text, /B-LOG-SECRET/);
  });

  it('the logs API follows no symlink out of the job folder', async () => {
    const r = await t.api('POST', '/v1/jobs', job({ name: 'short', command: 'echo hi' }), tokA);
    const id = String(r.body['id']);
    await waitState(t, id, ['succeeded']);
    const logFile = join(t.server.controller.paths(id, 'team-a').logs, 'worker-0.log');
    unlinkSync(logFile);
    symlinkSync(join(t.dir, 'admin-token'), logFile);
    const res = await t.api('GET', `/v1/jobs/${id}/logs`, undefined, tokA);
    assert.equal(res.status, 200);
    assert.ok(!res.text.includes(t.adminToken), 'the admin token came through a symlinked log');
  });

  it('a folder planted where the server removes the ack file does not stop the job\'s retry', async () => {
    const cmd = 'mkdir -p "$GANTRY_CHECKPOINT_ACK_FILE/x"; [ "$GANTRY_ATTEMPT" = 2 ] && exit 0; exit 1';
    const r = await t.api('POST', '/v1/jobs', job({ name: 'ack-dir', retries: { limit: 1, backoffSeconds: 0 }, command: cmd }), tokA);
    const done = await waitState(t, String(r.body['id']), ['succeeded', 'failed']);
    assert.equal(done['state'], 'succeeded', String(done['reason']));
    assert.equal(done['attempts'], 2);
  });

  it('a workingDir the job\'s uid cannot reach is not entered as root on its behalf', async () => {
    const closed = tempDir('gantry-closed-');
    const open = join(closed, 'open');
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    try {
      const r = await t.api('POST', '/v1/jobs', job({ name: 'cwd', workingDir: open, command: 'echo "inside $PWD"' }), tokA);
      assert.equal(r.status, 201, r.text);
      const done = await waitState(t, String(r.body['id']), ['succeeded', 'failed']);
      assert.equal(done['state'], 'failed');
      assert.equal(done['exitCode'], 126);
      assert.doesNotMatch((await t.api('GET', `/v1/jobs/${String(r.body['id'])}/logs`)).text, /inside/);
    } finally {
      rmSync(closed, { recursive: true, force: true });
    }
  });

  it('jobs run as distinct uids with their team gid; nothing in their env points into the data dir', async () => {
    const ids: string[] = [];
    for (const [tok, name] of [[tokA, 'a1'], [tokA, 'a2'], [tokB, 'b1']] as const) {
      // All three run at once: uids are unique among unfinished jobs (a finished job's is reused).
      const r = await t.api('POST', '/v1/jobs', job({ name, command: 'echo "ids $(id -u) $(id -g) $(id -G)"; env; sleep 3' }), tok);
      ids.push(String(r.body['id']));
    }
    const seen = [];
    for (const id of ids) {
      await waitState(t, id, ['succeeded']);
      const log = (await t.api('GET', `/v1/jobs/${id}/logs`)).text;
      const m = /ids (\d+) (\d+) (\d+)$/m.exec(log);
      assert.ok(m, log);
      assert.equal(m[3], m[2], 'no supplementary groups');
      assert.ok(!log.includes(t.dir + '/') && !log.split('\n').some((l) => l.endsWith(t.dir)), `the env names the data dir:\n${log}`);
      seen.push({ uid: Number(m[1]), gid: Number(m[2]) });
    }
    assert.ok(seen.every((s) => s.uid >= 200000 && s.gid >= 200000));
    assert.equal(new Set(seen.map((s) => s.uid)).size, 3, 'one uid per job');
    assert.equal(seen[0]?.gid, seen[1]?.gid, 'one gid per team');
    assert.notEqual(seen[0]?.gid, seen[2]?.gid);
  });
});

describe('a job is all its processes', { skip: !root && 'needs root' }, () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ gpus: '1xH100-80GB' });
  });
  after(async () => {
    await t.close();
  });

  it('background, setsid and double-forked children end with the job; it is not done while they run', async () => {
    const cmd = 'sleep 3101 & setsid sleep 3102 & (sleep 3103 &) ; sleep 1; echo started; exit 0';
    const r = await t.api('POST', '/v1/jobs', job({ name: 'forks', command: cmd }));
    const id = String(r.body['id']);
    await waitFor('the children', async () => processesWith('3103').length > 0);
    await waitState(t, id, ['succeeded']);
    // The job reads as ended only after every process of it is gone.
    for (const m of ['3101', '3102', '3103']) assert.deepEqual(processesWith(m), [], `sleep ${m} survived the job`);
  });

  it('cancel stops escaped children too', async () => {
    const cmd = 'setsid sh -c "sleep 3201" & (setsid sleep 3202 &); trap "" TERM; sleep 3203';
    const r = await t.api('POST', '/v1/jobs', job({ name: 'cancel-forks', command: cmd }));
    const id = String(r.body['id']);
    await waitFor('the children', async () => processesWith('3202').length > 0 && processesWith('3201').length > 0);
    await t.api('POST', `/v1/jobs/${id}/cancel`);
    await waitState(t, id, ['cancelled']);
    for (const m of ['3201', '3202', '3203']) assert.deepEqual(processesWith(m), [], `sleep ${m} survived the cancel`);
  });

  it('a job over its memory ends OOM_KILLED', async () => {
    const r = await t.api('POST', '/v1/jobs', job({ name: 'hog', resources: { memory: '100Mi' }, command: `${process.execPath} -e "const b = []; for (;;) b.push(Buffer.alloc(16 << 20, 1))"` }));
    const id = String(r.body['id']);
    const done = await waitState(t, id, ['failed', 'succeeded'], 30_000);
    assert.equal(done['state'], 'failed');
    assert.match(String(done['reason']), /^OOM_KILLED: /);
  });
});

describe('without cgroups, the job\'s uid finds what left its process group', { skip: !root && 'needs root' }, () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ gpus: '1xH100-80GB', cgroups: false });
  });
  after(async () => {
    await t.close();
  });

  it('setsid and double-forked children end with the job and on cancel', async () => {
    assert.equal(t.server.isolation.cgroups, null);
    const r = await t.api('POST', '/v1/jobs', job({ name: 'forks', command: 'setsid sleep 3301 & (setsid sleep 3302 &); sleep 3303 & sleep 1; exit 0' }));
    await waitFor('the children', async () => processesWith('3302').length > 0);
    await waitState(t, String(r.body['id']), ['succeeded']);
    for (const m of ['3301', '3302', '3303']) assert.deepEqual(processesWith(m), [], `sleep ${m} survived the job`);

    const c = await t.api('POST', '/v1/jobs', job({ name: 'cancel', command: '(setsid sleep 3304 &); sleep 3305' }));
    await waitFor('the children', async () => processesWith('3304').length > 0);
    await t.api('POST', `/v1/jobs/${String(c.body['id'])}/cancel`);
    await waitState(t, String(c.body['id']), ['cancelled']);
    for (const m of ['3304', '3305']) assert.deepEqual(processesWith(m), [], `sleep ${m} survived the cancel`);
  });
});

describe('server state is private', () => {
  it('refuses a workspace inside the data dir, changing nothing', async () => {
    const dir = tempDir();
    try {
      await assert.rejects(startTestServer({ dataDir: dir, workspace: join(dir, 'work') }), (e: Error & { code?: string }) => e.code === 'BAD_WORKSPACE' && /inside the data dir/.test(e.message));
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the data dir is 0700 even when it existed as 0755; state files are 0600', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'workers'), { mode: 0o755 });
    const t = await startTestServer({ dataDir: dir, gpus: '1xH100-80GB' });
    try {
      const r = await t.api('POST', '/v1/jobs', job({ name: 'x', command: 'echo hi' }));
      await waitState(t, String(r.body['id']), ['succeeded']);
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      assert.equal(statSync(join(dir, 'workers')).mode & 0o777, 0o700);
      for (const f of ['admin-token', 'gantry.db', 'gantry.db-wal', 'gantry.db-shm', 'server.json', 'server.pid']) {
        assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
      }
      assert.equal(statSync(t.server.workspace).mode & 0o777, 0o711);
      assert.ok(!t.server.workspace.startsWith(dir + '/'));
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('not root: single-tenant mode', { skip: !root && 'needs root to start a server as another user' }, () => {
  it('says so in the banner, serves one team and refuses a second with SINGLE_TENANT', async () => {
    const dir = tempDir();
    chownSync(dir, 65534, 65534);
    const dataDir = join(dir, 'state');
    const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, resolve('bin/gantry.js'), 'up', '--data-dir', dataDir, '--port', '0', '--gpus', '1xH100-80GB'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor('the banner', async () => out.includes('ready'), 20_000);
      assert.match(out, /isolation: NONE between jobs: the server is not root/);
      assert.match(out, /single-tenant mode, team "default" only/);
      assert.match(out, /limits: no cgroups/);
      const url = /up at (\S+)/.exec(out)?.[1] ?? '';
      const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
      const other = await call(url, token, 'POST', '/v1/users', { name: 'eve', team: 'other' });
      assert.equal(other.status, 403, other.text);
      assert.equal(other.body.error?.code, 'SINGLE_TENANT');
      assert.match(other.body.error?.message ?? '', /serves team "default" only/);
      const same = await call(url, token, 'POST', '/v1/users', { name: 'dan', team: 'default' });
      assert.equal(same.status, 201, same.text);
      const r = await call(url, String(same.body['token']), 'POST', '/v1/jobs', job({ name: 'me', command: 'id -u' }));
      assert.equal(r.status, 201, r.text);
      await waitFor('the job', async () => (await call(url, token, 'GET', `/v1/jobs/${String(r.body['id'])}`)).body['state'] === 'succeeded');
      assert.match((await call(url, token, 'GET', `/v1/jobs/${String(r.body['id'])}/logs`)).text, /^65534$/m);
      assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    } finally {
      child.kill('SIGTERM');
      await new Promise((res) => child.once('exit', res));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
