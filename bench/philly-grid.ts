/**
 * The Philly generality grid (issue 11): every week of the trace with at least 5,000 jobs, at
 * several loads and guarantee shares, fifo / tiresias / gantry side by side. A cell counts
 * ("scheduling matters") where FIFO's mean queueing delay is at least 10 % of its mean JCT;
 * there the targets are: gantry mean JCT below Tiresias's and at most 0.8 x FIFO's, p99
 * queueing delay below FIFO's, zero guarantee violations.
 *
 *   npx tsc -p . && node dist/bench/philly-grid.js [options]
 *     --trace FILE        Philly CSV (default $GANTRY_TRACES/philly/philly.csv or ../shared/...)
 *     --weeks a,b         Mondays YYYY-MM-DD (default: every week with >= 5,000 jobs)
 *     --loads 32,64       arrival compression factors
 *     --shares 0.3,0.5    guaranteed fractions
 *     --policies fifo,tiresias,gantry
 *     --workers N         worker threads (default 2)
 *     --json FILE         also write the raw rows
 *     --reuse FILE        rows of an earlier --json for the policies not run (fifo and
 *                         tiresias do not change with the gantry policy's settings)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPhilly } from '../src/sim/jobs/philly.js';
import { PHILLY_FLEET } from '../src/sim/jobs/setup.js';
import { simulateInWorker, type JobPolicy, type JobsSpec } from '../src/sim/jobs/experiment.js';
import type { JobsResult } from '../src/sim/jobs/engine.js';
import { markdownTable } from '../src/sim/report/table.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const list = (v: string | undefined, d: string): string[] => (v ?? d).split(',').map((s) => s.trim()).filter(Boolean);

const here = dirname(fileURLToPath(import.meta.url));
const trace = resolve(arg('--trace') ?? (process.env.GANTRY_TRACES ? join(process.env.GANTRY_TRACES, 'philly', 'philly.csv') : join(here, '..', '..', '..', 'shared', 'traces', 'philly', 'philly.csv')));
const DAY = 86_400_000;

/** Mondays (UTC) of the weeks holding at least `min` submissions. */
export function busyWeeks(submits: readonly number[], min: number): number[] {
  const count = new Map<number, number>();
  for (const t of submits) {
    const d = Math.floor(t / DAY) * DAY;
    const monday = d - ((new Date(d).getUTCDay() + 6) % 7) * DAY;
    count.set(monday, (count.get(monday) ?? 0) + 1);
  }
  return [...count].filter(([, n]) => n >= min).map(([w]) => w).sort((a, b) => a - b);
}

interface Cell {
  week: string;
  load: number;
  share: number;
  results: Record<string, JobsResult>;
}

function specOf(from: number, load: number, share: number): JobsSpec {
  return { trace, from, days: 7, load, fleet: PHILLY_FLEET, seed: 1, checkpointMinutes: 30, graceSeconds: 30, cycleSeconds: 30, restartSeconds: 60, guaranteedFraction: share };
}

function runOne(spec: JobsSpec, policy: JobPolicy): Promise<JobsResult> {
  return simulateInWorker(spec, policy);
}

async function main(): Promise<void> {
  const weeks = arg('--weeks') ? list(arg('--weeks'), '').map((d) => Date.parse(`${d}T00:00:00Z`)) : busyWeeks(loadPhilly(trace).map((j) => j.submit), 5000);
  const loads = list(arg('--loads'), '32,64').map(Number);
  const shares = list(arg('--shares'), '0.3,0.5').map(Number);
  const policies = list(arg('--policies'), 'fifo,tiresias,gantry') as JobPolicy[];
  const workers = Number(arg('--workers') ?? 2);
  const tasks: { cell: Cell; policy: JobPolicy; spec: JobsSpec }[] = [];
  const cells: Cell[] = [];
  for (const w of weeks)
    for (const load of loads)
      for (const share of shares) {
        const cell: Cell = { week: new Date(w).toISOString().slice(0, 10), load, share, results: {} };
        cells.push(cell);
        for (const policy of policies) tasks.push({ cell, policy, spec: specOf(w, load, share) });
      }
  const reuse = arg('--reuse');
  if (reuse) reuseRows(cells, JSON.parse(readFileSync(reuse, 'utf8')) as SavedCell[], policies);
  let next = 0;
  let done = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: Math.max(1, workers) }, async () => {
      for (let t = tasks[next++]; t; t = tasks[next++]) {
        t.cell.results[t.policy] = await runOne(t.spec, t.policy);
        done++;
        process.stderr.write(`\r${done}/${tasks.length} runs, ${Math.round((Date.now() - t0) / 1000)} s `);
      }
    }),
  );
  process.stderr.write('\n');
  console.log(report(cells));
  const json = arg('--json');
  if (json) writeFileSync(json, JSON.stringify(cells.map((c) => ({ ...c, results: Object.fromEntries(Object.entries(c.results).map(([p, r]) => [p, { jct: r.jctSeconds, wait: r.queueingDelaySeconds, violation: r.guaranteeViolationSeconds, preemptions: r.preemptions }])) })), null, 1));
}

/** A cell as --json writes it: per policy, the figures the report reads. */
interface SavedCell {
  week: string;
  load: number;
  share: number;
  results: Record<string, { jct: JobsResult['jctSeconds']; wait: JobsResult['queueingDelaySeconds']; violation: number; preemptions: number }>;
}

/** Fills each cell's policies that are not run from the saved rows of the same week, load and share. */
function reuseRows(cells: readonly Cell[], saved: readonly SavedCell[], run: readonly string[]): void {
  for (const c of cells) {
    const s = saved.find((x) => x.week === c.week && x.load === c.load && x.share === c.share);
    for (const [p, r] of Object.entries(s?.results ?? {})) {
      if (run.includes(p)) continue;
      c.results[p] = { jctSeconds: r.jct, queueingDelaySeconds: r.wait, guaranteeViolationSeconds: r.violation, preemptions: r.preemptions } as JobsResult;
    }
  }
}

/** The grid as a table, the verdict per counted cell, and the totals. */
export function report(cells: readonly Cell[]): string {
  const h = (s: number): string => (s / 3600).toFixed(2);
  const rows: (string | number)[][] = [];
  let counted = 0;
  let met = 0;
  for (const c of cells) {
    const f = c.results.fifo;
    const t = c.results.tiresias;
    const g = c.results.gantry;
    if (!f || !t || !g) continue;
    const matters = f.queueingDelaySeconds.mean >= 0.1 * f.jctSeconds.mean;
    const checks = [g.jctSeconds.mean < t.jctSeconds.mean, g.jctSeconds.mean <= 0.8 * f.jctSeconds.mean, g.queueingDelaySeconds.p99 < f.queueingDelaySeconds.p99, g.guaranteeViolationSeconds === 0];
    const ok = checks.every(Boolean);
    if (matters) {
      counted++;
      if (ok) met++;
    }
    const why = ['≥tiresias', '>0.8 fifo', 'p99 wait', 'guarantee'].filter((_, i) => !checks[i]).join(', ');
    rows.push([c.week, c.load, c.share, h(f.jctSeconds.mean), h(t.jctSeconds.mean), h(g.jctSeconds.mean), (g.jctSeconds.mean / t.jctSeconds.mean).toFixed(3), (g.jctSeconds.mean / f.jctSeconds.mean).toFixed(2), h(f.queueingDelaySeconds.p99), h(g.queueingDelaySeconds.p99), h(g.guaranteeViolationSeconds), matters ? (ok ? 'met' : `missed: ${why}`) : 'not counted (fifo wait < 10 % of JCT)']);
  }
  const table = markdownTable(['week', 'load', 'guaranteed', 'fifo mean JCT (h)', 'tiresias mean JCT (h)', 'gantry mean JCT (h)', 'gantry / tiresias', 'gantry / fifo', 'fifo p99 wait (h)', 'gantry p99 wait (h)', 'gantry guarantee violated (h)', 'verdict'], rows);
  return `${table}\nTargets met in ${met} of ${counted} counted cells (${cells.length} cells in all).\n`;
}

await main();
