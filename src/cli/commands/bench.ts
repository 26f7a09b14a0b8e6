/** `gantry bench ...`: benchmarks of the decision core. */
import type { Command } from 'commander';
import { benchPlace } from '../../bench/place.js';
import { benchCycle } from '../../bench/cycle.js';
import { parseNumber, parsePolicies } from '../flags.js';
import { progressBar } from '../progress.js';
import { terminalTable } from '../../sim/report/table.js';
import type { PolicyName } from '../../core/policies.js';

interface PlaceFlags {
  nodes: string;
  gpusPerNode: string;
  pods: string;
  policy: string;
  seed: string;
  baseline: string;
  json?: boolean;
}

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmarks of the decision core (see docs/benchmarks.md)');
  bench
    .command('place')
    .description('placement decisions per second and latency on a synthetic mixed fleet (H100 with some MIG, A100, L4; whole, shared and MIG requests), every feasible node scored')
    .option('--nodes <n>', 'nodes in the fleet', '5000')
    .option('--gpus-per-node <n>', 'GPUs per node', '8')
    .option('--pods <n>', 'decisions to time (after filling the fleet to 85 %)', '20000')
    .option('--policy <name>', 'placement policy', 'gantry')
    .option('--seed <n>', 'random seed', '1')
    .option('--baseline <n>', 'also time N decisions with every node rescored from scratch (no caches), same fleet and stream, and report the ratio (0 = skip)', '0')
    .option('--json', 'print one JSON object')
    .action((f: PlaceFlags) => {
      const nodes = parseNumber('--nodes', f.nodes, 1, 1_000_000, true);
      const gpusPerNode = parseNumber('--gpus-per-node', f.gpusPerNode, 1, 16, true);
      const pods = parseNumber('--pods', f.pods, 1, 10_000_000, true);
      const [policy] = parsePolicies('--policy', f.policy) as [PolicyName];
      const seed = parseNumber('--seed', f.seed, 0, 2 ** 31, true);
      const bar = progressBar(!f.json && process.stderr.isTTY === true);
      const baselinePods = parseNumber('--baseline', f.baseline, 0, 1_000_000, true);
      const r = benchPlace({ nodes, gpusPerNode, pods, policy, seed, onProgress: (d, t) => bar.update(d, t, 'decisions') });
      const base = baselinePods > 0 ? benchPlace({ nodes, gpusPerNode, pods: baselinePods, policy, seed, incremental: false, onProgress: (d, t) => bar.update(d, t, 'baseline: full rescans') }) : null;
      bar.stop();
      const baseline = base
        ? { baseline: { decisions: base.decisions, decisionsPerSecond: Math.round(base.decisionsPerSecond), p50Ms: +base.p50Ms.toFixed(3), p99Ms: +base.p99Ms.toFixed(3) }, speedupVsFullRescan: +(r.decisionsPerSecond / base.decisionsPerSecond).toFixed(1) }
        : {};
      if (f.json) {
        process.stdout.write(
          JSON.stringify({
            decisionsPerSecond: Math.round(r.decisionsPerSecond),
            p50Ms: +r.p50Ms.toFixed(4),
            p99Ms: +r.p99Ms.toFixed(4),
            heapBytesPerNode: Math.round(r.heapBytesPerNode),
            heapBytesPerPlacement: Math.round(r.heapBytesPerPlacement),
            livePlacements: r.placements,
            nodes: r.nodes,
            gpusPerNode: r.gpusPerNode,
            policy: r.policy,
            decisions: r.decisions,
            placed: r.placed,
            failed: r.failed,
            maxMs: +r.maxMs.toFixed(3),
            gpuAllocatedPct: +r.gpuAllocatedPct.toFixed(1),
            nodesRescoredPerDecision: +r.nodesRescoredPerDecision.toFixed(1),
            ...baseline,
          }) + '\n',
        );
        return;
      }
      process.stdout.write(
        terminalTable(
          ['nodes x GPUs', 'policy', 'decisions/s', 'p50 ms', 'p99 ms', 'max ms', 'heap B/node', 'heap B/placement', 'placed', 'failed', 'GPU alloc %', 'rescored/decision'],
          [[`${r.nodes} x ${r.gpusPerNode}`, r.policy, Math.round(r.decisionsPerSecond), r.p50Ms.toFixed(3), r.p99Ms.toFixed(3), r.maxMs.toFixed(2), Math.round(r.heapBytesPerNode), Math.round(r.heapBytesPerPlacement), r.placed, r.failed, r.gpuAllocatedPct.toFixed(1), r.nodesRescoredPerDecision.toFixed(1)]],
        ) + (base ? `\nbaseline (every node rescored from scratch per decision): ${Math.round(base.decisionsPerSecond)} decisions/s, p50 ${base.p50Ms.toFixed(3)} ms -> ${(r.decisionsPerSecond / base.decisionsPerSecond).toFixed(1)}x faster\n` : '\n'),
      );
    });
  bench
    .command('cycle')
    .description('time one full scheduling cycle (allocate, backfill, consolidate, reclaim, preempt) on a busy cluster')
    .option('--nodes <n>', '8-GPU nodes', '5000')
    .option('--running <n>', 'jobs already running (whole GPUs, shares, CPU-only)', '50000')
    .option('--pending <n>', 'jobs pending (incl. gangs, MIG and jobs too large to place)', '10000')
    .option('--queues <n>', 'queues with guarantees', '20')
    .option('--repeats <n>', 'cycles to time: the first (it places what fits of the new arrivals), then steady ones', '12')
    .option('--json', 'print one JSON object')
    .option('--no-warmup', 'time a cold process (no warm-up run first)')
    .option('--trials <n>', 'scenarios timed one after the other (seeds 7, 8, ...): the first cycle of each, and their median', '1')
    .action((f: { nodes: string; running: string; pending: string; queues: string; repeats: string; json?: boolean; warmup: boolean; trials: string }) => {
      const nodes = parseNumber('--nodes', f.nodes, 1, 200_000, true);
      const running = parseNumber('--running', f.running, 0, 10_000_000, true);
      const pending = parseNumber('--pending', f.pending, 0, 10_000_000, true);
      const queues = parseNumber('--queues', f.queues, 1, 10_000, true);
      const repeats = parseNumber('--repeats', f.repeats, 1, 1000, true);
      const trials = parseNumber('--trials', f.trials, 1, 100, true);
      const bar = progressBar(!f.json && process.stderr.isTTY === true);
      // Warm-up: the same scenario once, untimed (another seed). A scheduler that has run for a
      // while has its code compiled for its own scale; without this the first timed cycle also
      // pays for the JIT (`--no-warmup` measures that cold process).
      if (f.warmup) benchCycle({ nodes, running, pending, queues, repeats: 3, seed: 11, onProgress: (d, t) => bar.update(d, t, 'warming up') });
      // Trials: the same sizes with other seeds, one after the other in this process (one
      // first cycle is one sample on a shared machine; the median of several is steadier).
      const runs = Array.from({ length: trials }, (_, i) => benchCycle({ nodes, running, pending, queues, repeats, seed: 7 + i, onProgress: (d, t, label) => bar.update(d, t, trials > 1 ? `trial ${i + 1}/${trials}: ${label}` : label) }));
      bar.stop();
      const r = runs[0] as (typeof runs)[number];
      const median = (xs: number[]): number => {
        const sorted = [...xs].sort((a, b) => a - b);
        const mid = sorted.length >> 1;
        return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
      };
      const round = (x: number): number => Math.round(x * 100) / 100;
      const summary = trials > 1 ? { trials: runs.map((t) => ({ arrivalMs: round(t.arrivalMs), firstCycleMs: round(t.firstCycleMs), firstCycleCpuMs: round(t.firstCycleCpuMs), steadyMedianMs: round(t.steadyMedianMs), bound: t.bound, evicted: t.evicted, actionMs: t.actionMs })), firstCycleMedianMs: round(median(runs.map((t) => t.firstCycleMs))), firstCycleCpuMedianMs: round(median(runs.map((t) => t.firstCycleCpuMs))), steadyMedianOfTrialsMs: round(median(runs.map((t) => t.steadyMedianMs))) } : {};
      if (f.json) {
        process.stdout.write(JSON.stringify({ ...r, firstCycleMs: round(r.firstCycleMs), firstCycleCpuMs: round(r.firstCycleCpuMs), steadyMedianMs: round(r.steadyMedianMs), steadyMedianCpuMs: round(r.steadyMedianCpuMs), steadyMaxMs: round(r.steadyMaxMs), setupSeconds: +r.setupSeconds.toFixed(1), arrivalMs: round(r.arrivalMs), ...summary }) + '\n');
        return;
      }
      const rows = runs.map((t, i) => [trials > 1 ? `${i + 1}` : '', t.nodes, t.running, t.pending, t.arrivalMs.toFixed(1), t.firstCycleMs.toFixed(1), t.bound, t.evicted, t.steadyMedianMs.toFixed(1), t.steadyMaxMs.toFixed(1), t.steadyEvicted]);
      if (trials > 1) rows.push(['median', '', '', '', median(runs.map((t) => t.arrivalMs)).toFixed(1), median(runs.map((t) => t.firstCycleMs)).toFixed(1), '', '', median(runs.map((t) => t.steadyMedianMs)).toFixed(1), '', '']);
      process.stdout.write(terminalTable(['trial', 'nodes', 'running', 'pending', 'arrivals ms (submit all pending)', 'first cycle ms', 'bound', 'evicted', 'steady cycle ms (median)', 'steady max ms', 'evicted per steady cycle'], rows) + '\n');
    });
}
