/**
 * The churn soak (issue 17): the scheduling core as `gantry up`, `gantry k8s` and up with
 * preemption across queues configure it, over many generated churn workloads (seeds x
 * shapes x loads), judged on the promises of docs/preemption.md: 0 ping-pong pairs, 0
 * guarantee deficits beyond the bound, wasted GPU time at most 2 % of work, 0 partial gangs,
 * 0 double-bookings.
 *
 *   npx tsc -p . && node dist/bench/churn-soak.js [options]
 *     --seeds 1-5         seeds, a range or a list (default 1-5)
 *     --hours 48          simulated hours of arrivals (default 48)
 *     --loads 1.25        comma-separated loads (default 1.25)
 *     --shapes issue      comma-separated workload shapes (issue, small-gangs, big-gangs,
 *                         no-checkpoint, bursty; default issue)
 *     --workers N         worker threads (default 2: the machine is shared)
 *     --json FILE         also write every run's metrics as JSON
 *     --max-preempt-loss S  SchedulerConfig.maxPreemptLossGpuSeconds in every mode (default: none)
 *
 * Prints one markdown row per (shape, load, configuration), summed or maxed over seeds.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { CHURN_POLICIES, prepare, runPolicy, type JobPolicy } from '../src/sim/jobs/experiment.js';
import { CHURN_SHAPES, churnJobsSpec } from './churn-spec.js';
import type { ChurnMetrics } from '../src/sim/jobs/engine.js';

interface Run {
  readonly shape: string;
  readonly load: number;
  readonly seed: number;
  readonly policy: JobPolicy;
  readonly hours: number;
  readonly maxPreemptLossGpuSeconds?: number;
}

interface RunResult extends Run {
  readonly churn: ChurnMetrics;
  readonly jobs: number;
  readonly cycles: number;
  readonly seconds: number;
}

function execute(r: Run): RunResult {
  const t0 = performance.now();
  const s = churnJobsSpec(r);
  const res = runPolicy(r.policy, s, prepare(s));
  return { ...r, churn: res.churn, jobs: res.jobs, cycles: res.cycles, seconds: (performance.now() - t0) / 1000 };
}

function parseList(v: string): number[] {
  const out: number[] = [];
  for (const part of v.split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (b === undefined) out.push(a as number);
    else for (let x = a as number; x <= b; x++) out.push(x);
  }
  return out;
}

async function main(): Promise<void> {
  const args = new Map<string, string>();
  for (let i = 2; i < process.argv.length; i += 2) args.set((process.argv[i] as string).replace(/^--/, ''), process.argv[i + 1] ?? '');
  const seeds = parseList(args.get('seeds') ?? '1-5');
  const hours = Number(args.get('hours') ?? 48);
  const loads = (args.get('loads') ?? '1.25').split(',').map(Number);
  const shapes = (args.get('shapes') ?? 'issue').split(',');
  for (const s of shapes) if (!CHURN_SHAPES[s]) throw new Error(`unknown shape ${s} (${Object.keys(CHURN_SHAPES).join(', ')})`);
  const workers = Number(args.get('workers') ?? 2);
  const cap = args.has('max-preempt-loss') ? { maxPreemptLossGpuSeconds: Number(args.get('max-preempt-loss')) } : {};
  if (cap.maxPreemptLossGpuSeconds !== undefined && !(cap.maxPreemptLossGpuSeconds >= 0)) throw new Error('--max-preempt-loss: GPU-seconds, a number >= 0');
  const runs: Run[] = [];
  for (const shape of shapes) for (const load of loads) for (const policy of CHURN_POLICIES) for (const seed of seeds) runs.push({ shape, load, seed, policy, hours, ...cap });
  const results: RunResult[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(workers, runs.length)) }, async () => {
      for (;;) {
        const run = runs[next++];
        if (!run) return;
        const w = new Worker(fileURLToPath(import.meta.url), { workerData: run });
        results.push(await new Promise<RunResult>((res, rej) => w.once('message', res).once('error', rej)));
        await w.terminate();
        process.stderr.write(`\r${results.length}/${runs.length} runs`);
      }
    }),
  );
  process.stderr.write('\n');
  if (args.has('json')) writeFileSync(args.get('json') as string, JSON.stringify(results, null, 2) + '\n');
  const rows: string[] = [];
  rows.push('| shape | load | configuration | jobs | ping-pong pairs | deficit episodes | deficit s beyond bound | longest deficit s | wasted GPU time | preempted max | jobs >= 3 | partial gangs | double-bookings | verdict |');
  rows.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const shape of shapes)
    for (const load of loads)
      for (const policy of CHURN_POLICIES) {
        const rs = results.filter((r) => r.shape === shape && r.load === load && r.policy === policy);
        const sum = (f: (c: ChurnMetrics) => number): number => rs.reduce((a, r) => a + f(r.churn), 0);
        const max = (f: (c: ChurnMetrics) => number): number => rs.reduce((a, r) => Math.max(a, f(r.churn)), 0);
        const work = rs.reduce((a, r) => a + r.churn.wastedGpuSeconds / Math.max(1e-9, r.churn.wastedShare), 0);
        const wasted = work > 0 ? sum((c) => c.wastedGpuSeconds) / work : 0;
        const pp = sum((c) => c.pingPongPairs);
        const de = sum((c) => c.deficitEpisodes);
        const partial = sum((c) => c.partialGangs);
        const dbl = sum((c) => c.doubleBookings);
        const misses = [pp > 0 ? 'ping-pong' : '', de > 0 ? 'deficits' : '', wasted > 0.02 ? 'waste' : '', partial + dbl > 0 ? 'integrity' : ''].filter(Boolean);
        rows.push(
          `| ${shape} | ${load} | ${policy} | ${rs.reduce((a, r) => a + r.jobs, 0)} | ${pp} | ${de} | ${Math.round(sum((c) => c.deficitSeconds))} | ${Math.round(max((c) => c.longestDeficitSeconds))} | ${(wasted * 100).toFixed(2)} % | ${max((c) => c.preemptionsMax)} | ${sum((c) => c.preemptedAtLeast3)} | ${partial} | ${dbl} | ${misses.length ? `misses: ${misses.join(', ')}` : 'meets'} |`,
        );
      }
  process.stdout.write(`Churn soak: seeds ${seeds.join(',')}, ${hours} h each, summed over seeds (longest, max: over seeds)\n\n${rows.join('\n')}\n`);
}

if (isMainThread) {
  main().catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
} else {
  parentPort?.postMessage(execute(workerData as Run));
}
