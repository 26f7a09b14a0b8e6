/**
 * Spend and budgets in Kubernetes mode, on the leader. The scheduler keeps no state of its own,
 * so each Queue's status is the record: every interval the leader prices the GPU time bound pods
 * held (spend-book.ts, at the prices of the ConfigMap gantry-prices: prices.ts) and writes each
 * Queue's `status.spend` (its period, GPU-seconds by model, cost) and `status.budget`; a new
 * leader starts from what status says, so a failover loses at most the time since the last
 * write and the time without a leader.
 *
 * Budgets are the Queues' `spec.budget` (queues.ts), judged by the rules `gantry up` uses
 * (core/budget-rules.ts): a spent soft budget is a `BudgetWarning` Event on the Queue, once per
 * period; a spent hard one a `BudgetExhausted` Event and a hold on the queue and those below it
 * (Scheduler.setBudgetHolds), so their pending pods wait with a reason starting
 * BUDGET_EXHAUSTED. Running pods are never evicted for a budget. A hold lifts when the budget is
 * raised (at once: the Queue's change) or when its period ends (the next cycle).
 */
import { priceOf } from '../../core/cost-tally.js';
import { holdMessage, periodOf, statusOf, type BudgetStanding } from '../../core/budget-rules.js';
import type { Scheduler } from '../../core/scheduler/scheduler.js';
import type { ObjectRef } from './api.js';
import { FencedError } from './fence.js';
import { kubeJobUseSnapshot, kubeUseView, type UseState } from './gpu-use-metrics.js';
import type { FleetUseView } from '../../core/fleet-use.js';
import { amountMicros, parsePriceData, PRICES_CONFIGMAP, type PriceSource } from './prices.js';
import { queueBudget, type QueueBudget, type QueueObject } from './queues.js';
import { SpendBook, type SpendQueue, type SpendRecord } from './spend-book.js';
import { DEFAULT_QUEUE, GANTRY_GROUP, QUEUE_VERSION } from './names.js';

export interface QueueSpendDeps {
  readonly core: UseState & Pick<Scheduler, 'setBudgetHolds'>;
  /** The Queue objects of the tree in force, with their status as last seen. */
  readonly queues: () => readonly QueueObject[];
  readonly prices: PriceSource;
  /** The scheduler's namespace (where the prices ConfigMap is). */
  readonly namespace: string;
  /** A merge patch of a Queue's status (fenced by the Lease). */
  readonly patchStatus: (queue: string, status: Record<string, unknown>) => Promise<void>;
  readonly event: (ref: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string) => void;
  readonly intervalMs: number;
  readonly clock: () => number;
  readonly log: (m: string) => void;
}

/** A queue's spend and budget as /metrics shows them. */
export interface QueueSpendView {
  readonly queue: string;
  readonly costMicros: number;
  readonly budget: BudgetStanding<QueueBudget> | undefined;
}

const money = (micros: number): string => (micros / 1e6).toFixed(6).replace(/\.?0+$/, '');
const iso = (ms: number): string => new Date(ms).toISOString();

export class QueueSpend {
  private readonly book = new SpendBook();
  private leading = false;
  private term = 0;
  private last = 0;
  private running: Promise<void> | null = null;
  private prices: Readonly<Record<string, number>> = {};
  private priceProblems = '';
  private readonly standings = new Map<string, BudgetStanding<QueueBudget>>();
  /** The hold of each held queue: its key (period, limit) and the message it was given. */
  private held = new Map<string, { key: string; message: string }>();
  private holdsUntil = Infinity;
  /** Per queue: the status text last written this term; the budget status last announced. */
  private readonly written = new Map<string, string>();
  private readonly noted = new Map<string, string>();
  /** GPU time of jobs that left the core since the last sample (settleJob), priced by the next. */
  private readonly leftJobs: { at: number; dt: number; view: FleetUseView }[] = [];

  constructor(private readonly d: QueueSpendDeps) {}

  /** This replica leads: the records and holds start from the Queues' status, before its first cycle. */
  startTerm(): void {
    this.term++;
    this.leading = true;
    this.reset();
    this.last = this.d.clock();
    for (const o of this.d.queues()) this.seedNoted(o);
    this.evaluate(this.last);
  }

  /** This replica stops leading: it forgets (the next term starts from status again) and holds nothing. */
  endTerm(): void {
    this.term++;
    this.leading = false;
    this.reset();
    this.d.core.setBudgetHolds({ teams: new Map(), queues: new Map() });
  }

  private reset(): void {
    this.book.clear();
    this.standings.clear();
    this.held = new Map();
    this.holdsUntil = Infinity;
    this.written.clear();
    this.noted.clear();
    this.leftJobs.length = 0;
  }

  /** The Queues changed (a budget set, raised or removed): judged again at once. */
  queuesChanged(): void {
    if (this.leading) this.evaluate(this.d.clock());
  }

  /** Each cycle: a hold whose period ended is lifted; a sample is taken once an interval passed. */
  tick(): void {
    if (!this.leading) return;
    const now = this.d.clock();
    if (now >= this.holdsUntil) this.evaluate(now);
    if (this.running === null && now - this.last >= this.d.intervalMs) this.running = this.sampleOnce().finally(() => (this.running = null));
  }

  /** Waits for a sample under way (tests; stopping). */
  async settled(): Promise<void> {
    await this.running;
  }

  /** Every queue's spend this period and its budget (leader only; empty on a standby). */
  view(): QueueSpendView[] {
    if (!this.leading) return [];
    const now = this.d.clock();
    return [...this.spendQueues().values()].map((q) => ({ queue: q.name, costMicros: this.book.record(q, now).costMicros, budget: this.standings.get(q.name) }));
  }

  /** One interval: read the prices, price the GPU time held since the last one, judge the budgets, write status. */
  async sampleOnce(): Promise<void> {
    const term = this.term;
    if (!this.leading) return;
    await this.readPrices();
    if (term !== this.term) return;
    const now = this.d.clock();
    const dt = Math.max(0, now - this.last);
    this.last = now;
    const queues = this.spendQueues();
    for (const o of this.d.queues()) this.seed(o);
    const price = (m: string): number => priceOf(this.prices, m);
    for (const x of this.leftJobs.splice(0)) this.book.accrue(x.view, x.at, x.dt, price, queues);
    this.book.accrue(kubeUseView(this.d.core, now), now, dt, price, queues);
    this.evaluate(now);
    this.writeStatus(now, queues);
  }

  /**
   * A job is about to leave the core (its pods ended, were deleted or evicted): its GPU time since
   * the last sample is taken now, as the next sample no longer sees it, and priced with that
   * sample (at the prices it reads). Without this a pod that ends between two samples would lose
   * its last part-interval, and one shorter than an interval would cost nothing.
   */
  settleJob(id: string): void {
    if (!this.leading) return;
    const now = this.d.clock();
    const dt = now - this.last;
    const view = dt > 0 ? kubeJobUseSnapshot(this.d.core, id, now) : undefined;
    if (view) this.leftJobs.push({ at: now, dt, view });
  }

  private async readPrices(): Promise<void> {
    let data;
    try {
      data = await this.d.prices();
    } catch (e) {
      const text = `not read (${(e as Error).message}); the last prices stay in force`;
      if (text !== this.priceProblems) this.d.log(`prices: ConfigMap ${this.d.namespace}/${PRICES_CONFIGMAP} ${text}`);
      this.priceProblems = text;
      return;
    }
    const t = parsePriceData(data ?? {});
    this.prices = t.pricesMicros;
    const text = t.problems.join('; ');
    if (text === this.priceProblems) return;
    this.priceProblems = text;
    if (text === '') return;
    this.d.log(`prices: ConfigMap ${this.d.namespace}/${PRICES_CONFIGMAP}: ${text}`);
    this.d.event({ kind: 'ConfigMap', apiVersion: 'v1', namespace: this.d.namespace, name: PRICES_CONFIGMAP }, 'Warning', 'InvalidPrice', `gantry: ${text}`);
  }

  /** Each queue of the tree, its parent and the period it counts over (its budget's, else the month). */
  private spendQueues(): Map<string, SpendQueue> {
    const out = new Map<string, SpendQueue>([[DEFAULT_QUEUE, { name: DEFAULT_QUEUE, period: 'month' }]]);
    for (const o of this.d.queues()) {
      const name = o.metadata?.name ?? '';
      const parent = o.spec?.parent;
      out.set(name, { name, period: budgetOf(o)?.period ?? 'month', ...(parent ? { parent } : {}) });
    }
    return out;
  }

  /** A queue the book does not have yet starts from its status.spend. */
  private seed(o: QueueObject): void {
    const name = o.metadata?.name ?? '';
    if (this.book.has(name)) return;
    const r = readSpend(o.status?.spend);
    if (r) this.book.seed(name, r);
  }

  /** What status says was announced already this period (so a new leader does not repeat it). */
  private seedNoted(o: QueueObject): void {
    this.seed(o);
    const b = budgetOf(o);
    const s = o.status?.budget as { status?: unknown; limit?: unknown } | undefined;
    const spend = readSpend(o.status?.spend);
    if (!b || !spend || (s?.status !== 'warning' && s?.status !== 'exhausted')) return;
    if (spend.periodStart !== periodOf(b.period, this.d.clock()).start || amountMicros(s.limit) !== b.limitMicros) return;
    this.noted.set(b.name, `${spend.periodStart}:${s.status}:${b.limitMicros}`);
  }

  /** Judges every budget against the book: holds for the spent hard ones, an Event per new status. */
  private evaluate(now: number): void {
    const queues = this.spendQueues();
    const held = new Map<string, { key: string; message: string }>();
    let until = Infinity;
    this.standings.clear();
    for (const o of this.d.queues()) {
      const b = budgetOf(o);
      const q = queues.get(b?.name ?? '');
      if (!b || !q) continue;
      const p = periodOf(b.period, now);
      const spent = this.book.record(q, now).costMicros;
      const s: BudgetStanding<QueueBudget> = { budget: b, periodStart: p.start, periodEnd: p.end, spentMicros: spent, status: statusOf(b, spent) };
      this.standings.set(b.name, s);
      this.announce(s);
      if (s.status !== 'exhausted') continue;
      // The message a hold got stays while the hold does (a new message would be a new Event on every waiting pod).
      const key = `${p.start}:${b.limitMicros}`;
      const before = this.held.get(b.name);
      held.set(b.name, before?.key === key ? before : { key, message: holdMessage(s, `raise spec.budget.limit of Queue ${b.name}`) });
      until = Math.min(until, p.end);
    }
    this.holdsUntil = until;
    const same = held.size === this.held.size && [...held].every(([n, h]) => this.held.get(n) === h);
    this.held = held;
    if (!same) this.d.core.setBudgetHolds({ teams: new Map(), queues: new Map([...held].map(([n, h]) => [n, h.message])) });
  }

  private announce(s: BudgetStanding<QueueBudget>): void {
    if (s.status === 'ok') return;
    const name = s.budget.name;
    const mark = `${s.periodStart}:${s.status}:${s.budget.limitMicros}`;
    if (this.noted.get(name) === mark) return;
    this.noted.set(name, mark);
    const ref: ObjectRef = { kind: 'Queue', apiVersion: `${GANTRY_GROUP}/${QUEUE_VERSION}`, namespace: 'default', name };
    const label = s.budget.period === 'day' ? 'daily' : `${s.budget.period}ly`;
    const text =
      s.status === 'exhausted'
        ? holdMessage(s, `raise spec.budget.limit of Queue ${name}`)
        : `queue ${name} spent ${money(s.spentMicros)} of its ${label} soft budget of ${money(s.budget.limitMicros)} since ${iso(s.periodStart)}; its work goes on (mode soft)`;
    this.d.log(text);
    this.d.event(ref, 'Warning', s.status === 'exhausted' ? 'BudgetExhausted' : 'BudgetWarning', text);
  }

  /** Each Queue object's status.spend and status.budget, when they changed since the last write. */
  private writeStatus(now: number, queues: ReadonlyMap<string, SpendQueue>): void {
    const term = this.term;
    for (const o of this.d.queues()) {
      const name = o.metadata?.name ?? '';
      const q = queues.get(name);
      if (!q) continue;
      const r = this.book.record(q, now);
      const gpuSeconds: Record<string, number> = {};
      for (const m of Object.keys(r.gpuSeconds).sort()) gpuSeconds[m] = Math.round((r.gpuSeconds[m] ?? 0) * 1000) / 1000;
      const s = this.standings.get(name);
      const spend = { period: r.period, periodStart: iso(r.periodStart), gpuSeconds, costMicros: r.costMicros, cost: money(r.costMicros) };
      const budget = s ? { status: s.status, limit: money(s.budget.limitMicros), mode: s.budget.mode, periodEnd: iso(s.periodEnd) } : null;
      const text = JSON.stringify([spend, budget]);
      if (this.written.get(name) === text) continue;
      this.written.set(name, text);
      // A merge patch keeps the keys it does not name: models of an earlier period are removed (null).
      const gone = Object.keys(readSpend(o.status?.spend)?.gpuSeconds ?? {}).filter((m) => !(m in gpuSeconds));
      const patch = { spend: { ...spend, gpuSeconds: { ...Object.fromEntries(gone.map((m) => [m, null])), ...gpuSeconds }, updatedAt: iso(now) }, budget };
      this.d.patchStatus(name, patch).catch((e: unknown) => {
        if (term === this.term) this.written.delete(name);
        if (!(e instanceof FencedError)) this.d.log(`Queue ${name} status.spend: ${(e as Error).message}`);
      });
    }
  }
}

function budgetOf(o: QueueObject): QueueBudget | undefined {
  try {
    return queueBudget(o);
  } catch {
    return undefined; // refused with the tree (queues.ts); the tree in force has none bad
  }
}

/** status.spend as a record; undefined when absent or not in the shape this file writes. */
export function readSpend(v: unknown): SpendRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const s = v as Record<string, unknown>;
  const periodStart = typeof s['periodStart'] === 'string' ? Date.parse(s['periodStart']) : NaN;
  const period = s['period'];
  const cost = s['costMicros'];
  if ((period !== 'day' && period !== 'week' && period !== 'month') || !Number.isFinite(periodStart) || typeof cost !== 'number' || !Number.isInteger(cost) || cost < 0) return undefined;
  const gpuSeconds: Record<string, number> = {};
  const g = s['gpuSeconds'];
  if (typeof g === 'object' && g !== null) for (const [m, n] of Object.entries(g)) if (typeof n === 'number' && n >= 0) gpuSeconds[m] = n;
  return { period, periodStart, gpuSeconds, costMicros: cost };
}
