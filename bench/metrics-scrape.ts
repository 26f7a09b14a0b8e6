/**
 * Does scraping /metrics hurt the API? (docs/benchmarks.md, "Metrics scrapes".)
 * A real `gantry up` (its own process) holds 100,000 queued jobs (in a queue limited to 0 GPUs,
 * so none ever starts). Phase 1: 50 clients use the API in closed loops (a mix of GET job,
 * list and submit) for `--seconds`. Phase 2: the same, plus 10 clients scraping /metrics in a
 * loop; phase 3: phase 1 again (the machine is shared). Reports each phase's API p50/p99, their ratio (target: phase 2 p99 <= 2x phase 1),
 * and the scrape latency. Clients run as the admin (exempt from rate limits), so the admin's
 * full metrics view is the one scraped.
 * Usage: node dist/bench/metrics-scrape.js [--jobs 100000] [--seconds 15] [--clients 50] [--scrapers 10]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { Pool } from 'undici';

const args = process.argv.slice(2);
const arg = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const JOBS = arg('jobs', 100_000);
const SECONDS = arg('seconds', 15);
const CLIENTS = arg('clients', 50);
const SCRAPERS = arg('scrapers', 10);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function startServer(dir: string): Promise<{ child: ChildProcess; url: string; token: string }> {
  const child = spawn(process.execPath, [resolve('bin/gantry.js'), 'up', '--data-dir', dir, '--port', '0', '--gpus', '8xH100-80GB', '--max-queued-per-team', '0'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const t0 = Date.now();
  for (;;) {
    if (existsSync(join(dir, 'server.json'))) {
      const url = (JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8')) as { url: string }).url;
      if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) return { child, url, token: readFileSync(join(dir, 'admin-token'), 'utf8').trim() };
    }
    if (Date.now() - t0 > 20_000) throw new Error('server did not start');
    await sleep(10);
  }
}

const JOB = (n: number): string => JSON.stringify({ name: `held-${n}`, queue: 'held', command: 'true', resources: { gpu: 1, cpu: '100m', memory: '64Mi' } });

function pct(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-bench-metrics-'));
  const { child, url, token } = await startServer(dir);
  const auth = { authorization: `Bearer ${token}` };
  const json = { ...auth, 'content-type': 'application/json' };
  const api = new Pool(url, { connections: CLIENTS, pipelining: 1 });
  const scrapePool = new Pool(url, { connections: SCRAPERS, pipelining: 1 });
  try {
    const q = await api.request({ path: '/v1/queues/held', method: 'PUT', headers: json, body: JSON.stringify({ limitGpus: 0 }) });
    if (q.statusCode !== 200) throw new Error(`PUT queue: ${q.statusCode} ${await q.body.text()}`);
    await q.body.dump();

    // Fill: 100,000 queued jobs, 50 submissions in flight at a time (group commit batches them).
    const ids: string[] = [];
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < JOBS) {
          const n = next++;
          const r = await api.request({ path: '/v1/jobs', method: 'POST', headers: json, body: JOB(n) });
          const b = (await r.body.json()) as { id?: string };
          if (r.statusCode !== 201 || !b.id) throw new Error(`submit: ${r.statusCode} ${JSON.stringify(b)}`);
          ids.push(b.id);
        }
      }),
    );
    const fillS = (performance.now() - t0) / 1000;
    process.stdout.write(`filled ${JOBS} queued jobs in ${fillS.toFixed(1)} s (${Math.round(JOBS / fillS)}/s)\n`);
    await sleep(2000); // (let the server settle: the scheduling window's first cycles)

    let submitted = JOBS;
    const phase = async (scrapers: number): Promise<{ api: number[]; scrapes: number[]; errors: number; bytes: number }> => {
      const lat: number[] = [];
      const scrapes: number[] = [];
      let errors = 0;
      let bytes = 0;
      const end = performance.now() + SECONDS * 1000;
      const client = async (i: number): Promise<void> => {
        let k = i;
        while (performance.now() < end) {
          const op = k++ % 10; // 5 GET job, 3 list, 2 submit
          const s = performance.now();
          const r =
            op < 5
              ? await api.request({ path: `/v1/jobs/${ids[Math.floor(Math.random() * ids.length)] as string}`, method: 'GET', headers: auth })
              : op < 8
                ? await api.request({ path: '/v1/jobs?limit=50&state=queued', method: 'GET', headers: auth })
                : await api.request({ path: '/v1/jobs', method: 'POST', headers: json, body: JOB(submitted++) });
          await r.body.dump();
          lat.push(performance.now() - s);
          if (r.statusCode >= 300) errors++;
        }
      };
      const scraper = async (): Promise<void> => {
        while (performance.now() < end) {
          const s = performance.now();
          const r = await scrapePool.request({ path: '/metrics', method: 'GET', headers: auth });
          bytes = (await r.body.text()).length;
          scrapes.push(performance.now() - s);
          if (r.statusCode !== 200) errors++;
        }
      };
      await Promise.all([...Array.from({ length: CLIENTS }, (_, i) => client(i)), ...Array.from({ length: scrapers }, () => scraper())]);
      return { api: lat.sort((a, b) => a - b), scrapes: scrapes.sort((a, b) => a - b), errors, bytes };
    };

    const load0 = loadavg()[0] ?? 0;
    // Without, with, without again: the machine is shared, so a drift in its load shows up as
    // a difference between the two phases without scrapers.
    const without = await phase(0);
    const withS = await phase(SCRAPERS);
    const again = await phase(0);
    const load1 = loadavg()[0] ?? 0;
    const fmt = (l: number[]): string => `p50 ${pct(l, 50).toFixed(1)} ms, p99 ${pct(l, 99).toFixed(1)} ms (${l.length} requests, ${Math.round(l.length / SECONDS)}/s)`;
    process.stdout.write(
      [
        `machine: ${cpus().length} cores, load average ${load0.toFixed(1)} before, ${load1.toFixed(1)} after (shared)`,
        `queued jobs during the phases: ${JOBS}+ (submissions add to them)`,
        `API without scrapers (${CLIENTS} clients, ${SECONDS} s): ${fmt(without.api)}, ${without.errors} errors`,
        `API with ${SCRAPERS} scrapers:            ${fmt(withS.api)}, ${withS.errors} errors`,
        `API without scrapers, again:     ${fmt(again.api)}, ${again.errors} errors`,
        `p99 ratio with/without: ${(pct(withS.api, 99) / Math.max(pct(without.api, 99), pct(again.api, 99))).toFixed(2)} against the worse, ${(pct(withS.api, 99) / Math.min(pct(without.api, 99), pct(again.api, 99))).toFixed(2)} against the better (target <= 2)`,
        `scrapes: ${withS.scrapes.length} (${Math.round(withS.scrapes.length / SECONDS)}/s), p50 ${pct(withS.scrapes, 50).toFixed(1)} ms, p99 ${pct(withS.scrapes, 99).toFixed(1)} ms, ${Math.round(withS.bytes / 1024)} KiB each`,
      ].join('\n') + '\n',
    );
  } finally {
    await api.close();
    await scrapePool.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
