/**
 * The pending jobs in the order they became pending (as a Set iterates), with O(1) add and
 * delete that need no hashing: a job's place is kept in its pending fields (PendingFields.index).
 * A delete leaves a hole; holes are closed by compaction, which keeps the order.
 */
import type { JobRecord, PendingFields } from './job.js';

export class PendingList implements Iterable<JobRecord> {
  private jobs: (JobRecord | null)[] = [];
  private holes = 0;

  get size(): number {
    return this.jobs.length - this.holes;
  }

  has(j: JobRecord): boolean {
    const i = j.pending === null ? -1 : j.pending.index;
    return i >= 0 && this.jobs[i] === j;
  }

  /** Appends `j`, which has its pending fields (a job already in the list keeps its place). */
  add(j: JobRecord): this {
    if (this.has(j)) return this;
    const p = j.pending;
    if (p === null) throw new Error(`job ${j.id} has no pending fields`);
    p.index = this.jobs.length;
    this.jobs.push(j);
    return this;
  }

  /** Removes `j`; false when it was not in the list. */
  delete(j: JobRecord): boolean {
    const p = j.pending;
    if (p === null || !this.has(j)) return false;
    this.jobs[p.index] = null;
    p.index = -1;
    this.holes++;
    const jobs = this.jobs;
    while (jobs.length > 0 && jobs[jobs.length - 1] === null) {
      jobs.pop();
      this.holes--;
    }
    if (this.holes > 32 && this.holes * 2 > jobs.length) this.compact();
    return true;
  }

  /** The jobs in order, as a new array. */
  toArray(): JobRecord[] {
    const out: JobRecord[] = [];
    for (const j of this.jobs) if (j !== null) out.push(j);
    return out;
  }

  /** Iterates a snapshot: adding or deleting while iterating is safe. */
  [Symbol.iterator](): Iterator<JobRecord> {
    return this.toArray()[Symbol.iterator]();
  }

  private compact(): void {
    const out: (JobRecord | null)[] = [];
    for (const j of this.jobs) {
      if (j === null) continue;
      (j.pending as PendingFields).index = out.length; // (every job in the list has them)
      out.push(j);
    }
    this.jobs = out;
    this.holes = 0;
  }
}
