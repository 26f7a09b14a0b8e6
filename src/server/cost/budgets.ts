/**
 * Budgets: a spending limit per team or per queue (a queue's covers its sub-queues) over a
 * calendar period in UTC (day, week from Monday, month). `soft`: crossing it is an event
 * (audit `budget.warn`) and its status says so; `hard`: besides the event, the scope's new work
 * waits (`BUDGET_EXHAUSTED`) until the period ends or the budget is raised. Running work is
 * never stopped. Spending is the cost ledger's, running attempts included. The rules (periods,
 * status, the hold's message) are core/budget-rules.ts, shared with Kubernetes mode.
 */
import type Database from 'better-sqlite3';
import type { BudgetPeriod, BudgetMode, BudgetStanding } from '../../core/budget-rules.js';

export { BUDGET_PERIODS, holdMessage, periodOf, statusOf, type BudgetMode, type BudgetPeriod, type BudgetStatus } from '../../core/budget-rules.js';

export const BUDGET_SCOPES = ['team', 'queue'] as const;
export type BudgetScope = (typeof BUDGET_SCOPES)[number];

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

export type BudgetState = BudgetStanding<BudgetRow>;

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
