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
    .action((f: { nodes: string; running: string; pending: string; queues: string; repeats: string; json?: boolean; warmup: boolean }) => {
      const nodes = parseNumber('--nodes', f.nodes, 1, 200_000, true);
      const running = parseNumber('--running', f.running, 0, 10_000_000, true);
      const pending = parseNumber('--pending', f.pending, 0, 10_000_000, true);
      const queues = parseNumber('--queues', f.queues, 1, 10_000, true);
      const repeats = parseNumber('--repeats', f.repeats, 1, 1000, true);
      const bar = progressBar(!f.json && process.stderr.isTTY === true);
      // Warm-up: the same scenario once, untimed (another seed). A scheduler that has run for a
      // while has its code compiled for its own scale; without this the first timed cycle also
      // pays for the JIT (`--no-warmup` measures that cold process).
      if (f.warmup) benchCycle({ nodes, running, pending, queues, repeats: 3, seed: 11, onProgress: (d, t) => bar.update(d, t, 'warming up') });
      const r = benchCycle({ nodes, running, pending, queues, repeats, onProgress: (d, t, label) => bar.update(d, t, label) });
      bar.stop();
      if (f.json) {
        process.stdout.write(JSON.stringify({ ...r, firstCycleMs: +r.firstCycleMs.toFixed(2), firstCycleCpuMs: +r.firstCycleCpuMs.toFixed(2), steadyMedianMs: +r.steadyMedianMs.toFixed(2), steadyMedianCpuMs: +r.steadyMedianCpuMs.toFixed(2), steadyMaxMs: +r.steadyMaxMs.toFixed(2), setupSeconds: +r.setupSeconds.toFixed(1) }) + '\n');
        return;
      }
      process.stdout.write(
        terminalTable(
          ['nodes', 'running', 'pending', 'first cycle ms', 'bound', 'evicted', 'steady cycle ms (median)', 'steady max ms', 'evicted per steady cycle'],
          [[r.nodes, r.running, r.pending, r.firstCycleMs.toFixed(1), r.bound, r.evicted, r.steadyMedianMs.toFixed(1), r.steadyMaxMs.toFixed(1), r.steadyEvicted]],
        ) + '\n',
      );
    });
}
