/** Cost lines of the simulators' reports, in the words of `gantry cost -o json`. */
import type { TallyLine } from '../../core/cost-tally.js';

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** One tally line as `gantry cost -o json` words it: GPU-hours and money to the micro-unit. */
export const costLineJson = (l: TallyLine) => ({ key: l.key, attempts: l.attempts, gpuHours: r3(l.gpuSeconds / 3600), cost: l.costMicros / 1e6, preemptedGpuHours: r3(l.preemptedGpuSeconds / 3600), preemptedCost: l.preemptedCostMicros / 1e6 });

/** An amount in micro-units, as the tables print it. */
export const money = (micros: number): string => (micros / 1e6).toFixed(2);
