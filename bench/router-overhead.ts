/**
 * Router overhead (docs/benchmarks.md, "Services router overhead"; issue 12's target: p99 added
 * at most 1 ms at 2,000 requests/s against calling a replica directly, in the same run, and
 * throughput against nginx as a plain round-robin proxy).
 *
 * Four processes: two plain node replicas (one process), Gantry's router, nginx (Debian's, one
 * worker, keep-alive to the replicas, scripts/nginx/ensure-nginx.sh), and this one, the load
 * generator (bench/http-load.ts, microsecond latencies). Each round runs the three paths in a
 * rotating order: `--rate` requests/s for `--seconds` (open loop), then as many as
 * `--connections` keep-alive connections carry (closed loop). Reports each round, and per
 * round the router's and nginx's added p50/p99 (path minus direct) and throughput ratios, and
 * the CPU time (user + system, from /proc) each proxy spent per request: on a shared machine
 * the latencies and rates carry the other tenants' load, the CPU per request much less so.
 *
 * Usage: npm run build && nice node dist/bench/router-overhead.js [--rate 2000] [--seconds 5]
 *   [--rounds 3] [--connections 32] [--cpu-prof DIR] [--no-nginx] [--baseline-parts FILE] [--pin] [--json]
 *
 * `--pin` (a machine with 2 cores or more): the proxies (router, nginx) run on CPU 1, the
 * replicas and the load generator on CPU 0 (taskset), as a router would be deployed with a core
 * of its own; then the added latency is the proxy's, not the wait for a core it shares.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closedLoop, makePool, openLoop, type LoadResult } from './http-load.js';

const args = process.argv.slice(2);
const num = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const str = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const RATE = num('rate', 2000);
const SECONDS = num('seconds', 5);
const ROUNDS = num('rounds', 3);
const CONNECTIONS = num('connections', 32);
const CPU_PROF = str('cpu-prof');
const NGINX = !args.includes('--no-nginx');
/** Another build's router-overhead-parts.js (e.g. main's), run as a fourth path, `router@base`: before and after in one run. */
const BASELINE = str('baseline-parts');
const JSON_OUT = args.includes('--json');
const PIN = args.includes('--pin');
/** `cmd args` to run on `cpu` when pinning (taskset execs: the pid is the command's). */
const onCpu = (cpu: number, cmd: string, argv: string[]): [string, string[]] => (PIN ? ['taskset', ['-c', String(cpu), cmd, ...argv]] : [cmd, argv]);
const here = dirname(fileURLToPath(import.meta.url));
const parts = join(here, 'router-overhead-parts.js');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => res(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Starts a part and reads the JSON line it prints. */
function startPart(argv: string[], nodeFlags: string[] = [], file = parts): Promise<{ child: ChildProcess; value: unknown }> {
  const [cmd, cmdArgs] = onCpu(argv[0] === 'router' ? 1 : 0, process.execPath, [...nodeFlags, file, ...argv]);
  const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((res, rej) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) res({ child, value: JSON.parse(out.slice(0, nl)) });
    });
    child.once('exit', (code) => rej(new Error(`${argv[0]} exited with ${code}`)));
  });
}

async function startNginx(dir: string, upstreams: readonly number[]): Promise<{ child: ChildProcess; port: number }> {
  const bin = execFileSync('bash', [resolve(here, '../../scripts/nginx/ensure-nginx.sh')], { encoding: 'utf8' }).trim();
  const port = await freePort();
  for (const t of ['client', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, t), { recursive: true });
  const conf = `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream replicas {
${upstreams.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
    keepalive 128;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location /bench/ {
      proxy_pass http://replicas/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const [cmd, cmdArgs] = onCpu(1, bin, ['-p', dir, '-c', join(dir, 'nginx.conf')]);
  const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'ignore', 'inherit'] });
  const pool = makePool(`http://127.0.0.1:${port}`, 1);
  for (let i = 0; i < 100; i++) {
    try {
      const r = await pool.request({ path: '/bench/v1/models', method: 'GET' });
      await r.body.dump();
      if (r.statusCode === 200) break;
    } catch {
      await sleep(50);
    }
  }
  await pool.close();
  return { child, port };
}

interface Row {
  round: number;
  path: string;
  fixed: LoadResult;
  max: LoadResult;
  load: string;
  /** CPU time (user + system) the proxy spent per request, over both loads (µs); none for direct. */
  proxyCpuUs: number | null;
  /** The same for the replicas' process. */
  replicaCpuUs: number;
}

/** User + system CPU seconds of a process and its children (nginx's workers), from /proc. */
function cpuSeconds(pid: number): number {
  let ticks = 0;
  const pids = [pid];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) pids.push(...readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
  } catch {
    // no children file: the process alone
  }
  for (const p of pids) {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone
    }
  }
  return ticks / 100;
}

if (PIN) execFileSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' }); // the load generator
const dir = mkdtempSync(join(tmpdir(), 'gantry-router-bench-'));
const children: ChildProcess[] = [];
try {
  const replicas = await startPart(['replicas', '2']);
  children.push(replicas.child);
  const ports = replicas.value as number[];
  const router = await startPart(['router', ...ports.map(String)], CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : []);
  children.push(router.child);
  const targets: Array<{ path: string; origin: string; url: string; pid?: number }> = [
    { path: 'direct', origin: `http://127.0.0.1:${ports[0]}`, url: '/v1/models' },
    { path: 'router', origin: `http://127.0.0.1:${router.value as number}`, url: '/bench/v1/models', pid: router.child.pid! },
  ];
  if (BASELINE) {
    const base = await startPart(['router', ...ports.map(String)], [], resolve(BASELINE));
    children.push(base.child);
    targets.push({ path: 'router@base', origin: `http://127.0.0.1:${base.value as number}`, url: '/bench/v1/models', pid: base.child.pid! });
  }
  if (NGINX) {
    const nginx = await startNginx(dir, ports);
    children.push(nginx.child);
    targets.push({ path: 'nginx', origin: `http://127.0.0.1:${nginx.port}`, url: '/bench/v1/models', pid: nginx.child.pid! });
  }
  const pools = new Map(targets.map((t) => [t.path, makePool(t.origin, CONNECTIONS)]));
  // Warm-up, untimed, on every path: connections open, JIT warm, and one open-loop phase at the
  // benchmark's rate, so that a freshly started proxy's heap growth (its young generation grows
  // from 1 MB in the first seconds, with scavenges of 5-13 ms) is not counted as steady state.
  for (const t of targets) {
    await closedLoop(pools.get(t.path)!, t.url, CONNECTIONS, 1);
    await openLoop(pools.get(t.path)!, t.url, RATE, SECONDS);
  }
  const rows: Row[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = targets.map((_, i) => targets[(i + round - 1) % targets.length]!);
    for (const t of order) {
      const pool = pools.get(t.path)!;
      const cpu0 = t.pid ? cpuSeconds(t.pid) : 0;
      const rep0 = cpuSeconds(replicas.child.pid!);
      const fixed = await openLoop(pool, t.url, RATE, SECONDS);
      const max = await closedLoop(pool, t.url, CONNECTIONS, SECONDS);
      const n = fixed.requests + max.requests;
      const proxyCpuUs = t.pid ? Math.round(((cpuSeconds(t.pid) - cpu0) * 1e6) / n) : null;
      const replicaCpuUs = Math.round(((cpuSeconds(replicas.child.pid!) - rep0) * 1e6) / n);
      rows.push({ round, path: t.path, fixed, max, load: load(), proxyCpuUs, replicaCpuUs });
      if (!JSON_OUT) console.error(`round ${round} ${t.path}: p50 ${fixed.p50Us} us, p99 ${fixed.p99Us} us at ${fixed.rps}/s; most ${max.rps}/s; cpu/request proxy ${proxyCpuUs ?? '-'} us, replica ${replicaCpuUs} us (load ${load()})`);
    }
  }
  for (const p of pools.values()) await p.close();
  const of = (round: number, path: string): Row | undefined => rows.find((r) => r.round === round && r.path === path);
  const rounds = [...new Array(ROUNDS).keys()].map((i) => {
    const d = of(i + 1, 'direct')!;
    const r = of(i + 1, 'router')!;
    const n = of(i + 1, 'nginx');
    const b = of(i + 1, 'router@base');
    return {
      round: i + 1,
      routerAddedP50Us: r.fixed.p50Us - d.fixed.p50Us,
      routerAddedP99Us: r.fixed.p99Us - d.fixed.p99Us,
      nginxAddedP99Us: n ? n.fixed.p99Us - d.fixed.p99Us : null,
      routerMaxRps: r.max.rps,
      nginxMaxRps: n?.max.rps ?? null,
      routerOverNginx: n ? +(r.max.rps / n.max.rps).toFixed(2) : null,
      routerOverDirect: +(r.max.rps / d.max.rps).toFixed(2),
      ...(b ? { baseAddedP99Us: b.fixed.p99Us - d.fixed.p99Us, baseMaxRps: b.max.rps } : {}),
    };
  });
  const report = { rate: RATE, seconds: SECONDS, connections: CONNECTIONS, pinned: PIN, rows: rows.map((r) => ({ round: r.round, path: r.path, load: r.load, proxyCpuUs: r.proxyCpuUs, replicaCpuUs: r.replicaCpuUs, fixed: r.fixed, max: r.max })), rounds };
  if (JSON_OUT) console.log(JSON.stringify(report));
  else {
    console.table(rows.map((r) => ({ round: r.round, path: r.path, 'p50 us': r.fixed.p50Us, 'p99 us': r.fixed.p99Us, 'p99.9 us': r.fixed.p999Us, 'req/s': r.fixed.rps, 'non-2xx': r.fixed.non2xx + r.fixed.errors + r.max.non2xx + r.max.errors, 'most req/s': r.max.rps, 'proxy cpu us/req': r.proxyCpuUs ?? '-', load: r.load })));
    console.table(rounds);
  }
} finally {
  for (const c of children.reverse()) {
    c.kill('SIGTERM');
    await new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)));
  }
  rmSync(dir, { recursive: true, force: true });
}
