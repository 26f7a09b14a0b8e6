/**
 * One scheduling cycle's working state, shared by the actions: the jobs, the queues, the
 * placer over the live cluster snapshot, and the decisions taken so far. Actions change the
 * snapshot only through the helpers here, which keep queue usage, job states and the
 * decision list consistent.
 */
import type { Cluster, Statement, Binding } from '../model/cluster.js';
import type { Placer } from '../placement/placer.js';
import { placeGang, type GangResult } from '../placement/gang.js';
import { prepareRequest } from '../placement/placer.js';
import type { PreparedRequest } from '../framework/plugin.js';
import type { BudgetHolds, Decision, EvictReason, WaitReason } from './types.js';
import type { QueueTree, QueueNode } from './queues.js';
import { RESOURCE_KEYS } from './queues.js';
import { gpuCount, riskKey, serviceClasses, workAtRisk, type JobRecord } from './job.js';
import type { RunningColumns } from './running-columns.js';
import type { JobTable, JobsByState } from './job-table.js';
import { bindingResources, exceeded, requestResources } from './resources.js';
import type { SchedulerSettings } from './config.js';
import type { ServiceModel } from './service.js';

export interface Reservation {
  readonly job: string;
  readonly nodes: ReadonlySet<string>;
  /** When the reserved job is expected to fit (ms); Infinity when unknown. */
  readonly until: number;
  /** The scheduler epoch it was computed at (recomputed only when something changed). */
  readonly epoch?: number;
}

/** The reasons of a job that has none (shared: never changed). */
const NO_REASONS: readonly WaitReason[] = [];

/** The victim-cost keys of a list of jobs (see Session.cheapestFirst), filled by index. */
export class VictimKeys {
  risk: Float64Array;
  prio: Float64Array;
  served: Float64Array;
  start: Float64Array;

  constructor(capacity: number) {
    this.risk = new Float64Array(capacity);
    this.prio = new Float64Array(capacity);
    this.served = new Float64Array(capacity);
    this.start = new Float64Array(capacity);
  }

  set(i: number, v: JobRecord, prio: number, now: number): void {
    if (i >= this.risk.length) this.grow(Math.max(16, this.risk.length * 2));
    this.risk[i] = riskKey(workAtRisk(v, now));
    this.prio[i] = prio;
    this.served[i] = -v.attainedGpuMs;
    this.start[i] = -(v.startedAt ?? 0);
  }

  /** As `set`, from the numbers (read from RunningColumns): `risk` is riskKey of the work at risk. */
  setRaw(i: number, risk: number, prio: number, attainedGpuMs: number, startedAt: number): void {
    if (i >= this.risk.length) this.grow(Math.max(16, this.risk.length * 2));
    this.risk[i] = risk;
    this.prio[i] = prio;
    this.served[i] = -attainedGpuMs;
    this.start[i] = -startedAt;
  }

  /** Cheaper first (< 0): work at risk, then priority, then more service attained, then started later, then index. */
  compare(a: number, b: number): number {
    return (
      (this.risk[a] as number) - (this.risk[b] as number) ||
      (this.prio[a] as number) - (this.prio[b] as number) ||
      (this.served[a] as number) - (this.served[b] as number) ||
      (this.start[a] as number) - (this.start[b] as number) ||
      a - b
    );
  }

  private grow(n: number): void {
    const copy = (a: Float64Array): Float64Array => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.risk = copy(this.risk);
    this.prio = copy(this.prio);
    this.served = copy(this.served);
    this.start = copy(this.start);
  }
}

/** Where the jobs of a list are in their RunningColumns: `idx[k]` for the list's k-th job. */
export interface ColumnsRef {
  readonly cols: RunningColumns;
  readonly idx: Int32Array;
  /** cols.layout when `idx` was taken (the indices hold while it is unchanged). */
  readonly layout: number;
}

/** A list sorted on demand (see Session.cheapestFirst). */
export class LazyOrder implements Iterable<JobRecord> {
  private readonly heap: Int32Array;
  private size: number;
  private readonly keys: VictimKeys | null = null;
  private readonly less: ((a: number, b: number) => boolean) | null = null;
  private readonly out: JobRecord[] = [];
  /** The list index of each job in `out`. */
  private readonly outIdx: number[] = [];

  /**
   * `order`: a less-than over indices into `jobs`, or victim-cost keys by index (compared in
   * place: no call through a closure per comparison).
   */
  constructor(
    private readonly jobs: readonly JobRecord[],
    order: ((a: number, b: number) => boolean) | VictimKeys,
    /** Where the jobs are in their columns, when they came from one queue's RunningColumns. */
    readonly columns: ColumnsRef | null = null,
  ) {
    if (order instanceof VictimKeys) this.keys = order;
    else this.less = order;
    const n = jobs.length;
    this.heap = new Int32Array(n);
    for (let i = 0; i < n; i++) this.heap[i] = i;
    this.size = n;
    for (let i = (n >> 1) - 1; i >= 0; i--) this.down(i);
  }

  get length(): number {
    return this.jobs.length;
  }

  /** The jobs in no particular order (reading them does not sort anything). */
  get items(): readonly JobRecord[] {
    return this.jobs;
  }

  *[Symbol.iterator](): Iterator<JobRecord> {
    for (let i = 0; ; i++) {
      if (i >= this.out.length && !this.next()) return;
      yield this.out[i] as JobRecord;
    }
  }

  /** The i-th in order (sorting only as far as that). */
  at(i: number): JobRecord | undefined {
    while (i >= this.out.length) if (!this.next()) return undefined;
    return this.out[i];
  }

  /** The list index (in `items`) of the i-th in order; call at(i) first. */
  origin(i: number): number {
    return this.outIdx[i] as number;
  }

  private next(): boolean {
    if (this.size === 0) return false;
    const top = this.heap[0] as number;
    this.heap[0] = this.heap[--this.size] as number;
    this.down(0);
    this.out.push(this.jobs[top] as JobRecord);
    this.outIdx.push(top);
    return true;
  }

  private lt(a: number, b: number): boolean {
    const k = this.keys;
    return k !== null ? k.compare(a, b) < 0 : (this.less as (a: number, b: number) => boolean)(a, b);
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.size) return;
      let m = l;
      const r = l + 1;
      if (r < this.size && this.lt(h[r] as number, h[l] as number)) m = r;
      if (!this.lt(h[m] as number, h[i] as number)) return;
      const t = h[i] as number;
      h[i] = h[m] as number;
      h[m] = t;
      i = m;
    }
  }
}

/** A gang shape that failed to place this cycle: why, for which job, and its failing member (index). */
export interface FailedShape {
  readonly reason: WaitReason;
  readonly job: JobRecord;
  readonly member: number;
}

/** A victim search that found nothing: at which epochs and when. */
export interface PlanMiss {
  readonly epoch: number;
  readonly demandEpoch: number;
  /** When the next running job becomes a candidate victim (passes the minimum runtime). */
  readonly until: number;
  /** The highest priority that searched and found nothing. */
  readonly prio: number;
  readonly at: number;
}

/** No team or queue held by a budget (compared by identity: the common case costs nothing). */
export const NO_HOLDS: BudgetHolds = { teams: new Map(), queues: new Map() };

export class Session {
  readonly decisions: Decision[] = [];
  readonly waits = new Map<string, WaitReason[]>();
  /**
   * Gang shapes that failed to fit since the last release (binds only shrink free capacity),
   * by shape, with the job that failed and its failing member: another job of the shape is
   * told its own names (failedReason). Entitled jobs, which pass borrowers' reservations, have
   * their own (see failedShapesOf).
   */
  readonly failedShapes = new Map<string, FailedShape>();
  private readonly failedShapesEntitled = new Map<string, FailedShape>();

  /** The failed-shape cache of the jobs that see the capacity `job` sees. */
  failedShapesOf(job: JobRecord): Map<string, FailedShape> {
    return this.reservations.size > 0 && this.entitled(job) ? this.failedShapesEntitled : this.failedShapes;
  }

  /** Something was released or a reservation ended: failed shapes may fit again. */
  clearFailedShapes(): void {
    this.failedShapes.clear();
    this.failedShapesEntitled.clear();
  }
  /** This session's number (a job it bound or evicted carries it in touchedIn). */
  private static sessions = 0;
  readonly id = ++Session.sessions;

  /** The job was bound or chosen as a victim in this cycle (no second plan touches it). */
  isTouched(j: JobRecord): boolean {
    return j.touchedIn === this.id;
  }
  bound = 0;
  evicted = 0;
  /** Victim searches made this cycle. */
  plans = 0;
  considered = 0;

  constructor(
    readonly now: number,
    readonly cluster: Cluster,
    readonly placer: Placer,
    readonly queues: QueueTree,
    /** The jobs and their indices, kept by the scheduler; changed here only by its transitions. */
    private readonly table: JobTable,
    readonly config: SchedulerSettings,
    readonly reservations: Map<string, Reservation>,
    readonly service: ServiceModel | null,
    /** Bumped by the scheduler whenever capacity or the running set really changes. */
    readonly epoch: number,
    /** Bumped by the scheduler on every submission (demand, and so fair shares, changed). */
    readonly demandEpoch: number,
    /** Victim searches that found nothing, kept across cycles (see recentMiss). */
    readonly planMisses: Map<string, PlanMiss>,
    readonly budgetHolds: BudgetHolds = NO_HOLDS,
  ) {
    this.jobs = table.records;
    this.byState = table.index;
  }

  /** Every job by id (read only: changes go through the job table). */
  readonly jobs: ReadonlyMap<string, JobRecord>;
  /** The jobs by state (so listing them does not scan every job). */
  readonly byState: JobsByState;

  /**
   * A victim search under `key` (action, queue and gang shape) found nothing, and nothing it
   * depends on has changed since: not the running set or the nodes (epoch), no job has aged
   * past the minimum runtime into the pool (`until`), not demand when `withDemand` (fair
   * shares), and it searched at a priority at least `prio`. Evictions since only shrink the
   * pool. Misses expire after a minute, as priorities that follow attained service and
   * checkpoint ages drift slowly.
   */
  recentMiss(key: string, prio: number, withDemand: boolean): boolean {
    const m = this.planMisses.get(key);
    if (m === undefined || m.epoch !== this.epoch || this.now >= m.until || this.now - m.at >= 60_000 || prio > m.prio) return false;
    return !withDemand || m.demandEpoch === this.demandEpoch;
  }

  /** Records a miss that holds until `until` at the latest (when the next job joins the pool). */
  noteMiss(key: string, prio: number, until: number): void {
    const m = this.planMisses.get(key);
    const same = m !== undefined && m.epoch === this.epoch && m.demandEpoch === this.demandEpoch && this.now < m.until;
    this.planMisses.set(key, { epoch: this.epoch, demandEpoch: this.demandEpoch, until: same ? Math.min(until, m.until) : until, prio: same ? Math.max(prio, m.prio) : prio, at: same ? m.at : this.now });
  }

  pendingJobs(): JobRecord[] {
    return this.byState.pending.toArray();
  }

  runningJobs(): JobRecord[] {
    return [...this.byState.running];
  }

  private orderOf(j: JobRecord): 'priority' | 'fifo' | 'las' | 'gittins' {
    if (this.config.withinQueueOrder !== 'priority') return this.config.withinQueueOrder;
    return this.allByPriority ? 'priority' : (this.queues.get(j.queue)?.spec.ordering ?? 'priority');
  }

  private byPriorityMemo: boolean | null = null;

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

  private readonly prio = new Map<JobRecord, number>();

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

  /** Quota check: limits along the chain; non-preemptible work only within guarantees. */
  quotaReason(job: JobRecord): WaitReason | null {
    const q = this.queues.get(job.queue);
    if (!q) return { kind: 'quota', message: `queue ${job.queue} does not exist` };
    if (this.budgetHolds !== NO_HOLDS) {
      const held = (job.spec.team !== undefined ? this.budgetHolds.teams.get(job.spec.team) : undefined) ?? q.chain().map((n) => this.budgetHolds.queues.get(n.name)).find((m) => m !== undefined);
      if (held !== undefined) return { kind: 'budget', message: held };
    }
    const ask = job.state === 'pending' ? job.resources : requestResources(job.spec.members);
    for (const n of q.chain()) {
      const over = n.spec.limit === undefined ? null : exceeded(n.usage, ask, n.spec.limit);
      if (over) return { kind: 'quota', message: `queue ${n.name} limit reached: ${over}` };
      if (!job.preemptible) {
        const g = { gpu: n.guaranteed('gpu'), cpu: n.spec.guaranteed?.cpu ?? Infinity, memory: n.spec.guaranteed?.memory ?? Infinity, ...(n.spec.guaranteed?.gpuByModel ? { gpuByModel: n.spec.guaranteed.gpuByModel } : {}) };
        const o = exceeded(n.fixedUsage, ask, g);
        if (o) return { kind: 'quota', message: `non-preemptible work must fit in queue ${n.name}'s guarantee: ${o}` };
      }
    }
    return null;
  }

  gangShape(job: JobRecord): string {
    return (job.shape ??= this.prepared(job).map((p) => p.shapeKey).join('+'));
  }

  prepared(job: JobRecord): readonly PreparedRequest[] {
    return (job.prepared ??= job.spec.members.map((m) => prepareRequest(m)));
  }

  /** One-reason lists shared by every job waiting for the same reason (copied before a second reason). */
  private readonly sharedLists = new Map<WaitReason, WaitReason[]>();
  /** The jobs given a reason this cycle (their reasons also in JobRecord.cycleReasons). */
  readonly waiting: JobRecord[] = [];
  private lastReason: WaitReason | null = null;
  private lastShared: WaitReason[] | undefined = undefined;
  private readonly isShared = new WeakSet<WaitReason[]>();

  /** Whether `job` waits this cycle because it does not fit (or its gang does not): what `waits` holds for it, read from the record. */
  waitsForRoom(job: JobRecord): boolean {
    if (job.waitedIn !== this.id) return false;
    for (const w of job.cycleReasons) if (w.kind === 'fit' || w.kind === 'gang') return true;
    return false;
  }

  /** Records why a job waits; a plan in progress (preempting, reservation) is listed first. */
  wait(job: JobRecord, reason: WaitReason): void {
    if (job.waitedIn !== this.id) {
      // The job's first reason this cycle (the stamp spares a lookup). The common case in a
      // busy cycle: thousands of jobs waiting for one reason, one after the other, share a list.
      job.waitedIn = this.id;
      let shared = reason === this.lastReason ? this.lastShared : this.sharedLists.get(reason);
      if (!shared) {
        shared = [reason];
        this.sharedLists.set(reason, shared);
        this.isShared.add(shared);
      }
      this.lastReason = reason;
      this.lastShared = shared;
      this.waits.set(job.id, shared);
      job.cycleReasons = shared;
      this.waiting.push(job);
      return;
    }
    let list = this.waits.get(job.id) as WaitReason[];
    if (list.some((r) => r.kind === reason.kind && r.message === reason.message)) return;
    if (this.isShared.has(list)) {
      list = [...list];
      this.waits.set(job.id, list);
      job.cycleReasons = list;
    }
    if (reason.kind === 'preempting' || reason.kind === 'reservation') list.unshift(reason);
    else list.push(reason);
  }

  /**
   * May `victim` be stopped for `job`? Not when `job` was itself stopped for `victim` and the
   * victim still runs the run that took its place (started after that eviction): no plan
   * undoes an earlier one while its reason holds (no ping-pong, across cycles and actions).
   */
  mayDisplace(victim: JobRecord, job: JobRecord): boolean {
    if (job.evictedFor !== victim.spec.id) return true;
    return victim.startedAt === null || !(victim.startedAt >= job.evictedAt);
  }

  /**
   * May `victim` be stopped to make room for `job` without taking what the victim's queue is
   * guaranteed for a job that would borrow? Work that runs within its queue's guarantee is
   * never moved or stopped for a borrower: its queue would reclaim the room right back.
   * `chosen`: the victims already picked for the same plan.
   */
  keepsGuarantees(victim: JobRecord, job: JobRecord, chosen: readonly JobRecord[]): boolean {
    if (victim.queue === job.queue || this.entitled(job)) return true;
    const mine = this.queues.get(job.queue)?.chain() ?? [];
    for (const n of this.queues.get(victim.queue)?.chain() ?? []) {
      if (mine.includes(n)) break;
      let planned = 0;
      for (const c of chosen) if (this.queues.get(c.queue)?.chain().includes(n)) planned += c.resources.gpu;
      if (this.settledGpu(n) - planned - victim.resources.gpu < n.guaranteed('gpu') - 1e-6) return false;
    }
    return true;
  }

  /**
   * The job's queue stays within its GPU guarantee with the job running: the room is owed to
   * it. A job that is not entitled borrows (its queue would be over its guarantee).
   */
  entitled(job: JobRecord): boolean {
    const q = this.queues.get(job.queue);
    return q !== undefined && q.usage.gpu + job.requestGpu <= q.guaranteed('gpu') + 1e-6;
  }

  /** A reservation held by a pending job that would borrow (it never stands in an entitled job's way). */
  private heldByBorrower(r: Reservation): boolean {
    const holder = this.jobs.get(r.job);
    return holder !== undefined && holder.state === 'pending' && !this.entitled(holder);
  }

  /** A cached failure of `job`'s shape, told in `job`'s own names (its id, its member). */
  failedReason(job: JobRecord, cached: FailedShape): WaitReason {
    if (cached.job === job || cached.reason.kind !== 'gang') return cached.reason;
    const theirs = cached.job.spec.members[cached.member]?.id;
    const mine = job.spec.members[cached.member]?.id;
    let message = cached.reason.message;
    const prefix = `gang ${cached.job.spec.id}: `;
    if (message.startsWith(prefix)) message = `gang ${job.spec.id}: ${message.slice(prefix.length)}`;
    if (theirs !== undefined && mine !== undefined) message = message.replace(`member ${theirs} `, `member ${mine} `);
    return { kind: 'gang', message };
  }

  /**
   * Nodes reserved for jobs other than `job` that `job` may not use (it would delay them). A
   * reservation of a job that would borrow does not bind a job its queue's guarantee owes room
   * to: a guarantee is a promise, a borrower's reservation only a courtesy among borrowers.
   */
  blockedNodes(job: JobRecord): string[] {
    const out: string[] = [];
    const end = job.spec.expectedDurationMs !== undefined ? this.now + job.spec.expectedDurationMs : Infinity;
    let entitled: boolean | null = null;
    for (const r of this.reservations.values()) {
      if (r.job === job.spec.id) continue;
      if (end <= r.until && r.until !== Infinity) continue; // finishes before the reservation starts: backfill is fine
      if (this.heldByBorrower(r) && (entitled ??= this.entitled(job))) continue;
      for (const n of r.nodes) out.push(n);
    }
    return out;
  }

  /** Tries to place a job (gang or single) in `stmt`, avoiding nodes reserved for others; `avoidModels` are GPU models it may not use. */
  tryPlace(job: JobRecord, stmt: Statement, avoidModels?: ReadonlySet<string>): GangResult {
    // (Without reservations, nothing is off limits: no set to build.)
    let slots: Set<number> | undefined;
    if (this.reservations.size > 0) {
      slots = new Set<number>();
      for (const name of this.blockedNodes(job)) {
        const n = this.cluster.node(name);
        if (n) slots.add(n.slot);
      }
    }
    let members = job.spec.members;
    let prepared = this.prepared(job);
    if (avoidModels && avoidModels.size > 0) {
      const models = new Set<string>();
      for (const n of this.cluster.nodesByName()) for (const m of n.gpuModels) models.add(m);
      members = members.map((m) => ({ ...m, allowedModels: (m.allowedModels && m.allowedModels.length > 0 ? m.allowedModels : [...models]).filter((x) => !avoidModels.has(x)) }));
      prepared = members.map((m) => prepareRequest(m));
    }
    return placeGang(this.placer, { id: job.spec.id, members }, stmt, slots ? { excludeSlots: slots, prepared } : { prepared });
  }

  /**
   * GPU models the job may not use: those whose per-model limit, on its queue or an ancestor,
   * its GPUs (as placed in `bindings`) would break if they were of that model.
   */
  modelsOverLimit(job: JobRecord, bindings: readonly Binding[]): Set<string> {
    const out = new Set<string>();
    const q = this.queues.get(job.spec.queue);
    if (!q) return out;
    const got = bindingResources(this.cluster, bindings);
    for (const n of q.chain()) {
      const lim = n.spec.limit?.gpuByModel;
      if (!lim) continue;
      for (const [model, v] of Object.entries(lim)) if ((n.usage.gpuByModel?.[model] ?? 0) + got.gpu > v) out.add(model);
    }
    return out;
  }

  /** Checks per-model limits once the GPUs are known; null when fine. */
  modelQuotaReason(job: JobRecord, bindings: readonly Binding[]): string | null {
    const q = this.queues.get(job.spec.queue);
    if (!q) return null;
    let got: ReturnType<typeof bindingResources> | null = null;
    for (const n of q.chain()) {
      const lim = n.spec.limit?.gpuByModel;
      if (lim) {
        got ??= bindingResources(this.cluster, bindings);
        const o = exceeded(n.usage, got, { gpuByModel: lim });
        if (o) return `queue ${n.name} limit reached: ${o}`;
      }
    }
    return null;
  }

  /** Records a placement made in a committed statement. */
  commitBind(job: JobRecord, bindings: readonly Binding[]): void {
    job.state = 'running';
    job.bindings = bindings;
    job.startedAt = this.now;
    job.lastCheckpointAt = null;
    job.resources = bindingResources(this.cluster, bindings);
    job.charged = true;
    if (job.nominatedCount > 0) {
      job.nominatedNodes.clear();
      job.nominatedCount = 0;
    }
    job.lastReasons = NO_REASONS;
    this.queues.charge(job.spec.queue, job.resources, !job.spec.preemptible, 1);
    // Its reserved nodes may be open to others now: failed shapes may fit again.
    if (this.reservations.delete(job.spec.id)) this.clearFailedShapes();
    this.waits.delete(job.spec.id);
    job.waitedIn = 0;
    this.decisions.push({ kind: 'bind', job: job.spec.id, bindings });
    job.touchedIn = this.id;
    this.table.bind(job); // (after the fields it copies are set)
    this.bound++;
  }

  /** Asks a running job to stop; its resources stay held until the adapter reports it stopped. */
  evict(victim: JobRecord, reason: EvictReason, forJob: JobRecord, moveTo?: readonly Binding[], maxGraceMs = Infinity): void {
    const ckpt = victim.spec.checkpoint;
    const grace = Math.min(maxGraceMs, ckpt && (ckpt.intervalSeconds !== undefined || ckpt.graceSeconds !== undefined) ? (ckpt.graceSeconds ?? this.config.defaultGraceMs / 1000) * 1000 : 0);
    if (this.leaving !== null && victim.charged) this.noteLeaving(victim);
    victim.state = 'evicting';
    this.table.evict(victim);
    victim.evictingSince = this.now;
    victim.evictGraceMs = grace;
    victim.evictedFor = forJob.spec.id;
    victim.evictedAt = this.now;
    forJob.wonFrom.set(victim.spec.queue, this.now);
    forJob.awaiting.add(victim.spec.id);
    for (const b of victim.bindings) forJob.nominatedNodes.add(b.node);
    forJob.awaitingCount = forJob.awaiting.size;
    forJob.nominatedCount = forJob.nominatedNodes.size;
    this.decisions.push({ kind: 'evict', job: victim.spec.id, reason, for: forJob.spec.id, graceMs: grace, ...(moveTo ? { moveTo } : {}) });
    victim.touchedIn = this.id;
    this.evicted++;
  }

  /** milli-GPU of each queue (and its ancestors) held by jobs already being stopped. */
  private leaving: Map<QueueNode, number> | null = null;

  /** GPUs a queue keeps once the jobs already being stopped (or planned to be) are gone. */
  settledGpu(q: QueueNode): number {
    if (this.leaving === null) {
      this.leaving = new Map();
      for (const j of this.byState.evicting) if (j.charged) this.noteLeaving(j);
    }
    return q.usage.gpu - (this.leaving.get(q) ?? 0);
  }

  private noteLeaving(j: JobRecord): void {
    const q = this.queues.get(j.spec.queue);
    if (!q || this.leaving === null) return;
    for (const n of q.chain()) this.leaving.set(n, (this.leaving.get(n) ?? 0) + j.resources.gpu);
  }

  private victimOrder: JobRecord[] | null = null;
  private reclaimOrder: JobRecord[] | null = null;

  /**
   * Running jobs that may be disrupted, cheapest first: least work lost (work since the last
   * checkpoint, or only the grace for jobs that save when signalled), then lowest (effective)
   * priority, then most GPU time already attained, then most recently started. Computed once per cycle;
   * callers still check isVictimCandidate for jobs touched since.
   */
  victimsByCost(ignoreMinRuntime = false): readonly JobRecord[] {
    const cached = ignoreMinRuntime ? this.reclaimOrder : this.victimOrder;
    if (cached !== null) return cached;
    const order = this.orderByVictimCost(this.runningJobs().filter((v) => this.isVictimCandidate(v, ignoreMinRuntime)));
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
    const n = jobs.length;
    const keys = new VictimKeys(n);
    for (let i = 0; i < n; i++) keys.set(i, jobs[i] as JobRecord, this.priorityOf(jobs[i] as JobRecord), this.now);
    return this.cheapestFirstByKeys(jobs, keys);
  }

  /** As cheapestFirst, with the keys already computed (by a pass that read the jobs anyway). */
  cheapestFirstByKeys(jobs: readonly JobRecord[], keys: VictimKeys, columns: ColumnsRef | null = null): LazyOrder {
    return new LazyOrder(jobs, keys, columns);
  }

  /** `jobs` cheapest to disrupt first (see victimsByCost), fully sorted. */
  orderByVictimCost(jobs: readonly JobRecord[]): JobRecord[] {
    // Sort indices over precomputed keys: no objects per comparison.
    const n = jobs.length;
    const keys = new VictimKeys(n);
    for (let i = 0; i < n; i++) keys.set(i, jobs[i] as JobRecord, this.priorityOf(jobs[i] as JobRecord), this.now);
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    idx.sort((a, b) => keys.compare(a, b));
    return Array.from(idx, (i) => jobs[i] as JobRecord);
  }

  private readonly memos = new Map<string, unknown>();

  /** A value computed once per cycle (for facts that do not change within it). */
  memo<T>(key: string, make: () => T): T {
    if (this.memos.has(key)) return this.memos.get(key) as T;
    const v = make();
    this.memos.set(key, v);
    return v;
  }

  /** True while this cycle may still decide evictions. */
  get disruptionBudgetLeft(): boolean {
    return this.evicted < this.config.maxEvictionsPerCycle && this.plans < this.config.maxPlansPerCycle;
  }

  /** Reclaim's budget: the same bound on evictions, its own on searches. */
  get reclaimBudgetLeft(): boolean {
    return this.evicted < this.config.maxEvictionsPerCycle && this.plans < this.config.maxReclaimPlansPerCycle;
  }

  /** Victims may be disrupted: preemptible, running long enough, not already being stopped. */
  isVictimCandidate(j: JobRecord, ignoreMinRuntime = false): boolean {
    return j.state === 'running' && j.preemptible && !this.isTouched(j) && j.startedAt !== null && (ignoreMinRuntime || this.now - j.startedAt >= this.config.minRuntimeMs);
  }
}
