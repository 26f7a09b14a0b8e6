/**
 * The churn workload's shapes and the simulation spec one run of it uses: shared by the soak
 * (bench/churn-soak.ts) and the scripts that explain one run (bench/churn-deficits.mjs,
 * bench/churn-pingpong.mjs), so all three simulate the same thing.
 */
import { CHURN_DEFAULTS, type ChurnSpec } from '../src/sim/jobs/churn.js';
import type { JobsSpec } from '../src/sim/jobs/experiment.js';
import { PHILLY_FLEET } from '../src/sim/jobs/setup.js';

export const CHURN_SHAPES: Record<string, Partial<ChurnSpec>> = {
  issue: {},
  'small-gangs': { gangGpus: [1, 4] },
  'big-gangs': { gangGpus: [4, 16] },
  'no-checkpoint': { checkpointing: 0.2 },
  bursty: { burstEveryHours: [0.5, 1], burstJobs: [4, 8] },
};

export interface ChurnRun {
  readonly shape: string;
  readonly load: number;
  readonly seed: number;
  readonly hours: number;
  /** SchedulerConfig.maxPreemptLossGpuSeconds for every mode (absent: the core's default). */
  readonly maxPreemptLossGpuSeconds?: number;
}

/** The jobs-simulation spec of one churn run: its own fleet, no trace, 30 s cycles. */
export function churnJobsSpec(r: ChurnRun): JobsSpec {
  const churn: ChurnSpec = { ...CHURN_DEFAULTS, ...CHURN_SHAPES[r.shape], seed: r.seed, hours: r.hours, load: r.load };
  return { trace: '', from: 0, days: r.hours / 24, load: r.load, fleet: { ...PHILLY_FLEET, eightGpuServers: churn.servers, twoGpuServers: 0 }, seed: r.seed, checkpointMinutes: 30, graceSeconds: 30, cycleSeconds: 30, restartSeconds: 60, guaranteedFraction: 0, churn, ...(r.maxPreemptLossGpuSeconds === undefined ? {} : { maxPreemptLossGpuSeconds: r.maxPreemptLossGpuSeconds }) };
}
