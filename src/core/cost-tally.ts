/**
 * Cost of GPU attempts, the one rule every part of Gantry bills by: an attempt's row (one GPU
 * model's part of one attempt) costs gpus x milliseconds x price per GPU-hour, rounded to the
 * micro-unit per row, so any grouping of the same rows adds up to the same total. The server's
 * ledger computes it in SQL (adapters/store/cost-ledger.ts); the simulators tally it here.
 */
import { findGpuModel } from './model/gpu-catalog.js';

/** A row's cost in micro-units: the ledger's ROUND(gpus * ms * price / 3600000.0). */
export function attemptCostMicros(gpus: number, ms: number, priceMicros: number): number {
  return Math.round((gpus * ms * priceMicros) / 3_600_000);
}

/** A model's price: under its own name, else under its catalogue name ("A100" is priced as A100-40GB); 0 without one. */
export function priceOf(pricesMicros: Readonly<Record<string, number>>, model: string): number {
  return pricesMicros[model] ?? pricesMicros[findGpuModel(model)?.name ?? ''] ?? 0;
}

export type TallyOutcome = 'succeeded' | 'preempted' | 'interrupted';

export interface TallyRow {
  readonly queue: string;
  readonly model: string;
  /** GPUs held, as a fraction of whole GPUs. */
  readonly gpus: number;
  readonly ms: number;
  readonly outcome: TallyOutcome;
}

export interface TallyLine {
  readonly key: string;
  attempts: number;
  gpuSeconds: number;
  costMicros: number;
  preemptedGpuSeconds: number;
  preemptedCostMicros: number;
}

export const TALLY_GROUPS = ['queue', 'model'] as const;
export type TallyGroup = (typeof TALLY_GROUPS)[number];

const empty = (key: string): TallyLine => ({ key, attempts: 0, gpuSeconds: 0, costMicros: 0, preemptedGpuSeconds: 0, preemptedCostMicros: 0 });

/** Sums attempt rows by queue and by GPU model, at prices per GPU-hour (micro-units) by model. */
export class CostTally {
  private readonly groups: Record<TallyGroup, Map<string, TallyLine>> = { queue: new Map(), model: new Map() };
  private readonly all = empty('total');

  constructor(private readonly pricesMicros: Readonly<Record<string, number>> = {}) {}

  add(r: TallyRow): void {
    const cost = attemptCostMicros(r.gpus, r.ms, priceOf(this.pricesMicros, r.model));
    const seconds = (r.gpus * r.ms) / 1000;
    const preempted = r.outcome === 'preempted';
    const into = (l: TallyLine): void => {
      l.attempts++;
      l.gpuSeconds += seconds;
      l.costMicros += cost;
      if (preempted) {
        l.preemptedGpuSeconds += seconds;
        l.preemptedCostMicros += cost;
      }
    };
    into(this.all);
    for (const g of TALLY_GROUPS) {
      const m = this.groups[g];
      const key = r[g];
      let l = m.get(key);
      if (!l) m.set(key, (l = empty(key)));
      into(l);
    }
  }

  /** A grouping's lines, most expensive first (then most GPU time, then by name). */
  lines(by: TallyGroup): TallyLine[] {
    return [...this.groups[by].values()].sort((a, b) => b.costMicros - a.costMicros || b.gpuSeconds - a.gpuSeconds || a.key.localeCompare(b.key));
  }

  total(): TallyLine {
    return { ...this.all };
  }
}
