/**
 * The placement policies by name. Each is a Profile: the default filters plus score plugins.
 * `fgd` and `gantry` need a target workload (the task classes they defragment for). The pure
 * core cannot observe it, so callers pass it (the simulators use the trace, the servers recent
 * submissions); without one, `fgd` scores all nodes alike (name order decides) and `gantry`
 * falls back to best fit. See docs/placement.md.
 * Gantry's own policy also prefers nodes that cache a request's datasets (data-locality.ts).
 */
import type { Profile } from './framework/plugin.js';
import { DEFAULT_FILTERS } from './plugins/filter/index.js';
import { bestFit } from './plugins/score/bestfit.js';
import { dotProduct } from './plugins/score/dotprod.js';
import { gpuPacking } from './plugins/score/packing.js';
import { randomScore } from './plugins/score/random.js';
import { createGpuClustering } from './plugins/score/clustering.js';
import { createFgd } from './plugins/score/fgd.js';
import { createGantryScore } from './plugins/score/gantry.js';
import { type LocalityOptions, withDataLocality } from './plugins/score/data-locality.js';
import { CompiledWorkload, type WorkloadClass } from './plugins/score/fragmentation.js';

export const POLICY_NAMES = ['random', 'dotprod', 'packing', 'clustering', 'bestfit', 'fgd', 'gantry'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

export function isPolicyName(s: string): s is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(s);
}

export interface PolicyOptions {
  /** Target workload for fgd and gantry. */
  readonly workload?: readonly WorkloadClass[];
  /** gantry: data locality's weight and rack credit (data-locality.ts; default: locality leads). */
  readonly locality?: LocalityOptions;
}

export function createProfile(name: PolicyName, opts: PolicyOptions = {}): Profile {
  const filters = DEFAULT_FILTERS;
  const workload = new CompiledWorkload(opts.workload ?? []);
  switch (name) {
    case 'random':
      return { name, filters, scorers: [{ plugin: randomScore, weight: 1 }] };
    case 'dotprod':
      return { name, filters, scorers: [{ plugin: dotProduct, weight: 1 }] };
    case 'packing':
      return { name, filters, scorers: [{ plugin: gpuPacking, weight: 1 }] };
    case 'clustering': {
      const c = createGpuClustering();
      return { name, filters, scorers: [{ plugin: c, weight: 1 }], reservers: [c] };
    }
    case 'bestfit':
      return { name, filters, scorers: [{ plugin: bestFit, weight: 1 }] };
    case 'fgd':
      return { name, filters, scorers: [{ plugin: createFgd(workload), weight: 1 }] };
    case 'gantry':
      return { name, filters, scorers: [{ plugin: withDataLocality(createGantryScore(workload), opts.locality), weight: 1 }] };
  }
}
