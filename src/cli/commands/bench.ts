/** `gantry bench ...`: benchmarks of the decision core. */
import type { Command } from 'commander';
import { benchPlace } from '../../bench/place.js';
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
    .option('--json', 'print one JSON object')
    .action((f: PlaceFlags) => {
      const nodes = parseNumber('--nodes', f.nodes, 1, 1_000_000, true);
      const gpusPerNode = parseNumber('--gpus-per-node', f.gpusPerNode, 1, 16, true);
      const pods = parseNumber('--pods', f.pods, 1, 10_000_000, true);
      const [policy] = parsePolicies('--policy', f.policy) as [PolicyName];
      const seed = parseNumber('--seed', f.seed, 0, 2 ** 31, true);
      const bar = progressBar(!f.json && process.stderr.isTTY === true);
      const r = benchPlace({ nodes, gpusPerNode, pods, policy, seed, onProgress: (d, t) => bar.update(d, t, 'decisions') });
      bar.stop();
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
          }) + '\n',
        );
        return;
      }
      process.stdout.write(
        terminalTable(
          ['nodes x GPUs', 'policy', 'decisions/s', 'p50 ms', 'p99 ms', 'max ms', 'heap B/node', 'heap B/placement', 'placed', 'failed', 'GPU alloc %', 'rescored/decision'],
          [[`${r.nodes} x ${r.gpusPerNode}`, r.policy, Math.round(r.decisionsPerSecond), r.p50Ms.toFixed(3), r.p99Ms.toFixed(3), r.maxMs.toFixed(2), Math.round(r.heapBytesPerNode), Math.round(r.heapBytesPerPlacement), r.placed, r.failed, r.gpuAllocatedPct.toFixed(1), r.nodesRescoredPerDecision.toFixed(1)]],
        ) + '\n',
      );
    });
}
