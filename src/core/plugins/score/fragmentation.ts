/**
 * The fragmentation measure behind FGD (Weng et al., ATC'23) and Gantry's own policy.
 *
 * A target workload M is a set of task classes m with popularities p_m. For a node with free
 * CPU c and free compute g_1..g_k on its GPUs, class m sees as fragmented:
 *  - all free GPU compute when m needs no GPU, the node's model is not allowed for m,
 *    c < cpu_m, or fewer than count_m GPUs have g >= gpu_m;
 *  - otherwise the compute of the GPUs with g < gpu_m (too small for m).
 * F(node) = sum_m p_m F_m(node). Placing a task should increase F as little as possible.
 */
import type { PodRequest } from '../../model/request.js';
import { findGpuModel } from '../../model/gpu-catalog.js';

export interface WorkloadClass {
  readonly cpuMilli: number;
  /** Compute per GPU in milli (1000 for whole GPUs), 0 for CPU-only classes. */
  readonly gpuMilli: number;
  readonly gpuCount: number;
  /** GPU memory per GPU in MiB (0 when the class does not ask for memory). */
  readonly gpuMemoryMiB: number;
  /** Mean host memory of the class's pods in MiB (not part of the grouping; FGD ignores it). */
  readonly memoryMiB?: number;
  readonly models: ReadonlySet<string> | null;
  readonly popularity: number;
  /** Number of pods in the source list with this shape. */
  readonly count: number;
}

/** A class's shape: what groups pods into one class. */
export type WorkloadShape = Omit<WorkloadClass, 'popularity' | 'count' | 'memoryMiB'>;

/** The grouping key of a shape (CPU, GPU compute, count, GPU memory, allowed models). */
export function shapeKeyOf(c: WorkloadShape): string {
  const modelKey = c.models ? [...c.models].sort().join('|') : '';
  return `${c.cpuMilli}/${c.gpuMilli}/${c.gpuCount}/${c.gpuMemoryMiB}/${modelKey}`;
}

/** The class shape of a request; null for MIG requests (outside F). */
export function classOf(r: PodRequest): WorkloadShape | null {
  const models = r.allowedModels && r.allowedModels.length > 0 ? new Set(r.allowedModels.map((m) => findGpuModel(m)?.name ?? m)) : null;
  switch (r.gpu.kind) {
    case 'none':
      return { cpuMilli: r.cpuMilli, gpuMilli: 0, gpuCount: 0, gpuMemoryMiB: 0, models };
    case 'whole':
      return { cpuMilli: r.cpuMilli, gpuMilli: 1000, gpuCount: r.gpu.count, gpuMemoryMiB: 0, models };
    case 'share':
      return { cpuMilli: r.cpuMilli, gpuMilli: r.gpu.milli, gpuCount: 1, gpuMemoryMiB: r.gpu.memoryMiB, models };
    case 'mig':
      return null;
  }
}

/**
 * The target workload of a pod list: group by (CPU, GPU compute, GPU count, allowed models),
 * keep the most frequent groups until they cover `coverage` of the pods, renormalise.
 * Ties in frequency: larger CPU first, then larger GPU share, count, model list (stable order).
 */
export function targetWorkload(pods: readonly PodRequest[], coverage = 0.95): WorkloadClass[] {
  const groups = new Map<string, { c: Omit<WorkloadClass, 'popularity' | 'count' | 'memoryMiB'>; n: number; mem: number; modelKey: string }>();
  let total = 0;
  for (const r of pods) {
    const c = classOf(r);
    if (!c) continue;
    const modelKey = c.models ? [...c.models].sort().join('|') : '';
    const key = `${c.cpuMilli}/${c.gpuMilli}/${c.gpuCount}/${c.gpuMemoryMiB}/${modelKey}`;
    const g = groups.get(key);
    if (g) {
      g.n++;
      g.mem += r.memoryMiB;
    } else groups.set(key, { c, n: 1, mem: r.memoryMiB, modelKey });
    total++;
  }
  const sorted = [...groups.values()].sort(
    (a, b) =>
      b.n - a.n ||
      b.c.cpuMilli - a.c.cpuMilli ||
      b.c.gpuMilli - a.c.gpuMilli ||
      b.c.gpuCount - a.c.gpuCount ||
      (a.modelKey < b.modelKey ? 1 : a.modelKey > b.modelKey ? -1 : 0),
  );
  const chosen: typeof sorted = [];
  let covered = 0;
  for (const g of sorted) {
    if (covered >= coverage * total) break;
    chosen.push(g);
    covered += g.n;
  }
  return chosen.map((g) => ({ ...g.c, memoryMiB: Math.round(g.mem / g.n), popularity: g.n / covered, count: g.n }));
}

/** The classes in flat typed arrays, for the hot loop. */
export class CompiledWorkload {
  readonly size: number;
  readonly cpu: Int32Array;
  readonly milli: Int32Array;
  readonly count: Int32Array;
  readonly mem: Int32Array;
  /** Host memory per instance in MiB (0 = unknown / not limiting). */
  readonly hostMem: Float64Array;
  readonly weight: Float64Array;
  readonly models: (ReadonlySet<string> | null)[];

  constructor(readonly classes: readonly WorkloadClass[]) {
    const n = classes.length;
    this.size = n;
    this.cpu = new Int32Array(n);
    this.milli = new Int32Array(n);
    this.count = new Int32Array(n);
    this.mem = new Int32Array(n);
    this.hostMem = new Float64Array(n);
    this.weight = new Float64Array(n);
    this.models = [];
    classes.forEach((c, i) => {
      this.cpu[i] = c.cpuMilli;
      this.milli[i] = c.gpuMilli;
      this.count[i] = c.gpuCount;
      this.mem[i] = c.gpuMemoryMiB;
      this.hostMem[i] = c.memoryMiB ?? 0;
      this.weight[i] = c.popularity;
      this.models.push(c.models);
    });
  }

  /**
   * F(node) for free CPU `cpuFree` and free compute `free[0..k)` of GPUs of `model`.
   * Memory is ignored, as in the paper.
   */
  fragmentation(cpuFree: number, free: ArrayLike<number>, k: number, model: string): number {
    let total = 0;
    for (let i = 0; i < k; i++) total += free[i] as number;
    if (total === 0) return 0;
    let f = 0;
    for (let m = 0; m < this.size; m++) {
      const w = this.weight[m] as number;
      const need = this.count[m] as number;
      if (need === 0 || cpuFree < (this.cpu[m] as number)) {
        f += w * total;
        continue;
      }
      const models = this.models[m];
      if (models && !models.has(model)) {
        f += w * total;
        continue;
      }
      const g = this.milli[m] as number;
      let fits = 0;
      let small = 0;
      for (let i = 0; i < k; i++) {
        const x = free[i] as number;
        if (x >= g) fits++;
        else small += x;
      }
      f += w * (fits >= need ? small : total);
    }
    return f;
  }
}
