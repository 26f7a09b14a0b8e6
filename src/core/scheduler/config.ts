/** Scheduler settings, with the defaults a cluster starts from. */
import type { PolicyName } from '../policies.js';
import type { WorkloadClass } from '../plugins/score/fragmentation.js';
import type { Rng } from '../rng.js';
import type { LocalityOptions } from '../plugins/score/data-locality.js';

export const ACTION_NAMES = ['allocate', 'backfill', 'consolidate', 'surge', 'reclaim', 'preempt'] as const;
export type ActionName = (typeof ACTION_NAMES)[number];

export interface SchedulerConfig {
  readonly rng: Rng;
  /** A monotonic clock in ms, used only to report how long each action took (optional). */
  readonly clock?: () => number;
  /** Placement policy (default gantry). */
  readonly policy?: PolicyName;
  /**
   * Data locality under the gantry policy: `weight` (score points a fully local node gains; the
   * default lets locality lead, 0 turns it off) and `rackCredit` (share of the credit for bytes
   * only a rack neighbour holds). See docs/data-locality.md. Requests without datasets never
   * see it. `holdMs` (default 0: never): a job whose placement now would miss data that
   * another node holds may wait up to this long since it became pending for such a node to
   * have room (delay scheduling); after that it goes where it fits. `holdCopyBytesPerSec`
   * (default 0: off) shortens the hold to the time copying the missing bytes would take at
   * that rate: a small dataset is copied rather than waited for. `reserve` (default 1e6; 0 = off):
   * the holder reserve, score points a node loses per TB it holds of data other pending jobs
   * read (shared among the data's holders), so jobs with a choice leave holders to their data's jobs.
   */
  readonly locality?: LocalityOptions & { readonly holdMs?: number; readonly holdCopyBytesPerSec?: number };
  /** Target workload for fragmentation-aware placement. */
  readonly workload?: readonly WorkloadClass[];
  /** Half-life of the usage history used by fair share (0 = current usage only). */
  readonly fairShareHalfLifeMs?: number;
  /** A job that started less than this ago is never disrupted (no ping-pong). */
  readonly minRuntimeMs?: number;
  /** A job pending longer than this gets a reservation (no starvation). */
  readonly reserveAfterMs?: number;
  /** How many reservations may exist at once. */
  readonly maxReservations?: number;
  /** Grace for checkpointing jobs that declare none. */
  readonly defaultGraceMs?: number;
  /**
   * Order within queues: each queue's own setting (priority), or for all queues fifo, las
   * (least attained service, in bands), or gittins (the Gittins index of the run-time
   * distribution learned from jobs of the same queue that ended; see service.ts). Under las
   * and gittins the job's priority class still comes first.
   */
  readonly withinQueueOrder?: 'priority' | 'fifo' | 'las' | 'gittins';
  /** gittins: completed jobs a queue needs before its own distribution is used (else all queues'). */
  readonly serviceMinSamples?: number;
  /** gittins: most recent completed jobs remembered per queue. */
  readonly serviceMaxSamples?: number;
  /** gittins: how often the learned distributions are rebuilt. */
  readonly serviceRefreshMs?: number;
  /** Which run-time distribution predicts a job's (gittins order): its queue's, or its queue's for its size. */
  readonly serviceClasses?: 'queue' | 'queue-size';
  /**
   * gittins: a waiting job's index counts only horizons of at least the minimum runtime (a
   * start commits that much service: see ServiceModel.index). Default false.
   */
  readonly gittinsCommitted?: boolean;
  /** gittins: priority steps per doubling of the index (the resolution of the order). */
  readonly gittinsStepsPerDoubling?: number;
  /**
   * Preempt: how much higher (in effective priority units) the preemptor must rank than
   * each victim (default 1 = strictly higher). With gittins, a gap of k steps means an index
   * 2^(k / gittinsStepsPerDoubling) times higher: a margin against churn between close jobs.
   */
  readonly preemptMinGap?: number;
  /** With `las` order: attained-service thresholds (GPU-ms) between priority bands. */
  readonly lasThresholdsGpuMs?: readonly number[];
  /** The actions to run, in this order. */
  readonly actions?: readonly ActionName[];
  /**
   * Order between queues in allocate: `fair` (default) serves queues within their guarantee,
   * then below their fair share, then the rest; `priority` takes the highest (effective)
   * priority job across queues first and uses the fair-share tiers only to break ties
   * (guarantees are then kept by reclaim).
   */
  readonly acrossQueues?: 'fair' | 'priority';
  /** Reclaim up to each queue's guarantee (default), or up to its deserved fair share. */
  readonly reclaimTo?: 'guarantee' | 'deserved';
  /** Most evictions one cycle may decide (a bound on disruption; the rest waits a cycle). */
  readonly maxEvictionsPerCycle?: number;
  /** Most victim searches per cycle of preempt and of consolidate (each): bounds the cost of a busy cycle. */
  readonly maxPlansPerCycle?: number;
  /**
   * Most victim searches of reclaim per cycle. Higher: a guarantee is a promise, and a queue
   * that gets a burst of jobs below its guarantee is owed all of it within a cycle.
   */
  readonly maxReclaimPlansPerCycle?: number;
  /**
   * Let preempt take victims from other queues too, from what they run beyond their
   * guarantee (default false: preemption stays within a queue).
   */
  readonly preemptAcrossQueues?: boolean;
  /** Victim searches per queue per cycle in preempt (bounds the cost when many jobs wait). */
  readonly maxPreemptPlansPerQueue?: number;
  /** Most consolidation plans to try per cycle. */
  readonly maxConsolidationAttempts?: number;
  /** Longest checkpoint grace a job stopped for a surging service replica gets (actions/surge.ts). */
  readonly surgeGraceMs?: number;
  /**
   * Reclaim by moving (actions/reclaim-moves.ts): a job stopped less than this long ago is not
   * moved again (default 30 min), so no job is moved back and forth.
   */
  readonly moveCooldownMs?: number;
  /**
   * Reclaim by moving: most GPU time (GPU-seconds) the movers of one cycle may lose, counted
   * as their work at risk (a grace each for jobs that checkpoint when signalled; default 960,
   * e.g. 32 GPUs with a 30 s grace).
   */
  readonly maxMoveGpuSecondsPerCycle?: number;
  /**
   * Priority preemption (actions/preempt.ts): a victim that would lose more than this much work
   * (GPU-seconds at risk: its GPU time since its last checkpoint, or its grace when it saves on
   * the signal) is not stopped for priority; the job waits for cheaper room or for work to end
   * (default Infinity: no bound; 1800, half a GPU-hour, is a 4-GPU job without checkpoints that
   * ran 7.5 min). Reclaim (a guarantee) and surge (a service) are not bounded by it.
   */
  readonly maxPreemptLossGpuSeconds?: number;
}

/** The configuration with every default filled in (what a cycle reads). */
export type SchedulerSettings = Required<Omit<SchedulerConfig, 'workload' | 'rng' | 'clock' | 'locality'>> & Pick<SchedulerConfig, 'locality'>;

export function withDefaults(c: SchedulerConfig): SchedulerSettings {
  return {
    policy: c.policy ?? 'gantry',
    ...(c.locality ? { locality: c.locality } : {}),
    fairShareHalfLifeMs: c.fairShareHalfLifeMs ?? 3_600_000,
    minRuntimeMs: c.minRuntimeMs ?? 600_000,
    reserveAfterMs: c.reserveAfterMs ?? 1_800_000,
    maxReservations: c.maxReservations ?? 4,
    defaultGraceMs: c.defaultGraceMs ?? 30_000,
    withinQueueOrder: c.withinQueueOrder ?? 'priority',
    actions: c.actions ?? ACTION_NAMES,
    lasThresholdsGpuMs: c.lasThresholdsGpuMs ?? [3_600_000, 36_000_000],
    serviceMinSamples: c.serviceMinSamples ?? 20,
    serviceMaxSamples: c.serviceMaxSamples ?? 2000,
    serviceRefreshMs: c.serviceRefreshMs ?? 300_000,
    serviceClasses: c.serviceClasses ?? 'queue-size',
    gittinsCommitted: c.gittinsCommitted ?? false,
    gittinsStepsPerDoubling: c.gittinsStepsPerDoubling ?? 4,
    preemptMinGap: c.preemptMinGap ?? 1,
    maxConsolidationAttempts: c.maxConsolidationAttempts ?? 4,
    maxEvictionsPerCycle: c.maxEvictionsPerCycle ?? 256,
    maxPlansPerCycle: c.maxPlansPerCycle ?? 16,
    maxReclaimPlansPerCycle: c.maxReclaimPlansPerCycle ?? 256,
    reclaimTo: c.reclaimTo ?? 'guarantee',
    acrossQueues: c.acrossQueues ?? 'fair',
    preemptAcrossQueues: c.preemptAcrossQueues ?? false,
    maxPreemptPlansPerQueue: c.maxPreemptPlansPerQueue ?? 8,
    surgeGraceMs: c.surgeGraceMs ?? 20_000,
    moveCooldownMs: c.moveCooldownMs ?? 1_800_000,
    maxMoveGpuSecondsPerCycle: c.maxMoveGpuSecondsPerCycle ?? 960,
    maxPreemptLossGpuSeconds: c.maxPreemptLossGpuSeconds ?? Infinity,
  };
}
