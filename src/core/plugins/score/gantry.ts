/**
 * Score: Gantry's default placement policy (EXPERIMENTAL: options under evaluation).
 */
import type { ScorePlugin, PreparedRequest } from '../../framework/plugin.js';
import type { NodeState } from '../../model/node.js';
import type { CompiledWorkload } from './fragmentation.js';

export interface GantryOptions {
  /** 'fgd': FGD's measure; 'cpu': usable GPUs capped by the instances free CPU allows. */
  measure?: 'fgd' | 'cpu';
  /** Whole classes: only floor(fits / count) x count GPUs are usable. */
  wholeMulti?: boolean;
  /** Quantisation of the primary (fragmentation delta). */
  quant?: 'sigmoid' | 'none' | number;
  /** Secondary criterion in [0, 1), higher better. */
  secondary?: 'none' | 'bestfit' | 'gpufit' | 'cpufit' | 'cpuratio' | 'used' | 'nodefree';
  /** Weight of the secondary when quant = none (additive). */
  secWeight?: number;
  /** Class weights: by pod count (FGD) or by GPU demand. */
  weighting?: 'pods' | 'gpu' | 'sqrt';
  /** CPU-only requests: exact delta (no quantisation). */
  cpuExact?: boolean;
  /** >0: bucket width = quantRel x the request's milli-GPU (exact for CPU-only). */
  quantRel?: number;
}

const scratch = new Float64Array(256);
const trial = new Float64Array(256);
const gpuIndex = new Int32Array(256);
const sortBuf = new Float64Array(256);

function fragX(w: CompiledWorkload, o: Required<GantryOptions>, cpuFree: number, free: Float64Array, k: number, model: string): number {
  let total = 0;
  for (let i = 0; i < k; i++) total += free[i] as number;
  if (total === 0) return 0;
  let f = 0;
  for (let m = 0; m < w.size; m++) {
    const wt = w.weight[m] as number;
    const need = w.count[m] as number;
    const cpuM = w.cpu[m] as number;
    if (need === 0 || cpuFree < cpuM) {
      f += wt * total;
      continue;
    }
    const models = w.models[m];
    if (models && !models.has(model)) {
      f += wt * total;
      continue;
    }
    const g = w.milli[m] as number;
    let fits = 0;
    let usable = 0;
    for (let i = 0; i < k; i++) {
      const x = free[i] as number;
      if (x >= g) {
        sortBuf[fits++] = x;
        usable += x;
      }
    }
    if (fits < need) {
      f += wt * total;
      continue;
    }
    let maxGpus = fits;
    if (o.wholeMulti && need > 1) maxGpus = Math.floor(fits / need) * need;
    if (o.measure === 'cpu' && cpuM > 0) {
      const inst = Math.floor(cpuFree / cpuM);
      if (inst * need < maxGpus) maxGpus = inst * need;
    }
    if (maxGpus < fits) {
      // Only maxGpus of the fitting GPUs can be reached: keep the largest.
      const arr = sortBuf.subarray(0, fits);
      arr.sort();
      usable = 0;
      for (let i = fits - maxGpus; i < fits; i++) usable += arr[i] as number;
    }
    f += wt * (total - usable);
  }
  return f;
}

export interface GantryChoice {
  delta: number;
  gpu: number;
  /** GPU free after placement on the chosen GPU (share) for best-fit GPU choice. */
  gpuLeft: number;
}

function evaluate(w: CompiledWorkload, o: Required<GantryOptions>, p: PreparedRequest, node: NodeState): GantryChoice {
  let k = 0;
  for (const g of node.gpus) {
    if (g.healthy && g.mig === null) {
      gpuIndex[k] = g.index;
      scratch[k++] = g.milliFree;
    }
  }
  const model = node.gpuModels[0] ?? '';
  const before = fragX(w, o, node.cpuFree, scratch, k, model);
  const cpuAfter = node.cpuFree - p.req.cpuMilli;
  const g = p.req.gpu;
  if (g.kind === 'share') {
    let best: GantryChoice = { delta: -Infinity, gpu: -1, gpuLeft: Infinity };
    for (let i = 0; i < k; i++) {
      const gi = gpuIndex[i] as number;
      const gpu = node.gpus[gi];
      if (!gpu || !gpu.canShare(g.milli, g.memoryMiB) || gpu.milliFree === 0) continue;
      if (p.allowed && !p.allowed.has(gpu.model)) continue;
      trial.set(scratch.subarray(0, k));
      trial[i] = (trial[i] as number) - g.milli;
      const delta = before - fragX(w, o, cpuAfter, trial, k, model);
      const left = gpu.milliFree - g.milli;
      const q = quantize(o, delta);
      const bq = quantize(o, best.delta);
      if (best.gpu < 0 || q > bq || (q === bq && left < best.gpuLeft)) best = { delta, gpu: gi, gpuLeft: left };
    }
    return best;
  }
  trial.set(scratch.subarray(0, k));
  if (g.kind === 'whole') {
    let need = g.count;
    for (let i = 0; i < k && need > 0; i++) {
      if (trial[i] === 1000 && node.gpus[gpuIndex[i] as number]?.wholeFree) {
        trial[i] = 0;
        need--;
      }
    }
  }
  return { delta: before - fragX(w, o, cpuAfter, trial, k, model), gpu: -1, gpuLeft: 0 };
}

function quantize(o: Required<GantryOptions>, delta: number): number {
  if (o.quant === 'sigmoid') return Math.trunc((1 / (1 + Math.exp(-delta / 1000))) * 100);
  if (o.quant === 'none') return delta;
  return Math.floor(delta / o.quant);
}

function secondary(o: Required<GantryOptions>, p: PreparedRequest, node: NodeState): number {
  const cpuLeft = node.cpuFree - p.req.cpuMilli;
  const gpuLeft = node.gpuMilliFreeTotal - p.milliGpu;
  const gpuCap = Math.max(1, node.gpus.length * 1000);
  switch (o.secondary) {
    case 'none':
      return 0;
    case 'bestfit':
      return 1 - 0.5 * (cpuLeft / Math.max(1, node.cpuMilli)) - 0.5 * (gpuLeft / gpuCap);
    case 'gpufit':
      return 1 - gpuLeft / gpuCap;
    case 'cpufit':
      return 1 - cpuLeft / Math.max(1, node.cpuMilli);
    case 'cpuratio': {
      // Prefer nodes whose free CPU per free GPU after placement is closest to... (stub)
      return 1 - cpuLeft / Math.max(1, node.cpuMilli);
    }
    case 'used':
      return node.podCount > 0 ? 1 : 0;
    case 'nodefree':
      return 1 - node.gpuMilliFreeTotal / gpuCap;
  }
}

export function createGantryScore(workload: CompiledWorkload, opts: GantryOptions = {}): ScorePlugin {
  const o: Required<GantryOptions> = { measure: 'cpu', wholeMulti: false, quant: 'sigmoid', secondary: 'none', secWeight: 0, weighting: 'pods', cpuExact: false, quantRel: 0, ...opts };
  if (o.weighting !== 'pods') {
    const w = workload;
    let sum = 0;
    for (let m = 0; m < w.size; m++) {
      const d = (w.milli[m] as number) * (w.count[m] as number);
      const base = (w.weight[m] as number) * (o.weighting === 'gpu' ? d / 1000 : Math.sqrt(d / 1000));
      sum += base;
    }
    const nw = new Float64Array(w.size);
    for (let m = 0; m < w.size; m++) {
      const d = (w.milli[m] as number) * (w.count[m] as number);
      nw[m] = ((w.weight[m] as number) * (o.weighting === 'gpu' ? d / 1000 : Math.sqrt(d / 1000))) / (sum || 1);
    }
    workload = Object.assign(Object.create(Object.getPrototypeOf(w) as object) as CompiledWorkload, w, { weight: nw });
  }
  return {
    name: 'Gantry',
    nodeLocal: true,
    score: (p, node) => {
      const c = evaluate(workload, o, p, node);
      if (o.cpuExact && p.milliGpu === 0) return c.delta;
      if (o.quantRel > 0) return p.milliGpu === 0 ? c.delta : Math.floor(c.delta / (o.quantRel * p.milliGpu)) + 0.999 * Math.min(0.999, Math.max(0, secondary(o, p, node)));
      const s = secondary(o, p, node);
      if (o.quant === 'none') return c.delta + o.secWeight * s;
      return quantize(o, c.delta) + Math.min(0.999, Math.max(0, s)) * 0.999;
    },
    assign: (p, node) => {
      const g = p.req.gpu;
      if (g.kind !== 'share') return null;
      const c = evaluate(workload, o, p, node);
      return c.gpu < 0 ? null : [{ gpu: c.gpu, milli: g.milli, memoryMiB: g.memoryMiB }];
    },
  };
}
