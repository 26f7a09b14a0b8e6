/**
 * What the job simulator asks of a scheduling policy. The engine owns time, job progress and
 * metrics; a driver owns the scheduling state and answers each cycle with jobs to start (with
 * their placements) and jobs to stop (with a grace period, 0 = at once).
 */
import type { Binding } from '../../core/model/cluster.js';
import type { NodeSpec } from '../../core/model/node.js';
import type { PodRequest } from '../../core/model/request.js';
import type { QueueSpec } from '../../core/scheduler/types.js';
import type { NodeCacheReport } from '../../core/model/node-cache.js';

export interface SimJob {
  readonly id: string;
  readonly queue: string;
  readonly submit: number;
  readonly duration: number;
  readonly gpus: number;
  readonly members: readonly PodRequest[];
  /** Priority class (default 0). */
  readonly priority?: number;
  /** Default true. */
  readonly preemptible?: boolean;
  /**
   * The job's own checkpoint policy: saves every `intervalMs` of progress (0 = never) and gets
   * `graceMs` to save when stopped (0 = killed at once); null = no checkpointing at all (a stop
   * loses everything since the start). Absent: the experiment's one policy for every job.
   */
  readonly checkpoint?: { readonly intervalMs: number; readonly graceMs: number } | null;
}

export interface CycleOutcome {
  readonly start: readonly { readonly job: SimJob; readonly bindings: readonly Binding[] }[];
  /** `forJob`: the job the stop makes room for, when the policy says (for ping-pong counts). */
  readonly stop: readonly { readonly job: SimJob; readonly graceMs: number; readonly forJob?: string }[];
}

export interface SimDriver {
  readonly name: string;
  /** True when the policy reads true job durations (an oracle). */
  readonly oracle: boolean;
  init(nodes: readonly NodeSpec[], queues: readonly QueueSpec[]): void;
  submit(job: SimJob, now: number): void;
  /** The job ran to completion: free what it holds. */
  complete(job: SimJob, now: number): void;
  /** The job stopped after an eviction and waits to run again. */
  stopped(job: SimJob, now: number): void;
  /** GPU time a running job attained since the last call (for least-attained-service policies). */
  attained(job: SimJob, gpuMs: number): void;
  cycle(now: number): CycleOutcome;
  /** What node caches hold now (data locality); a driver without it places blind to data. */
  nodeCaches?(reports: readonly NodeCacheReport[]): void;
}
