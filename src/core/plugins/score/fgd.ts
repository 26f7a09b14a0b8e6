/**
 * Score: FGD, fragmentation gradient descent (Weng et al., ATC'23), as the paper's simulator
 * computes it: score = trunc(100 x sigmoid((F_before - F_after) / 1000)), the highest wins.
 * For a share, every GPU that fits is tried and the best kept (it is also the GPU assigned);
 * whole GPUs are taken lowest index first. Configuration: the target workload (task classes).
 */
import type { ScorePlugin, PreparedRequest } from '../../framework/plugin.js';
import type { NodeState } from '../../model/node.js';
import type { GpuGrant } from '../../model/cluster.js';
import type { CompiledWorkload } from './fragmentation.js';
import type { WorkloadSource } from './online-workload.js';

/** Free compute of the node's usable (healthy, non-MIG) GPUs into `out`; returns how many. */
export function freeVector(node: NodeState, out: Float64Array): number {
  let k = 0;
  for (const g of node.gpus) if (g.healthy && g.mig === null) out[k++] = g.milliFree;
  return k;
}

export interface FragChoice {
  /** Change of F (before - after); larger is better. */
  delta: number;
  /** Index into the node's GPUs for a share, -1 otherwise. */
  gpu: number;
}

const scratch = new Float64Array(256);
const trial = new Float64Array(256);
const gpuIndex = new Int32Array(256);

/**
 * Evaluates the best fragmentation change of placing `p` on `node`. For a share, `better`
 * decides between two candidate GPUs with their deltas (default: strictly larger delta).
 */
export function bestFragDelta(
  w: CompiledWorkload,
  p: PreparedRequest,
  node: NodeState,
  better: (cand: FragChoice, best: FragChoice, node: NodeState) => boolean = (c, b) => c.delta > b.delta,
): FragChoice {
  let k = 0;
  for (const g of node.gpus) {
    if (g.healthy && g.mig === null) {
      gpuIndex[k] = g.index;
      scratch[k++] = g.milliFree;
    }
  }
  const model = node.gpuModels[0] ?? '';
  const before = w.fragmentation(node.cpuFree, scratch, k, model);
  const cpuAfter = node.cpuFree - p.req.cpuMilli;
  const g = p.req.gpu;
  if (g.kind === 'share') {
    let best: FragChoice = { delta: -Infinity, gpu: -1 };
    for (let i = 0; i < k; i++) {
      const gi = gpuIndex[i] as number;
      const gpu = node.gpus[gi];
      if (!gpu || !gpu.canShare(g.milli, g.memoryMiB) || gpu.milliFree === 0) continue;
      if (p.allowed && !p.allowed.has(gpu.model)) continue;
      trial.set(scratch.subarray(0, k));
      trial[i] = (trial[i] as number) - g.milli;
      const cand = { delta: before - w.fragmentation(cpuAfter, trial, k, model), gpu: gi };
      if (best.gpu < 0 || better(cand, best, node)) best = cand;
    }
    return best;
  }
  trial.set(scratch.subarray(0, k));
  if (g.kind === 'whole') {
    let need = g.count;
    for (let i = 0; i < k && need > 0; i++) {
      if (trial[i] === 1000 && node.gpus[gpuIndex[i] as number]?.wholeFree) {
        trial[i] = 0;
        need--;
      }
    }
  }
  return { delta: before - w.fragmentation(cpuAfter, trial, k, model), gpu: -1 };
}

function sigmoidScore(delta: number): number {
  return Math.trunc((1 / (1 + Math.exp(-delta / 1000))) * 100);
}

function shareGrant(p: PreparedRequest, gpu: number): GpuGrant[] | null {
  const g = p.req.gpu;
  if (g.kind !== 'share' || gpu < 0) return null;
  return [{ gpu, milli: g.milli, memoryMiB: g.memoryMiB }];
}

export function createFgd(source: WorkloadSource): ScorePlugin {
  // The share GPU is chosen on the integer score, as the reference does (first best GPU).
  const byIntScore = (c: FragChoice, b: FragChoice): boolean => sigmoidScore(c.delta) > sigmoidScore(b.delta);
  return {
    name: 'FGD',
    nodeLocal: true,
    score: (p, node) => sigmoidScore(bestFragDelta(source.compiled, p, node, byIntScore).delta),
    assign: (p, node) => shareGrant(p, bestFragDelta(source.compiled, p, node, byIntScore).gpu),
  };
}
