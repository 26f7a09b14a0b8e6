/**
 * Budgets: a spending limit per team or per queue (a queue's covers its sub-queues) over a
 * calendar period in UTC (day, week from Monday, month). `soft`: crossing it is an event
 * (audit `budget.warn`) and its status says so; `hard`: besides the event, the scope's new work
 * waits (`BUDGET_EXHAUSTED`) until the period ends or the budget is raised. Running work is
 * never stopped. Spending is the cost ledger's, running attempts included.
 */
import type Database from 'better-sqlite3';

export const BUDGET_SCOPES = ['team', 'queue'] as const;
export type BudgetScope = (typeof BUDGET_SCOPES)[number];
export const BUDGET_PERIODS = ['day', 'week', 'month'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];
export type BudgetMode = 'soft' | 'hard';

export interface BudgetRow {
  readonly scope: BudgetScope;
  readonly name: string;
  readonly period: BudgetPeriod;
  /** Micro-units of the prices' currency. */
  readonly limitMicros: number;
  readonly mode: BudgetMode;
  readonly setAt: number;
  readonly setBy: string;
}

export type BudgetStatus = 'ok' | 'warning' | 'exhausted';

export interface BudgetState {
  readonly budget: BudgetRow;
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
export function statusOf(b: BudgetRow, spentMicros: number): BudgetStatus {
  if (spentMicros < b.limitMicros) return 'ok';
  return b.mode === 'hard' ? 'exhausted' : 'warning';
}

/** What a hard budget that is spent says to the work it holds. */
export function holdMessage(s: BudgetState): string {
  const money = (micros: number): string => (micros / 1e6).toFixed(2);
  const label = s.budget.period === 'day' ? 'daily' : `${s.budget.period}ly`;
  return `BUDGET_EXHAUSTED: ${s.budget.scope} ${s.budget.name} spent ${money(s.spentMicros)} of its ${label} budget of ${money(s.budget.limitMicros)} since ${new Date(s.periodStart).toISOString()}; new work waits until ${new Date(s.periodEnd).toISOString()} or until the budget is raised (gantry budgets set)`;
}

interface BudgetDbRow {
  scope: BudgetScope;
  name: string;
  period: BudgetPeriod;
  limit_micros: number;
  mode: BudgetMode;
  set_at: number;
  set_by: string;
}

/** The budgets table (created by the cost migration, cost-ledger.ts). */
export class BudgetTable {
  constructor(private readonly db: Database.Database) {}

  put(b: BudgetRow): void {
    this.db.prepare('INSERT OR REPLACE INTO budgets (scope, name, period, limit_micros, mode, set_at, set_by) VALUES (?, ?, ?, ?, ?, ?, ?)').run(b.scope, b.name, b.period, b.limitMicros, b.mode, b.setAt, b.setBy);
  }

  get(scope: BudgetScope, name: string): BudgetRow | undefined {
    const r = this.db.prepare('SELECT * FROM budgets WHERE scope = ? AND name = ?').get(scope, name) as BudgetDbRow | undefined;
    return r && BudgetTable.toRow(r);
  }

  list(): BudgetRow[] {
    return (this.db.prepare('SELECT * FROM budgets ORDER BY scope, name').all() as BudgetDbRow[]).map(BudgetTable.toRow);
  }

  remove(scope: BudgetScope, name: string): boolean {
    return this.db.prepare('DELETE FROM budgets WHERE scope = ? AND name = ?').run(scope, name).changes > 0;
  }

  private static toRow(r: BudgetDbRow): BudgetRow {
    return { scope: r.scope, name: r.name, period: r.period, limitMicros: r.limit_micros, mode: r.mode, setAt: r.set_at, setBy: r.set_by };
  }
}
