/**
 * The Queue custom resource (cluster-scoped, scheduling.gantry.dev/v1alpha1) as a core
 * QueueSpec. Pure. GPUs are counted in GPUs (fractions allowed, "0.5"), CPU and memory as
 * Kubernetes quantities.
 *
 *   spec: { parent?: string, quota?: {gpu?, cpu?, memory?}, limit?: {gpu?, cpu?, memory?},
 *           gpuModels?: { MODEL: {quota?, limit?} }, weight?: number, ordering?: priority | fifo }
 *
 * gpuModels keys are GPU models of the catalog (canonical name, alias, or a GFD product label
 * such as NVIDIA-H100-80GB-HBM3); the values are GPUs.
 */
import type { QueueSpec, Resources } from '../../core/scheduler/types.js';
import { parseMemoryMiB, parseMilliCpu } from '../../core/quantity.js';
import { DEFAULT_QUEUE } from './names.js';
import { findGpuModel } from '../../core/model/gpu-catalog.js';
import { modelFromProduct } from './inventory.js';

export interface QueueObject {
  metadata?: { name?: string; resourceVersion?: string };
  spec?: {
    parent?: string;
    quota?: Record<string, string | number>;
    limit?: Record<string, string | number>;
    gpuModels?: Record<string, ModelQuotaObject>;
    weight?: number;
    ordering?: string;
  };
}

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
    const model = findGpuModel(given)?.name ?? findGpuModel(modelFromProduct(given))?.name;
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

/**
 * The queue tree for a set of Queue objects. A `default` root queue is added when no Queue of
 * that name exists, so that pods without a queue label are scheduled. Throws QueueSpecError
 * for an invalid object (the caller keeps the previous tree).
 */
export function queueTree(objs: readonly QueueObject[]): QueueSpec[] {
  const specs = objs.map(queueSpec).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (!specs.some((q) => q.name === DEFAULT_QUEUE)) specs.push({ name: DEFAULT_QUEUE });
  return specs;
}
