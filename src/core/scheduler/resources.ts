/** Arithmetic on resource vectors (milli-GPU, milli-CPU, MiB, and milli-GPU per model). */
import type { Resources } from './types.js';
import type { Binding } from '../model/cluster.js';
import type { Cluster } from '../model/cluster.js';
import type { PodRequest } from '../model/request.js';
import { migComputeSlices, requestMilliGpu } from '../model/request.js';

export interface MutableResources {
  gpu: number;
  cpu: number;
  memory: number;
  gpuByModel: Record<string, number>;
  gpuMig?: number;
}

export function zero(): MutableResources {
  return { gpu: 0, cpu: 0, memory: 0, gpuByModel: {} };
}

/**
 * What one job asks for or holds. A class of its own, not a literal like zero()'s: V8 gives the
 * field `gpu` of every object literal that starts with it one representation, and the queues'
 * sums and shares (fractional) make that a boxed double; every job's resources, and the job
 * record's copies of them, then cost a box per number (~100 bytes per running job:
 * docs/benchmarks.md, "Scheduler memory").
 */
class JobResources implements MutableResources {
  declare gpuMig?: number;
  constructor(
    public gpu: number,
    public cpu: number,
    public memory: number,
    public gpuByModel: Record<string, number>,
  ) {}
}

export function addInto(a: MutableResources, b: Resources, sign = 1): void {
  a.gpu += sign * b.gpu;
  a.cpu += sign * b.cpu;
  a.memory += sign * b.memory;
  const by = b.gpuByModel;
  if (by) for (const m in by) a.gpuByModel[m] = (a.gpuByModel[m] ?? 0) + sign * (by[m] as number);
  if (b.gpuMig) a.gpuMig = (a.gpuMig ?? 0) + sign * b.gpuMig;
}

/**
 * A job's GPU use per model, shared by every job with the same one (most jobs land on one
 * model): never changed in place (only the queues' sums are, by addInto). A job's own copy
 * cost ~56 bytes per running job. Bounded: past MAX_SHARED_USES it starts again.
 */
const NO_MODELS: Record<string, number> = Object.freeze({});
const sharedUses = new Map<string, Record<string, number>>();
const MAX_SHARED_USES = 4096;

function sharedUse(model: string, milli: number): Record<string, number> {
  const key = `${milli}|${model}`;
  let use = sharedUses.get(key);
  if (use === undefined) {
    if (sharedUses.size >= MAX_SHARED_USES) sharedUses.clear();
    sharedUses.set(key, (use = Object.freeze({ [model]: milli })));
  }
  return use;
}

export function requestResources(members: readonly PodRequest[]): MutableResources {
  const r = new JobResources(0, 0, 0, NO_MODELS);
  for (const m of members) {
    r.gpu += requestMilliGpu(m.gpu);
    if (m.gpu.kind === 'mig') r.gpuMig = (r.gpuMig ?? 0) + requestMilliGpu(m.gpu);
    r.cpu += m.cpuMilli;
    r.memory += m.memoryMiB;
  }
  return r;
}

/** What a set of bindings holds, with GPU usage attributed to the models it landed on. */
export function bindingResources(cluster: Cluster, bindings: readonly Binding[]): MutableResources {
  const r = new JobResources(0, 0, 0, NO_MODELS);
  const byModel: Record<string, number> = {};
  let models = 0;
  let lastModel = '';
  for (const b of bindings) {
    r.cpu += b.cpuMilli;
    r.memory += b.memoryMiB;
    const node = cluster.node(b.node);
    for (const g of b.gpus) {
      let milli = g.milli;
      if (g.mig) {
        milli = Math.round((migComputeSlices(g.mig.profile) * 1000) / 7);
        r.gpuMig = (r.gpuMig ?? 0) + milli;
      }
      r.gpu += milli;
      const model = node?.gpus[g.gpu]?.model;
      if (!model) continue;
      if (byModel[model] === undefined) models++;
      byModel[model] = (byModel[model] ?? 0) + milli;
      lastModel = model;
    }
  }
  // One model (most jobs): the shared record; several (a gang across kinds of nodes): its own.
  if (models === 1) r.gpuByModel = sharedUse(lastModel, byModel[lastModel] as number);
  else if (models > 1) r.gpuByModel = byModel;
  return r;
}

/** True when `used + add` stays within `limit` on every resource the limit names. */
export function withinLimit(used: Resources, add: Resources, limit: Partial<Resources> | undefined): boolean {
  if (!limit) return true;
  if (limit.gpu !== undefined && used.gpu + add.gpu > limit.gpu) return false;
  if (limit.cpu !== undefined && used.cpu + add.cpu > limit.cpu) return false;
  if (limit.memory !== undefined && used.memory + add.memory > limit.memory) return false;
  if (limit.gpuByModel) {
    for (const [m, v] of Object.entries(limit.gpuByModel)) {
      if ((used.gpuByModel?.[m] ?? 0) + (add.gpuByModel?.[m] ?? 0) > v) return false;
    }
  }
  return true;
}

/** The first resource on which `used + add` exceeds `limit`, for messages. */
export function exceeded(used: Resources, add: Resources, limit: Partial<Resources> | undefined): string | null {
  if (!limit) return null;
  const fmt = (m: number): string => `${(m / 1000).toFixed(m % 1000 === 0 ? 0 : 1)}`;
  if (limit.gpu !== undefined && used.gpu + add.gpu > limit.gpu) return `GPU ${fmt(used.gpu)} used + ${fmt(add.gpu)} asked > ${fmt(limit.gpu)}`;
  if (limit.cpu !== undefined && used.cpu + add.cpu > limit.cpu) return `CPU ${fmt(used.cpu)} used + ${fmt(add.cpu)} asked > ${fmt(limit.cpu)} cores`;
  if (limit.memory !== undefined && used.memory + add.memory > limit.memory) return `memory ${used.memory} MiB used + ${add.memory} asked > ${limit.memory} MiB`;
  if (limit.gpuByModel) {
    for (const [m, v] of Object.entries(limit.gpuByModel)) {
      const u = used.gpuByModel?.[m] ?? 0;
      const a = add.gpuByModel?.[m] ?? 0;
      if (u + a > v) return `${m} GPU ${fmt(u)} used + ${fmt(a)} asked > ${fmt(v)}`;
    }
  }
  return null;
}

/**
 * GPU room a binding frees when released: milli-GPU, or whole GPUs x 1000 when `whole` (only
 * its whole-GPU grants count, as for a request of whole GPUs).
 */
export function bindingGpuRoom(b: Binding, whole: boolean): number {
  let freed = 0;
  for (const g of b.gpus) freed += whole ? (g.milli >= 1000 ? 1000 : 0) : g.milli;
  return freed;
}
