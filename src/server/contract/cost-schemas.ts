/**
 * Schemas of the cost routes: GPU prices, cost reports and budgets (docs/cost.md). Money is in
 * the currency the prices are set in; amounts are exact to the micro-unit (6 decimals).
 */
import { z } from 'zod';
import { NAME } from './schemas.js';
import { COST_GROUPS } from '../../adapters/store/cost-ledger.js';
import { BUDGET_PERIODS, BUDGET_SCOPES } from '../cost/budgets.js';

// Kept to the micro-unit (rounded) on the server: a multipleOf here is a rule float-based
// generators judge differently from the server.
const money = z.number().nonnegative().max(1e9);
const time = z.iso.datetime().openapi({ example: '2026-12-06T03:00:00.000Z' });
/** `7d`, `12h`, `90m`, `3600s`: that long before now; or an ISO time. */
export const DURATION_OR_TIME = /^([1-9][0-9]{0,5}[smhd]|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?Z)$/;

export const priceParams = z.strictObject({ model: z.string().min(1).max(64).openapi({ param: { description: 'a GPU model (catalog name or alias)', example: 'H100-80GB' } }) });
export const priceBody = z.strictObject({ pricePerGpuHour: money.openapi({ description: 'price of one whole GPU for one hour (kept to the micro-unit, rounded); a share or a MIG slice pays its fraction', example: 2.49 }) }).openapi('PriceSet', { example: { pricePerGpuHour: 2.49 } });
export const PriceSchema = z.object({ model: z.string(), pricePerGpuHour: z.number(), setAt: time, setBy: z.string() }).openapi('Price');
export const PriceListSchema = z.object({ items: z.array(PriceSchema) }).openapi('PriceList');

export const costQuery = z
  .strictObject({
    by: z.enum(COST_GROUPS).default('team'),
    since: z.string().max(32).regex(DURATION_OR_TIME, 'must be a duration before now (7d, 12h, 90m, 3600s) or an ISO time (2026-12-01T00:00:00Z)').default('7d'),
    until: z.string().max(32).regex(DURATION_OR_TIME, 'must be a duration before now or an ISO time').optional(),
    limit: z.coerce.number().int().min(1).max(10000).default(100).openapi({ type: 'integer', minimum: 1, maximum: 10000 }),
  })
  .openapi({ description: 'by: how to group; since/until: the window (until defaults to now); limit: the most expensive groups first' });

const CostLineSchema = z
  .object({
    key: z.string().openapi({ description: 'the team, queue, user, GPU model or job id' }),
    attempts: z.number().int(),
    gpuHours: z.number(),
    cost: z.number(),
    preemptedGpuHours: z.number().openapi({ description: 'of gpuHours, in attempts that were preempted (work done again)' }),
    preemptedCost: z.number(),
    running: z.number().int().openapi({ description: 'attempts still running (counted up to until)' }),
    idleGpuHours: z.number().openapi({ description: 'of gpuHours, GPUs held while idle (utilisation below 5% of the compute held), counted by the minute' }),
    idleCost: z.number(),
  })
  .openapi('CostLine');
export const CostReportSchema = z
  .object({ by: z.enum(COST_GROUPS), since: time, until: time, items: z.array(CostLineSchema), total: CostLineSchema, omitted: z.number().int().openapi({ description: 'groups beyond limit (in the total, not in items)' }), scope: z.string().openapi({ description: '"all" for an admin, else the caller\'s team' }) })
  .openapi('CostReport');

export const budgetParams = z.strictObject({ scope: z.enum(BUDGET_SCOPES).openapi({ param: { example: 'team' } }), name: NAME.openapi({ param: { example: 'vision' } }) });
export const budgetBody = z
  .strictObject({ period: z.enum(BUDGET_PERIODS), limit: money.openapi({ description: 'spending limit per period', example: 1000 }), mode: z.enum(['soft', 'hard']).default('soft') })
  .openapi('BudgetSet', { example: { period: 'month', limit: 1000, mode: 'hard' } });
export const BudgetSchema = z
  .object({
    scope: z.enum(BUDGET_SCOPES),
    name: z.string(),
    period: z.enum(BUDGET_PERIODS),
    limit: z.number(),
    mode: z.enum(['soft', 'hard']),
    spent: z.number(),
    status: z.enum(['ok', 'warning', 'exhausted']),
    periodStart: time,
    periodEnd: time,
    setAt: time,
    setBy: z.string(),
  })
  .openapi('Budget');
export const BudgetListSchema = z.object({ items: z.array(BudgetSchema) }).openapi('BudgetList');
export const BudgetRemovedSchema = z.object({ scope: z.enum(BUDGET_SCOPES), name: z.string(), removed: z.literal(true) }).openapi('BudgetRemoved');
