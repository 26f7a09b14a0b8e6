/**
 * The job table: every job record, the indices over them (by state, the pending list, the
 * running columns per queue and of all running jobs, running preemptible jobs per priority),
 * what each job is charged to its queue, and the epochs that say when the running set or the
 * demand last changed. All of it changes only through the named transitions, so no caller
 * keeps any of it in step by hand.
 *
 *   submit  -> pending
 *   start   pending -> running (a placement was committed, or a running job was re-adopted)
 *   evict   running -> evicting (it holds its resources until it stops)
 *   requeue running | evicting -> pending (it stopped, or its bind failed)
 *   finish  any -> gone (it ended on its own: finished or failed)
 *   remove  any -> gone (cancelled, or a re-adoption that failed)
 *   refresh a running job's checkpoint, service or binding changed: its columns follow
 *
 * A transition sets the record's state fields and its queue charge itself: a pending job's own
 * fields (JobRecord.pending) exist from submit or requeue until start, and no longer. What the cluster
 * snapshot holds stays the caller's: it commits a placement before `start`, and releases a
 * job's bindings before `requeue`, `finish` or `remove`. `checkInvariants` verifies that every
 * index and every queue's usage agree with the records.
 */
import type { Binding } from '../model/cluster.js';
import { pendingFields, type JobRecord } from './job.js';
import { PendingList } from './pending-list.js';
import { RunningColumns } from './running-columns.js';
import { RESOURCE_KEYS, type QueueTree } from './queues.js';
import { requestResources, type MutableResources } from './resources.js';

/** Jobs by state, and the running ones also by queue (read by the actions, changed by JobTable). */
export interface JobsByState {
  readonly pending: PendingList;
  /**
   * The running jobs in start order: the list of all running jobs (`runningAll`) itself, not a
   * Set beside it (an entry per running job, ~30 bytes: docs/benchmarks.md, "Scheduler memory").
   */
  readonly running: RunningColumns;
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
  private queues: QueueTree;
  private capacityEpoch = 0;
  private demandEpochs = 0;

  /** `slotOf`: a node's slot by name (-1 when it does not exist), for the columns; `queues`: where jobs are charged. */
  constructor(slotOf: (node: string) => number, queues: QueueTree) {
    const all = new RunningColumns(true, slotOf);
    this.index = { pending: new PendingList(), running: all, evicting: new Set(), runningColumns: new Map(), runningAll: all, preemptiblePriorities: new Map(), slotOf };
    this.queues = queues;
  }

  /**
   * Bumped when capacity or the running set changes (a job starts or releases what it held,
   * or capacityChanged is called): plans found impossible before may be possible after.
   */
  get epoch(): number {
    return this.capacityEpoch;
  }

  /** Bumped when demand changes (a submission, or demandChanged): fair shares may move. */
  get demandEpoch(): number {
    return this.demandEpochs;
  }

  /** Nodes, the placement policy or the queues changed (what the table cannot see itself). */
  capacityChanged(): void {
    this.capacityEpoch++;
  }

  /** Which work may start changed (budget holds: what the table cannot see itself). */
  demandChanged(): void {
    this.demandEpochs++;
  }

  /** A new queue tree: every job holding resources is charged to it afresh. */
  setQueues(tree: QueueTree): void {
    this.capacityEpoch++;
    this.queues = tree;
    for (const j of this.records.values()) if (j.charged) tree.charge(j.spec.queue, j.resources, !j.spec.preemptible, 1);
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

  /** A new job (state pending, with its pending fields) joins the table. */
  submit(j: JobRecord): void {
    this.demandEpochs++;
    j.pending ??= pendingFields(j.submittedAt);
    this.records.set(j.id, j);
    this.index.pending.add(j);
  }

  /**
   * `j` runs from `at` on `bindings` (already committed to the cluster snapshot), holding
   * `resources`, charged to its queue. `session`: the cycle that bound it (JobRecord.touchedIn),
   * when a cycle did.
   */
  start(j: JobRecord, bindings: readonly Binding[], resources: MutableResources, at: number, session?: number): void {
    this.capacityEpoch++;
    j.state = 'running';
    j.bindings = bindings;
    j.startedAt = at;
    j.lastCheckpointAt = null;
    j.resources = resources;
    j.charged = true;
    j.claims?.nominatedNodes.clear();
    if (session !== undefined) j.touchedIn = session;
    this.queues.charge(j.spec.queue, j.resources, !j.spec.preemptible, 1);
    this.index.pending.delete(j);
    j.pending = null; // (after the pending list has let go of it)
    this.addRunning(j); // (after the fields it copies are set)
  }

  /**
   * `j` is asked at `at` to stop for `forJob`, with `graceMs` to save its work: no longer a
   * running job, still holding (and charged for) its room; `forJob` waits for it and gets its
   * nodes first. `session`: the cycle that chose it.
   */
  evict(j: JobRecord, forJob: JobRecord, at: number, graceMs: number, session: number): void {
    j.state = 'evicting';
    this.dropRunning(j);
    this.index.evicting.add(j);
    j.lastEviction = { forJob: forJob.spec.id, at, graceMs };
    const claims = (forJob.claims ??= { awaiting: new Set(), nominatedNodes: new Set(), wonFrom: new Map() });
    claims.wonFrom.set(j.spec.queue, at);
    claims.awaiting.add(j.spec.id);
    for (const b of j.bindings) claims.nominatedNodes.add(b.node);
    j.touchedIn = session;
  }

  /**
   * `j` waits again from `at` (its bindings already released from the snapshot): it stopped,
   * or its bind failed. A job already pending only has its waiting restart (its reasons and
   * prepared members stay).
   */
  requeue(j: JobRecord, at: number): void {
    if (j.state !== 'pending') this.release(j);
    j.state = 'pending';
    this.dropRunning(j);
    this.index.evicting.delete(j);
    if (j.pending === null) j.pending = pendingFields(at);
    else j.pending.since = at;
    this.index.pending.add(j);
    j.startedAt = null;
    j.resources = requestResources(j.spec.members);
  }

  /** `j` ended on its own (finished or failed): gone from every index and from the table. */
  finish(j: JobRecord): void {
    this.drop(j);
  }

  /** `j` was cancelled (or could not be re-adopted): gone from every index and from the table. */
  remove(j: JobRecord): void {
    this.drop(j);
  }

  /** A running job's checkpoint, attained service or node changed: its columns follow. */
  refresh(j: JobRecord): void {
    if (j.allIndex < 0) return; // not running
    this.index.runningColumns.get(j.spec.queue)?.update(j);
    this.index.runningAll.update(j);
  }

  private drop(j: JobRecord): void {
    this.release(j);
    this.index.pending.delete(j);
    this.dropRunning(j);
    this.index.evicting.delete(j);
    this.records.delete(j.id);
  }

  /** `j` no longer holds anything: its queue charge goes, and the job it was stopped for stops waiting for it. */
  private release(j: JobRecord): void {
    this.capacityEpoch++;
    if (j.charged) this.queues.charge(j.spec.queue, j.resources, !j.spec.preemptible, -1);
    j.charged = false;
    j.bindings = [];
    const winner = j.lastEviction !== null ? this.records.get(j.lastEviction.forJob) : undefined;
    winner?.claims?.awaiting.delete(j.spec.id);
  }

  private addRunning(j: JobRecord): void {
    const idx = this.index;
    if (j.allIndex >= 0) return; // already running (in the list of all running jobs: no set lookup)
    let c = idx.runningColumns.get(j.spec.queue);
    if (!c) idx.runningColumns.set(j.spec.queue, (c = new RunningColumns(false, idx.slotOf)));
    c.add(j);
    idx.runningAll.add(j);
    if (j.spec.preemptible) idx.preemptiblePriorities.set(j.spec.priority, (idx.preemptiblePriorities.get(j.spec.priority) ?? 0) + 1);
  }

  private dropRunning(j: JobRecord): void {
    const idx = this.index;
    if (j.allIndex < 0) return; // not running
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
      if ((j.pending !== null) !== (j.state === 'pending')) fail(`${id} is ${j.state} but ${j.pending ? 'has' : 'lacks'} a pending job's fields`);
      if (j.state === 'pending' && (j.charged || j.bindings.length > 0)) fail(`${id} is pending but holds ${j.bindings.length} binding(s)${j.charged ? ', charged to its queue' : ''}`);
      if (j.state !== 'pending' && j.bindings.length === 0) fail(`${id} is ${j.state} without bindings`);
      if (j.state !== 'pending' && !j.charged) fail(`${id} is ${j.state} but not charged to its queue`);
      if (running && j.spec.preemptible) prios.set(j.spec.priority, (prios.get(j.spec.priority) ?? 0) + 1);
    }
    if (idx.pending.size + idx.running.count + idx.evicting.size !== this.records.size) fail(`indices hold ${idx.pending.size} pending + ${idx.running.count} running + ${idx.evicting.size} evicting for ${this.records.size} jobs`);
    let perQueue = 0;
    for (const c of idx.runningColumns.values()) perQueue += c.count;
    if (perQueue !== idx.running.count) fail(`per-queue running columns hold ${perQueue} jobs, all running columns ${idx.running.count}`);
    if (prios.size !== idx.preemptiblePriorities.size || [...prios].some(([p, n]) => idx.preemptiblePriorities.get(p) !== n)) fail('running preemptible jobs per priority disagree with the running jobs');
    this.checkCharges(fail);
  }

  /** Every queue's usage is what the charged jobs under it hold (and its fixed usage, the non-preemptible ones). */
  private checkCharges(fail: (msg: string) => never): void {
    const want = new Map<string, { usage: number[]; fixed: number[] }>();
    for (const q of this.queues.all()) want.set(q.name, { usage: [0, 0, 0], fixed: [0, 0, 0] });
    for (const j of this.records.values()) {
      if (!j.charged) continue;
      for (const n of this.queues.get(j.spec.queue)?.chain() ?? []) {
        const w = want.get(n.name);
        if (!w) continue;
        RESOURCE_KEYS.forEach((k, i) => {
          w.usage[i] = (w.usage[i] as number) + j.resources[k];
          if (!j.spec.preemptible) w.fixed[i] = (w.fixed[i] as number) + j.resources[k];
        });
      }
    }
    for (const q of this.queues.all()) {
      const w = want.get(q.name);
      if (!w) continue;
      RESOURCE_KEYS.forEach((k, i) => {
        if (Math.abs(q.usage[k] - (w.usage[i] as number)) > 1e-3) fail(`queue ${q.name} uses ${q.usage[k]} ${k}, its charged jobs hold ${w.usage[i]}`);
        if (Math.abs(q.fixedUsage[k] - (w.fixed[i] as number)) > 1e-3) fail(`queue ${q.name} has ${q.fixedUsage[k]} ${k} of non-preemptible usage, its charged non-preemptible jobs hold ${w.fixed[i]}`);
      });
    }
  }
}
