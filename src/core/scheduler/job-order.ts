/**
 * The order of work within a cycle: each job's effective priority (its priority class, moved
 * by attained service under `las` and by its Gittins index under `gittins`), the order of the
 * jobs of one queue, and how far each queue is over its deserved share (fair-share order).
 * Per cycle: effective priorities are computed once per job.
 */
import type { QueueNode, QueueTree } from './queues.js';
import { RESOURCE_KEYS } from './queues.js';
import { gpuCount, serviceClasses, type JobRecord } from './job.js';
import type { SchedulerSettings } from './config.js';
import type { ServiceModel } from './service.js';

export class JobOrder {
  private byPriorityMemo: boolean | null = null;
  private readonly prio = new Map<JobRecord, number>();

  constructor(
    private readonly config: SchedulerSettings,
    private readonly queues: QueueTree,
    private readonly service: ServiceModel | null,
  ) {}

  private orderOf(j: JobRecord): 'priority' | 'fifo' | 'las' | 'gittins' {
    if (this.config.withinQueueOrder !== 'priority') return this.config.withinQueueOrder;
    return this.allByPriority ? 'priority' : (this.queues.get(j.queue)?.spec.ordering ?? 'priority');
  }

  /** Every queue orders its jobs by priority (the common case: no per-queue lookups needed). */
  get allByPriority(): boolean {
    if (this.config.withinQueueOrder !== 'priority') return false;
    if (this.byPriorityMemo === null) this.byPriorityMemo = this.queues.all().every((q) => (q.spec.ordering ?? 'priority') === 'priority');
    return this.byPriorityMemo;
  }

  /** Least-attained-service band (0 = least service), Tiresias-style discrete queues. */
  band(j: JobRecord): number {
    let b = 0;
    for (const t of this.config.lasThresholdsGpuMs) if (j.attainedGpuMs >= t) b++;
    return b;
  }

  /**
   * Effective priority: the job's priority class; under `las` order, jobs that attained less
   * GPU time rank above those that attained more (so preemption follows attained service).
   */
  priorityOf(j: JobRecord): number {
    const order = this.orderOf(j);
    if (order === 'las') return j.priority * 1000 - this.band(j);
    if (order === 'gittins') {
      let p = this.prio.get(j);
      if (p === undefined) this.prio.set(j, (p = j.priority * 1_000_000 + this.gittinsRank(j)));
      return p;
    }
    return j.priority;
  }

  /** The job's Gittins index (per GPU-ms) on a log scale: higher = sooner. */
  gittinsRank(j: JobRecord): number {
    const gpus = gpuCount(j);
    const idx = this.service ? this.service.index(serviceClasses(j, this.config.serviceClasses), j.attainedGpuMs / gpus, gpus, j.state === 'pending') : 1 / ((j.attainedGpuMs / gpus + 60_000) * gpus);
    return Math.max(-999_999, Math.round(this.config.gittinsStepsPerDoubling * Math.log2(idx)));
  }

  /** Whether `j`'s queue orders by priority before submission (every order but fifo). */
  ordersByPriority(j: JobRecord): boolean {
    return this.orderOf(j) !== 'fifo';
  }

  /** Order of jobs within a queue. */
  compareWithinQueue(a: JobRecord, b: JobRecord): number {
    const order = this.orderOf(a);
    if (order !== 'fifo') {
      const d = this.priorityOf(b) - this.priorityOf(a);
      if (d !== 0) return d;
    }
    return a.spec.submittedAt - b.spec.submittedAt || (a.spec.id < b.spec.id ? -1 : 1);
  }

  /** How far a queue is over its deserved share (lower = served first): DRF over GPU, CPU, memory. */
  fairKey(q: QueueNode): number {
    let key = 0;
    for (const k of RESOURCE_KEYS) {
      const used = Math.max(q.usage[k], q.avgUsage[k]);
      const ratio = (used + 1) / (q.deserved[k] + 1);
      if (ratio > key) key = ratio;
    }
    // A queue's share is also bounded by its ancestors'.
    return q.parent ? Math.max(key, this.fairKey(q.parent) * 0.999) : key;
  }
}
