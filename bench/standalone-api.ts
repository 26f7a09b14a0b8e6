/**
 * Benchmarks of the standalone server (docs/benchmarks.md, "Standalone server").
 * The server runs as its own process (`gantry up`), the load generator (autocannon) in this
 * one, both on loopback. Measures:
 *  1. `gantry up` ready time (spawn -> first healthy answer), fresh data dir;
 *  2. job submissions/s through POST /v1/jobs with durable writes (WAL, synchronous=FULL);
 *  3. p50/p99 latency with 50 concurrent clients, for submissions and for reads, both when the
 *     clients go as fast as they can (autocannon, closed loop: latency = 50 / throughput) and at
 *     a fixed offered load of 1,000 requests/s over 50 connections (open loop, wrk2-style: each
 *     request has an intended send time, and its latency is counted from that time, so a stall
 *     is charged to every request it delays; see `paced`);
 * with baselines in the same run: GET /healthz (the HTTP floor), and SQLite inserts with one
 * fsync per job (what the server would do without group commit).
 * Usage: node dist/bench/standalone-api.js [--seconds 10] [--connections 50]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { SqliteStore } from '../src/adapters/store/sqlite-store.js';
import { validateJobFile } from '../src/spec/job-spec.js';

const args = process.argv.slice(2);
const arg = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = arg('seconds', 10);
const CONNECTIONS = arg('connections', 50);

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function startServer(dir: string): Promise<{ child: ChildProcess; url: string; token: string; readyMs: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [resolve('bin/gantry.js'), 'up', '--data-dir', dir, '--port', '0', '--gpus', '8xH100-80GB', '--max-queued-per-team', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  for (;;) {
    if (existsSync(join(dir, 'server.json'))) {
      const url = (JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8')) as { url: string }).url;
      const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
      if (ok) return { child, url, token: readFileSync(join(dir, 'admin-token'), 'utf8').trim(), readyMs: performance.now() - t0 };
    }
    if (performance.now() - t0 > 20_000) throw new Error('server did not start');
    await sleep(5);
  }
}

interface Run {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly total: number;
}

async function load(opts: autocannon.Options): Promise<Run> {
  const r = await autocannon({ connections: CONNECTIONS, duration: SECONDS, ...opts });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors + r.timeouts, total: r.requests.total };
}

/**
 * Open-loop load at a fixed rate (what wrk2 does; autocannon's `overallRate` is not that: each
 * connection sends its share of a second back to back and then idles, and its coordinated-
 * omission correction takes 1/rate seconds for milliseconds). Request i is due at
 * start + i / rate; its latency runs from that due time to the end of its response, so time
 * spent waiting for a free connection or behind a stalled server counts. The first `warmup`
 * seconds open the connections and are not recorded.
 */
async function paced(o: { url: string; path: string; method?: 'GET' | 'POST'; headers: Record<string, string>; body?: string; rate: number; seconds: number; warmup?: number }): Promise<Run & { p999: number; max: number }> {
  const pool = new Pool(o.url, { connections: CONNECTIONS, pipelining: 1 });
  const warmup = o.warmup ?? 2;
  const total = Math.round(o.rate * (warmup + o.seconds));
  const recordFrom = Math.round(o.rate * warmup);
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  let sent = 0;
  let done = 0;
  const start = performance.now() + 5;
  await new Promise<void>((finish) => {
    const one = (i: number, due: number): void => {
      pool.request({ path: o.path, method: o.method ?? 'GET', headers: o.headers, ...(o.body !== undefined ? { body: o.body } : {}) }).then(
        async (r) => {
          await r.body.dump();
          if (i >= recordFrom) {
            latencies.push(performance.now() - due);
            if (r.statusCode >= 300) non2xx++;
          }
        },
        () => {
          if (i >= recordFrom) errors++;
        },
      ).finally(() => {
        if (++done === total) finish();
      });
    };
    const tick = (): void => {
      const now = performance.now();
      for (let due = start + (sent * 1000) / o.rate; sent < total && due <= now; due = start + (sent * 1000) / o.rate) one(sent++, due);
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  await pool.close();
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN) * 10) / 10;
  return { rps: latencies.length / o.seconds, p50: q(0.5), p99: q(0.99), p999: q(0.999), max: q(1), non2xx, errors, total: total };
}

function rawSqliteInsertsPerSecond(seconds: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-bench-sqlite-'));
  const store = new SqliteStore(join(dir, 'raw.db'));
  const spec = validateJobFile({ name: 'bench', command: 'true' });
  const end = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    store.insertJob({ name: 'bench', team: 't', owner: 'u', queue: 'default', spec, submittedAt: Date.now(), state: 'queued', reason: null, startedAt: null, finishedAt: null, attempts: 0, retries: 0, preemptions: 0, notBefore: 0, bindings: null, workers: [], exitCode: null, lastCheckpointAt: null, progress: null, idempotencyKey: null, requestHash: null });
    n++;
  }
  store.close();
  rmSync(dir, { recursive: true, force: true });
  return n / seconds;
}

async function main(): Promise<void> {
  const out: string[] = [];
  const line = (s: string): void => {
    out.push(s);
    process.stdout.write(s + '\n');
  };
  line(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}; ${CONNECTIONS} connections, ${SECONDS}s per run`);

  // 1. Ready time, three fresh starts.
  const readies: number[] = [];
  for (let i = 0; i < 3; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-bench-up-'));
    const s = await startServer(dir);
    readies.push(s.readyMs);
    s.child.kill('SIGTERM');
    await new Promise((r) => s.child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
  line(`gantry up ready (spawn -> healthy, fresh data dir): ${readies.map((r) => r.toFixed(0)).join(', ')} ms (max ${Math.max(...readies).toFixed(0)} ms; target <= 2000)`);

  const dir = mkdtempSync(join(tmpdir(), 'gantry-bench-'));
  const s = await startServer(dir);
  try {
    const headers = { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' };
    // Jobs stay queued (the node is cordoned): this measures the API and the store, not process spawning.
    const node = ((await (await fetch(`${s.url}/v1/nodes`, { headers })).json()) as { items: { name: string }[] }).items[0]?.name ?? '';
    const cordon = await fetch(`${s.url}/v1/nodes/${node}/cordon`, { method: 'POST', headers: { authorization: headers.authorization } });
    if (!cordon.ok) throw new Error(`cordon failed: ${await cordon.text()}`);

    const floor = await load({ url: `${s.url}/healthz` });
    line(`baseline GET /healthz (no auth, no store): ${floor.rps.toFixed(0)} req/s, p50 ${floor.p50} ms, p99 ${floor.p99} ms`);

    const body = JSON.stringify({ name: 'bench', command: 'true', resources: { gpu: 1 } });
    for (let i = 0; i < 100; i++) await fetch(`${s.url}/v1/jobs`, { method: 'POST', headers, body });
    const readsSmall = await load({ url: `${s.url}/v1/jobs/job-1`, headers });
    line(`GET /v1/jobs/:id (100 jobs queued): ${readsSmall.rps.toFixed(0)} req/s, p50 ${readsSmall.p50} ms, p99 ${readsSmall.p99} ms, non-2xx ${readsSmall.non2xx}`);
    const listsSmall = await load({ url: `${s.url}/v1/jobs?limit=20`, headers });
    line(`GET /v1/jobs?limit=20 (100 jobs queued): ${listsSmall.rps.toFixed(0)} req/s, p50 ${listsSmall.p50} ms, p99 ${listsSmall.p99} ms, non-2xx ${listsSmall.non2xx}`);

    // Latency at a fixed offered load (wrk2-style): 50 clients sharing 1,000 submissions/s, and 1,000 reads/s.
    const pacedPosts = await paced({ url: s.url, path: '/v1/jobs', method: 'POST', headers, body, rate: 1000, seconds: SECONDS });
    line(`POST /v1/jobs at 1,000/s offered over 50 connections, open loop (the queue grows from 100 to ${pacedPosts.total + 100}): p50 ${pacedPosts.p50} ms, p99 ${pacedPosts.p99} ms, p99.9 ${pacedPosts.p999} ms, max ${pacedPosts.max} ms, non-2xx ${pacedPosts.non2xx}, errors ${pacedPosts.errors} (target p99 <= 20 ms)`);
    const pacedReads = await paced({ url: s.url, path: '/v1/jobs/job-1', headers, rate: 1000, seconds: SECONDS });
    line(`GET /v1/jobs/:id at 1,000/s offered over 50 connections, open loop: p50 ${pacedReads.p50} ms, p99 ${pacedReads.p99} ms, p99.9 ${pacedReads.p999} ms, max ${pacedReads.max} ms, non-2xx ${pacedReads.non2xx}`);
    // Where the tail comes from: the server's own event-loop delay and GC (prom-client process metrics).
    const m = await (await fetch(`${s.url}/metrics`, { headers })).text();
    const metric = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(m)?.[1] ?? NaN);
    line(
      `server event loop since start: delay p50 ${(metric('gantry_nodejs_eventloop_lag_p50_seconds') * 1000).toFixed(1)} ms, p99 ${(metric('gantry_nodejs_eventloop_lag_p99_seconds') * 1000).toFixed(1)} ms, max ${(metric('gantry_nodejs_eventloop_lag_max_seconds') * 1000).toFixed(1)} ms; ` +
        `GC ${(metric('gantry_nodejs_gc_duration_seconds_sum') * 1000).toFixed(0)} ms in total (first kind listed)`,
    );
    const submit = await load({ url: `${s.url}/v1/jobs`, method: 'POST', headers, body });
    line(`POST /v1/jobs (durable, group commit, clients as fast as they can; the queue grows to ${submit.total + pacedPosts.total + 100} jobs): ${submit.rps.toFixed(0)} jobs/s, p50 ${submit.p50} ms, p99 ${submit.p99} ms, non-2xx ${submit.non2xx}, errors ${submit.errors} (targets: >= 1000/s, p99 <= 20 ms)`);

    const reads = await load({ url: `${s.url}/v1/jobs/job-1`, headers });
    line(`GET /v1/jobs/:id (${submit.total + pacedPosts.total + 100} jobs queued, saturating): ${reads.rps.toFixed(0)} req/s, p50 ${reads.p50} ms, p99 ${reads.p99} ms, non-2xx ${reads.non2xx}`);
    const metrics = await (await fetch(`${s.url}/metrics`, { headers })).text();
    const cyc = (k: string): number => Number(new RegExp(`gantry_scheduling_cycle_seconds_${k} ([0-9.e+-]+)`).exec(metrics)?.[1] ?? NaN);
    line(`scheduling cycles during the run: ${cyc('count')} cycles, mean ${((cyc('sum') / cyc('count')) * 1000).toFixed(1)} ms (they run on the API's event loop; the scheduler considers the first 1,000 queued jobs of the queue)`);

    const raw = rawSqliteInsertsPerSecond(Math.min(SECONDS, 5));
    line(`baseline SQLite insert, one fsync per job (no group commit), same store code: ${raw.toFixed(0)} jobs/s`);
    line(`ratios: submissions / raw per-job-fsync inserts = ${(submit.rps / raw).toFixed(2)}x; submissions / healthz floor = ${(submit.rps / floor.rps).toFixed(2)}`);
    const ok = submit.rps >= 1000 && submit.p99 <= 20 && reads.p99 <= 20 && readsSmall.p99 <= 20 && listsSmall.p99 <= 20 && pacedPosts.p99 <= 20 && pacedReads.p99 <= 20 && Math.max(...readies) <= 2000;
    line(ok ? 'all targets met' : 'TARGET MISSED (see above)');
  } finally {
    s.child.kill('SIGTERM');
    await new Promise((r) => s.child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
