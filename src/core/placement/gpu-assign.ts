/**
 * Which GPUs on a chosen node a request gets, when no score plugin decides it:
 *  - whole GPUs: the best-connected set of free GPUs (lowest worst link, then lowest total
 *    link cost, then lowest indices); without topology data, the lowest free indices;
 *  - a share: the GPU with the least free compute that still fits (then least free memory);
 *  - a MIG slice: the (GPU, start slot) that loses the least placement freedom, preferring
 *    GPUs that already hold instances, so whole GPUs stay free for big profiles.
 */
import type { PreparedRequest } from '../framework/plugin.js';
import type { GpuGrant } from '../model/cluster.js';
import type { NodeState } from '../model/node.js';
import { bestMigStart } from '../model/mig.js';

function allowedModel(p: PreparedRequest, model: string): boolean {
  return p.allowed === null || p.allowed.has(model);
}

/**
 * Free whole GPUs of an allowed model on the node, by index; all of one model, as a worker
 * never spans two (an H100 and an L4 together run at the slower one's pace, over the slowest
 * link). On a node with several models: the model with the fewest free GPUs that still hold
 * the request (best fit: larger blocks of the others stay free), else the most free.
 */
export function freeWholeGpus(p: PreparedRequest, node: NodeState): number[] {
  const out: number[] = [];
  if (node.gpuModels.length <= 1) {
    for (const g of node.gpus) if (g.wholeFree && allowedModel(p, g.model)) out.push(g.index);
    return out;
  }
  const want = p.req.gpu.kind === 'whole' ? p.req.gpu.count : 1;
  let best: number[] = [];
  for (const m of node.gpuModels) {
    if (!allowedModel(p, m)) continue;
    const set: number[] = [];
    for (const g of node.gpus) if (g.model === m && g.wholeFree) set.push(g.index);
    const fits = set.length >= want;
    const bestFits = best.length >= want;
    if ((fits && (!bestFits || set.length < best.length)) || (!fits && !bestFits && set.length > best.length)) best = set;
  }
  return best;
}

/** The most free whole GPUs of one allowed model on the node (what one worker can get). */
export function freeWholeOfOneModel(p: PreparedRequest, node: NodeState): number {
  if (node.gpuModels.length <= 1) return node.gpuModels.length === 1 && allowedModel(p, node.gpuModels[0] as string) ? node.wholeFreeCount : 0;
  let most = 0;
  for (const m of node.gpuModels) {
    if (!allowedModel(p, m)) continue;
    let n = 0;
    for (const g of node.gpus) if (g.model === m && g.wholeFree) n++;
    if (n > most) most = n;
  }
  return most;
}

/** Cost of a GPU set: [worst pairwise link, sum of pairwise links]. */
export function setCost(node: NodeState, set: readonly number[]): [number, number] {
  let worst = 0;
  let sum = 0;
  for (let i = 0; i < set.length; i++) {
    for (let j = i + 1; j < set.length; j++) {
      const l = node.link(set[i] as number, set[j] as number);
      if (l > worst) worst = l;
      sum += l;
    }
  }
  return [worst, sum];
}

/**
 * The best-connected k-subset of `free`. Exhaustive over subsets when that is small
 * (C(8,4) = 70), otherwise greedy growth from each seed GPU.
 */
export function bestConnectedSet(node: NodeState, free: readonly number[], k: number): number[] | null {
  if (free.length < k) return null;
  if (node.gpuLinks === null || k <= 1 || free.length === k) return free.slice(0, k);
  let best: number[] | null = null;
  let bestCost: [number, number] = [Infinity, Infinity];
  const consider = (set: number[]): void => {
    const c = setCost(node, set);
    if (c[0] < bestCost[0] || (c[0] === bestCost[0] && c[1] < bestCost[1])) {
      best = set;
      bestCost = c;
    }
  };
  if (free.length <= 12) {
    const pick: number[] = [];
    const rec = (start: number): void => {
      if (pick.length === k) {
        consider([...pick]);
        return;
      }
      for (let i = start; i <= free.length - (k - pick.length); i++) {
        pick.push(free[i] as number);
        rec(i + 1);
        pick.pop();
      }
    };
    rec(0);
  } else {
    for (const seed of free) {
      const set = [seed];
      while (set.length < k) {
        let bestNext = -1;
        let bestAdd = Infinity;
        for (const c of free) {
          if (set.includes(c)) continue;
          let add = 0;
          for (const s of set) add = Math.max(add, node.link(s, c) * 1000) + node.link(s, c);
          if (add < bestAdd) {
            bestAdd = add;
            bestNext = c;
          }
        }
        set.push(bestNext);
      }
      consider(set.sort((a, b) => a - b));
    }
  }
  return best;
}

/** Default share choice: least free compute that fits, then least free memory, then lowest index. */
export function bestFitShareGpu(p: PreparedRequest, node: NodeState, milli: number, memoryMiB: number): number {
  let best = -1;
  let bestMilli = Infinity;
  let bestMem = Infinity;
  for (const g of node.gpus) {
    if (!allowedModel(p, g.model) || !g.canShare(milli, memoryMiB) || g.milliFree === 0) continue;
    if (g.milliFree < bestMilli || (g.milliFree === bestMilli && g.memFree < bestMem)) {
      best = g.index;
      bestMilli = g.milliFree;
      bestMem = g.memFree;
    }
  }
  return best;
}

export function defaultAssign(p: PreparedRequest, node: NodeState): GpuGrant[] | null {
  const g = p.req.gpu;
  switch (g.kind) {
    case 'none':
      return [];
    case 'whole': {
      const set = bestConnectedSet(node, freeWholeGpus(p, node), g.count);
      if (!set) return null;
      return set.map((i) => wholeGpuGrant(i, node.gpus[i]?.memoryMiB ?? 0));
    }
    case 'share': {
      const i = bestFitShareGpu(p, node, g.milli, g.memoryMiB);
      return i < 0 ? null : [{ gpu: i, milli: g.milli, memoryMiB: g.memoryMiB }];
    }
    case 'mig': {
      let best: { gpu: number; start: number; loss: number; used: number } | null = null;
      for (const gpu of node.gpus) {
        if (gpu.mig === null || !gpu.healthy || !allowedModel(p, gpu.model)) continue;
        const prof = p.migByModel?.get(gpu.model);
        if (!prof) continue;
        const s = bestMigStart(gpu.mig, prof, gpu.migProfiles);
        if (!s) continue;
        const used = gpu.mig.smUsed;
        if (best === null || s.loss < best.loss || (s.loss === best.loss && used > best.used)) {
          best = { gpu: gpu.index, start: s.start, loss: s.loss, used };
        }
      }
      if (!best) return null;
      const gpu = node.gpus[best.gpu];
      const prof = gpu ? p.migByModel?.get(gpu.model) : undefined;
      if (!gpu || !prof) return null;
      return [{ gpu: best.gpu, milli: 0, memoryMiB: 0, mig: { profile: prof.name, start: best.start } }];
    }
  }
}

/**
 * The grant of a whole GPU: one object per (index, memory) shared by every binding that holds
 * such a GPU (grants are never changed). Each running job held its own (~48 bytes per GPU:
 * docs/benchmarks.md, "Scheduler memory"); GPU indices and memory sizes are few.
 */
const wholeGrants = new Map<number, GpuGrant[]>();

export function wholeGpuGrant(gpu: number, memoryMiB: number): GpuGrant {
  if (!Number.isInteger(gpu) || gpu < 0 || gpu >= 64) return { gpu, milli: 1000, memoryMiB };
  let byIndex = wholeGrants.get(memoryMiB);
  if (!byIndex) {
    if (wholeGrants.size >= 256) wholeGrants.clear();
    byIndex = [];
    wholeGrants.set(memoryMiB, byIndex);
  }
  return (byIndex[gpu] ??= { gpu, milli: 1000, memoryMiB });
}
