/**
 * The running jobs as candidate victims, the one interface through which preemption, reclaim
 * and consolidation ask about them: which may be disrupted, and in what order (cheapest to
 * disrupt first: least work lost, then lowest effective priority, then most GPU time
 * attained, then most recently started). Backfill asks it in what order running jobs are
 * expected to end. Backed by the job table's indices for one cycle.
 */
import { riskKey, workAtRiskOf, type JobRecord } from './job.js';
import type { JobsByState } from './job-table.js';
import type { JobOrder } from './job-order.js';
import { LazyOrder, VictimKeys, type ColumnsRef } from './victim-order.js';

/** One queue's candidate victims, as VictimPool.inQueue reads them from its running columns. */
export interface QueueCandidates {
  readonly list: JobRecord[];
  /** Their victim-cost keys by list index (filled only when asked for). */
  readonly keys: VictimKeys;
  /** Their effective priorities by list index. */
  readonly prio: Float64Array;
  /** Where they are in their queue's RunningColumns (null: the queue never ran a job). */
  readonly columns: ColumnsRef | null;
  /** Their lowest effective priority (Infinity: none). */
  readonly min: number;
  /** When the next of the queue's running jobs passes the minimum runtime (Infinity: none). */
  readonly join: number;
}

/** When a job is expected to end: start + declared duration (Infinity: not started, or none declared). */
export function expectedEnd(j: JobRecord): number {
  if (j.startedAt === null || j.spec.expectedDurationMs === undefined) return Infinity;
  return j.startedAt + j.spec.expectedDurationMs;
}

export class VictimPool {
  private victimOrder: JobRecord[] | null = null;
  private reclaimOrder: JobRecord[] | null = null;

  constructor(
    private readonly index: JobsByState,
    private readonly order: JobOrder,
    private readonly now: number,
    private readonly minRuntimeMs: number,
    /** The cycle's number (a job it bound or chose carries it in touchedIn). */
    private readonly cycle: number,
  ) {}

  /** The queues that have running jobs (by name, in the order they first ran one). */
  queuesRunning(): string[] {
    const out: string[] = [];
    for (const [name, running] of this.index.runningColumns) if (running.count > 0) out.push(name);
    return out;
  }

  /** Every queue that has ever had a running job (some may have none now). */
  queuesSeen(): IterableIterator<string> {
    return this.index.runningColumns.keys();
  }

  /** The lowest priority class (spec.priority) of any running preemptible job; Infinity when none. */
  lowestPreemptiblePriority(): number {
    let low = Infinity;
    for (const p of this.index.preemptiblePriorities.keys()) if (p < low) low = p;
    return low;
  }

  /** Running jobs by node (a job with members on several nodes is listed on each). */
  byNode(): Map<string, JobRecord[]> {
    if (this.onNode !== null) return this.onNode;
    const m = new Map<string, JobRecord[]>();
    for (const v of this.index.running) {
      for (const b of v.bindings) {
        let l = m.get(b.node);
        if (!l) m.set(b.node, (l = []));
        if (l[l.length - 1] !== v) l.push(v);
      }
    }
    return (this.onNode = m);
  }

  private onNode: Map<string, JobRecord[]> | null = null;

  /**
   * A queue's candidate victims (isCandidate, read from its running columns: one pass over
   * its running jobs, no record visited but those listed), with their cost keys when
   * `withKeys` (for cheapestFirstByKeys over them).
   */
  inQueue(queue: string, withKeys: boolean): QueueCandidates {
    const c = this.index.runningColumns.get(queue);
    const list: JobRecord[] = [];
    const keys = new VictimKeys(c?.count ?? 0);
    const prios = new Float64Array(c?.count ?? 0);
    let min = Infinity;
    let join = Infinity;
    if (!c) return { list, keys, prio: prios, columns: null, min, join };
    const idx = new Int32Array(c.count);
    const { jobs, startedAt, lastCheckpointAt, gpu, attainedGpuMs, priority, graceMs, checkpointIntervalMs, touchedIn, preemptible } = c;
    const plain = this.order.allByPriority;
    const { now, minRuntimeMs, cycle } = this;
    for (let i = 0; i < c.size; i++) {
      const v = jobs[i];
      if (v === null || v === undefined || preemptible[i] === 0 || touchedIn[i] === cycle) continue;
      const start = startedAt[i] as number;
      if (start !== start) continue; // (not started)
      if (now - start < minRuntimeMs) {
        const at = start + minRuntimeMs;
        if (at < join) join = at;
        continue;
      }
      const p = plain ? (priority[i] as number) : this.order.priorityOf(v);
      if (withKeys) {
        const risk = riskKey(workAtRiskOf(start, lastCheckpointAt[i] as number, graceMs[i] as number, checkpointIntervalMs[i] as number, gpu[i] as number, now));
        keys.setRaw(list.length, risk, p, attainedGpuMs[i] as number, start);
      }
      prios[list.length] = p;
      idx[list.length] = i;
      list.push(v);
      if (p < min) min = p;
    }
    return { list, keys, prio: prios, columns: { cols: c, idx, layout: c.layout }, min, join };
  }

  /**
   * Every running job, then every job being stopped, by expected end (start + declared
   * duration; Infinity when none was declared), then start: what a reservation waits for.
   * Sorted lazily (a search reads only as far as it goes). Running jobs are read from the
   * table's running columns, in the order of the running set.
   */
  byExpectedEnd(): LazyOrder {
    const all = this.index.runningAll;
    const n = all.count + this.index.evicting.size;
    const list: JobRecord[] = new Array<JobRecord>(n);
    const end = new Float64Array(n);
    const start = new Float64Array(n);
    let k = 0;
    for (let i = 0; i < all.size; i++) {
      const j = all.jobs[i];
      if (j === null || j === undefined) continue;
      list[k] = j;
      end[k] = all.expectedEnd[i] as number;
      start[k] = all.startedAt[i] as number;
      k++;
    }
    for (const j of this.index.evicting) {
      list[k] = j;
      end[k] = expectedEnd(j);
      start[k] = j.startedAt ?? 0;
      k++;
    }
    const less = (a: number, b: number): boolean => {
      const ea = end[a] as number;
      const eb = end[b] as number;
      if (ea !== eb) return ea < eb;
      const sa = start[a] as number;
      const sb = start[b] as number;
      return sa !== sb ? sa < sb : a < b;
    };
    return new LazyOrder(list, less);
  }

  /** Victims may be disrupted: preemptible, running long enough, not already being stopped. */
  isCandidate(j: JobRecord, ignoreMinRuntime = false): boolean {
    return j.state === 'running' && j.preemptible && j.touchedIn !== this.cycle && j.startedAt !== null && (ignoreMinRuntime || this.now - j.startedAt >= this.minRuntimeMs);
  }

  /**
   * Running jobs that may be disrupted, cheapest first. Computed once per cycle; callers still
   * check isCandidate for jobs touched since.
   */
  byCost(ignoreMinRuntime = false): readonly JobRecord[] {
    const cached = ignoreMinRuntime ? this.reclaimOrder : this.victimOrder;
    if (cached !== null) return cached;
    const order = this.sortByCost([...this.index.running].filter((v) => this.isCandidate(v, ignoreMinRuntime)));
    if (ignoreMinRuntime) this.reclaimOrder = order;
    else this.victimOrder = order;
    return order;
  }

  /**
   * `jobs` cheapest to disrupt first, sorted lazily: a heap yields them in order as they are
   * read, and what was read is kept for the next reader. A victim search that stops after a
   * few dozen candidates costs O(n + k log n), not a full sort.
   */
  cheapestFirst(jobs: readonly JobRecord[]): LazyOrder {
    return new LazyOrder(jobs, this.keysOf(jobs));
  }

  /** As cheapestFirst, with the keys already computed (by a pass that read the jobs anyway). */
  cheapestFirstByKeys(jobs: readonly JobRecord[], keys: VictimKeys, columns: ColumnsRef | null = null): LazyOrder {
    return new LazyOrder(jobs, keys, columns);
  }

  /** `jobs` cheapest to disrupt first (see byCost), fully sorted. */
  sortByCost(jobs: readonly JobRecord[]): JobRecord[] {
    // Sort indices over precomputed keys: no objects per comparison.
    const keys = this.keysOf(jobs);
    const n = jobs.length;
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    idx.sort((a, b) => keys.compare(a, b));
    return Array.from(idx, (i) => jobs[i] as JobRecord);
  }

  private keysOf(jobs: readonly JobRecord[]): VictimKeys {
    const n = jobs.length;
    const keys = new VictimKeys(n);
    for (let i = 0; i < n; i++) keys.set(i, jobs[i] as JobRecord, this.order.priorityOf(jobs[i] as JobRecord), this.now);
    return keys;
  }
}
