/**
 * The running jobs as candidate victims, the one interface through which preemption, reclaim
 * and consolidation ask about them: which may be disrupted, and in what order (cheapest to
 * disrupt first: least work lost, then lowest effective priority, then most GPU time
 * attained, then most recently started). Backed by the job table's indices for one cycle.
 */
import type { JobRecord } from './job.js';
import type { JobsByState } from './job-table.js';
import type { JobOrder } from './job-order.js';
import { LazyOrder, VictimKeys, type ColumnsRef } from './victim-order.js';

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
