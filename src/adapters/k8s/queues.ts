/**
 * The Queue custom resource (cluster-scoped, scheduling.gantry.dev/v1alpha1) as a core
 * QueueSpec. Pure. GPUs are counted in GPUs (fractions allowed, "0.5"), CPU and memory as
 * Kubernetes quantities.
 *
 *   spec: { parent?: string, quota?: {gpu?, cpu?, memory?}, limit?: {gpu?, cpu?, memory?},
 *           gpuModels?: { MODEL: {quota?, limit?} }, weight?: number, ordering?: priority | fifo,
 *           budget?: { period: day | week | month, limit: "123.45", mode?: soft | hard } }
 *
 * gpuModels keys are GPU models of the catalog (canonical name, alias, or a GFD product label
 * such as NVIDIA-H100-80GB-HBM3); the values are GPUs.
 */
import type { QueueSpec, Resources } from '../../core/scheduler/types.js';
import { parseMemoryMiB, parseMilliCpu } from '../../core/quantity.js';
import { DEFAULT_QUEUE } from './names.js';
import { catalogModel } from './inventory.js';
import { amountMicros } from './prices.js';
import { BUDGET_PERIODS, type BudgetPeriod, type BudgetTerms } from '../../core/budget-rules.js';

export interface QueueObject {
  metadata?: { name?: string; resourceVersion?: string };
  spec?: {
    parent?: string;
    quota?: Record<string, string | number>;
    limit?: Record<string, string | number>;
    gpuModels?: Record<string, ModelQuotaObject>;
    weight?: number;
    ordering?: string;
    budget?: BudgetObject;
  };
  /** Written by the scheduler; the spend part is read back by a new leader (queue-spend.ts). */
  status?: { spend?: unknown; budget?: unknown };
}

export interface BudgetObject {
  period?: string;
  limit?: string | number;
  mode?: string;
}

/** A queue's budget (spec.budget), as the shared budget rules read it. */
export type QueueBudget = BudgetTerms & { readonly scope: 'queue' };

export interface ModelQuotaObject {
  quota?: string | number;
  limit?: string | number;
}

export class QueueSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueSpecError';
  }
}

function amounts(name: string, field: string, v: Record<string, string | number> | undefined): Partial<Resources> | undefined {
  if (v === undefined) return undefined;
  const out: { gpu?: number; cpu?: number; memory?: number } = {};
  for (const [k, raw] of Object.entries(v)) {
    try {
      if (k === 'gpu') {
        const n = Number(raw);
        if (!Number.isFinite(n) || n < 0) throw new Error(`"${raw}" is not a number of GPUs`);
        out.gpu = Math.round(n * 1000);
      } else if (k === 'cpu') out.cpu = parseMilliCpu(raw);
      else if (k === 'memory') out.memory = parseMemoryMiB(raw);
      else throw new Error(`unknown resource "${k}" (use gpu, cpu, memory)`);
    } catch (e) {
      throw new QueueSpecError(`queue ${name}: spec.${field}.${k}: ${(e as Error).message}`);
    }
  }
  return out;
}

function gpuNumber(name: string, field: string, raw: unknown): number {
  const n = typeof raw === 'string' || typeof raw === 'number' ? Number(raw) : NaN;
  if (raw === '' || !Number.isFinite(n) || n < 0) throw new QueueSpecError(`queue ${name}: spec.${field}: "${String(raw)}" is not a number of GPUs`);
  return Math.round(n * 1000);
}

/** spec.gpuModels as milli-GPU per canonical model, guarantee side and limit side. */
function modelQuotas(name: string, v: Record<string, ModelQuotaObject> | undefined): { quota: Record<string, number>; limit: Record<string, number> } {
  const quota: Record<string, number> = {};
  const limit: Record<string, number> = {};
  for (const [given, q] of Object.entries(v ?? {})) {
    const model = catalogModel(given);
    if (!model) throw new QueueSpecError(`queue ${name}: spec.gpuModels: unknown GPU model "${given}" (examples: H100-80GB, A100-80GB, L4)`);
    if (model in quota || model in limit) throw new QueueSpecError(`queue ${name}: spec.gpuModels: ${model} is given twice`);
    if (typeof q !== 'object' || q === null) throw new QueueSpecError(`queue ${name}: spec.gpuModels.${given} must be an object {quota?, limit?}`);
    for (const k of Object.keys(q)) if (k !== 'quota' && k !== 'limit') throw new QueueSpecError(`queue ${name}: spec.gpuModels.${given}: unknown field "${k}" (use quota, limit)`);
    if (q.quota !== undefined) quota[model] = gpuNumber(name, `gpuModels.${given}.quota`, q.quota);
    if (q.limit !== undefined) limit[model] = gpuNumber(name, `gpuModels.${given}.limit`, q.limit);
    const g = quota[model];
    const l = limit[model];
    if (g !== undefined && l !== undefined && g > l) throw new QueueSpecError(`queue ${name}: spec.gpuModels.${given}: quota ${g / 1000} is more than limit ${l / 1000}`);
  }
  return { quota, limit };
}

function withModels(r: Partial<Resources> | undefined, models: Record<string, number>): Partial<Resources> | undefined {
  if (Object.keys(models).length === 0) return r;
  return { ...(r ?? {}), gpuByModel: models };
}

export function queueSpec(obj: QueueObject): QueueSpec {
  const name = obj.metadata?.name ?? '';
  const s = obj.spec ?? {};
  const models = modelQuotas(name, s.gpuModels);
  const guaranteed = withModels(amounts(name, 'quota', s.quota), models.quota);
  const limit = withModels(amounts(name, 'limit', s.limit), models.limit);
  if (s.weight !== undefined && (typeof s.weight !== 'number' || !(s.weight >= 0))) {
    throw new QueueSpecError(`queue ${name}: spec.weight must be a non-negative number`);
  }
  if (s.ordering !== undefined && s.ordering !== 'priority' && s.ordering !== 'fifo') {
    throw new QueueSpecError(`queue ${name}: spec.ordering must be priority or fifo`);
  }
  return {
    name,
    ...(s.parent ? { parent: s.parent } : {}),
    ...(guaranteed ? { guaranteed } : {}),
    ...(limit ? { limit } : {}),
    ...(s.weight !== undefined ? { overQuotaWeight: s.weight } : {}),
    ...(s.ordering === 'priority' || s.ordering === 'fifo' ? { ordering: s.ordering } : {}),
  };
}

/** spec.budget, checked; undefined when the queue has none. Throws QueueSpecError. */
export function queueBudget(obj: QueueObject): QueueBudget | undefined {
  const name = obj.metadata?.name ?? '';
  const b = obj.spec?.budget;
  if (b === undefined || b === null) return undefined;
  if (typeof b !== 'object') throw new QueueSpecError(`queue ${name}: spec.budget must be an object {period, limit, mode}`);
  const period = b.period;
  if (!BUDGET_PERIODS.includes(period as BudgetPeriod)) throw new QueueSpecError(`queue ${name}: spec.budget.period must be day, week or month`);
  const limitMicros = amountMicros(b.limit);
  if (limitMicros === null) throw new QueueSpecError(`queue ${name}: spec.budget.limit: "${String(b.limit)}" is not an amount (a decimal such as 1000 or 123.45)`);
  const mode = b.mode ?? 'soft';
  if (mode !== 'soft' && mode !== 'hard') throw new QueueSpecError(`queue ${name}: spec.budget.mode must be soft or hard`);
  return { scope: 'queue', name, period: period as BudgetPeriod, limitMicros, mode };
}

/**
 * The queue tree for a set of Queue objects. A `default` root queue is added when no Queue of
 * that name exists, so that pods without a queue label are scheduled. Throws QueueSpecError
 * for an invalid object (the caller keeps the previous tree).
 */
export function queueTree(objs: readonly QueueObject[]): QueueSpec[] {
  for (const o of objs) queueBudget(o); // a bad budget is refused with the rest of the tree
  const specs = objs.map(queueSpec).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (!specs.some((q) => q.name === DEFAULT_QUEUE)) specs.push({ name: DEFAULT_QUEUE });
  return specs;
}
