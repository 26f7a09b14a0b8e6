/**
 * The pending jobs in the order they became pending (as a Set iterates), with O(1) add and
 * delete that need no hashing: a job's place is kept on its record (JobRecord.pendingIndex).
 * A delete leaves a hole; holes are closed by compaction, which keeps the order.
 */
import type { JobRecord } from './job.js';

export class PendingList implements Iterable<JobRecord> {
  private jobs: (JobRecord | null)[] = [];
  private holes = 0;

  get size(): number {
    return this.jobs.length - this.holes;
  }

  has(j: JobRecord): boolean {
    const i = j.pendingIndex;
    return i >= 0 && this.jobs[i] === j;
  }

  /** Appends `j` (a job already in the list keeps its place). */
  add(j: JobRecord): this {
    if (this.has(j)) return this;
    j.pendingIndex = this.jobs.length;
    this.jobs.push(j);
    return this;
  }

  /** Removes `j`; false when it was not in the list. */
  delete(j: JobRecord): boolean {
    if (!this.has(j)) return false;
    this.jobs[j.pendingIndex] = null;
    j.pendingIndex = -1;
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
      j.pendingIndex = out.length;
      out.push(j);
    }
    this.jobs = out;
    this.holes = 0;
  }
}
