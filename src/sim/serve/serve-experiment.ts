/**
 * `gantry sim serve`'s grid: every policy at every rate scale over one trace. `static-peak` is
 * sized first, per rate scale, as the fewest replicas whose fixed fleet holds the objective in at
 * least 99 % of one-minute windows (full runs with 1, 2, 3, ... replicas), so it stands for a well
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

/**
 * The fewest fixed replicas that hold the objective in `target` of the windows (capped at
 * maxReplicas), by trying 1, 2, 3, ... in turn. Not a binary search: more replicas can miss a
 * window that fewer hold (the router's choices and the queues differ), and on the conversation
 * trace at 4x a search found 9 where 7 hold (docs/benchmarks.md).
 */
export function sizeStaticPeak(spec: Omit<ServeRunSpec, 'policy' | 'staticReplicas'>, target: number): StaticSizing {
  const cap = Math.max(1, spec.maxReplicas);
  let runs = 0;
  for (let k = 1; k < cap; k++) {
    runs++;
    if (runServeSimulation({ ...spec, policy: 'static-peak', staticReplicas: k }).sloAttainment >= target) return { replicas: k, runs };
  }
  return { replicas: cap, runs };
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
