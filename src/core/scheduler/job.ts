/** A job as the scheduler tracks it between cycles. */
import type { Binding } from '../model/cluster.js';
import type { JobSpec, WaitReason } from './types.js';
import type { PreparedRequest } from '../framework/plugin.js';
import type { MutableResources } from './resources.js';

export type JobState = 'pending' | 'running' | 'evicting';

/** The reasons of a job that has none (shared by every such job: never changed in place). */
export const NO_REASONS: readonly WaitReason[] = [];

export interface JobRecord {
  readonly spec: JobSpec;
  /**
   * Copies of `spec` fields read in loops over every running job (victim scans): reading them
   * here spares a pointer chase per job (the spec and its checkpoint settings live elsewhere
   * in memory). Set at submission; a spec never changes.
   */
  readonly id: string;
  readonly queue: string;
  readonly priority: number;
  readonly submittedAt: number;
  /** What it asks for: milli-GPU, milli-CPU, MiB (its `resources` while pending). */
  readonly requestGpu: number;
  readonly requestCpu: number;
  readonly requestMemory: number;
  readonly expectedDurationMs: number | undefined;
  readonly preemptible: boolean;
  /** Checkpoint grace and interval in ms (0 = none). */
  readonly graceMs: number;
  readonly checkpointIntervalMs: number;
  state: JobState;
  bindings: readonly Binding[];
  /** What the job asks for (pending) or holds (running), for quota accounting. */
  resources: MutableResources;
  /** Whether `resources` is charged to the queue (running and evicting jobs are). */
  charged: boolean;
  startedAt: number | null;
  /** Last checkpoint the job reported (or that its interval implies). */
  lastCheckpointAt: number | null;
  /** GPU time consumed so far in GPU-ms (GPUs x ms), for least-attained-service ordering. */
  attainedGpuMs: number;
  /** milli-GPU x ms lost to preemptions (work since the last checkpoint). */
  lostGpuMs: number;
  preemptions: number;
  /**
   * What only a pending job needs; null while it runs or stops. A bound pod's record is the
   * most common one and keeps none of it (docs/benchmarks.md, "Scheduler memory").
   */
  pending: PendingFields | null;
  /** Its last eviction (see Session.mayDisplace); null until it has had one. */
  lastEviction: Eviction | null;
  /** What evictions made for it left it; null until it has had a victim (most jobs never do). */
  claims: RoomClaims | null;
  /** The scheduling session that last bound it or chose it as a victim (Session.isTouched). */
  touchedIn: number;
  /** Its place in its queue's RunningColumns and in the one of all running jobs; -1 when not running. */
  queueIndex: number;
  allIndex: number;
  /** Run-time classes (cached; see serviceClasses). */
  serviceClasses?: readonly string[] | undefined;
}

/** The fields of a job while it is pending (JobRecord.pending), made and dropped by JobTable's transitions. */
export interface PendingFields {
  /** When it became pending (submitted, or requeued). */
  since: number;
  /** Its place in the pending list (PendingList). */
  index: number;
  /** The reasons the last cycle that considered it gave (shown by explain). */
  lastReasons: readonly WaitReason[];
  /** Its reasons in the current cycle (the list Session.waits holds for it). */
  cycleReasons: readonly WaitReason[];
  /** The scheduling session in which it was last given a wait reason (Session.wait). */
  waitedIn: number;
  /** Computed once: the members prepared for placement, and the gang's shape key. */
  prepared: readonly PreparedRequest[] | undefined;
  shape: string | undefined;
}

/** The fields of a job that becomes pending at `since` (submitted, or requeued). */
export function pendingFields(since: number, prepared?: readonly PreparedRequest[], shape?: string): PendingFields {
  // One literal with every field: every pending part keeps one hidden class.
  return { since, index: -1, lastReasons: NO_REASONS, cycleReasons: NO_REASONS, waitedIn: 0, prepared, shape };
}

/** A job's eviction: for which job, when, and the grace it was given to save its work. */
export interface Eviction {
  readonly forJob: string;
  readonly at: number;
  readonly graceMs: number;
}

/** What victims stopped for a job left it (JobRecord.claims). */
export interface RoomClaims {
  /** Victims still stopping for it. */
  readonly awaiting: Set<string>;
  /** Nodes they free (it gets them first), until it starts. */
  readonly nominatedNodes: Set<string>;
  /**
   * When it last had a victim stopped for it, per the victim's queue (Session.mayMove: room
   * won from a queue is not moved back for that queue); kept while it runs.
   */
  readonly wonFrom: Map<string, number>;
}

/** Victims still stopping for `j`. */
export function awaitingCount(j: JobRecord): number {
  return j.claims === null ? 0 : j.claims.awaiting.size;
}

/** Nodes freed for `j` by evictions, until it starts. */
export function nominatedCount(j: JobRecord): number {
  return j.claims === null ? 0 : j.claims.nominatedNodes.size;
}

/** Since when `j` has been pending (NaN when it is not). */
export function pendingSince(j: JobRecord): number {
  return j.pending === null ? NaN : j.pending.since;
}

/** Since when `j` has been stopping; null when it is not. */
export function evictingSince(j: JobRecord): number | null {
  return j.state === 'evicting' && j.lastEviction !== null ? j.lastEviction.at : null;
}

export function isGang(j: JobRecord): boolean {
  return j.spec.members.length > 1;
}

/**
 * milli-GPU x ms of work a job would lose if stopped now: the work since its last checkpoint,
 * or, for a job that saves when signalled (it declares a grace period), only that grace.
 */
export function workAtRisk(j: JobRecord, now: number): number {
  if (j.startedAt === null) return 0;
  return workAtRiskOf(j.startedAt, j.lastCheckpointAt ?? NaN, j.graceMs, j.checkpointIntervalMs, j.resources.gpu, now);
}

/** workAtRisk from the numbers themselves (`lastCheckpointAt` NaN = no checkpoint reported). */
export function workAtRiskOf(startedAt: number, lastCheckpointAt: number, graceMs: number, checkpointIntervalMs: number, gpu: number, now: number): number {
  if (graceMs > 0) return graceMs * gpu;
  const reported = lastCheckpointAt === lastCheckpointAt;
  let since = reported ? lastCheckpointAt : startedAt;
  // No report: assume checkpoints every interval since the start.
  if (!reported && checkpointIntervalMs > 0) since = startedAt + Math.floor((now - startedAt) / checkpointIntervalMs) * checkpointIntervalMs;
  return Math.max(0, now - since) * gpu;
}

/**
 * Work at risk rounded up to whole GPU-minutes, for ordering victims: differences smaller
 * than that (a few seconds of grace) do not outweigh priority.
 */
export function riskKey(milliGpuMs: number): number {
  return Math.ceil(milliGpuMs / 60_000_000);
}

/**
 * The classes whose run-time distributions predict a job's, most specific first: its queue
 * and size (1, 2-4, 5-8, 9-32, more GPUs), then its queue (`queue-size`); or its queue only.
 */
export function serviceClasses(j: JobRecord, by: 'queue' | 'queue-size'): readonly string[] {
  if (by === 'queue') return [j.spec.queue];
  return (j.serviceClasses ??= [`${j.spec.queue}|${sizeClass(gpuCount(j))}`, j.spec.queue]);
}

function sizeClass(gpus: number): string {
  return gpus <= 1 ? '1' : gpus <= 4 ? '2-4' : gpus <= 8 ? '5-8' : gpus <= 32 ? '9-32' : '33+';
}

/** Whole GPUs a job asks for (shares and slices count as one), at least 1. */
export function gpuCount(j: JobRecord): number {
  return Math.max(1, j.spec.members.reduce((a, m) => a + (m.gpu.kind === 'whole' ? m.gpu.count : m.gpu.kind === 'none' ? 0 : 1), 0));
}
