/**
 * `gantry sim serve`'s grid: every policy at every rate scale over one trace. `static-peak` is
 * sized first, per rate scale, as the fewest replicas whose fixed fleet holds the objective in at
 * least 99 % of one-minute windows (a binary search of full runs), so it stands for a well
 * provisioned static deployment, not a guess.
 */
import type { ServeRunResult, ServeRunSpec } from './serve-simulation.js';
import { runServeSimulation } from './serve-simulation.js';
import type { ServePolicyName } from './serve-policies.js';

export type ServeExperimentSpec = Omit<ServeRunSpec, 'policy' | 'rateScale' | 'staticReplicas'> & {
  readonly policies: readonly ServePolicyName[];
  readonly rateScales: readonly number[];
  /** Share of windows that must meet the objective for a static size to count as enough. */
  readonly staticTarget?: number;
  readonly onProgress?: (done: number, total: number, what: string) => void;
};

export interface StaticSizing {
  readonly replicas: number;
  readonly runs: number;
}

/** The fewest fixed replicas that hold the objective in `target` of the windows (capped at maxReplicas). */
export function sizeStaticPeak(spec: Omit<ServeRunSpec, 'policy' | 'staticReplicas'>, target: number): StaticSizing {
  let runs = 0;
  const holds = (k: number): boolean => {
    runs++;
    return runServeSimulation({ ...spec, policy: 'static-peak', staticReplicas: k }).sloAttainment >= target;
  };
  const cap = Math.max(1, spec.maxReplicas);
  let hi = 1;
  while (hi < cap && !holds(hi)) hi = Math.min(cap, hi * 2);
  let lo = Math.floor(hi / 2) + 1;
  if (hi === 1) return { replicas: 1, runs };
  // holds(hi) is known true (or hi is the cap); search (hi/2, hi].
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (holds(mid)) hi = mid;
    else lo = mid + 1;
  }
  return { replicas: hi, runs };
}

export function runServeExperiment(spec: ServeExperimentSpec): ServeRunResult[] {
  const out: ServeRunResult[] = [];
  const total = spec.rateScales.length * spec.policies.length;
  let done = 0;
  for (const rateScale of spec.rateScales) {
    for (const policy of spec.policies) {
      spec.onProgress?.(done, total, `${policy} at ${rateScale}x`);
      let staticReplicas: number | undefined;
      if (policy === 'static-peak') staticReplicas = sizeStaticPeak({ ...spec, rateScale }, spec.staticTarget ?? 0.99).replicas;
      out.push(runServeSimulation({ ...spec, rateScale, policy, ...(staticReplicas !== undefined ? { staticReplicas } : {}) }));
      done++;
    }
  }
  spec.onProgress?.(done, total, 'done');
  return out;
}
