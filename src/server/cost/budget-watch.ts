/**
 * Checks every budget against the ledger (on a timer and after each change to the budgets),
 * tells the scheduler which teams and queues are held by a spent hard budget, and records one
 * event per budget, period and status it reaches (audit `budget.warn` / `budget.exhausted`).
 */
import type { QueueRow } from '../../adapters/store/store.js';
import type { BudgetHolds } from '../../core/scheduler/types.js';
import type { CostLedger } from '../../adapters/store/cost-ledger.js';
import { holdMessage, periodOf, statusOf, type BudgetRow, type BudgetState, type BudgetTable } from './budgets.js';

export interface BudgetWatchDeps {
  readonly ledger: CostLedger;
  readonly budgets: BudgetTable;
  readonly queues: () => readonly QueueRow[];
  readonly clock: () => number;
  readonly setHolds: (holds: BudgetHolds) => void;
  /** An event for people: the audit log (and the server log). */
  readonly event: (action: 'budget.warn' | 'budget.exhausted', target: string, detail: Record<string, unknown>) => void;
  /** Kept across restarts, so an event is not repeated: the last status noted per budget. */
  readonly meta: { get(key: string): string | undefined; set(key: string, value: string): void };
}

/** A queue and every queue below it. */
export function queueAndBelow(queues: readonly QueueRow[], name: string): string[] {
  const out = [name];
  for (let i = 0; i < out.length; i++) for (const q of queues) if (q.parent === out[i] && !out.includes(q.name)) out.push(q.name);
  return out;
}

export class BudgetWatch {
  constructor(private readonly deps: BudgetWatchDeps) {}

  /** Each budget's spending in its current period. */
  states(rows: readonly BudgetRow[] = this.deps.budgets.list()): BudgetState[] {
    const now = this.deps.clock();
    const queues = this.deps.queues();
    return rows.map((b) => {
      const p = periodOf(b.period, now);
      const spentMicros = this.deps.ledger.spent(b.scope === 'team' ? { team: b.name } : { queues: queueAndBelow(queues, b.name) }, p.start, now);
      return { budget: b, periodStart: p.start, periodEnd: p.end, spentMicros, status: statusOf(b, spentMicros) };
    });
  }

  /** Checks every budget: holds for the spent hard ones, an event for each new status. */
  check(): BudgetState[] {
    const states = this.states();
    const teams = new Map<string, string>();
    const queues = new Map<string, string>();
    for (const s of states) {
      if (s.status === 'exhausted') (s.budget.scope === 'team' ? teams : queues).set(s.budget.name, holdMessage(s));
      this.note(s);
    }
    this.deps.setHolds({ teams, queues });
    return states;
  }

  private note(s: BudgetState): void {
    if (s.status === 'ok') return;
    const key = `budget-event:${s.budget.scope}/${s.budget.name}`;
    const mark = `${s.periodStart}:${s.status}:${s.budget.limitMicros}`;
    if (this.deps.meta.get(key) === mark) return;
    this.deps.meta.set(key, mark);
    this.deps.event(s.status === 'exhausted' ? 'budget.exhausted' : 'budget.warn', `${s.budget.scope}/${s.budget.name}`, {
      period: s.budget.period,
      periodStart: new Date(s.periodStart).toISOString(),
      spent: s.spentMicros / 1e6,
      limit: s.budget.limitMicros / 1e6,
      mode: s.budget.mode,
    });
  }
}
