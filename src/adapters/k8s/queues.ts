/**
 * The Queue custom resource (cluster-scoped, scheduling.gantry.dev/v1alpha1) as a core
 * QueueSpec. Pure. GPUs are counted in GPUs (fractions allowed, "0.5"), CPU and memory as
 * Kubernetes quantities.
 *
 *   spec: { parent?: string, quota?: {gpu?, cpu?, memory?}, limit?: {gpu?, cpu?, memory?},
 *           weight?: number, ordering?: priority | fifo }
 */
import type { QueueSpec, Resources } from '../../core/scheduler/types.js';
import { parseMemoryMiB, parseMilliCpu } from '../../core/quantity.js';
import { DEFAULT_QUEUE } from './names.js';

export interface QueueObject {
  metadata?: { name?: string; resourceVersion?: string };
  spec?: {
    parent?: string;
    quota?: Record<string, string | number>;
    limit?: Record<string, string | number>;
    weight?: number;
    ordering?: string;
  };
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

export function queueSpec(obj: QueueObject): QueueSpec {
  const name = obj.metadata?.name ?? '';
  const s = obj.spec ?? {};
  const guaranteed = amounts(name, 'quota', s.quota);
  const limit = amounts(name, 'limit', s.limit);
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
