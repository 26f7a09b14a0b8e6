/** Score: Random. Every feasible node gets a fresh random score; a share goes to a random GPU that fits. */
import type { ScorePlugin } from '../../framework/plugin.js';

export const randomScore: ScorePlugin = {
  name: 'Random',
  nodeLocal: false,
  score: (_p, _node, ctx) => ctx.rng.next(),
  assign(p, node, ctx) {
    const g = p.req.gpu;
    if (g.kind !== 'share') return null;
    const fits = node.gpus.filter((x) => x.canShare(g.milli, g.memoryMiB) && x.milliFree > 0 && (p.allowed === null || p.allowed.has(x.model)));
    if (fits.length === 0) return null;
    const gpu = fits[ctx.rng.int(fits.length)];
    return gpu ? [{ gpu: gpu.index, milli: g.milli, memoryMiB: g.memoryMiB }] : null;
  },
};
