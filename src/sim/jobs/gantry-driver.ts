/**
 * The `gantry` policy in the job simulator: the real scheduler core (queues with guarantees,
 * fair share, least-attained-service order within queues, reservations and backfill,
 * consolidation, reclaim and checkpoint-aware preemption) driven by simulated events.
 */
import type { NodeSpec } from '../../core/model/node.js';
import { Scheduler } from '../../core/scheduler/scheduler.js';
import type { QueueSpec } from '../../core/scheduler/types.js';
import type { SchedulerConfig } from '../../core/scheduler/config.js';
import { createRng } from '../../core/rng.js';
import type { CycleOutcome, SimDriver, SimJob } from './driver.js';
import type { NodeCacheReport } from '../../core/model/node-cache.js';

export interface GantryDriverOptions {
  readonly scheduler: Omit<SchedulerConfig, 'rng'>;
  readonly checkpointIntervalSeconds: number;
  readonly graceSeconds: number;
  readonly seed: number;
}

export class GantryDriver implements SimDriver {
  readonly name: string;
  readonly oracle = false;
  private s!: Scheduler;
  private readonly byId = new Map<string, SimJob>();

  constructor(
    private readonly o: GantryDriverOptions,
    name = 'gantry',
  ) {
    this.name = name;
  }

  init(nodes: readonly NodeSpec[], queues: readonly QueueSpec[]): void {
    this.s = new Scheduler({ ...this.o.scheduler, rng: createRng(this.o.seed) }, queues);
    for (const n of nodes) this.s.addNode(n);
  }

  submit(job: SimJob, now: number): void {
    this.byId.set(job.id, job);
    this.s.submit({
      id: job.id,
      queue: job.queue,
      priority: job.priority ?? 0,
      preemptible: job.preemptible ?? true,
      submittedAt: now,
      members: job.members,
      ...this.checkpointOf(job),
    });
  }

  /** The job's own checkpoint policy, else the experiment's (none: the job declares none). */
  private checkpointOf(job: SimJob): { checkpoint?: { intervalSeconds?: number; graceSeconds?: number } } {
    if (job.checkpoint === undefined) return { checkpoint: { intervalSeconds: this.o.checkpointIntervalSeconds, graceSeconds: this.o.graceSeconds } };
    if (job.checkpoint === null) return {};
    const c = job.checkpoint;
    return { checkpoint: { ...(c.intervalMs > 0 ? { intervalSeconds: c.intervalMs / 1000 } : {}), ...(c.graceMs > 0 ? { graceSeconds: c.graceMs / 1000 } : {}) } };
  }

  complete(job: SimJob): void {
    this.s.remove(job.id, true);
    this.byId.delete(job.id);
  }

  stopped(job: SimJob, now: number): void {
    this.s.requeue(job.id, now);
  }

  nodeCaches(reports: readonly NodeCacheReport[]): void {
    this.s.updateNodeCaches(reports);
  }

  attained(job: SimJob, gpuMs: number): void {
    this.s.addAttainedService(job.id, gpuMs);
  }

  cycle(now: number): CycleOutcome {
    const r = this.s.cycle(now);
    const start: { job: SimJob; bindings: CycleOutcome['start'][number]['bindings'] }[] = [];
    const stop: { job: SimJob; graceMs: number; forJob: string }[] = [];
    for (const d of r.decisions) {
      const job = this.byId.get(d.job);
      if (!job) continue;
      if (d.kind === 'bind') start.push({ job, bindings: d.bindings });
      else stop.push({ job, graceMs: d.graceMs, forJob: d.for });
    }
    return { start, stop };
  }
}
