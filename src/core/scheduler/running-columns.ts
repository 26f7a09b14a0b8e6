/**
 * Running jobs (one queue's, or all) with the numbers the scans over them read kept beside
 * them in typed arrays (one column per field). A victim scan reads every running job of a
 * queue, a reservation every running job; reading these columns instead of each job record
 * (and the objects it points to) turns a cold, pointer-chasing walk of thousands of records
 * into a sequential pass over a few arrays.
 *
 * Jobs keep the order in which they started running (victims that tie on cost are taken in
 * that order; the list of all running jobs is the table's running set, JobsByState.running): a
 * job that stops leaves a hole, filled by compaction, never by moving the last job into it.
 *
 * The columns mirror fields of the job records; every change to those fields while a job runs
 * goes through `update` (Scheduler.reportCheckpoint, addAttainedService, and removeNode, after
 * which a job's binding names a node that is gone).
 */
import type { JobRecord } from './job.js';
import { bindingGpuRoom } from './resources.js';

type TypedColumn = Float64Array | Uint8Array | Int32Array;

/** A copy of `a` with room for `n` entries (the entries beyond its length zero). */
export function grown<T extends TypedColumn>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}

export class RunningColumns implements Iterable<JobRecord> {
  /** The jobs, in start order; null where a job left. */
  jobs: (JobRecord | null)[] = [];
  /** Entries in use, holes included. */
  size = 0;
  /** Holes among the first `size` entries. */
  private holes = 0;
  /** Bumped when compaction moves jobs: indices taken before are stale after. */
  layout = 0;

  startedAt = new Float64Array(0);
  /** When it is expected to end (start + declared duration), Infinity when it declared none. */
  expectedEnd = new Float64Array(0);
  /** Last checkpoint reported, NaN for none. */
  lastCheckpointAt = new Float64Array(0);
  /** milli-GPU held. */
  gpu = new Float64Array(0);
  attainedGpuMs = new Float64Array(0);
  priority = new Float64Array(0);
  graceMs = new Float64Array(0);
  checkpointIntervalMs = new Float64Array(0);
  /** The session that last bound the job (JobRecord.touchedIn). */
  touchedIn = new Float64Array(0);
  preemptible = new Uint8Array(0);
  /**
   * For a job with one binding (most): its node's slot, what releasing it frees (whole GPUs x
   * 1000, and milli-GPU), and its CPU and memory. -1 in `slot` otherwise (several bindings,
   * or a node no longer there): readers then look at the bindings themselves.
   */
  slot = new Int32Array(0);
  wholeFreed = new Float64Array(0);
  milliFreed = new Float64Array(0);
  cpu = new Float64Array(0);
  memory = new Float64Array(0);

  /**
   * `global`: the list of all running jobs (its place kept in JobRecord.allIndex), else a
   * queue's (JobRecord.queueIndex).
   */
  constructor(
    private readonly global: boolean,
    /** A node's slot by name (-1 when it does not exist). */
    private readonly slotOf: (node: string) => number,
    capacity = 64,
  ) {
    this.resize(capacity);
  }

  /** Running jobs (holes not counted). */
  get count(): number {
    return this.size - this.holes;
  }

  has(j: JobRecord): boolean {
    return this.indexOf(j) !== undefined;
  }

  /** The jobs in start order (not to be changed while iterated). */
  *[Symbol.iterator](): Iterator<JobRecord> {
    for (let i = 0; i < this.size; i++) {
      const j = this.jobs[i];
      if (j) yield j;
    }
  }

  /** `j` starts running: appended, its fields copied. */
  add(j: JobRecord): void {
    if (this.size === this.startedAt.length) this.resize(this.startedAt.length * 2);
    const i = this.size++;
    this.jobs[i] = j;
    this.place(j, i);
    this.write(i, j);
  }

  /** `j` stopped running. */
  remove(j: JobRecord): void {
    const i = this.indexOf(j);
    if (i === undefined) return;
    this.jobs[i] = null;
    this.place(j, -1);
    this.holes++;
    if (i === this.size - 1) {
      // Trailing holes simply shorten the list.
      while (this.size > 0 && this.jobs[this.size - 1] === null) {
        this.size--;
        this.holes--;
      }
      this.jobs.length = this.size;
    } else if (this.holes > 32 && this.holes * 2 > this.size) this.compact();
  }

  /** Where `j` is (undefined: not in the list). */
  indexOf(j: JobRecord): number | undefined {
    const i = this.global ? j.allIndex : j.queueIndex;
    return i >= 0 && this.jobs[i] === j ? i : undefined;
  }

  private place(j: JobRecord, i: number): void {
    if (this.global) j.allIndex = i;
    else j.queueIndex = i;
  }

  /** Copies `j`'s fields again after one of them changed while it runs. */
  update(j: JobRecord): void {
    const i = this.indexOf(j);
    if (i !== undefined) this.write(i, j);
  }

  private write(i: number, j: JobRecord): void {
    this.startedAt[i] = j.startedAt ?? NaN;
    this.expectedEnd[i] = j.startedAt !== null && j.expectedDurationMs !== undefined ? j.startedAt + j.expectedDurationMs : Infinity;
    this.lastCheckpointAt[i] = j.lastCheckpointAt ?? NaN;
    this.gpu[i] = j.resources.gpu;
    this.attainedGpuMs[i] = j.attainedGpuMs;
    this.priority[i] = j.priority;
    this.graceMs[i] = j.graceMs;
    this.checkpointIntervalMs[i] = j.checkpointIntervalMs;
    this.touchedIn[i] = j.touchedIn;
    this.preemptible[i] = j.preemptible ? 1 : 0;
    const b = j.bindings.length === 1 ? j.bindings[0] : undefined;
    if (b === undefined) {
      this.slot[i] = -1;
      return;
    }
    this.slot[i] = this.slotOf(b.node);
    this.wholeFreed[i] = bindingGpuRoom(b, true);
    this.milliFreed[i] = bindingGpuRoom(b, false);
    this.cpu[i] = b.cpuMilli;
    this.memory[i] = b.memoryMiB;
  }

  /** Closes the holes, keeping the order (each job's columns copied again from its record). */
  private compact(): void {
    let w = 0;
    for (let r = 0; r < this.size; r++) {
      const j = this.jobs[r];
      if (j === null || j === undefined) continue;
      if (w !== r) {
        this.jobs[w] = j;
        this.place(j, w);
        this.write(w, j);
      }
      w++;
    }
    this.size = w;
    this.holes = 0;
    this.layout++;
    this.jobs.length = w;
  }

  private resize(n: number): void {
    const grow = <T extends TypedColumn>(a: T): T => grown(a, n);
    this.startedAt = grow(this.startedAt);
    this.expectedEnd = grow(this.expectedEnd);
    this.lastCheckpointAt = grow(this.lastCheckpointAt);
    this.gpu = grow(this.gpu);
    this.attainedGpuMs = grow(this.attainedGpuMs);
    this.priority = grow(this.priority);
    this.graceMs = grow(this.graceMs);
    this.checkpointIntervalMs = grow(this.checkpointIntervalMs);
    this.touchedIn = grow(this.touchedIn);
    this.preemptible = grow(this.preemptible);
    this.slot = grow(this.slot);
    this.wholeFreed = grow(this.wholeFreed);
    this.milliFreed = grow(this.milliFreed);
    this.cpu = grow(this.cpu);
    this.memory = grow(this.memory);
  }
}
