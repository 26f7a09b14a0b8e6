/**
 * Score: Gantry's default placement policy (first version: FGD's fragmentation change with a
 * best-fit tie-break; refined in later commits, see docs/placement.md).
 */
import type { ScorePlugin } from '../../framework/plugin.js';
import type { CompiledWorkload } from './fragmentation.js';
import { bestFragDelta } from './fgd.js';

export function createGantryScore(workload: CompiledWorkload): ScorePlugin {
  return {
    name: 'Gantry',
    nodeLocal: true,
    score: (p, node) => bestFragDelta(workload, p, node).delta,
    assign: (p, node) => {
      const g = p.req.gpu;
      if (g.kind !== 'share') return null;
      const c = bestFragDelta(workload, p, node);
      return c.gpu < 0 ? null : [{ gpu: c.gpu, milli: g.milli, memoryMiB: g.memoryMiB }];
    },
  };
}
