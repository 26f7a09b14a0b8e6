/**
 * What each queue spent on GPUs in its current budget period, in Kubernetes mode. Pure: the
 * caller passes the time, the fleet view and the prices; queue-spend.ts does the I/O.
 *
 * Every interval, the GPU time each bound pod or gang held (core/fleet-use.ts, the measure
 * `gantry up` and the idle metrics use: a whole GPU 1, a share its milli-GPU / 1000, a MIG slice
 * its compute sevenths) is priced by the one rule of core/cost-tally.ts (GPUs x time x the price
 * in force, rounded per pod, GPU model and interval to the micro-unit) and added to the pod's
 * queue and to every queue above it: a queue's record covers its sub-queues, each in its own
 * period (its budget's, else the month), so a record needs no other to be read. A new period
 * starts from zero; the part of an interval before the period began is not counted in it.
 */
import { attemptCostMicros } from '../../core/cost-tally.js';
import { measureFleetUse, type FleetUseView, type GpuReading } from '../../core/fleet-use.js';
import { periodOf, type BudgetPeriod } from '../../core/budget-rules.js';

export interface SpendRecord {
  readonly period: BudgetPeriod;
  /** Start of the period (ms, UTC). */
  readonly periodStart: number;
  /** GPU-seconds held by GPU model (shares and MIG slices by their fraction). */
  readonly gpuSeconds: Readonly<Record<string, number>>;
  readonly costMicros: number;
}

/** A queue of the tree as the book reads it: its parent and the period its spending counts over. */
export interface SpendQueue {
  readonly name: string;
  readonly parent?: string;
  readonly period: BudgetPeriod;
}

/** One pod's (or gang's) part of an interval on one GPU model, priced. */
export interface SpendRow {
  readonly job: string;
  readonly queue: string;
  readonly model: string;
  readonly gpuMs: number;
  readonly costMicros: number;
}

interface OpenRecord {
  period: BudgetPeriod;
  periodStart: number;
  gpuSeconds: Record<string, number>;
  costMicros: number;
}

const NO_READINGS: ReadonlyMap<string, GpuReading> = new Map();

export class SpendBook {
  private readonly records = new Map<string, OpenRecord>();

  has(queue: string): boolean {
    return this.records.has(queue);
  }

  /** Starts a queue from a record kept elsewhere (a Queue's status.spend); it counts on from there. */
  seed(queue: string, r: SpendRecord): void {
    this.records.set(queue, { period: r.period, periodStart: r.periodStart, gpuSeconds: { ...r.gpuSeconds }, costMicros: r.costMicros });
  }

  clear(): void {
    this.records.clear();
  }

  /** The queue's record for the period holding `now` (a new period: zero); changes nothing. */
  record(q: SpendQueue, now: number): SpendRecord {
    const start = periodOf(q.period, now).start;
    const r = this.records.get(q.name);
    return r && r.period === q.period && r.periodStart === start ? r : { period: q.period, periodStart: start, gpuSeconds: {}, costMicros: 0 };
  }

  private open(q: SpendQueue, now: number): OpenRecord {
    const start = periodOf(q.period, now).start;
    let r = this.records.get(q.name);
    if (!r || r.period !== q.period || r.periodStart !== start) {
      r = { period: q.period, periodStart: start, gpuSeconds: {}, costMicros: 0 };
      this.records.set(q.name, r);
    }
    return r;
  }

  /**
   * Adds the GPU time held over the `intervalMs` before `now` at `priceMicros(model)` per
   * GPU-hour; every queue of `queues` rolls over to its current period. Returns the priced rows
   * (each pod's part, as added to its own queue).
   */
  accrue(view: FleetUseView, now: number, intervalMs: number, priceMicros: (model: string) => number, queues: ReadonlyMap<string, SpendQueue>): SpendRow[] {
    for (const q of queues.values()) this.open(q, now);
    const rows: SpendRow[] = [];
    if (intervalMs <= 0) return rows;
    for (const h of measureFleetUse(view, NO_READINGS, now, intervalMs).held) {
      const startedAt = view.job(h.job)?.startedAt ?? now;
      const heldMs = Math.min(intervalMs, now - startedAt); // as fleet-use clips it: > 0 for a row
      const price = priceMicros(h.model);
      let q: SpendQueue | undefined = queues.get(h.queue) ?? { name: h.queue, period: 'month' };
      for (let depth = 0; q && depth < 64; depth++) {
        const r = this.open(q, now);
        const gpuMs = (h.gpuMs * Math.min(heldMs, now - r.periodStart)) / heldMs;
        const cost = attemptCostMicros(1, gpuMs, price);
        r.gpuSeconds[h.model] = (r.gpuSeconds[h.model] ?? 0) + gpuMs / 1000;
        r.costMicros += cost;
        if (depth === 0) rows.push({ job: h.job, queue: q.name, model: h.model, gpuMs, costMicros: cost });
        q = q.parent !== undefined ? queues.get(q.parent) : undefined;
      }
    }
    return rows;
  }
}
