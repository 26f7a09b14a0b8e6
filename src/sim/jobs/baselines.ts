/**
 * Baseline policies for the job simulator, built on the same placement engine as Gantry so
 * that only the queueing policy differs:
 *  - fifo: one global queue in submission order; the head blocks everything behind it.
 *  - sjf: shortest job first by true duration (an oracle), skipping jobs that do not fit.
 *  - drf: fair share between queues (the queue with the smallest usage per guarantee goes
 *    next), FIFO within a queue, skipping jobs that do not fit, never preempting.
 *  - tiresias: two-dimensional least-attained-service (GPUs x time) with discrete priority
 *    queues (thresholds in GPU-hours), FIFO within a priority queue, preempting jobs of a lower
 *    priority queue at once (no checkpoint protocol: a stopped job resumes from its last
 *    periodic checkpoint).
 */
import { Cluster, type Binding } from '../../core/model/cluster.js';
import type { NodeSpec } from '../../core/model/node.js';
import { Placer } from '../../core/placement/placer.js';
import { placeGang } from '../../core/placement/gang.js';
import { createProfile, type PolicyName } from '../../core/policies.js';
import { createRng } from '../../core/rng.js';
import type { QueueSpec } from '../../core/scheduler/types.js';
import { OnlineWorkload } from '../../core/plugins/score/online-workload.js';
import type { LocalityOptions } from '../../core/plugins/score/data-locality.js';
import type { NodeCacheReport } from '../../core/model/node-cache.js';
import type { CycleOutcome, SimDriver, SimJob } from './driver.js';

export type BaselineName = 'fifo' | 'sjf' | 'drf' | 'tiresias';

export interface BaselineOptions {
  readonly placement: PolicyName;
  /** Tiresias queue thresholds in GPU-ms (ascending). */
  readonly lasThresholdsGpuMs: readonly number[];
  readonly seed: number;
  /** Data locality of the placement (gantry placement only). */
  readonly locality?: LocalityOptions & { readonly holdMs?: number };
}

interface Entry {
  job: SimJob;
  bindings: readonly Binding[];
  attained: number;
  running: boolean;
  startedAt: number;
}

export class BaselineDriver implements SimDriver {
  readonly oracle: boolean;
  private cluster = new Cluster();
  private placer!: Placer;
  private readonly jobs = new Map<string, Entry>();
  private guarantee = new Map<string, number>();
  /** The placement's target workload, learned from submissions as the scheduler does. */
  private readonly workload = new OnlineWorkload();
  private usage = new Map<string, number>();

  constructor(
    readonly name: BaselineName,
    private readonly o: BaselineOptions,
  ) {
    this.oracle = name === 'sjf';
  }

  init(nodes: readonly NodeSpec[], queues: readonly QueueSpec[]): void {
    this.cluster = new Cluster(nodes);
    this.placer = new Placer(this.cluster, createProfile(this.o.placement, { workload: this.workload, ...(this.o.locality ? { locality: this.o.locality } : {}) }), createRng(this.o.seed));
    for (const q of queues) this.guarantee.set(q.name, q.guaranteed?.gpu ?? 0);
  }

  submit(job: SimJob): void {
    for (const m of job.members) this.workload.observe(m);
    this.jobs.set(job.id, { job, bindings: [], attained: 0, running: false, startedAt: 0 });
  }

  private release(e: Entry): void {
    for (const b of e.bindings) this.cluster.release(b.podId);
    if (e.running) this.usage.set(e.job.queue, (this.usage.get(e.job.queue) ?? 0) - e.job.gpus * 1000);
    e.bindings = [];
    e.running = false;
  }

  complete(job: SimJob): void {
    const e = this.jobs.get(job.id);
    if (!e) return;
    this.release(e);
    this.jobs.delete(job.id);
  }

  stopped(job: SimJob): void {
    const e = this.jobs.get(job.id);
    if (e && e.running) this.release(e);
  }

  nodeCaches(reports: readonly NodeCacheReport[]): void {
    for (const r of reports) if (this.cluster.node(r.node)) this.cluster.setNodeCache(r.node, r.held);
  }

  attained(job: SimJob, gpuMs: number): void {
    const e = this.jobs.get(job.id);
    if (e) e.attained += gpuMs;
  }

  private band(e: Entry): number {
    let b = 0;
    for (const t of this.o.lasThresholdsGpuMs) if (e.attained >= t) b++;
    return b;
  }

  private tryStart(e: Entry, now: number, out: { job: SimJob; bindings: readonly Binding[] }[]): boolean {
    const st = this.cluster.begin();
    const r = placeGang(this.placer, { id: e.job.id, members: e.job.members }, st);
    if (!r.ok) return false;
    st.commit();
    e.bindings = r.bindings;
    e.running = true;
    e.startedAt = now;
    this.usage.set(e.job.queue, (this.usage.get(e.job.queue) ?? 0) + e.job.gpus * 1000);
    out.push({ job: e.job, bindings: r.bindings });
    return true;
  }

  cycle(now: number): CycleOutcome {
    const start: { job: SimJob; bindings: readonly Binding[] }[] = [];
    const stop: { job: SimJob; graceMs: number }[] = [];
    const pending = [...this.jobs.values()].filter((e) => !e.running);
    if (pending.length === 0) return { start, stop };
    const failed = new Set<string>();
    const shape = (e: Entry): string => e.job.members.map((m) => (m.gpu.kind === 'whole' ? m.gpu.count : 0)).join('+');
    switch (this.name) {
      case 'fifo': {
        pending.sort((a, b) => a.job.submit - b.job.submit || (a.job.id < b.job.id ? -1 : 1));
        for (const e of pending) if (!this.tryStart(e, now, start)) break;
        break;
      }
      case 'sjf': {
        pending.sort((a, b) => a.job.duration - b.job.duration || a.job.submit - b.job.submit);
        for (const e of pending) {
          if (failed.has(shape(e))) continue;
          if (!this.tryStart(e, now, start)) failed.add(shape(e));
        }
        break;
      }
      case 'drf': {
        const byQueue = new Map<string, Entry[]>();
        for (const e of pending) byQueue.set(e.job.queue, [...(byQueue.get(e.job.queue) ?? []), e]);
        for (const list of byQueue.values()) list.sort((a, b) => a.job.submit - b.job.submit);
        const cursor = new Map<string, number>();
        for (;;) {
          let best: string | null = null;
          let key = Infinity;
          for (const [q, list] of byQueue) {
            if ((cursor.get(q) ?? 0) >= list.length) continue;
            const k = ((this.usage.get(q) ?? 0) + 1) / ((this.guarantee.get(q) ?? 0) + 1);
            if (k < key) {
              key = k;
              best = q;
            }
          }
          if (best === null) break;
          const i = cursor.get(best) ?? 0;
          cursor.set(best, i + 1);
          const e = (byQueue.get(best) as Entry[])[i] as Entry;
          if (failed.has(shape(e))) continue;
          if (!this.tryStart(e, now, start)) failed.add(shape(e));
        }
        break;
      }
      case 'tiresias': {
        const order = (a: Entry, b: Entry): number => this.band(a) - this.band(b) || a.job.submit - b.job.submit || (a.job.id < b.job.id ? -1 : 1);
        pending.sort(order);
        for (const e of pending) {
          if (failed.has(shape(e) + '/' + this.band(e))) continue;
          if (this.tryStart(e, now, start)) continue;
          // Preempt running jobs of strictly lower priority (higher band), lowest first.
          const mine = this.band(e);
          const victims = [...this.jobs.values()]
            .filter((v) => v.running && this.band(v) > mine && !start.some((s) => s.job.id === v.job.id))
            .sort((a, b) => this.band(b) - this.band(a) || b.startedAt - a.startedAt);
          const st = this.cluster.begin();
          const chosen: Entry[] = [];
          let placed: readonly Binding[] | null = null;
          for (const v of victims) {
            for (const b of v.bindings) st.release(b.podId);
            chosen.push(v);
            const mark = st.checkpoint();
            const r = placeGang(this.placer, { id: e.job.id, members: e.job.members }, st);
            if (r.ok) {
              placed = r.bindings;
              st.rollback(mark);
              break;
            }
          }
          st.rollback();
          if (!placed) {
            failed.add(shape(e) + '/' + mine);
            continue;
          }
          for (const v of chosen) {
            this.release(v);
            stop.push({ job: v.job, graceMs: 0 });
          }
          if (!this.tryStart(e, now, start)) failed.add(shape(e) + '/' + mine);
        }
        break;
      }
    }
    return { start, stop };
  }
}
