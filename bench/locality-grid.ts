/**
 * The data-locality grid (issue 13): Philly weeks x catalogue popularity skews, the gantry
 * policy with locality on and off over the same generated catalogue, node caches and links.
 * Target per cell: locality on moves at least 50 % fewer bytes, a lower mean JCT, and a GPU
 * allocation at most 1 point lower.
 *
 *   npx tsc -p . && node dist/bench/locality-grid.js [options]
 *     --trace FILE        Philly CSV (default $GANTRY_TRACES/philly/philly.csv or ../shared/...)
 *     --weeks a,b         Mondays YYYY-MM-DD (default 2017-10-09)
 *     --skews 0.6,1,1.4   Zipf exponents of the catalogues (default 0.6,1,1.4)
 *     --load N            arrival compression (default 64)
 *     --days N            window length (default 7)
 *     --count N           datasets per catalogue (default 200)
 *     --cache-gb N        node cache capacity (default 4000)
 *     --hold-seconds N    locality on: delay scheduling, seconds a job may wait for its data's node (default 0)
 *     --hold-by-size      the hold is at most the time copying the job's data at the disk rate takes
 *     --reserve N         locality on: holder reserve, score points per TB of other pending jobs' data a node holds (default: the core's, 1e6; 0 = off)
 *     --only on|off       run one side of each cell (off does not depend on --reserve or --hold-*)
 *     --workers N         worker threads (default 2)
 *     --json FILE         also write the raw rows
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PHILLY_FLEET } from '../src/sim/jobs/setup.js';
import { simulateInWorker, type JobsSpec } from '../src/sim/jobs/experiment.js';
import type { JobsResult } from '../src/sim/jobs/engine.js';
import { GB, generateCatalogue } from '../src/sim/jobs/data/catalogue.js';
import { markdownTable } from '../src/sim/report/table.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const numbers = (v: string): number[] => v.split(',').map((s) => Number(s.trim()));

const trace = resolve(arg('--trace', join(process.env.GANTRY_TRACES ?? '../shared/traces', 'philly', 'philly.csv')));

interface Cell {
  readonly week: string;
  readonly skew: number;
  on?: JobsResult;
  off?: JobsResult;
}

function specOf(week: string, skew: number, locality: boolean): JobsSpec {
  return {
    trace,
    from: Date.parse(`${week}T00:00:00Z`),
    days: Number(arg('--days', '7')),
    load: Number(arg('--load', '64')),
    fleet: PHILLY_FLEET,
    seed: 1,
    checkpointMinutes: 30,
    graceSeconds: 30,
    cycleSeconds: 30,
    restartSeconds: 60,
    guaranteedFraction: 0.5,
    data: {
      catalogue: generateCatalogue({ count: Number(arg('--count', '200')), skew, seed: 1 }),
      locality,
      localityHoldSeconds: Number(arg('--hold-seconds', '0')),
      ...(process.argv.includes('--hold-by-size') ? { localityHoldBySize: true } : {}),
      ...(process.argv.includes('--reserve') ? { localityReserve: Number(arg('--reserve', '0')) } : {}),
      settings: { cacheBytes: Number(arg('--cache-gb', '4000')) * GB, diskBytesPerSec: 1 * GB, uplinkBytesPerSec: 5 * GB },
    },
  };
}

function runOne(spec: JobsSpec): Promise<JobsResult> {
  return simulateInWorker(spec, 'gantry');
}

/** The grid as a table with a verdict per cell. */
export function report(cells: readonly Cell[]): string {
  const rows: (string | number)[][] = [];
  let met = 0;
  for (const c of cells) {
    const on = c.on?.data;
    const off = c.off?.data;
    if (!c.on || !c.off || !on || !off) continue;
    const fewer = 1 - on.bytesMoved / off.bytesMoved;
    const jct = c.on.jctSeconds.mean / c.off.jctSeconds.mean - 1;
    const alloc = (c.on.gpuUtilization - c.off.gpuUtilization) * 100;
    const misses = [fewer < 0.5 ? 'bytes' : '', jct >= 0 ? 'JCT' : '', alloc < -1 ? 'allocation' : ''].filter(Boolean);
    if (misses.length === 0) met++;
    rows.push([
      c.week,
      c.skew,
      (off.bytesMoved / 1e12).toFixed(0),
      (on.bytesMoved / 1e12).toFixed(0),
      (fewer * 100).toFixed(1),
      (off.cacheHitRate * 100).toFixed(1),
      (on.cacheHitRate * 100).toFixed(1),
      (c.off.jctSeconds.mean / 3600).toFixed(2),
      (c.on.jctSeconds.mean / 3600).toFixed(2),
      (jct * 100).toFixed(1),
      (c.off.gpuUtilization * 100).toFixed(1),
      (c.on.gpuUtilization * 100).toFixed(1),
      Math.round(off.dataWaitSeconds.mean),
      Math.round(on.dataWaitSeconds.mean),
      misses.length === 0 ? 'met' : `missed: ${misses.join(', ')}`,
    ]);
  }
  const header = ['week', 'skew', 'moved off (TB)', 'moved on (TB)', 'fewer bytes (%)', 'hits off (%)', 'hits on (%)', 'mean JCT off (h)', 'mean JCT on (h)', 'JCT change (%)', 'GPU alloc off (%)', 'GPU alloc on (%)', 'data wait off (s)', 'data wait on (s)', 'verdict'];
  return `${markdownTable(header, rows)}\nTargets met in ${met} of ${rows.length} cells.\n`;
}

async function main(): Promise<void> {
  const cells: Cell[] = [];
  const tasks: { cell: Cell; locality: boolean }[] = [];
  for (const week of arg('--weeks', '2017-10-09').split(','))
    for (const skew of numbers(arg('--skews', '0.6,1,1.4'))) {
      const cell: Cell = { week: week.trim(), skew };
      cells.push(cell);
      const only = arg('--only', '');
      if (only !== 'off') tasks.push({ cell, locality: true });
      if (only !== 'on') tasks.push({ cell, locality: false });
    }
  let next = 0;
  let done = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: Math.max(1, Number(arg('--workers', '2'))) }, async () => {
      for (let t = tasks[next++]; t; t = tasks[next++]) {
        const r = await runOne(specOf(t.cell.week, t.cell.skew, t.locality));
        if (t.locality) t.cell.on = r;
        else t.cell.off = r;
        done++;
        process.stderr.write(`\r${done}/${tasks.length} runs, ${Math.round((Date.now() - t0) / 1000)} s `);
      }
    }),
  );
  process.stderr.write('\n');
  // One side only: no cell has both, so there is no verdict; the figures are in --json.
  if (arg('--only', '') === '') console.log(report(cells));
  else console.log(`--only ${arg('--only', '')}: ${tasks.length} runs, no verdict (compare with the other side's --json)`);
  const json = process.argv.includes('--json') ? arg('--json', '') : '';
  if (json) writeFileSync(json, JSON.stringify(cells.map((c) => ({ week: c.week, skew: c.skew, on: c.on?.data, off: c.off?.data, jct: { on: c.on?.jctSeconds, off: c.off?.jctSeconds }, gpuUtilization: { on: c.on?.gpuUtilization, off: c.off?.gpuUtilization } })), null, 1));
}

await main();
