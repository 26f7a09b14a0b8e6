/**
 * Workload families for the openb experiment, in the spirit of the FGD paper's variants
 * (cpuXXX, gpushareXX): a pod list derived from a base list (openb default) by setting the
 * share of some kind of pod. Used to judge placement on workloads no published file covers
 * (`gantry sim openb --family ...`, bench/openb-families.ts). Each knob, when given:
 *  - `multigpu=x`: x of the whole-GPU pods ask for 2, 4 or 8 GPUs (a third each), their CPU
 *    and memory scaled with the GPU count (the rest ask for one GPU);
 *  - `constrained=x`: x of the GPU pods may run only on one or two GPU models, drawn in
 *    proportion to the cluster's GPUs of each model (so constrained demand follows supply);
 *  - `share=x`: x of the single-GPU pods ask for a share of a GPU (compute drawn from the base
 *    list's shares), the rest for a whole GPU;
 *  - `cpuonly=x`: x of all pods ask for no GPU (CPU-only pods drawn from the base list are
 *    added, or removed).
 * Deterministic: the same base list, nodes and spec give the same pods (the replay's seed then
 * shuffles and samples them as for any pod list).
 */
import { UserError } from '../../core/errors.js';
import { createRng, type Rng } from '../../core/rng.js';
import type { OpenbNode, OpenbPod } from './trace.js';

export const FAMILY_KNOBS = ['multigpu', 'constrained', 'share', 'cpuonly'] as const;
export type FamilyKnob = (typeof FAMILY_KNOBS)[number];
export type FamilySpec = Partial<Record<FamilyKnob, number>>;

/** Parses `multigpu=0.3,constrained=0.5`; every value is a fraction in [0, 1]. */
export function parseFamily(flag: string, text: string): FamilySpec {
  const spec: FamilySpec = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z]+)=([0-9.]+)$/.exec(part);
    const knob = m?.[1] as FamilyKnob | undefined;
    if (!m || !knob || !(FAMILY_KNOBS as readonly string[]).includes(knob)) {
      throw new UserError('BAD_FLAG', `${flag}: "${part}" is not KNOB=FRACTION with KNOB one of ${FAMILY_KNOBS.join(', ')}`);
    }
    const v = Number(m[2]);
    if (!Number.isFinite(v) || v < 0 || v > 1) throw new UserError('BAD_FLAG', `${flag}: ${knob}=${m[2]} is outside 0..1`);
    spec[knob] = v;
  }
  if (Object.keys(spec).length === 0) throw new UserError('BAD_FLAG', `${flag}: empty (expected e.g. multigpu=0.3,constrained=0.5)`);
  return spec;
}

export function familyName(spec: FamilySpec): string {
  return FAMILY_KNOBS.filter((k) => spec[k] !== undefined)
    .map((k) => `${k}=${spec[k]}`)
    .join(',');
}

const isGpu = (p: OpenbPod): boolean => p.gpu.kind !== 'none';

function withGpu(p: OpenbPod, gpu: OpenbPod['gpu'], scale = 1): OpenbPod {
  const total = gpu.kind === 'whole' ? gpu.count * 1000 : gpu.kind === 'share' ? gpu.milli : 0;
  return { ...p, gpu, cpuMilli: Math.round(p.cpuMilli * scale), memoryMiB: Math.round(p.memoryMiB * scale), totalMilliGpu: total };
}

/** Picks round(x * n) distinct indices out of `idx` (deterministic for the rng). */
function pick(rng: Rng, idx: number[], x: number): Set<number> {
  const a = [...idx];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j] as number, a[i] as number];
  }
  return new Set(a.slice(0, Math.round(x * a.length)));
}

export function generateFamily(base: readonly OpenbPod[], nodes: readonly OpenbNode[], spec: FamilySpec): OpenbPod[] {
  const rng = createRng(1_000_003);
  let pods = [...base];
  if (spec.cpuonly !== undefined) pods = setCpuOnly(pods, spec.cpuonly, rng);
  if (spec.share !== undefined) {
    const shares = base.flatMap((p) => (p.gpu.kind === 'share' ? [p.gpu.milli] : []));
    const single = pods.flatMap((p, i) => ((p.gpu.kind === 'whole' && p.gpu.count === 1) || p.gpu.kind === 'share' ? [i] : []));
    const chosen = pick(rng, single, spec.share);
    const isSingle = new Set(single);
    pods = pods.map((p, i) => {
      if (!isSingle.has(i)) return p;
      if (chosen.has(i)) return p.gpu.kind === 'share' ? p : withGpu(p, { kind: 'share', milli: shares.length ? (shares[rng.int(shares.length)] as number) : 500, memoryMiB: 0 });
      return p.gpu.kind === 'whole' ? p : withGpu(p, { kind: 'whole', count: 1 });
    });
  }
  if (spec.multigpu !== undefined) {
    const whole = pods.flatMap((p, i) => (p.gpu.kind === 'whole' ? [i] : []));
    const chosen = pick(rng, whole, spec.multigpu);
    pods = pods.map((p, i) => {
      if (p.gpu.kind !== 'whole') return p;
      const per = p.gpu.count;
      if (!chosen.has(i)) return per === 1 ? p : withGpu(p, { kind: 'whole', count: 1 }, 1 / per);
      const count = [2, 4, 8][rng.int(3)] as number;
      return withGpu(p, { kind: 'whole', count }, count / per);
    });
  }
  if (spec.constrained !== undefined) {
    const supply = new Map<string, number>();
    for (const n of nodes) if (n.gpuCount > 0) supply.set(n.model, (supply.get(n.model) ?? 0) + n.gpuCount);
    const models = [...supply.keys()].sort();
    const total = [...supply.values()].reduce((a, b) => a + b, 0);
    const draw = (): string => {
      let r = rng.next() * total;
      for (const m of models) if ((r -= supply.get(m) as number) < 0) return m;
      return models[models.length - 1] as string;
    };
    const gpu = pods.flatMap((p, i) => (isGpu(p) ? [i] : []));
    const chosen = pick(rng, gpu, spec.constrained);
    pods = pods.map((p, i) => {
      if (!isGpu(p)) return p;
      if (!chosen.has(i)) return p.allowedModels?.length ? { ...p, allowedModels: [] } : p;
      const a = draw();
      const b = rng.next() < 0.5 ? draw() : a;
      return { ...p, allowedModels: [...new Set([a, b])].sort() };
    });
  }
  return pods;
}

function setCpuOnly(pods: OpenbPod[], x: number, rng: Rng): OpenbPod[] {
  const cpu = pods.filter((p) => !isGpu(p));
  const gpuCount = pods.length - cpu.length;
  if (x >= 1) return cpu;
  // x = c / (c + g): the number of CPU-only pods wanted for the same GPU pods.
  const want = Math.round((x * gpuCount) / (1 - x));
  if (want <= cpu.length) {
    const keep = pick(
      rng,
      cpu.map((_, i) => i),
      cpu.length > 0 ? want / cpu.length : 0,
    );
    let k = 0;
    return pods.filter((p) => isGpu(p) || keep.has(k++));
  }
  const out = [...pods];
  for (let i = 0; cpu.length > 0 && i < want - cpu.length; i++) {
    const p = cpu[rng.int(cpu.length)] as OpenbPod;
    out.push({ ...p, id: `${p.id}-c${i}` });
  }
  return out;
}
