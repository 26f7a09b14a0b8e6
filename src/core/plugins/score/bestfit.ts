/**
 * Score: BestFit, as the FGD paper's simulator defines it. The leftover after placement,
 * 0.5 x CPU leftover / 128 cores + 0.5 x GPU leftover / 8 GPUs, smaller is better; scaled
 * to an integer 0..100 (higher better) and min-max normalised across nodes with integer
 * arithmetic. A share goes to the GPU with the least free compute that fits (default choice).
 */
import { normalizeMinMaxInt, type ScorePlugin } from '../../framework/plugin.js';

const MAX_CPU = 128_000;
const MAX_GPU = 8_000;

export const bestFit: ScorePlugin = {
  name: 'BestFit',
  nodeLocal: true,
  score(p, node) {
    const cpuLeft = node.cpuFree - p.req.cpuMilli;
    const gpuLeft = node.gpuMilliFreeTotal - p.milliGpu;
    const s = (cpuLeft / MAX_CPU) * 0.5 + (gpuLeft / MAX_GPU) * 0.5;
    return Math.trunc((1 - s) * 100);
  },
  normalize: normalizeMinMaxInt,
};
