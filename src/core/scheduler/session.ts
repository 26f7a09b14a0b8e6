/**
 * One scheduling cycle, as the actions see it: the cluster snapshot and the placer over it,
 * the jobs (read through the job table's indices, changed only by its transitions), and the
 * decisions taken so far. Its parts each have a file of their own: the order of work
 * (JobOrder), the quota rules (QuotaRules), the running jobs as candidate victims
 * (VictimPool), the reasons jobs wait (CycleWaits) and the victim searches remembered to
 * have found nothing (CycleMisses). What stays here is what ties them into one cycle:
 * placement that respects reservations, binds and evictions, and the cycle's budgets.
 */
import type { Cluster, Statement, Binding } from '../model/cluster.js';
import type { Placer } from '../placement/placer.js';
import { placeGang, type GangResult } from '../placement/gang.js';
import { prepareRequest } from '../placement/placer.js';
import type { PreparedRequest } from '../framework/plugin.js';
import type { BudgetHolds, Decision, EvictReason, WaitReason } from './types.js';
import type { QueueTree } from './queues.js';
import type { JobRecord } from './job.js';
import type { JobTable, JobsByState } from './job-table.js';
import { bindingResources } from './resources.js';
import type { SchedulerSettings } from './config.js';
import type { ServiceModel } from './service.js';
import { JobOrder } from './job-order.js';
import { QuotaRules, NO_HOLDS } from './quota-rules.js';
import { VictimPool } from './victim-pool.js';
import { CycleWaits } from './cycle-waits.js';
import { CycleMisses, type PlanMiss } from './plan-misses.js';

export interface Reservation {
  readonly job: string;
  readonly nodes: ReadonlySet<string>;
  /** When the reserved job is expected to fit (ms); Infinity when unknown. */
  readonly until: number;
  /** The scheduler epoch it was computed at (recomputed only when something changed). */
  readonly epoch?: number;
}

/** A gang shape that failed to place this cycle: why, for which job, and its failing member (index). */
export interface FailedShape {
  readonly reason: WaitReason;
  readonly job: JobRecord;
  readonly member: number;
}

export class Session {
  /** This session's number (a job it bound or evicted carries it in touchedIn). */
  private static sessions = 0;
  readonly id = ++Session.sessions;
  readonly decisions: Decision[] = [];
  bound = 0;
  evicted = 0;
  /** Victim searches made this cycle. */
  plans = 0;
  considered = 0;
  /** Every job by id (read only: changes go through the job table). */
  readonly jobs: ReadonlyMap<string, JobRecord>;
  /** The jobs by state (so listing them does not scan every job). */
  private readonly byState: JobsByState;
  /** The job table's epochs when the cycle began (see JobTable.epoch, demandEpoch). */
  readonly epoch: number;
  readonly demandEpoch: number;
  readonly order: JobOrder;
  readonly quota: QuotaRules;
  readonly victims: VictimPool;
  readonly reasons: CycleWaits;
  readonly misses: CycleMisses;
  /**
   * Gang shapes that failed to fit since the last release (binds only shrink free capacity),
   * by shape, with the job that failed and its failing member: another job of the shape is
   * told its own names (failedReason). Entitled jobs, which pass borrowers' reservations, have
   * their own (see failedShapesOf).
   */
  readonly failedShapes = new Map<string, FailedShape>();
  private readonly failedShapesEntitled = new Map<string, FailedShape>();
  private readonly memos = new Map<string, unknown>();

  constructor(
    readonly now: number,
    readonly cluster: Cluster,
    readonly placer: Placer,
    readonly queues: QueueTree,
    /** The jobs, their indices, charges and epochs; changed here only by its transitions. */
    private readonly table: JobTable,
    readonly config: SchedulerSettings,
    readonly reservations: Map<string, Reservation>,
    service: ServiceModel | null,
    /** Victim searches that found nothing, kept across cycles (see CycleMisses). */
    planMisses: Map<string, PlanMiss>,
    budgetHolds: BudgetHolds = NO_HOLDS,
  ) {
    this.jobs = table.records;
    this.byState = table.index;
    this.epoch = table.epoch;
    this.demandEpoch = table.demandEpoch;
    this.order = new JobOrder(config, queues, service);
    this.quota = new QuotaRules(queues, cluster, table.index.evicting, budgetHolds);
    this.victims = new VictimPool(table.index, this.order, now, config.minRuntimeMs, this.id);
    this.reasons = new CycleWaits(this.id);
    this.misses = new CycleMisses(planMisses, now, this.epoch, this.demandEpoch);
  }

  /** Why each job given a reason this cycle waits (the map the cycle returns). */
  get waits(): Map<string, WaitReason[]> {
    return this.reasons.waits;
  }

  /** The jobs given a reason this cycle. */
  get waiting(): readonly JobRecord[] {
    return this.reasons.waiting;
  }

  /** The job was bound or chosen as a victim in this cycle (no second plan touches it). */
  isTouched(j: JobRecord): boolean {
    return j.touchedIn === this.id;
  }

  /** The failed-shape cache of the jobs that see the capacity `job` sees. */
  failedShapesOf(job: JobRecord): Map<string, FailedShape> {
    return this.reservations.size > 0 && this.quota.entitled(job) ? this.failedShapesEntitled : this.failedShapes;
  }

  /** Something was released or a reservation ended: failed shapes may fit again. */
  clearFailedShapes(): void {
    this.failedShapes.clear();
    this.failedShapesEntitled.clear();
  }

  pendingJobs(): JobRecord[] {
    return this.byState.pending.toArray();
  }

  /** The gang's shape key (kept in a pending job's fields; computed again for a running one, which is rarely asked). */
  gangShape(job: JobRecord): string {
    const p = job.pending;
    if (p === null) return this.prepared(job).map((m) => m.shapeKey).join('+');
    return (p.shape ??= this.prepared(job).map((m) => m.shapeKey).join('+'));
  }

  /** The members prepared for placement (kept as gangShape). */
  prepared(job: JobRecord): readonly PreparedRequest[] {
    const p = job.pending;
    if (p === null) return job.spec.members.map((m) => prepareRequest(m));
    return (p.prepared ??= job.spec.members.map((m) => prepareRequest(m)));
  }

  /**
   * May `victim` be stopped for `job`? Not when `job` was itself stopped for `victim` and the
   * victim still runs the run that took its place (started after that eviction): no plan
   * undoes an earlier one while its reason holds (no ping-pong, across cycles and actions).
   */
  mayDisplace(victim: JobRecord, job: JobRecord): boolean {
    const e = job.lastEviction;
    if (e === null || e.forJob !== victim.spec.id) return true;
    return victim.startedAt === null || !(victim.startedAt >= e.at);
  }

  /**
   * May `victim` be moved aside for `job` (consolidate, reclaim by moving)? As mayDisplace, and
   * not when the victim runs in room it took from `job`'s queue (`wonFrom`): `job`'s own
   * eviction record may since name another job (it ran and was stopped again), and moving the
   * victim would undo the first plan all the same.
   */
  mayMove(victim: JobRecord, job: JobRecord): boolean {
    if (!this.mayDisplace(victim, job)) return false;
    const won = victim.claims?.wonFrom.get(job.queue);
    return won === undefined || victim.startedAt === null || !(victim.startedAt >= won);
  }

  /** A reservation held by a pending job that would borrow (it never stands in an entitled job's way). */
  private heldByBorrower(r: Reservation): boolean {
    const holder = this.jobs.get(r.job);
    return holder !== undefined && holder.state === 'pending' && !this.quota.entitled(holder);
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
      if (this.heldByBorrower(r) && (entitled ??= this.quota.entitled(job))) continue;
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

  /** Records a placement made in a committed statement. */
  commitBind(job: JobRecord, bindings: readonly Binding[]): void {
    this.table.start(job, bindings, bindingResources(this.cluster, bindings), this.now, this.id);
    // Its reserved nodes may be open to others now: failed shapes may fit again.
    if (this.reservations.delete(job.spec.id)) this.clearFailedShapes();
    this.reasons.started(job);
    this.decisions.push({ kind: 'bind', job: job.spec.id, bindings });
    this.bound++;
  }

  /** Asks a running job to stop; its resources stay held until the adapter reports it stopped. */
  evict(victim: JobRecord, reason: EvictReason, forJob: JobRecord, moveTo?: readonly Binding[], maxGraceMs = Infinity): void {
    const ckpt = victim.spec.checkpoint;
    const grace = Math.min(maxGraceMs, ckpt && (ckpt.intervalSeconds !== undefined || ckpt.graceSeconds !== undefined) ? (ckpt.graceSeconds ?? this.config.defaultGraceMs / 1000) * 1000 : 0);
    this.quota.stopping(victim);
    this.table.evict(victim, forJob, this.now, grace, this.id);
    this.decisions.push({ kind: 'evict', job: victim.spec.id, reason, for: forJob.spec.id, graceMs: grace, ...(moveTo ? { moveTo } : {}) });
    this.evicted++;
  }

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

  /** Records why a job waits this cycle (see CycleWaits.wait). */
  wait(job: JobRecord, reason: WaitReason): void {
    this.reasons.wait(job, reason);
  }

  /** Whether `job` waits this cycle because it does not fit (see CycleWaits.waitsForRoom). */
  waitsForRoom(job: JobRecord): boolean {
    return this.reasons.waitsForRoom(job);
  }

  /** Whether `job` waits this cycle for quota (see CycleWaits.waitsForQuota). */
  waitsForQuota(job: JobRecord): boolean {
    return this.reasons.waitsForQuota(job);
  }
}
