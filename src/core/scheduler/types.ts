/**
 * The scheduler's vocabulary: queues with quotas, jobs (gangs of pods), and the decisions a
 * cycle produces. Decisions are data (bind, evict, ...); adapters carry them out.
 * Times are milliseconds on the injected clock.
 */
import type { Binding } from '../model/cluster.js';
import type { PodRequest } from '../model/request.js';
import type { ReasonCount } from '../framework/reasons.js';

/** Resource amounts a quota speaks of. GPUs in milli-GPU; CPU in milli-CPU; memory in MiB. */
export interface Resources {
  readonly gpu: number;
  readonly cpu: number;
  readonly memory: number;
  /** milli-GPU per GPU model, for quotas per model. */
  readonly gpuByModel?: Readonly<Record<string, number>>;
  /** Of `gpu`, milli-GPU in MIG slices (a class of its own in fair share; absent: none). */
  readonly gpuMig?: number;
}

export interface QueueSpec {
  readonly name: string;
  /** Parent queue name; absent = a root. */
  readonly parent?: string;
  /** Capacity the queue is guaranteed (lent out when idle, reclaimed when needed). */
  readonly guaranteed?: Partial<Resources>;
  /** Hard cap on what the queue may use, borrowing included. */
  readonly limit?: Partial<Resources>;
  /** Share of the capacity beyond guarantees, relative to sibling queues (default 1). */
  readonly overQuotaWeight?: number;
  /** Order within the queue: by priority then submission (default), or submission only. */
  readonly ordering?: 'priority' | 'fifo';
}

export interface CheckpointPolicy {
  /** The job saves a checkpoint every N seconds (used when it does not report them). */
  readonly intervalSeconds?: number;
  /** Seconds the job gets to save after the preemption signal before it is stopped. */
  readonly graceSeconds?: number;
}

export interface JobSpec {
  readonly id: string;
  readonly queue: string;
  /** Higher runs first and may preempt lower within its queue. */
  readonly priority: number;
  /** Non-preemptible work runs only within its queue's guaranteed quota. */
  readonly preemptible: boolean;
  readonly submittedAt: number;
  /** The pods of the job; more than one = a gang (all or none). */
  readonly members: readonly PodRequest[];
  readonly checkpoint?: CheckpointPolicy;
  /** A runtime estimate (user-declared limit or oracle) for backfill and start-time estimates. */
  readonly expectedDurationMs?: number;
  /** The team the work is billed to (budget holds); absent = none. */
  readonly team?: string;
  /**
   * An inference replica: when it does not fit, it may stop lower-priority preemptible work
   * in any queue, however young, with a bounded grace (actions/surge.ts).
   */
  readonly surge?: boolean;
}

/**
 * Teams and queues whose new work waits because a hard budget is spent, each with what to
 * tell the waiting jobs. A queue's hold covers the queues below it. Running work is not touched.
 */
export interface BudgetHolds {
  readonly teams: ReadonlyMap<string, string>;
  readonly queues: ReadonlyMap<string, string>;
}

export type EvictReason = 'preempt' | 'reclaim' | 'consolidate' | 'drain';

export type Decision =
  | { readonly kind: 'bind'; readonly job: string; readonly bindings: readonly Binding[] }
  | {
      readonly kind: 'evict';
      readonly job: string;
      readonly reason: EvictReason;
      /** The job this eviction makes room for. */
      readonly for: string;
      /** Grace for a checkpoint before the stop; 0 = stop now. */
      readonly graceMs: number;
      /** For consolidation: where the job will be re-placed. */
      readonly moveTo?: readonly Binding[];
    };

export type WaitReason =
  | { readonly kind: 'quota'; readonly message: string }
  | { readonly kind: 'fit'; readonly message: string; readonly reasons: readonly ReasonCount[] }
  | { readonly kind: 'gang'; readonly message: string }
  | { readonly kind: 'reservation'; readonly message: string }
  | { readonly kind: 'order'; readonly message: string }
  | { readonly kind: 'preempting'; readonly message: string }
  /** Placed, but its datasets are not yet complete on the node (filling, or waiting for space). */
  | { readonly kind: 'data'; readonly message: string }
  /** A hard budget of its team or queue is spent (message starts with BUDGET_EXHAUSTED). */
  | { readonly kind: 'budget'; readonly message: string };

export interface Explanation {
  readonly job: string;
  readonly state: 'pending' | 'running' | 'unknown';
  readonly reasons: readonly WaitReason[];
  /** Estimated start (ms on the scheduler clock), when it can be estimated. */
  readonly estimatedStart?: number;
  /** Position among the pending jobs of its queue (1 = next). */
  readonly queuePosition?: number;
  /** Why there is no estimate, or what it rests on (never blames jobs that declared a duration). */
  readonly estimateNote?: string;
  /** Jobs being preempted to make room for this one (it starts once they have stopped). */
  readonly preemptingFor?: readonly string[];
}

export interface CycleResult {
  readonly decisions: readonly Decision[];
  /** Why each job still pending after this cycle waits. */
  readonly pending: ReadonlyMap<string, readonly WaitReason[]>;
  readonly stats: {
    readonly considered: number;
    readonly bound: number;
    readonly evicted: number;
    /** Milliseconds per action, when the scheduler was given a clock. */
    readonly actionMs?: Readonly<Record<string, number>>;
  };
}
