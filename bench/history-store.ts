/**
 * History store speed (issue 14, item 5): the cost of one telemetry sample's write (every 2 s
 * in `gantry up`) and of `/v1/history` range queries over a store filled to every tier's
 * retention, in a real SQLite file through the server's migrations.
 *
 *   npx tsc -p . && node dist/bench/history-store.js [--gpus 64] [--jobs 64] [--queues 20] [--rounds 20]
 * Prints the median and worst milliseconds of a sample write (all series of the fleet) and
 * of each query, with the rows the store holds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SqliteStore } from '../src/adapters/store/sqlite-store.js';
import { HISTORY_TIERS, HistoryStore, type HistorySample } from '../src/adapters/store/history-store.js';

const { values } = parseArgs({ options: { gpus: { type: 'string', default: '64' }, jobs: { type: 'string', default: '64' }, queues: { type: 'string', default: '20' }, rounds: { type: 'string', default: '20' } } });
const gpus = Number(values.gpus);
const jobs = Number(values.jobs);
const queues = Number(values.queues);
const rounds = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), 'gantry-history-bench-'));
const store = new SqliteStore(join(dir, 'gantry.db'));
const db = store.connection;
const history = new HistoryStore(db);
const now = Date.UTC(2026, 11, 6);

/** One sample of every series of the fleet, as the sampler writes it. */
function sample(k: number): HistorySample[] {
  const out: HistorySample[] = [];
  const v = (i: number): number => 50 + 40 * Math.sin(k / 50 + i);
  for (let g = 0; g < gpus; g++) for (const metric of ['util', 'memory', 'allocated']) out.push({ kind: 'gpu', key: `node${g >> 3}/${g & 7}`, metric, team: null, value: v(g) });
  for (let j = 0; j < jobs; j++) for (const metric of ['gpus', 'util', 'memory', 'idle']) out.push({ kind: 'job', key: `job-${j}`, metric, team: `t${j % 8}`, value: v(j) });
  for (let q = 0; q < queues; q++) for (const metric of ['used', 'guaranteed', 'borrowed', 'pending', 'pendingGpus', 'idle']) out.push({ kind: 'queue', key: `q${q}`, metric, team: null, value: v(q) });
  for (const metric of ['gpus', 'allocated', 'idle', 'util']) out.push({ kind: 'fleet', key: 'all', metric, team: null, value: v(0) });
  return out;
}

const stats = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${(s[Math.floor(s.length / 2)] ?? 0).toFixed(2)} ms, worst ${(s[s.length - 1] ?? 0).toFixed(2)} ms`;
};

// Fill every tier to its retention directly (as months of sampling would leave it).
const series = sample(0);
const t0 = performance.now();
history.record(now, series); // creates the series
const ids = db.prepare('SELECT id FROM history_series').pluck().all() as number[];
const put = db.prepare('INSERT OR REPLACE INTO history_points (series, tier, at, n, sum, min, max) VALUES (?, ?, ?, 5, ?, ?, ?)');
db.transaction(() => {
  HISTORY_TIERS.forEach((t, tier) => {
    const first = now - t.retentionMs;
    for (let at = first - (first % t.resolutionMs); at <= now; at += t.resolutionMs) for (const id of ids) put.run(id, tier, at, 250, 40, 60);
  });
})();
const rows = db.prepare('SELECT COUNT(*) FROM history_points').pluck().get() as number;
console.log(`filled ${ids.length} series, ${rows.toLocaleString('en-US')} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const writes: number[] = [];
for (let k = 1; k <= rounds * 5; k++) {
  const s = sample(k);
  const a = performance.now();
  history.record(now + k * 2000, s);
  writes.push(performance.now() - a);
}
console.log(`sample write (${series.length} series, 3 tiers): ${stats(writes)}`);

const later = now + rounds * 5 * 2000;
for (const [label, q] of [
  ['gpu util, 1 h (10 s buckets)', { kind: 'gpu', metrics: ['util'], since: later - 3_600_000 }],
  ['queue used, 24 h (5 min buckets)', { kind: 'queue', metrics: ['used'], since: later - 86_400_000 }],
  ['every job series, 7 d (5 min buckets)', { kind: 'job', since: later - 7 * 86_400_000 }],
  ['fleet, 90 d (1 h buckets)', { kind: 'fleet', since: later - 90 * 86_400_000 }],
  ['gpu, all metrics, 30 d (1 h buckets)', { kind: 'gpu', since: later - 30 * 86_400_000 }],
] as const) {
  const times: number[] = [];
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    const a = performance.now();
    const res = history.query({ ...q, until: later, points: 300, limit: 1000 }, later);
    times.push(performance.now() - a);
    n = res.series.length;
  }
  console.log(`${label}: ${n} series x <=300 points: ${stats(times)}`);
}
const p = performance.now();
const dropped = history.prune(later + 3_600_000);
console.log(`prune an hour later: ${dropped.toLocaleString('en-US')} rows in ${(performance.now() - p).toFixed(1)} ms`);
store.close();
rmSync(dir, { recursive: true, force: true });
