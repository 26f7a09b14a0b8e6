/**
 * Score: DotProd (Tetris-style alignment). The request vector and the node's free vector
 * (CPU, GPU), each normalised by the largest node shape (128 cores, 8 GPUs); the smaller the
 * dot product, the tighter the fit and the higher the score (0..100). For a share, the GPU
 * dimension is the chosen GPU's free compute, and the best GPU is kept.
 */
import type { ScorePlugin, PreparedRequest } from '../../framework/plugin.js';
import type { NodeState } from '../../model/node.js';
import type { GpuGrant } from '../../model/cluster.js';

const MAX_CPU = 128_000;
const MAX_GPU = 8_000;

function evaluate(p: PreparedRequest, node: NodeState): { score: number; gpu: number } {
  const cpu = (node.cpuFree / MAX_CPU) * (p.req.cpuMilli / MAX_CPU);
  const g = p.req.gpu;
  if (g.kind === 'share') {
    let best = -1;
    let bestGpu = -1;
    for (const gpu of node.gpus) {
      if (!gpu.canShare(g.milli, g.memoryMiB) || gpu.milliFree === 0) continue;
      if (p.allowed && !p.allowed.has(gpu.model)) continue;
      const dot = cpu + (gpu.milliFree / MAX_GPU) * (g.milli / MAX_GPU);
      const s = 1 - dot / 2;
      if (s > best) {
        best = s;
        bestGpu = gpu.index;
      }
    }
    return { score: Math.trunc(best * 100), gpu: bestGpu };
  }
  const dot = cpu + (node.gpuMilliFreeTotal / MAX_GPU) * (p.milliGpu / MAX_GPU);
  return { score: Math.trunc((1 - dot / 2) * 100), gpu: -1 };
}

export const dotProduct: ScorePlugin = {
  name: 'DotProd',
  nodeLocal: true,
  score: (p, node) => evaluate(p, node).score,
  assign(p, node): GpuGrant[] | null {
    const g = p.req.gpu;
    if (g.kind !== 'share') return null;
    const { gpu } = evaluate(p, node);
    return gpu < 0 ? null : [{ gpu, milli: g.milli, memoryMiB: g.memoryMiB }];
  },
};
