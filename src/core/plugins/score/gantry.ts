/**
 * Score: Gantry's default placement policy, a CPU-aware fragmentation gradient.
 *
 * What it scores. Like FGD (Weng et al., ATC'23; fgd.ts), how much a placement increases the
 * node's expected fragmentation F = sum_m p_m F_m over a target workload of task classes m
 * (popularity p_m): the smaller the increase, the higher the score. F_m is the free GPU
 * compute on the node that class m could not use. Gantry measures it as FGD does, except:
 *  - CPU and memory strand GPUs. FGD counts every GPU with room for m as usable as soon as
 *    the node has CPU for ONE instance of m. Here the usable GPUs are capped by the number of
 *    instances of m that the node's free CPU and host memory can still feed (the largest
 *    fitting GPUs are the ones kept): 8 free GPUs and 20 free cores feed only two 10-core
 *    tasks, so 6 GPUs are stranded for that class. CPU-heavy requests (CPU-only pods above
 *    all) then go where CPU is plentiful relative to the free GPUs, instead of starving GPU
 *    nodes of CPU. On openb this is worth 0.5 to 2.5 points of unallocated GPU over FGD.
 *  - A GPU is usable by m only if its free GPU memory covers m's (memory shares), a whole
 *    class needs fully free GPUs, a class of c GPUs uses only multiples of c, and allowed
 *    models are checked per GPU (mixed nodes).
 *
 * Resolution and tie-break. F is an expectation over a workload estimated from a sample, so
 * changes of F are compared in buckets of `resolution` milli-GPU (default 15, 1.5 % of a GPU):
 * nodes in the same bucket are equally good, and the placer takes the first in name order.
 * That first-fit is deliberate: a fixed order makes every request shape fill the same nodes
 * first, so shapes mix on a node and whole nodes stay free for big requests. An exact gradient
 * packs shares worse, and best-fit tie-breaks did worse than name order on openb; bucket widths
 * from 10 to 25 milli-GPU give the same results within noise there, wider ones lose where CPU
 * is scarce (docs/placement.md).
 * CPU-only requests break ties by the node's allocated GPU share (CPU on a node whose GPUs are
 * all taken is CPU that no GPU task needs; a node without GPUs counts as fully allocated).
 *
 * Beyond openb:
 *  - multi-GPU whole requests prefer, before anything else, the node whose best-connected free
 *    set has the best worst link (NVLink over PCIe); the set itself is chosen by the default
 *    assignment (gpu-assign.ts);
 *  - MIG requests do not change F's GPUs (MIG GPUs are outside it), only CPU; ties go to the
 *    slot that loses the least MIG placement freedom, on a GPU already partitioned;
 *  - shares go to the GPU with the best change of F, then the least free compute left, then
 *    the least free memory left (this plugin assigns it);
 *  - with an empty target workload F is always 0, and the score falls back to best fit
 *    (least free GPU, then CPU, left on the node), which also keeps CPU-only pods off free GPUs.
 *
 * Node-local and pure: the score depends only on the request and the node, so the placer's
 * per-node cache stays valid. F before placement is cached per node generation.
 */
import type { ScorePlugin, PreparedRequest } from '../../framework/plugin.js';
import type { NodeState } from '../../model/node.js';
import type { GpuGrant } from '../../model/cluster.js';
import { bestMigStart } from '../../model/mig.js';
import { bestConnectedSet, freeWholeGpus, setCost } from '../../placement/gpu-assign.js';
import type { CompiledWorkload } from './fragmentation.js';
import type { WorkloadSource } from './online-workload.js';

export interface GantryScoreOptions {
  /** Width in milli-GPU of the buckets in which changes of F are compared (default 15). */
  readonly resolution?: number;
}

/** A node's usable GPUs (healthy, not MIG) sorted by free compute, largest first. */
interface GpuView {
  k: number;
  readonly compute: Float64Array;
  readonly memory: Float64Array;
  /** 1 when the GPU is entirely free (usable as a whole GPU). */
  readonly whole: Uint8Array;
  /** GPU index on the node. */
  readonly index: Int32Array;
  /** Model of each entry. */
  readonly model: string[];
}

function newView(size: number): GpuView {
  return {
    k: 0,
    compute: new Float64Array(size),
    memory: new Float64Array(size),
    whole: new Uint8Array(size),
    index: new Int32Array(size),
    model: new Array<string>(size).fill(''),
  };
}

function fillView(node: NodeState, v: GpuView): void {
  let k = 0;
  for (const g of node.gpus) {
    if (!g.healthy || g.mig !== null) continue;
    // Insertion by free compute, descending (nodes have few GPUs).
    let j = k++;
    while (j > 0 && (v.compute[j - 1] as number) < g.milliFree) {
      copyEntry(v, j - 1, v, j);
      j--;
    }
    v.compute[j] = g.milliFree;
    v.memory[j] = g.memFree;
    v.whole[j] = g.wholeFree ? 1 : 0;
    v.index[j] = g.index;
    v.model[j] = g.model;
  }
  v.k = k;
}

function copyEntry(from: GpuView, i: number, to: GpuView, j: number): void {
  to.compute[j] = from.compute[i] as number;
  to.memory[j] = from.memory[i] as number;
  to.whole[j] = from.whole[i] as number;
  to.index[j] = from.index[i] as number;
  to.model[j] = from.model[i] as string;
}

function copyView(from: GpuView, to: GpuView): void {
  for (let i = 0; i < from.k; i++) copyEntry(from, i, to, i);
  to.k = from.k;
}

/** Restores descending order after entry `i` decreased. */
function sinkEntry(v: GpuView, i: number): void {
  let j = i;
  while (j + 1 < v.k && (v.compute[j + 1] as number) > (v.compute[j] as number)) {
    swap(v, j, j + 1);
    j++;
  }
}

function swap(v: GpuView, a: number, b: number): void {
  const c = v.compute[a] as number;
  v.compute[a] = v.compute[b] as number;
  v.compute[b] = c;
  const m = v.memory[a] as number;
  v.memory[a] = v.memory[b] as number;
  v.memory[b] = m;
  const w = v.whole[a] as number;
  v.whole[a] = v.whole[b] as number;
  v.whole[b] = w;
  const x = v.index[a] as number;
  v.index[a] = v.index[b] as number;
  v.index[b] = x;
  const s = v.model[a] as string;
  v.model[a] = v.model[b] as string;
  v.model[b] = s;
}

/**
 * F for a node with free CPU `cpuFree`, free host memory `memFree` and usable GPUs `v`.
 * `singleModel` is the node's only GPU model, or null when it mixes models.
 */
function strandedFragmentation(w: CompiledWorkload, v: GpuView, cpuFree: number, memFree: number, singleModel: string | null): number {
  const k = v.k;
  let total = 0;
  for (let i = 0; i < k; i++) total += v.compute[i] as number;
  if (total === 0) return 0;
  let f = 0;
  for (let m = 0; m < w.size; m++) {
    const wt = w.weight[m] as number;
    const count = w.count[m] as number;
    const cpu = w.cpu[m] as number;
    const hostMem = w.hostMem[m] as number;
    const models = w.models[m] ?? null;
    if (count === 0 || cpuFree < cpu || memFree < hostMem || (models !== null && singleModel !== null && !models.has(singleModel))) {
      f += wt * total;
      continue;
    }
    // Instances of m that the node's CPU and memory can feed.
    let instances = Infinity;
    if (cpu > 0) instances = Math.floor(cpuFree / cpu);
    if (hostMem > 0) instances = Math.min(instances, Math.floor(memFree / hostMem));
    const g = w.milli[m] as number;
    const gmem = w.mem[m] as number;
    const wholeClass = g >= 1000;
    let fits = 0;
    for (let i = 0; i < k; i++) {
      const x = v.compute[i] as number;
      if (x < g || x === 0) break; // sorted: no later GPU fits either
      if (wholeClass ? v.whole[i] === 0 : (v.memory[i] as number) < gmem) continue;
      if (models !== null && singleModel === null && !models.has(v.model[i] as string)) continue;
      fits++;
    }
    let reach = count > 1 ? Math.floor(fits / count) * count : fits;
    if (reach === 0) {
      f += wt * total;
      continue;
    }
    if (instances * count < reach) reach = instances * count;
    // Usable: the `reach` largest fitting GPUs (the view is sorted, so the first ones).
    let usable = 0;
    for (let i = 0, taken = 0; i < k && taken < reach; i++) {
      const x = v.compute[i] as number;
      if (wholeClass ? v.whole[i] === 0 : (v.memory[i] as number) < gmem) continue;
      if (models !== null && singleModel === null && !models.has(v.model[i] as string)) continue;
      usable += x;
      taken++;
    }
    f += wt * (total - usable);
  }
  return f;
}

interface Evaluation {
  /** F before minus F after (larger is better). */
  delta: number;
  /** GPU index for a share, -1 otherwise. */
  gpu: number;
}

export function createGantryScore(source: WorkloadSource, opts: GantryScoreOptions = {}): ScorePlugin {
  const resolution = opts.resolution ?? 15;
  // The workload the cached F values were computed under (learned online, it changes).
  let workload: CompiledWorkload = source.compiled;
  let version = source.version;
  const current = (): CompiledWorkload => {
    if (source.version !== version) {
      version = source.version;
      workload = source.compiled;
      cachedGen.fill(-1);
    }
    return workload;
  };
  let view = newView(16);
  let trial = newView(16);
  // F before placement, per node slot, valid while the node's generation is unchanged.
  let cachedGen = new Float64Array(0);
  let cachedF = new Float64Array(0);

  const ensureView = (node: NodeState): void => {
    if (node.gpus.length <= view.compute.length) return;
    view = newView(node.gpus.length);
    trial = newView(node.gpus.length);
  };

  const fragmentationBefore = (node: NodeState, single: string | null): number => {
    const slot = node.slot;
    if (slot >= 0 && slot < cachedGen.length && cachedGen[slot] === node.generation) return cachedF[slot] as number;
    const f = strandedFragmentation(workload, view, node.cpuFree, node.memFree, single);
    if (slot >= 0) {
      if (slot >= cachedGen.length) {
        const n = Math.max(slot + 1, cachedGen.length * 2, 64);
        const g = new Float64Array(n);
        g.set(cachedGen);
        const c = new Float64Array(n);
        c.set(cachedF);
        cachedGen = g;
        cachedF = c;
      }
      cachedGen[slot] = node.generation;
      cachedF[slot] = f;
    }
    return f;
  };

  /** The bucket of a change of F (a small epsilon absorbs floating-point noise at edges). */
  const bucket = (delta: number): number => (resolution > 0 ? Math.floor(delta / resolution + 1e-9) : delta);

  const evaluate = (p: PreparedRequest, node: NodeState): Evaluation => {
    ensureView(node);
    fillView(node, view);
    const single = node.gpuModels.length === 1 ? (node.gpuModels[0] as string) : null;
    const before = fragmentationBefore(node, single);
    const cpuAfter = node.cpuFree - p.req.cpuMilli;
    const memAfter = node.memFree - p.req.memoryMiB;
    const g = p.req.gpu;
    if (g.kind === 'share') {
      let best: Evaluation = { delta: -Infinity, gpu: -1 };
      let bestBucket = -Infinity;
      let bestLeft = Infinity;
      let bestMem = Infinity;
      for (let i = 0; i < view.k; i++) {
        const c = view.compute[i] as number;
        const mem = view.memory[i] as number;
        if (c < g.milli || c === 0 || mem < g.memoryMiB) continue;
        if (p.allowed !== null && !p.allowed.has(view.model[i] as string)) continue;
        // GPUs in the same state give the same result: evaluate one of each.
        let seen = false;
        for (let j = 0; j < i && !seen; j++) {
          seen = view.compute[j] === c && view.memory[j] === mem && view.whole[j] === view.whole[i] && view.model[j] === view.model[i];
        }
        if (seen) continue;
        copyView(view, trial);
        trial.compute[i] = c - g.milli;
        trial.memory[i] = mem - g.memoryMiB;
        trial.whole[i] = 0;
        sinkEntry(trial, i);
        const delta = before - strandedFragmentation(workload, trial, cpuAfter, memAfter, single);
        const b = bucket(delta);
        const left = c - g.milli;
        const leftMem = mem - g.memoryMiB;
        if (b > bestBucket || (b === bestBucket && (left < bestLeft || (left === bestLeft && leftMem < bestMem)))) {
          best = { delta, gpu: view.index[i] as number };
          bestBucket = b;
          bestLeft = left;
          bestMem = leftMem;
        }
      }
      return best;
    }
    copyView(view, trial);
    if (g.kind === 'whole') {
      // Which whole GPUs are taken does not change F (they are alike); zero `count` of them.
      let need = g.count;
      for (let i = 0; i < trial.k && need > 0; i++) {
        if (trial.whole[i] === 1 && (p.allowed === null || p.allowed.has(trial.model[i] as string))) {
          trial.compute[i] = 0;
          trial.memory[i] = 0;
          trial.whole[i] = 0;
          need--;
        }
      }
      // Zeroed entries sink to the end.
      for (let i = trial.k - 1; i >= 0; i--) sinkEntry(trial, i);
    }
    return { delta: before - strandedFragmentation(workload, trial, cpuAfter, memAfter, single), gpu: -1 };
  };

  return {
    name: 'Gantry',
    nodeLocal: true,
    score(p, node) {
      const workload = current();
      const g = p.req.gpu;
      let s = workload.size === 0 && g.kind !== 'mig' ? bestFitFallback(p, node) : bucket(evaluate(p, node).delta);
      if (g.kind === 'whole' && g.count > 1) s -= TOPOLOGY_WEIGHT * worstLink(p, node, g.count);
      if (g.kind === 'mig') s += migPreference(p, node);
      if (g.kind === 'none' && workload.size > 0) s += 0.999 * allocatedGpuShare(node);
      return s;
    },
    assign(p, node): GpuGrant[] | null {
      const g = p.req.gpu;
      if (g.kind !== 'share') return null;
      if (current().size === 0) return null; // default: the best-fitting GPU
      const e = evaluate(p, node);
      return e.gpu < 0 ? null : [{ gpu: e.gpu, milli: g.milli, memoryMiB: g.memoryMiB }];
    },
  };
}

/** Topology outranks fragmentation for multi-GPU requests: one link level is worth this much. */
const TOPOLOGY_WEIGHT = 1e6;

/** Worst pairwise link of the best-connected free set for `count` GPUs (LINK units). */
function worstLink(p: PreparedRequest, node: NodeState, count: number): number {
  const set = bestConnectedSet(node, freeWholeGpus(p, node), count);
  return set === null ? 0 : setCost(node, set)[0];
}

/**
 * In [0, 1): the MIG placement freedom the best slot keeps (less loss is better), then a GPU
 * already partitioned over an empty one. Added to the bucket, so it only breaks ties.
 */
function migPreference(p: PreparedRequest, node: NodeState): number {
  let bestLoss = Infinity;
  let used = 0;
  for (const gpu of node.gpus) {
    if (gpu.mig === null || !gpu.healthy || (p.allowed !== null && !p.allowed.has(gpu.model))) continue;
    const prof = p.migByModel?.get(gpu.model);
    if (!prof) continue;
    const s = bestMigStart(gpu.mig, prof, gpu.migProfiles);
    if (!s) continue;
    const u = gpu.mig.smUsed > 0 ? 1 : 0;
    if (s.loss < bestLoss || (s.loss === bestLoss && u > used)) {
      bestLoss = s.loss;
      used = u;
    }
  }
  if (bestLoss === Infinity) return 0;
  return ((1000 - Math.min(bestLoss, 999)) * 2 + used) / 2002;
}

/** Allocated share of the node's usable GPUs, 1 for a node without GPUs. */
function allocatedGpuShare(node: NodeState): number {
  const gpus = node.healthyGpus - node.migGpus;
  return gpus > 0 ? 1 - node.gpuMilliFreeTotal / (gpus * 1000) : 1;
}

/**
 * Best fit, for when there is no target workload: the least free GPU left on the node (as a
 * share of its GPUs; CPU-only pods thus avoid nodes with free GPUs), then the least CPU left.
 */
function bestFitFallback(p: PreparedRequest, node: NodeState): number {
  const gpus = node.healthyGpus - node.migGpus;
  const gpuLeft = gpus > 0 ? (node.gpuMilliFreeTotal - p.milliGpu) / (gpus * 1000) : 0;
  const cpuLeft = node.cpuMilli > 0 ? (node.cpuFree - p.req.cpuMilli) / node.cpuMilli : 0;
  return -(gpuLeft * 1000 + cpuLeft);
}
