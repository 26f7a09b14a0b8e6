/**
 * The cost routes: prices (`/v1/prices`), reports (`/v1/cost`) and budgets (`/v1/budgets`).
 * Anyone may read (a member: their own team's costs and budgets only); setting prices and
 * budgets is an admin's. Money crosses the API in currency units, exact to the micro-unit.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { QueueRow, Store, UserRow } from '../../adapters/store/store.js';
import { findGpuModel, GPU_MODELS } from '../../core/model/gpu-catalog.js';
import { parseDuration } from '../auth.js';
import { ApiError } from '../errors.js';
import type { OperationId } from '../contract/operations.js';
import * as C from '../contract/cost-schemas.js';
import type { CostLedger, CostLine } from '../../adapters/store/cost-ledger.js';
import type { BudgetState, BudgetTable } from './budgets.js';
import type { BudgetWatch } from './budget-watch.js';

export interface CostRouteDeps {
  readonly ledger: CostLedger;
  readonly budgets: BudgetTable;
  readonly watch: BudgetWatch;
  readonly store: Store;
  readonly clock: () => number;
  readonly auth: (req: FastifyRequest) => UserRow;
  readonly admin: (req: FastifyRequest) => UserRow;
  readonly audited: <T>(u: UserRow, req: FastifyRequest, action: string, target: string, detail: Record<string, unknown> | null, change: () => T) => T;
  /** The API's validation (a failure is a 400 with the code given, naming each field). */
  readonly parse: <T>(schema: z.ZodType<T>, value: unknown, code: 'BODY_INVALID' | 'QUERY_INVALID' | 'BAD_REQUEST') => T;
  readonly route: (id: OperationId, handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => void;
}


const iso = (ms: number): string => new Date(ms).toISOString();
const units = (micros: number): number => micros / 1e6;
const micros = (units: number): number => Math.round(units * 1e6);

/** `7d` (before now) or an ISO time, as ms. */
export function instant(v: string, now: number): number {
  const d = parseDuration(v);
  if (d !== null) return now - d;
  const t = Date.parse(v);
  // Date.parse rolls 2026-02-30 over to March 2: a day that does not exist is refused.
  const day = /^(\d{4})-(\d{2})-(\d{2})/.exec(v);
  const real = day !== null && !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === `${day[1]}-${day[2]}-${day[3]}`;
  if (!real) throw new ApiError('WINDOW_INVALID', `"${v}" is not a time (a calendar date and a time of day that exist)`);
  return t;
}

function lineView(l: CostLine): z.output<typeof C.CostReportSchema>['total'] {
  return { key: l.key, attempts: l.attempts, gpuHours: l.gpuSeconds / 3600, cost: units(l.costMicros), preemptedGpuHours: l.preemptedGpuSeconds / 3600, preemptedCost: units(l.preemptedCostMicros), running: l.running, idleGpuHours: l.idleGpuSeconds / 3600, idleCost: units(l.idleCostMicros) };
}

function budgetView(s: BudgetState): z.output<typeof C.BudgetSchema> {
  const b = s.budget;
  return { scope: b.scope, name: b.name, period: b.period, limit: units(b.limitMicros), mode: b.mode, spent: units(s.spentMicros), status: s.status, periodStart: iso(s.periodStart), periodEnd: iso(s.periodEnd), setAt: iso(b.setAt), setBy: b.setBy };
}

/** Whether a member sees a budget: their team's, or a queue their team owns (or any team may use). */
function visibleBudget(u: UserRow, s: BudgetState, queues: ReadonlyMap<string, QueueRow>): boolean {
  if (u.admin) return true;
  if (s.budget.scope === 'team') return s.budget.name === u.team;
  const owner = queues.get(s.budget.name)?.team;
  return owner === u.team || owner === null;
}

export function registerCostRoutes(deps: CostRouteDeps): void {
  const { route, ledger, budgets, watch, store, clock, parse } = deps;

  route('listPrices', async (req) => {
    deps.auth(req);
    return { items: ledger.prices().map((p) => ({ model: p.model, pricePerGpuHour: units(p.priceMicros), setAt: iso(p.setAt), setBy: p.setBy })) };
  });

  route('setPrice', async (req) => {
    const user = deps.admin(req);
    const { model: given } = parse(C.priceParams, req.params, 'BAD_REQUEST');
    const body = parse(C.priceBody, req.body ?? null, 'BODY_INVALID');
    const model = findGpuModel(given)?.name;
    if (!model) throw new ApiError('GPU_MODEL_UNKNOWN', `unknown GPU model "${given}" (known: ${GPU_MODELS.map((g) => g.name).join(', ')})`);
    const now = clock();
    deps.audited(user, req, 'price.set', model, { pricePerGpuHour: body.pricePerGpuHour }, () => ledger.setPrice(model, micros(body.pricePerGpuHour), now, user.name));
    return { model, pricePerGpuHour: units(micros(body.pricePerGpuHour)), setAt: iso(now), setBy: user.name };
  });

  route('getCost', async (req) => {
    const user = deps.auth(req);
    const q = parse(C.costQuery, req.query, 'QUERY_INVALID');
    const now = clock();
    const since = instant(q.since, now);
    const until = q.until === undefined ? now : instant(q.until, now);
    if (since >= until) throw new ApiError('WINDOW_INVALID', `since (${iso(since)}) must be before until (${iso(until)})`);
    const r = ledger.report({ by: q.by, since, until, limit: q.limit, ...(user.admin ? {} : { team: user.team }) });
    return { by: q.by, since: iso(since), until: iso(until), items: r.items.map(lineView), total: lineView(r.total), omitted: r.omitted, scope: user.admin ? 'all' : user.team };
  });

  route('listBudgets', async (req) => {
    const user = deps.auth(req);
    const queues = new Map(store.listQueues().map((q) => [q.name, q]));
    return { items: watch.states().filter((s) => visibleBudget(user, s, queues)).map(budgetView) };
  });

  route('putBudget', async (req) => {
    const user = deps.admin(req);
    const p = parse(C.budgetParams, req.params, 'BAD_REQUEST');
    const body = parse(C.budgetBody, req.body ?? null, 'BODY_INVALID');
    if (p.scope === 'team' && !store.getTeam(p.name)) throw new ApiError('TEAM_NOT_FOUND', `team "${p.name}" does not exist`);
    if (p.scope === 'queue' && !store.getQueue(p.name)) throw new ApiError('QUEUE_NOT_FOUND', `queue "${p.name}" does not exist`);
    const row = { scope: p.scope, name: p.name, period: body.period, limitMicros: micros(body.limit), mode: body.mode, setAt: clock(), setBy: user.name } as const;
    deps.audited(user, req, 'budget.set', `${p.scope}/${p.name}`, body, () => budgets.put(row));
    const state = watch.check().find((s) => s.budget.scope === p.scope && s.budget.name === p.name);
    return budgetView(state ?? watch.states([row])[0] as BudgetState);
  });

  route('deleteBudget', async (req) => {
    const user = deps.admin(req);
    const p = parse(C.budgetParams, req.params, 'BAD_REQUEST');
    if (!budgets.get(p.scope, p.name)) throw new ApiError('BUDGET_NOT_FOUND', `no budget for ${p.scope} "${p.name}"`);
    deps.audited(user, req, 'budget.remove', `${p.scope}/${p.name}`, null, () => budgets.remove(p.scope, p.name));
    watch.check();
    return { scope: p.scope, name: p.name, removed: true as const };
  });
}
