/**
 * The rules of a budget, shared by `gantry up` (server/cost/budgets.ts) and `gantry k8s
 * scheduler` (adapters/k8s/queue-spend.ts): the UTC calendar period a budget counts over, the
 * status what was spent gives it, and what a spent hard budget tells the work it holds. Pure.
 */

export const BUDGET_PERIODS = ['day', 'week', 'month'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];
export type BudgetMode = 'soft' | 'hard';
export type BudgetStatus = 'ok' | 'warning' | 'exhausted';

/** What the rules read of a budget: whose it is, its period, its limit and mode. */
export interface BudgetTerms {
  readonly scope: 'team' | 'queue';
  readonly name: string;
  readonly period: BudgetPeriod;
  /** Micro-units of the prices' currency. */
  readonly limitMicros: number;
  readonly mode: BudgetMode;
}

export interface BudgetStanding<B extends BudgetTerms = BudgetTerms> {
  readonly budget: B;
  readonly periodStart: number;
  readonly periodEnd: number;
  readonly spentMicros: number;
  readonly status: BudgetStatus;
}

/** The UTC calendar period holding `at`: [start, end). */
export function periodOf(period: BudgetPeriod, at: number): { start: number; end: number } {
  const d = new Date(at);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  if (period === 'month') return { start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
  const day = Date.UTC(y, m, d.getUTCDate());
  if (period === 'day') return { start: day, end: day + 86_400_000 };
  const sinceMonday = (d.getUTCDay() + 6) % 7;
  const start = day - sinceMonday * 86_400_000;
  return { start, end: start + 7 * 86_400_000 };
}

/** A budget's status from what was spent: a hard budget spent is exhausted, a soft one warns. */
export function statusOf(b: Pick<BudgetTerms, 'limitMicros' | 'mode'>, spentMicros: number): BudgetStatus {
  if (spentMicros < b.limitMicros) return 'ok';
  return b.mode === 'hard' ? 'exhausted' : 'warning';
}

/**
 * What a hard budget that is spent says to the work it holds (starts with BUDGET_EXHAUSTED).
 * `raise`: how the budget is raised where it is set (`gantry budgets set`, or a Queue's spec.budget).
 */
export function holdMessage(s: BudgetStanding, raise = 'gantry budgets set'): string {
  const money = (micros: number): string => (micros / 1e6).toFixed(2);
  const label = s.budget.period === 'day' ? 'daily' : `${s.budget.period}ly`;
  return `BUDGET_EXHAUSTED: ${s.budget.scope} ${s.budget.name} spent ${money(s.spentMicros)} of its ${label} budget of ${money(s.budget.limitMicros)} since ${new Date(s.periodStart).toISOString()}; new work waits until ${new Date(s.periodEnd).toISOString()} or until the budget is raised (${raise})`;
}
