/**
 * Replicas of a removed service do not outlive `gantry up`. Running jobs are meant to outlive the
 * server (a restart finds them again), but a removed service's replicas have no service left to
 * find them: `serve rm` followed at once by SIGTERM must end them (drain cut short, SIGKILL
 * after the stop grace) before the server exits, and a server killed with SIGKILL in between
 * ends them when it starts again. The server runs as its own process; the replicas are real
 * `gantry sim llm-server` processes, and the test checks their process groups.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { call, tempDir, testIdBase, waitFor, waitUntil } from '../helpers/server.js';
import { gantryUp, started, type GantryProcess } from '../helpers/gantry-process.js';

type Row = Record<string, unknown>;
const ID_BASE = testIdBase();
const BIN = resolve('bin/gantry.js');
// A server that drains for up to 60 s on SIGTERM: longer than the stop grace, so only SIGKILL ends it in time.
const SERVER = `${process.execPath} ${BIN} sim llm-server --port $PORT --drain-seconds 60`;
const pids = new Set<number>();
const aborts: AbortController[] = [];

type Proc = GantryProcess & { readonly routerUrl: string };

async function up(dir: string): Promise<Proc> {
  const p = await gantryUp(dir, ['--gpus', '2xH100-80GB', '--stop-grace', '2'], process.env, { idBase: ID_BASE, readyMs: 30_000 });
  const { routerUrl } = JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8')) as { routerUrl: string };
  return Object.assign(p, { routerUrl });
}

const groupAlive = (pid: number): boolean => {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
};

const exited = (c: ChildProcess): Promise<unknown> => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)));

/** Starts a two-replica service, waits for both Ready, and returns the replicas' process ids. */
async function serviceWithReplicas(p: Proc): Promise<number[]> {
  const api = (method: string, path: string, body?: unknown) => call(p.url, p.token, method, path, body);
  const spec = { kind: 'Service', name: 'chat', command: SERVER, resources: { gpu: 1, cpu: '100m', memory: '1Gi' }, replicas: { min: 2, max: 2 }, autoscaler: { policy: 'kpa' }, drainSeconds: 30 };
  assert.equal((await api('POST', '/v1/services', spec)).status, 201);
  const svc = await waitUntil('two Ready replicas', async () => (await api('GET', '/v1/services/chat')).body, (s) => (s['replicas'] as Row)['ready'] === 2, 60_000);
  const mine: number[] = [];
  for (const r of (svc['replicaList'] ?? []) as Row[]) for (const pr of ((await api('GET', `/v1/jobs/${String(r['job'])}`)).body['processes'] ?? []) as { pid: number }[]) mine.push(pr.pid);
  assert.equal(mine.length, 2);
  for (const pid of mine) pids.add(pid);
  // A long stream on each replica (8,000 tokens, about a minute): removal then waits for it to
  // finish before it signals the replica, so the server stops while the replicas drain.
  const abort = new AbortController();
  for (let i = 0; i < 2; i++) {
    void fetch(`${p.routerUrl}/chat/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'hello there', max_tokens: 8000, stream: true }), signal: abort.signal })
      .then(async (r) => {
        for await (const _ of r.body ?? []) void _;
      })
      .catch(() => undefined);
  }
  await waitUntil('a stream on each replica', async () => (await api('GET', '/v1/services/chat')).body, (s) => ((s['replicaList'] ?? []) as Row[]).every((r) => Number(r['inFlight']) === 1), 20_000);
  aborts.push(abort);
  return mine;
}

describe('serve rm, then the server stops', () => {
  const dirs: string[] = [];
  after(() => {
    for (const a of aborts) a.abort();
    for (const c of started) c.kill('SIGKILL');
    for (const pid of pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const d of dirs) for (const x of [d, `${d}-work`, `${d}-datasets`]) rmSync(x, { recursive: true, force: true });
  });

  it('SIGTERM right after serve rm: no replica process group survives the server', async () => {
    const dir = tempDir('gantry-svc-rm-term-');
    dirs.push(dir);
    const p = await up(dir);
    const mine = await serviceWithReplicas(p);
    assert.equal((await call(p.url, p.token, 'DELETE', '/v1/services/chat')).status, 200);
    p.child.kill('SIGTERM');
    await exited(p.child);
    assert.deepEqual(mine.filter(groupAlive), [], 'replica process groups alive after the server exited');
  });

  it('SIGKILL right after serve rm: the next start ends the removed service\'s replicas', async () => {
    const dir = tempDir('gantry-svc-rm-kill-');
    dirs.push(dir);
    let p = await up(dir);
    const mine = await serviceWithReplicas(p);
    assert.equal((await call(p.url, p.token, 'DELETE', '/v1/services/chat')).status, 200);
    p.child.kill('SIGKILL');
    await exited(p.child);
    assert.ok(mine.some(groupAlive), 'the replicas outlive a server killed with SIGKILL');
    p = await up(dir);
    await waitFor('the replicas to end', async () => mine.every((pid) => !groupAlive(pid)), 30_000);
    const url = p.url;
    const token = p.token;
    await waitUntil('no active job', async () => (await call(url, token, 'GET', '/v1/jobs?state=active')).body['items'] as Row[], (jobs) => jobs.length === 0, 30_000);
    const ended = (await call(url, token, 'GET', '/v1/jobs?state=cancelled')).body['items'] as Row[];
    assert.deepEqual(ended.map((j) => j['name']).sort(), ['chat-r1', 'chat-r2']);
    p.child.kill('SIGTERM');
    await exited(p.child);
  });
});
