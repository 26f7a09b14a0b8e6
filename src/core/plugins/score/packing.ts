/**
 * Score: GPU Packing, as the FGD paper's simulator defines it. From best to worst:
 *  1. the request fits on GPUs that are already shared: 100 - (their free share in %)/10, >= 50;
 *  2. it needs whole free GPUs on a node already in use: 50 - GPUs used, >= 33;
 *  3. the node is entirely free: 33 - its GPU count.
 * CPU-only requests score 0 everywhere.
 */
import type { ScorePlugin } from '../../framework/plugin.js';

export const gpuPacking: ScorePlugin = {
  name: 'GpuPacking',
  nodeLocal: true,
  score(p, node) {
    const g = p.req.gpu;
    if (g.kind === 'none' || g.kind === 'mig') return 0;
    const fullyFree = node.wholeFreeCount;
    if (fullyFree === node.gpus.length) return Math.max(33 - fullyFree, fullyFree);
    const per = g.kind === 'whole' ? 1000 : g.milli;
    let need = g.kind === 'whole' ? g.count : 1;
    const order = node.gpus.filter((x) => x.healthy && x.mig === null).sort((a, b) => a.milliFree - b.milliFree || a.index - b.index);
    let wholeUsed = 0;
    let freePct = 0;
    for (const gpu of order) {
      if (need === 0) break;
      if (per <= gpu.milliFree) {
        need--;
        if (gpu.milliFree === 1000) wholeUsed++;
        freePct += Math.trunc((gpu.milliFree * 100) / 1000);
      }
    }
    if (need !== 0) return 0;
    if (wholeUsed > 0) return Math.max(50 - wholeUsed, 33);
    return Math.max(100 - Math.trunc(freePct / 10), 50);
  },
};
