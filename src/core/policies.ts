/**
 * The placement policies by name. Each is a Profile: the default filters plus score plugins.
 * `fgd` and `gantry` need a target workload (the task classes they defragment for): a fixed
 * list (the FGD paper's whole-trace setting) or a source that changes, usually the
 * OnlineWorkload the scheduler feeds with every submission (online-workload.ts). With an
 * empty one, `fgd` scores all nodes alike (name order decides) and `gantry` falls back to
 * best fit. See docs/placement.md.
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
import { type DataDemand, type LocalityOptions, withDataLocality } from './plugins/score/data-locality.js';
import type { WorkloadClass } from './plugins/score/fragmentation.js';
import { fixedWorkload, type WorkloadSource } from './plugins/score/online-workload.js';

export const POLICY_NAMES = ['random', 'dotprod', 'packing', 'clustering', 'bestfit', 'fgd', 'gantry'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

export function isPolicyName(s: string): s is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(s);
}

export interface PolicyOptions {
  /** Target workload for fgd and gantry: fixed classes, or a source that is learned online. */
  readonly workload?: readonly WorkloadClass[] | WorkloadSource;
  /** gantry: data locality's weight and rack credit (data-locality.ts; default: locality leads). */
  readonly locality?: LocalityOptions;
  /** gantry: what pending jobs want of the cached data (the holder reserve, locality.reserve). */
  readonly dataDemand?: DataDemand;
}

function isSource(w: readonly WorkloadClass[] | WorkloadSource): w is WorkloadSource {
  return !Array.isArray(w);
}

export function createProfile(name: PolicyName, opts: PolicyOptions = {}): Profile {
  const filters = DEFAULT_FILTERS;
  const given = opts.workload ?? [];
  const workload = isSource(given) ? given : fixedWorkload(given);
  // The placer's cached scores are stale once the workload they were computed under changes.
  const scoresVersion = (): number => workload.version;
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
      return { name, filters, scorers: [{ plugin: createFgd(workload), weight: 1 }], scoresVersion };
    case 'gantry': {
      const demand = opts.dataDemand;
      // Both versions only grow, so their sum moves whenever either does.
      const version = demand ? (): number => workload.version + demand.version : scoresVersion;
      return { name, filters, scorers: [{ plugin: withDataLocality(createGantryScore(workload), opts.locality, demand), weight: 1 }], scoresVersion: version };
    }
  }
}
