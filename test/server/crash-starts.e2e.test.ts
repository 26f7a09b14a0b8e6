/**
 * A crash of the control plane never costs a job anything: `gantry up` (its own process) is
 * killed with SIGKILL five times during 2,000 submissions while jobs start and run, and at
 * exact points in the middle of gang starts (a failpoint, failpoints.ts). After the restarts
 * no acknowledged job is lost or duplicated, no job has used a retry (none failed on its
 * own), and no worker process is left that the server does not know about.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { call, tempDir, waitFor, job } from '../helpers/server.js';
import { testIdBase } from '../helpers/server.js';

/** This file's servers share one uid range (kept across their restarts), apart from other files' servers. */
const ID_BASE = testIdBase();

const BIN = resolve('bin/gantry.js');
const children: ChildProcess[] = [];
const dirs: string[] = [];

interface Proc {
  child: ChildProcess;
  url: string;
  token: string;
}

async function up(dir: string, extra: string[] = [], failpoint?: string): Promise<Proc> {
  rmSync(join(dir, 'server.json'), { force: true });
  const env = { ...process.env };
  if (failpoint) env['GANTRY_FAILPOINT'] = failpoint;
  else delete env['GANTRY_FAILPOINT'];
  const child = spawn(process.execPath, [BIN, 'up', '--data-dir', dir, '--port', '0', '--min-runtime', '0', '--stop-grace', '1', '--id-base', String(ID_BASE), ...extra], { stdio: ['ignore', 'ignore', 'pipe'], env });
  children.push(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor('the server to write server.json', async () => existsSync(join(dir, 'server.json')) || (child.exitCode !== null && Promise.reject(new Error(`server exited: ${err}`))), 15_000);
  const url = (JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8')) as { url: string }).url;
  return { child, url, token: readFileSync(join(dir, 'admin-token'), 'utf8').trim() };
}

async function exited(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  await new Promise((r) => c.once('exit', r));
}

async function kill9(p: Proc): Promise<void> {
  p.child.kill('SIGKILL');
  await exited(p.child);
}

/** Live processes whose environment says they are workers of a job in `dir`. */
function workerPids(dir: string): number[] {
  const marker = `GANTRY_CHECKPOINT_DIR=${join(dir, 'jobs')}/`;
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (readFileSync(`/proc/${e}/environ`, 'utf8').split('\0').some((v) => v.startsWith(marker))) out.push(Number(e));
    } catch {
      // gone, or not ours
    }
  }
  return out;
}

/** Process group of a pid (workers run in their wrapper's group, whose id is the recorded pid). */
function pgid(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return null;
  }
}

interface JobView {
  id: string;
  name: string;
  state: string;
  retries: number;
  attempts: number;
  reason: string | null;
  processes: { pid: number }[];
}

async function allJobs(p: Proc): Promise<JobView[]> {
  const out: JobView[] = [];
  let cursor: string | null = null;
  do {
    const page: Awaited<ReturnType<typeof call>> = await call(p.url, p.token, 'GET', `/v1/jobs?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    out.push(...(page.body['items'] as JobView[]));
    cursor = page.body['nextCursor'] as string | null;
  } while (cursor);
  return out;
}

/** Every worker process of the data dir belongs to a job the server says is running it. */
async function assertNoOrphans(p: Proc, dir: string): Promise<void> {
  const known = new Set<number>();
  for (const j of await allJobs(p)) {
    if (['running', 'preempting', 'cancelling'].includes(j.state)) for (const w of (await call(p.url, p.token, 'GET', `/v1/jobs/${j.id}`)).body['processes'] as { pid: number }[]) known.add(w.pid);
  }
  // A worker that just ended may still be on its way out: look twice before calling it an orphan.
  let orphans: number[] = [];
  for (let i = 0; i < 20; i++) {
    orphans = workerPids(dir).filter((pid) => !known.has(pgid(pid) ?? -1));
    if (orphans.length === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(orphans, [], 'worker processes the server does not know about');
}

after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) {
    for (const pid of workerPids(d)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(d, { recursive: true, force: true });
  }
});

describe('kill -9 of the control plane while jobs start', () => {
  it('2,000 submissions through five kills: none lost, none duplicated, no retry used, no orphan', async () => {
    const dir = tempDir('gantry-crash5-');
    dirs.push(dir);
    const TOTAL = 2000;
    const KILLS_AT = [300, 650, 1000, 1350, 1700];
    let current = await up(dir, ['--gpus', '8xH100-80GB']);
    let restarting: Promise<void> | null = null;
    let acked = 0;
    let kills = 0;
    let next = 0;
    // A gang of 2-4 one-GPU workers every 10th job, the others a one-worker CPU job.
    const body = (i: number): Record<string, unknown> =>
      i % 10 === 0 ? job({ name: `k-${i}`, workers: 2 + (i % 3), resources: { gpu: 1, cpu: '100m', memory: '64Mi' }, command: 'sleep 0.3' }) : job({ name: `k-${i}`, command: 'true' });
    const crashAndRestart = async (): Promise<void> => {
      await kill9(current);
      kills++;
      current = await up(dir);
    };
    const client = async (): Promise<void> => {
      for (let i = next++; i < TOTAL; i = next++) {
        for (;;) {
          if (restarting) await restarting;
          try {
            const r = await call(current.url, current.token, 'POST', '/v1/jobs', body(i), { 'idempotency-key': `k-${i}` });
            assert.ok(r.status === 201 || r.status === 200, `submission ${i}: ${r.status} ${r.text}`);
            break;
          } catch (e) {
            if (e instanceof assert.AssertionError) throw e;
            // The server is gone: wait for the next one and send the same key again.
            await new Promise((r) => setTimeout(r, 50));
          }
        }
        acked++;
        if (kills < KILLS_AT.length && acked >= (KILLS_AT[kills] as number) && !restarting) {
          restarting = crashAndRestart().finally(() => (restarting = null));
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, () => client()));
    if (restarting) await restarting;
    assert.equal(kills, 5);

    const jobs = await allJobs(current);
    const names = jobs.map((j) => j.name);
    assert.equal(new Set(names).size, names.length, 'a submission was stored twice');
    const missing = Array.from({ length: TOTAL }, (_, i) => `k-${i}`).filter((n) => !names.includes(n));
    assert.deepEqual(missing, [], `${missing.length} acknowledged jobs lost`);
    assert.equal(jobs.length, TOTAL);
    assert.deepEqual(jobs.filter((j) => j.state === 'failed').map((j) => `${j.id}: ${j.reason}`), []);
    assert.deepEqual(jobs.filter((j) => j.retries !== 0).map((j) => `${j.id}: ${j.reason}`), [], 'retries used by a crash');
    await assertNoOrphans(current, dir);
    // Stop starting more (the rest would only take time), then check again once all is still.
    const node = ((await call(current.url, current.token, 'GET', '/v1/nodes')).body['items'] as { name: string }[])[0]?.name ?? '';
    await call(current.url, current.token, 'POST', `/v1/nodes/${node}/cordon`);
    await waitFor('the started jobs to finish', async () => (await allJobs(current)).every((j) => j.state === 'queued' || j.state === 'succeeded'), 60_000);
    assert.deepEqual(workerPids(dir), [], 'worker processes left after every started job finished');
    current.child.kill('SIGTERM');
    await exited(current.child);
  });

  it('a crash in the middle of a gang start requeues the gang without a retry and kills its started workers', async () => {
    const dir = tempDir('gantry-crashgang-');
    dirs.push(dir);
    let p = await up(dir, ['--gpus', '8xH100-80GB']);
    const node = ((await call(p.url, p.token, 'GET', '/v1/nodes')).body['items'] as { name: string }[])[0]?.name ?? '';
    await call(p.url, p.token, 'POST', `/v1/nodes/${node}/cordon`); // nothing starts until every gang is in
    const ids: string[] = [];
    for (let i = 0; i < 16; i++) {
      const r = await call(p.url, p.token, 'POST', '/v1/jobs', job({ name: `gang-${i}`, workers: 2 + (i % 3), resources: { gpu: 1, cpu: '100m', memory: '64Mi' }, command: 'sleep 1' }));
      assert.equal(r.status, 201, r.text);
      ids.push(String(r.body['id']));
    }
    p.child.kill('SIGTERM');
    await exited(p.child);

    // Each server dies (by its failpoint) right after the first worker of its n-th gang start.
    const failpoints = ['gang-start:1', 'gang-start:2', 'gang-start:1', 'gang-start:3'];
    for (const [k, fp] of failpoints.entries()) {
      p = await up(dir, [], fp);
      if (k === 0) await call(p.url, p.token, 'POST', `/v1/nodes/${node}/uncordon`).catch(() => undefined);
      await waitFor(`the server to die at ${fp}`, async () => p.child.exitCode !== null || p.child.signalCode !== null, 20_000);
      assert.equal(p.child.signalCode, 'SIGKILL');
    }
    p = await up(dir);
    const jobs = await waitFor('every gang to succeed', async () => {
      const all = (await allJobs(p)).filter((j) => ids.includes(j.id));
      return all.every((j) => j.state === 'succeeded') ? all : null;
    }, 60_000);
    assert.deepEqual(jobs.filter((j) => j.retries !== 0).map((j) => `${j.id}: ${j.reason}`), [], 'retries used by a crash');
    // Each crash interrupted exactly one start (running gangs are re-adopted, not restarted).
    assert.equal(jobs.reduce((n, j) => n + j.attempts - 1, 0), failpoints.length, 'starts beyond the first, one per crash');
    assert.ok(jobs.some((j) => /control plane stopped while starting/.test(String(j.reason)) || j.attempts > 1));
    assert.deepEqual(workerPids(dir), [], 'a worker of an interrupted start survived');
    p.child.kill('SIGTERM');
    await exited(p.child);
  });
});
