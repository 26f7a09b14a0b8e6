/**
 * The decision-core benchmark: a synthetic fleet, a stream of mixed requests, one placement
 * decision each (every feasible node scored, no sampling). The fleet is first filled to about
 * 85 % of its GPUs; then each new request is preceded by the release of the oldest placement
 * while allocation is above that level, so the benchmark measures a busy, changing cluster
 * rather than an empty one.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { performance } from 'node:perf_hooks';
import { Cluster } from '../core/model/cluster.js';
import type { NodeState } from '../core/model/node.js';
import { Placer } from '../core/placement/placer.js';
import { createProfile, type PolicyName } from '../core/policies.js';
import { targetWorkload } from '../core/plugins/score/fragmentation.js';
import { createRng } from '../core/rng.js';
import { mixAsPods, sampleRequest, syntheticFleet } from './fleet.js';

export interface PlaceBenchOptions {
  readonly nodes: number;
  readonly gpusPerNode: number;
  readonly pods: number;
  readonly policy: PolicyName;
  readonly seed?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface PlaceBenchResult {
  readonly nodes: number;
  readonly gpusPerNode: number;
  readonly policy: PolicyName;
  readonly decisions: number;
  readonly decisionsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Heap per node: the node model and the per-node score caches, placements excluded. */
  readonly heapBytesPerNode: number;
  /** Heap per live placement (binding and its bookkeeping). */
  readonly heapBytesPerPlacement: number;
  readonly placements: number;
  readonly placed: number;
  readonly failed: number;
  readonly gpuAllocatedPct: number;
  /** Nodes rescored per decision (the rest came from the per-node cache, unchanged). */
  readonly nodesRescoredPerDecision: number;
}

function forceGc(): () => void {
  setFlagsFromString('--expose_gc');
  const gc = runInNewContext('gc') as () => void;
  return () => {
    gc();
    gc();
  };
}

/** milli-GPU used by MIG instances on a node (a 1g slice counts 1/7 of a GPU). */
function migUsed(node: NodeState): number {
  let used = 0;
  for (const g of node.gpus) if (g.mig) used += Math.round((g.mig.smUsed * 1000) / 7);
  return used;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

export function benchPlace(o: PlaceBenchOptions): PlaceBenchResult {
  const gc = forceGc();
  const rng = createRng(o.seed ?? 1);
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const cluster = new Cluster(syntheticFleet(o.nodes, o.gpusPerNode));
  const profile = createProfile(o.policy, { workload: targetWorkload(mixAsPods()) });
  const placer = new Placer(cluster, profile, createRng((o.seed ?? 1) + 1));
  const capacity = o.nodes * o.gpusPerNode * 1000;
  const live: { id: string; milli: number }[] = [];
  let head = 0;
  let allocated = 0;
  const fill = 0.85;
  let n = 0;
  // Warm up (not timed): fill node by node to the target level, each request placed by the
  // policy on the current node (O(1) per request; a cluster-wide fill would take O(N) each).
  for (const node of cluster.nodesByName()) {
    let misses = 0;
    const nodeCap = node.gpus.length * 1000;
    while (misses < 3) {
      const used = nodeCap - node.gpuMilliFreeTotal - node.migGpus * 1000 + migUsed(node);
      if (used >= fill * nodeCap) break;
      const req = sampleRequest(rng, `warm-${n++}`);
      const r = placer.place(req, { candidates: [node.slot] });
      if (!r.ok) {
        misses++;
        continue;
      }
      cluster.bind(r.binding);
      const milli = r.binding.gpus.reduce((a, g) => a + (g.mig ? 143 : g.milli), 0);
      live.push({ id: req.id, milli });
      allocated += milli;
    }
  }
  const lat = new Float64Array(o.pods);
  let placed = 0;
  let failed = 0;
  const rescoredBefore = placer.stats.nodesRescored;
  const t0 = performance.now();
  for (let i = 0; i < o.pods; i++) {
    while (allocated >= fill * capacity && head < live.length) {
      const old = live[head++] as { id: string; milli: number };
      cluster.release(old.id);
      allocated -= old.milli;
    }
    const req = sampleRequest(rng, `pod-${i}`);
    const s = performance.now();
    const r = placer.place(req);
    if (r.ok) cluster.bind(r.binding);
    lat[i] = performance.now() - s;
    if (r.ok) {
      const milli = r.binding.gpus.reduce((a, g) => a + (g.mig ? 143 : g.milli), 0);
      live.push({ id: req.id, milli });
      allocated += milli;
      placed++;
    } else {
      failed++;
    }
    if (o.onProgress && i % 256 === 0) o.onProgress(i, o.pods);
  }
  const seconds = (performance.now() - t0) / 1000;
  o.onProgress?.(o.pods, o.pods);
  const sorted = lat.slice().sort();
  // Memory: what the scheduler holds, not the harness's lists. Loaded = nodes + placements +
  // score caches; then every placement is released and the rest is what the nodes cost.
  const liveIds = live.slice(head).map((x) => x.id);
  live.length = 0;
  gc();
  const loaded = process.memoryUsage().heapUsed;
  const placements = cluster.boundCount;
  for (const id of liveIds) cluster.release(id);
  liveIds.length = 0;
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  const result: PlaceBenchResult = {
    nodes: o.nodes,
    gpusPerNode: o.gpusPerNode,
    policy: o.policy,
    decisions: o.pods,
    decisionsPerSecond: o.pods / seconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted[sorted.length - 1] ?? NaN,
    heapBytesPerNode: Math.max(0, heapAfter - heapBefore - sorted.byteLength - lat.byteLength) / o.nodes,
    heapBytesPerPlacement: placements > 0 ? Math.max(0, loaded - heapAfter) / placements : 0,
    placements,
    placed,
    failed,
    gpuAllocatedPct: (allocated / capacity) * 100,
    nodesRescoredPerDecision: (placer.stats.nodesRescored - rescoredBefore) / o.pods,
  };
  // Keep the fleet alive until after the heap measurement.
  if (cluster.nodeCount < 0) throw new Error('unreachable');
  return result;
}
