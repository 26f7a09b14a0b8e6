/**
 * The job table: every job record and the indices over them (by state, the pending list, the
 * running columns per queue and of all running jobs, running preemptible jobs per priority),
 * changed only through named transitions, so that no caller keeps them in step by hand.
 *
 *   submit  -> pending
 *   bind    pending -> running (a placement was committed, or a running job was re-adopted)
 *   evict   running -> evicting (it holds its resources until it stops)
 *   requeue running | evicting -> pending (it stopped, or its bind failed)
 *   remove  any -> gone (finished, failed, cancelled)
 *   refresh a running job's checkpoint, service or binding changed: its columns follow
 *
 * The caller sets a record's own fields (state, bindings, resources) before the transition
 * that indexes them. `checkInvariants` verifies that every index agrees with the records.
 */
import type { JobRecord } from './job.js';
import { PendingList } from './pending-list.js';
import { RunningColumns } from './running-columns.js';

/** Jobs by state, and the running ones also by queue (read by the actions, changed by JobTable). */
export interface JobsByState {
  readonly pending: PendingList;
  readonly running: Set<JobRecord>;
  readonly evicting: Set<JobRecord>;
  /** Running jobs per queue name, in start order, with the fields a victim scan reads in columns. */
  readonly runningColumns: Map<string, RunningColumns>;
  /** All running jobs in the same order as `running`, with their fields in columns. */
  readonly runningAll: RunningColumns;
  /** A node's slot by name (-1 when it does not exist). */
  readonly slotOf: (node: string) => number;
  /** How many running preemptible jobs have each priority (spec.priority). */
  readonly preemptiblePriorities: Map<number, number>;
}

export class JobTable {
  readonly records = new Map<string, JobRecord>();
  readonly index: JobsByState;

  /** `slotOf`: a node's slot by name (-1 when it does not exist), for the columns. */
  constructor(slotOf: (node: string) => number) {
    this.index = { pending: new PendingList(), running: new Set(), evicting: new Set(), runningColumns: new Map(), runningAll: new RunningColumns(true, slotOf), preemptiblePriorities: new Map(), slotOf };
  }

  get(id: string): JobRecord | undefined {
    return this.records.get(id);
  }

  has(id: string): boolean {
    return this.records.has(id);
  }

  values(): IterableIterator<JobRecord> {
    return this.records.values();
  }

  get size(): number {
    return this.records.size;
  }

  /** A new job (state pending) joins the table. */
  submit(j: JobRecord): void {
    this.records.set(j.id, j);
    this.index.pending.add(j);
  }

  /** `j` runs now (its state, bindings and resources already say so). */
  bind(j: JobRecord): void {
    this.index.pending.delete(j);
    this.addRunning(j);
  }

  /** `j` is being stopped (state evicting): no longer a running job, still holding its room. */
  evict(j: JobRecord): void {
    this.dropRunning(j);
    this.index.evicting.add(j);
  }

  /** `j` waits again (state pending): it stopped, or its bind failed. */
  requeue(j: JobRecord): void {
    this.dropRunning(j);
    this.index.evicting.delete(j);
    this.index.pending.add(j);
  }

  /** `j` is gone from every index and from the table. */
  remove(j: JobRecord): void {
    this.index.pending.delete(j);
    this.dropRunning(j);
    this.index.evicting.delete(j);
    this.records.delete(j.id);
  }

  /** A running job's checkpoint, attained service or node changed: its columns follow. */
  refresh(j: JobRecord): void {
    if (j.allIndex < 0) return; // not running
    this.index.runningColumns.get(j.spec.queue)?.update(j);
    this.index.runningAll.update(j);
  }

  private addRunning(j: JobRecord): void {
    const idx = this.index;
    if (j.allIndex >= 0) return; // already running (in the list of all running jobs: no set lookup)
    idx.running.add(j);
    let c = idx.runningColumns.get(j.spec.queue);
    if (!c) idx.runningColumns.set(j.spec.queue, (c = new RunningColumns(false, idx.slotOf)));
    c.add(j);
    idx.runningAll.add(j);
    if (j.spec.preemptible) idx.preemptiblePriorities.set(j.spec.priority, (idx.preemptiblePriorities.get(j.spec.priority) ?? 0) + 1);
  }

  private dropRunning(j: JobRecord): void {
    const idx = this.index;
    if (j.allIndex < 0) return; // not running
    idx.running.delete(j);
    idx.runningColumns.get(j.spec.queue)?.remove(j);
    idx.runningAll.remove(j);
    if (j.spec.preemptible) {
      const n = (idx.preemptiblePriorities.get(j.spec.priority) ?? 0) - 1;
      if (n > 0) idx.preemptiblePriorities.set(j.spec.priority, n);
      else idx.preemptiblePriorities.delete(j.spec.priority);
    }
  }

  /** Throws when an index disagrees with the records (for tests; O(jobs)). */
  checkInvariants(): void {
    const idx = this.index;
    const fail = (msg: string): never => {
      throw new Error(`job table: ${msg}`);
    };
    const prios = new Map<number, number>();
    for (const [id, j] of this.records) {
      if (j.id !== id) fail(`record under ${id} is ${j.id}`);
      const pending = idx.pending.has(j);
      const running = idx.running.has(j);
      const evicting = idx.evicting.has(j);
      if (pending !== (j.state === 'pending')) fail(`${id} is ${j.state} but ${pending ? '' : 'not '}in the pending list`);
      if (running !== (j.state === 'running')) fail(`${id} is ${j.state} but ${running ? '' : 'not '}in the running set`);
      if (evicting !== (j.state === 'evicting')) fail(`${id} is ${j.state} but ${evicting ? '' : 'not '}in the evicting set`);
      const inAll = idx.runningAll.indexOf(j) !== undefined;
      const inQueue = idx.runningColumns.get(j.spec.queue)?.indexOf(j) !== undefined;
      if (inAll !== running || inQueue !== running) fail(`${id} is ${j.state} but its running columns say ${inAll ? '' : 'not '}running (all) and ${inQueue ? '' : 'not '}running (queue)`);
      if (j.state === 'pending' && (j.charged || j.bindings.length > 0)) fail(`${id} is pending but holds ${j.bindings.length} binding(s)${j.charged ? ', charged to its queue' : ''}`);
      if (j.state !== 'pending' && j.bindings.length === 0) fail(`${id} is ${j.state} without bindings`);
      if (running && j.spec.preemptible) prios.set(j.spec.priority, (prios.get(j.spec.priority) ?? 0) + 1);
    }
    if (idx.pending.size + idx.running.size + idx.evicting.size !== this.records.size) fail(`indices hold ${idx.pending.size} pending + ${idx.running.size} running + ${idx.evicting.size} evicting for ${this.records.size} jobs`);
    if (idx.runningAll.count !== idx.running.size) fail(`running columns hold ${idx.runningAll.count} jobs, the running set ${idx.running.size}`);
    let perQueue = 0;
    for (const c of idx.runningColumns.values()) perQueue += c.count;
    if (perQueue !== idx.running.size) fail(`per-queue running columns hold ${perQueue} jobs, the running set ${idx.running.size}`);
    if (prios.size !== idx.preemptiblePriorities.size || [...prios].some(([p, n]) => idx.preemptiblePriorities.get(p) !== n)) fail('running preemptible jobs per priority disagree with the running jobs');
  }
}
