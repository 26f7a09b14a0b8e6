/**
 * Cost report speed (issue 14): `GET /v1/cost` over N job-attempts in a real SQLite file
 * (the server's own migrations and CostLedger), timed per `--by`, the whole ledger in the
 * window (the worst case: every row read and priced). The data: 50 teams, 200 queues,
 * 1,000 users, 4 GPU models, ~3 attempts per job, a tenth preempted, a few still running.
 *
 *   npx tsc -p . && node dist/bench/cost-report.js [--attempts 1000000] [--rounds 5]
 * Prints how long `warm` takes to read the ledger into memory, the SQL report by team
 * that the ledger ran before as a baseline in the same run, the median and worst milliseconds
 * per group, and checks that every grouping has the same total to the micro-unit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SqliteStore } from '../src/adapters/store/sqlite-store.js';
import { COST_GROUPS, CostLedger } from '../src/adapters/store/cost-ledger.js';
import { createRng } from '../src/core/rng.js';

const { values } = parseArgs({ options: { attempts: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '5' } } });
const n = Number(values.attempts);
const rounds = Number(values.rounds);
const dir = process.env['COST_BENCH_DIR'] ?? mkdtempSync(join(tmpdir(), 'gantry-cost-bench-'));
const store = new SqliteStore(join(dir, 'gantry.db'));
const db = store.connection;
const ledger = new CostLedger(db);
const rng = (() => { const r = createRng(42); return () => r.next(); })();
const models = ['H100-80GB', 'A100-80GB', 'L4', 'A100-40GB'];
const now = Date.UTC(2026, 11, 6);
const start = now - 6 * 86_400_000;

const t0 = performance.now();
const insert = db.prepare('INSERT INTO attempts (job_seq, attempt, model, team, queue, owner, gpus, price_micros, started_at, ended_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
// A tenth of the jobs are service replicas; a twentieth of the attempts held their GPUs idle
// for a few minutes (what `--by service` and the idle columns read).
const service = db.prepare('INSERT INTO attempt_services (job_seq, service) VALUES (?, ?)');
const idle = db.prepare('INSERT INTO idle_use (job_seq, attempt, model, minute, team, queue, owner, price_micros, gpu_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
let idleRows = 0;
db.transaction(() => {
  let seq = 0;
  for (let i = 0; i < n; ) {
    seq++;
    const team = Math.floor(rng() * 50);
    const queue = `q${team * 4 + Math.floor(rng() * 4)}`;
    const owner = `u${team * 20 + Math.floor(rng() * 20)}`;
    const model = models[Math.floor(rng() * models.length)] as string;
    const gpus = [0.25, 0.5, 1, 2, 8, 3 / 7][Math.floor(rng() * 6)] as number;
    const tries = 1 + Math.floor(rng() * 5);
    let at = start + Math.floor(rng() * 5 * 86_400_000);
    for (let a = 1; a <= tries && i < n; a++, i++) {
      const dur = 60_000 + Math.floor(rng() * 3_600_000);
      const last = a === tries;
      const open = last && rng() < 0.001;
      insert.run(seq, a, model, `team-${team}`, queue, owner, gpus, 2_490_000, at, open ? null : at + dur, open ? null : last ? 'succeeded' : rng() < 0.3 ? 'preempted' : 'failed');
      if (rng() < 0.05) {
        const first = at - (at % 60_000) + 60_000;
        for (let m = 0; m < 3 && first + m * 60_000 < at + dur; m++, idleRows++) idle.run(seq, a, model, first + m * 60_000, `team-${team}`, queue, owner, 2_490_000, gpus * 60_000);
      }
      at += dur + 1000;
    }
    if (seq % 10 === 0) service.run(seq, `svc-${(seq / 10) % 40}`);
  }
})();
const loadMs = performance.now() - t0;
console.log(`${n} attempts (${idleRows} idle minutes) loaded in ${(loadMs / 1000).toFixed(1)} s (${dir})`);

// A server reads the ledger into memory once after it starts, a chunk at a time (`warm`): how long,
// and the longest the event loop waited meanwhile; then the memory it takes.
const since = now - 7 * 86_400_000;
const heap0 = process.memoryUsage();
const delay = monitorEventLoopDelay({ resolution: 5 });
delay.enable();
const w0 = performance.now();
await ledger.warm();
delay.disable();
ledger.report({ by: 'team', since, until: now, limit: 100 });
const heap1 = process.memoryUsage();
const mb = (k: 'heapUsed' | 'arrayBuffers'): string => ((heap1[k] - heap0[k]) / 1e6).toFixed(0);
console.log(`warm (reads ${n} attempts into memory): ${(performance.now() - w0).toFixed(0)} ms, event loop held at most ${(delay.max / 1e6).toFixed(0)} ms; +${mb('heapUsed')} MB heap, +${mb('arrayBuffers')} MB typed arrays`);

// Baseline in the same run: the SQL report by team that the ledger ran before it kept its rows
// in memory (a covering index read in key order, each row priced in SQL).
const ms = 'gpus * (MIN(COALESCE(ended_at, @until), @until) - MAX(started_at, @since))';
const cost = `CAST(ROUND(${ms} * price_micros / 3600000.0) AS INTEGER)`;
const sqlByTeam = db.prepare(`SELECT team AS key, COUNT(*), TOTAL(${ms}) / 1000.0, TOTAL(${cost}), TOTAL(CASE WHEN outcome = 'preempted' THEN ${ms} END), TOTAL(CASE WHEN outcome = 'preempted' THEN ${cost} END), TOTAL(ended_at IS NULL)
  FROM attempts WHERE started_at < @until AND (ended_at IS NULL OR ended_at > @since) GROUP BY team`);
const sqlIdle = db.prepare(`SELECT team AS key, TOTAL(gpu_ms), TOTAL(CAST(ROUND(gpu_ms * price_micros / 3600000.0) AS INTEGER)) FROM idle_use WHERE minute >= @since AND minute < @until GROUP BY team`);
const sqlTimes: number[] = [];
for (let r = 0; r < rounds; r++) {
  const s = performance.now();
  sqlByTeam.all({ since, until: now });
  sqlIdle.all({ since, until: now });
  sqlTimes.push(performance.now() - s);
}
sqlTimes.sort((a, b) => a - b);
console.log(`baseline: SQL by team (before) median ${(sqlTimes[Math.floor(rounds / 2)] as number).toFixed(0)} ms  worst ${(sqlTimes[rounds - 1] as number).toFixed(0)} ms`);

const totals = new Set<number>();
const idleTotals = new Set<number>();
for (const by of COST_GROUPS) {
  const times: number[] = [];
  let groups = 0;
  for (let r = 0; r < rounds; r++) {
    const s = performance.now();
    const rep = ledger.report({ by, since, until: now, limit: 100 });
    times.push(performance.now() - s);
    groups = rep.items.length + rep.omitted;
    // Every grouping but `service` (replicas only) splits all attempts: the same total.
    if (by !== 'service') {
      totals.add(rep.total.costMicros);
      idleTotals.add(rep.total.idleCostMicros);
    }
  }
  times.sort((a, b) => a - b);
  console.log(`--by ${by.padEnd(5)} groups ${String(groups).padStart(7)}  median ${(times[Math.floor(times.length / 2)] as number).toFixed(0).padStart(5)} ms  worst ${(times[times.length - 1] as number).toFixed(0).padStart(5)} ms`);
}
console.log(totals.size === 1 ? `every grouping: the same total (${[...totals][0]} micro-units)` : `TOTALS DIFFER: ${[...totals].join(', ')}`);
console.log(idleTotals.size === 1 ? `every grouping: the same idle total (${[...idleTotals][0]} micro-units)` : `IDLE TOTALS DIFFER: ${[...idleTotals].join(', ')}`);
store.close();
if (!process.env['COST_BENCH_DIR']) rmSync(dir, { recursive: true, force: true });
