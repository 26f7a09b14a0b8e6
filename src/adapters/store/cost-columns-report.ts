/**
 * A cost report read from the ledger's columns (cost-columns.ts): one pass over the attempt
 * rows in the window and one over the idle rows, grouped by team, queue, user, model, job or
 * service. The same figures the SQL report gave: each row's GPU time clipped to [since, until]
 * (a running attempt counts up to `until`), its cost rounded per row by the simulators' rule
 * (core/cost-tally.ts), so every grouping has the same total to the micro-unit, idle minutes in
 * [since, until) added to their group's line, groups ordered by cost, then GPU time, then key.
 */
import { attemptCostMicros } from '../../core/cost-tally.js';
import { PREEMPTED, type AttemptColumns, type Dictionary, type IdleColumns } from './cost-columns.js';
import type { CostGroup, CostLine, CostQuery, CostReport } from './cost-ledger.js';

/** Which service each job's replica attempts belong to, as codes of the service dictionary. */
export interface ServiceIndex {
  readonly ofJob: ReadonlyMap<number, number>;
  readonly dict: Dictionary;
}

const SUMS = ['attempts', 'gpuMs', 'cost', 'preemptedGpuMs', 'preemptedCost', 'running', 'idleGpuMs', 'idleCost'] as const;

/** Per group, each sum: arrays indexed by the group's code, and one more slot for the total. */
class GroupSums {
  readonly attempts: Float64Array;
  readonly gpuMs: Float64Array;
  readonly cost: Float64Array;
  readonly preemptedGpuMs: Float64Array;
  readonly preemptedCost: Float64Array;
  readonly running: Float64Array;
  readonly idleGpuMs: Float64Array;
  readonly idleCost: Float64Array;
  constructor(n: number) {
    [this.attempts, this.gpuMs, this.cost, this.preemptedGpuMs, this.preemptedCost, this.running, this.idleGpuMs, this.idleCost] = SUMS.map(() => new Float64Array(n)) as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
  }
  /** Adds group `g`'s sums into slot `into` (field by field: a loop over the names is 3x slower by job). */
  addTo(into: number, g: number): void {
    const add = (a: Float64Array): void => void (a[into] = (a[into] as number) + (a[g] as number));
    add(this.attempts);
    add(this.gpuMs);
    add(this.cost);
    add(this.preemptedGpuMs);
    add(this.preemptedCost);
    add(this.running);
    add(this.idleGpuMs);
    add(this.idleCost);
  }
  line(key: string, g: number): CostLine {
    return {
      key, attempts: this.attempts[g] as number, gpuSeconds: (this.gpuMs[g] as number) / 1000, costMicros: this.cost[g] as number,
      preemptedGpuSeconds: (this.preemptedGpuMs[g] as number) / 1000, preemptedCostMicros: this.preemptedCost[g] as number, running: this.running[g] as number,
      idleGpuSeconds: (this.idleGpuMs[g] as number) / 1000, idleCostMicros: this.idleCost[g] as number,
    };
  }
}

/** Each row's group code (-1: the row has none, a job without a service), the number of groups and their names. */
function grouping(by: CostGroup, attempts: AttemptColumns, services: ServiceIndex): { code: (rows: AttemptColumns | IdleColumns) => Int32Array; n: number; name: (g: number) => string } {
  const d = attempts.dicts;
  switch (by) {
    case 'team': return { code: (r) => r.team, n: d.team.names.length, name: (g) => d.team.names[g] as string };
    case 'queue': return { code: (r) => r.queue, n: d.queue.names.length, name: (g) => d.queue.names[g] as string };
    case 'user': return { code: (r) => r.owner, n: d.owner.names.length, name: (g) => d.owner.names[g] as string };
    case 'model': return { code: (r) => r.model, n: d.model.names.length, name: (g) => d.model.names[g] as string };
    case 'job': return { code: (r) => r.job, n: d.job.names.length, name: (g) => `job-${d.job.names[g]}` };
    case 'service': {
      const ofJob = new Int32Array(d.job.names.length).fill(-1);
      for (const [seq, svc] of services.ofJob) {
        const j = d.job.find(seq);
        if (j !== undefined) ofJob[j] = svc;
      }
      return { code: (r) => r.job.map((j) => ofJob[j] as number), n: services.dict.names.length, name: (g) => services.dict.names[g] as string };
    }
  }
}

export function columnsReport(q: CostQuery, attempts: AttemptColumns, idle: IdleColumns, services: ServiceIndex): CostReport {
  const team = q.team === undefined ? -1 : (attempts.dicts.team.find(q.team) ?? -2);
  const g = grouping(q.by, attempts, services);
  const TOTAL = g.n;
  const sums = new GroupSums(g.n + 1);
  if (team !== -2) {
    addAttempts(q, attempts, team, g.code(attempts), sums);
    addIdle(q, idle, team, g.code(idle), sums, TOTAL);
  }
  const groups: number[] = [];
  for (let k = 0; k < g.n; k++) {
    if ((sums.attempts[k] as number) === 0) continue;
    groups.push(k);
    sums.addTo(TOTAL, k);
  }
  const seqs = attempts.dicts.job.names;
  const byKey = q.by === 'job' ? (a: number, b: number) => (seqs[a] as number) - (seqs[b] as number) : (a: number, b: number) => (g.name(a) < g.name(b) ? -1 : g.name(a) > g.name(b) ? 1 : 0);
  const order = (a: number, b: number): number => (sums.cost[b] as number) - (sums.cost[a] as number) || (sums.gpuMs[b] as number) - (sums.gpuMs[a] as number) || byKey(a, b);
  const top = topN(groups, q.limit, order);
  return { items: top.map((k) => sums.line(g.name(k), k)), total: sums.line('total', TOTAL), omitted: Math.max(0, groups.length - top.length) };
}

/** Each attempt row in the window: its GPU time clipped to the window and its cost, into its group. */
function addAttempts(q: CostQuery, a: AttemptColumns, team: number, code: Int32Array, s: GroupSums): void {
  const { since, until } = q;
  for (let i = 0; i < a.size; i++) {
    const s0 = a.started[i] as number;
    const e0 = a.ended[i] as number;
    const running = e0 !== e0; // NaN
    if (!(s0 < until) || !(running || e0 > since)) continue;
    if (team >= 0 && a.team[i] !== team) continue;
    const k = code[i] as number;
    if (k < 0) continue;
    const gpus = a.gpus[i] as number;
    const span = (running ? until : Math.min(e0, until)) - Math.max(s0, since);
    const ms = gpus * span;
    const cost = attemptCostMicros(gpus, span, a.price[i] as number);
    s.attempts[k] = (s.attempts[k] as number) + 1;
    s.gpuMs[k] = (s.gpuMs[k] as number) + ms;
    s.cost[k] = (s.cost[k] as number) + cost;
    if (running) s.running[k] = (s.running[k] as number) + 1;
    if (a.outcome[i] === PREEMPTED) {
      s.preemptedGpuMs[k] = (s.preemptedGpuMs[k] as number) + ms;
      s.preemptedCost[k] = (s.preemptedCost[k] as number) + cost;
    }
  }
}

/** Idle minutes in [since, until): into their group's sums, or, for a group without a line, into the total only (as before). */
function addIdle(q: CostQuery, idle: IdleColumns, team: number, code: Int32Array, s: GroupSums, total: number): void {
  for (let i = 0; i < idle.size; i++) {
    const m = idle.minute[i] as number;
    if (m < q.since || m >= q.until) continue;
    if (team >= 0 && idle.team[i] !== team) continue;
    const k = code[i] as number;
    if (k < 0) continue;
    const ms = idle.gpuMs[i] as number;
    const cost = attemptCostMicros(1, ms, idle.price[i] as number);
    const into = (s.attempts[k] as number) > 0 ? k : total;
    s.idleGpuMs[into] = (s.idleGpuMs[into] as number) + ms;
    s.idleCost[into] = (s.idleCost[into] as number) + cost;
  }
}
/** The first `n` of `xs` in `order`, without sorting all of them when n is small. */
function topN<T>(xs: T[], n: number, order: (a: T, b: T) => number): T[] {
  if (n <= 0) return [];
  if (xs.length <= n * 4) return xs.sort(order).slice(0, n);
  // Keep a sorted window of the best n seen so far; most rows are worse than its last and skip.
  const best = xs.slice(0, n).sort(order);
  for (let i = n; i < xs.length; i++) {
    const x = xs[i] as T;
    if (order(x, best[n - 1] as T) >= 0) continue;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (order(x, best[mid] as T) < 0) hi = mid;
      else lo = mid + 1;
    }
    best.splice(lo, 0, x);
    best.pop();
  }
  return best;
}
