/**
 * Pods as the core sees them (pure): the request (CPU, memory, and one GPU request: whole GPUs
 * from `nvidia.com/gpu`, a MIG slice from `nvidia.com/mig-<profile>`, or a share from the
 * `gantry.dev/gpu-fraction` / `gantry.dev/gpu-memory` annotations), its queue, priority and
 * gang; and the GPU assignment annotation Gantry writes when it binds (read back on restart).
 */
import type { V1Container, V1Pod, V1Toleration } from '@kubernetes/client-node';
import type { GpuRequest, PodRequest, Toleration } from '../../core/model/request.js';
import type { Binding, GpuGrant } from '../../core/model/cluster.js';
import type { NodeState } from '../../core/model/node.js';
import { findGpuModel } from '../../core/model/gpu-catalog.js';
import { wholeGpuGrant } from '../../core/placement/gpu-assign.js';
import { parseMemoryMiB, parseMilliCpu } from '../../core/quantity.js';
import {
  ANN_ASSIGNMENT, ANN_CHECKPOINT, ANN_DATASETS, ANN_GANG_PLAN, ANN_GPU_FRACTION, ANN_GPU_MEMORY, ANN_GPU_MODELS, ANN_PREEMPTIBLE, DEFAULT_QUEUE, POD_GROUP_LABEL,
  POD_GROUP_LABEL_LEGACY, QUEUE_LABEL, RES_GPU, SCHEDULER_NAME,
} from './names.js';
import { migProfileFromResource, migProfileLabel, modelFromProduct } from './inventory.js';

/** A pod spec Gantry cannot schedule; the message is shown to the user (Event, webhook denial). */
export class PodSpecError extends Error {
  constructor(
    message: string,
    /** The Event reason shown on the pod. */
    readonly reason: 'InvalidGpuRequest' | 'UnsupportedPodSpec' = 'InvalidGpuRequest',
  ) {
    super(message);
    this.name = 'PodSpecError';
  }
}

/**
 * Placement constraints Gantry does not evaluate yet must not be ignored silently (the pod would
 * land where it must not): a required node affinity that is a plain conjunction of `key In
 * [one value]` becomes a node selector; anything else, and required pod (anti-)affinity, is
 * refused with the reason.
 */
function affinitySelector(pod: V1Pod): Record<string, string> {
  const aff = pod.spec?.affinity;
  const unsupported = (what: string): PodSpecError =>
    new PodSpecError(`${what} is not supported by the gantry scheduler yet; use nodeSelector (with gantry.dev/* or your own node labels)`, 'UnsupportedPodSpec');
  if (aff?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.length) throw unsupported('required pod affinity');
  if (aff?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.length) throw unsupported('required pod anti-affinity');
  const terms = aff?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  if (terms.length === 0) return {};
  const only = terms[0];
  if (terms.length > 1 || !only || (only.matchFields?.length ?? 0) > 0) throw unsupported('required node affinity with several terms or matchFields');
  const out: Record<string, string> = {};
  for (const e of only.matchExpressions ?? []) {
    const v = e.values?.[0];
    if (e.operator !== 'In' || e.values?.length !== 1 || v === undefined || (out[e.key] !== undefined && out[e.key] !== v)) {
      throw unsupported(`required node affinity "${e.key} ${e.operator} [${(e.values ?? []).join(', ')}]"`);
    }
    out[e.key] = v;
  }
  return out;
}

/** `namespace/name`; a slim pod (slim.ts) carries it, made once, so that every map keyed by it shares one string. */
export function podKey(pod: V1Pod): string {
  return (pod as { readonly key?: string }).key ?? `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

/** The job id of a single pod: one string per pod however often it is asked for. */
export function singlePodJobId(podKey: string): string {
  return internString(singlePodJobKey(podKey));
}

/** The same id as a new string, to look the job up with (a lookup keeps no copy: nothing to share). */
export function singlePodJobKey(podKey: string): string {
  return `pod:${podKey}`;
}

/**
 * The one copy of a string that V8 keeps in its string table (property names are kept there;
 * weakly: it goes when nothing else holds it). Keys built by concatenation are otherwise a new
 * pair of objects per call (~70 bytes each time one is stored).
 */
export function internString(s: string): string {
  const o: Record<string, 0> = { [s]: 0 };
  for (const k in o) return k;
  return s;
}

export function isGantryPod(pod: V1Pod): boolean {
  return pod.spec?.schedulerName === SCHEDULER_NAME;
}

export function isTerminal(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

export function podGroupName(pod: V1Pod): string | undefined {
  const l = pod.metadata?.labels ?? {};
  return l[POD_GROUP_LABEL] ?? l[POD_GROUP_LABEL_LEGACY];
}

export function podQueue(pod: V1Pod): string {
  return pod.metadata?.labels?.[QUEUE_LABEL] ?? DEFAULT_QUEUE;
}

function quantity(v: unknown, parse: (s: string) => number, what: string): number {
  if (v === undefined || v === null) return 0;
  try {
    return parse(String(v));
  } catch (e) {
    throw new PodSpecError(`${what}: ${(e as Error).message}`);
  }
}

function containerRequest(c: V1Container, res: string, parse: (s: string) => number): number {
  const r = c.resources?.requests?.[res] ?? c.resources?.limits?.[res];
  return quantity(r, parse, `container ${c.name} ${res}`);
}

function extended(c: V1Container, res: string): number {
  const v = c.resources?.limits?.[res] ?? c.resources?.requests?.[res];
  if (v === undefined) return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new PodSpecError(`container ${c.name} asks for ${v} ${res}: must be a whole number`);
  return n;
}

/** Effective request of a pod: the sum over containers, or the largest init container if larger. */
function effective(pod: V1Pod, f: (c: V1Container) => number): number {
  const sum = (pod.spec?.containers ?? []).reduce((a, c) => a + f(c), 0);
  const init = (pod.spec?.initContainers ?? []).reduce((a, c) => Math.max(a, f(c)), 0);
  return Math.max(sum, init);
}

export function parseFraction(raw: string): number {
  const f = Number(raw.trim());
  if (raw.trim() === '' || !Number.isFinite(f) || f <= 0 || f >= 1) {
    throw new PodSpecError(`${ANN_GPU_FRACTION}="${raw}" must be a number between 0 and 1 (exclusive), e.g. "0.5"; ask for whole GPUs with ${RES_GPU}`);
  }
  const milli = Math.round(f * 1000);
  if (milli < 1) throw new PodSpecError(`${ANN_GPU_FRACTION}="${raw}" is below 0.001 of a GPU`);
  return milli;
}

export function parseGpuMemory(raw: string): number {
  const s = raw.trim();
  try {
    const mib = /^[0-9]+$/.test(s) ? Number(s) : parseMemoryMiB(s);
    if (mib <= 0) throw new Error('zero');
    return mib;
  } catch {
    throw new PodSpecError(`${ANN_GPU_MEMORY}="${raw}" must be a memory size such as "20Gi" or a number of MiB such as "20480"`);
  }
}

export function gpuRequestOf(pod: V1Pod): GpuRequest {
  const ann = pod.metadata?.annotations ?? {};
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  const whole = effective(pod, (c) => extended(c, RES_GPU));
  const migs = new Map<string, number>();
  for (const c of containers) {
    for (const res of new Set([...Object.keys(c.resources?.limits ?? {}), ...Object.keys(c.resources?.requests ?? {})])) {
      const profile = migProfileFromResource(res);
      if (profile !== null) migs.set(profile, (migs.get(profile) ?? 0) + extended(c, res));
    }
  }
  const fraction = ann[ANN_GPU_FRACTION];
  const memory = ann[ANN_GPU_MEMORY];
  const kinds = [whole > 0, [...migs.values()].some((n) => n > 0), fraction !== undefined || memory !== undefined].filter(Boolean).length;
  if (kinds > 1) {
    throw new PodSpecError(`pod asks for more than one kind of GPU (${RES_GPU}, nvidia.com/mig-*, ${ANN_GPU_FRACTION}/${ANN_GPU_MEMORY}); choose one`);
  }
  if (fraction !== undefined || memory !== undefined) {
    const milli = fraction !== undefined ? parseFraction(fraction) : 0;
    const memoryMiB = memory !== undefined ? parseGpuMemory(memory) : 0;
    return { kind: 'share', milli, memoryMiB };
  }
  const migList = [...migs.entries()].filter(([, n]) => n > 0);
  if (migList.length > 0) {
    const [first] = migList;
    if (migList.length > 1 || (first && first[1] !== 1)) throw new PodSpecError('a pod may ask for one MIG slice (nvidia.com/mig-<profile>: 1); use a gang for more');
    return { kind: 'mig', profile: (first as [string, number])[0] };
  }
  if (whole > 0) return wholeGpus(whole);
  return NO_GPU;
}

/** Requests of whole GPUs are few and never changed: one object per count, shared by every pod. */
const NO_GPU: GpuRequest = { kind: 'none' };
const WHOLE_GPUS: GpuRequest[] = [];
function wholeGpus(count: number): GpuRequest {
  if (count > 64) return { kind: 'whole', count };
  return (WHOLE_GPUS[count] ??= { kind: 'whole', count });
}

/**
 * What a pod that is already bound holds, for booking it (restart, pods bound by others):
 * its resources only, never its placement constraints, so that a constraint Gantry would refuse
 * does not make a running pod's GPUs look free.
 */
export function boundPodRequest(pod: V1Pod): PodRequest {
  const lenient = (f: () => number): number => {
    try {
      return f();
    } catch {
      return 0;
    }
  };
  let gpu: GpuRequest;
  try {
    gpu = gpuRequestOf(pod);
  } catch {
    const whole = lenient(() => effective(pod, (c) => extended(c, RES_GPU)));
    gpu = whole > 0 ? wholeGpus(whole) : NO_GPU;
  }
  return {
    id: podKey(pod),
    cpuMilli: lenient(() => effective(pod, (c) => containerRequest(c, 'cpu', parseMilliCpu))),
    memoryMiB: lenient(() => effective(pod, (c) => containerRequest(c, 'memory', parseMemoryMiB))),
    gpu,
  };
}

export function podRequest(pod: V1Pod): PodRequest {
  const ann = pod.metadata?.annotations ?? {};
  const cpuMilli = effective(pod, (c) => containerRequest(c, 'cpu', parseMilliCpu));
  const memoryMiB = effective(pod, (c) => containerRequest(c, 'memory', parseMemoryMiB));
  const gpu = gpuRequestOf(pod);
  const models = ann[ANN_GPU_MODELS];
  const allowedModels = models
    ?.split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '')
    .map((m) => findGpuModel(m)?.name ?? modelFromProduct(m));
  const tolerations = coreTolerations(pod.spec?.tolerations ?? NO_TOLERATIONS);
  const datasets = datasetNames(ann[ANN_DATASETS]);
  const fromAffinity = affinitySelector(pod);
  const merged = Object.keys(fromAffinity).length > 0 ? { ...pod.spec?.nodeSelector, ...fromAffinity } : pod.spec?.nodeSelector;
  const nodeSelector = gpu.kind === 'mig' ? { ...merged, [migProfileLabel(gpu.profile)]: 'true' } : merged;
  return {
    id: podKey(pod),
    cpuMilli,
    memoryMiB,
    gpu,
    ...(allowedModels && allowedModels.length > 0 ? { allowedModels } : {}),
    ...(nodeSelector ? { nodeSelector } : {}),
    ...(tolerations.length > 0 ? { tolerations } : {}),
    ...(datasets.length > 0 ? { datasets } : {}),
  };
}

const NO_TOLERATIONS: V1Toleration[] = [];
/**
 * The core's tolerations of each list of the API's, made once per list: the slim pods of one
 * shape share their list (slim.ts), and so share the core's copy too (each pod's own copy, with
 * objects built by spreads, cost ~500 bytes per pod: docs/benchmarks.md, "Scheduler memory").
 */
const tolerationsOf = new WeakMap<readonly V1Toleration[], readonly Toleration[]>();

function coreTolerations(list: readonly V1Toleration[]): readonly Toleration[] {
  const known = tolerationsOf.get(list);
  if (known) return known;
  const out = list.map((t) => {
    const c: { key?: string; operator?: 'Exists' | 'Equal'; value?: string; effect?: Toleration['effect'] } = {};
    if (t.key !== undefined) c.key = t.key;
    if (t.operator === 'Exists' || t.operator === 'Equal') c.operator = t.operator;
    if (t.value !== undefined) c.value = t.value;
    if (t.effect === 'NoSchedule' || t.effect === 'PreferNoSchedule' || t.effect === 'NoExecute') c.effect = t.effect;
    return c as Toleration;
  });
  tolerationsOf.set(list, out);
  return out;
}

export function podPriority(pod: V1Pod): number {
  return pod.spec?.priority ?? 0;
}

export function podPreemptible(pod: V1Pod): boolean {
  return pod.metadata?.annotations?.[ANN_PREEMPTIBLE] !== 'false';
}

/**
 * The checkpoint policy of a pod annotated `gantry.dev/checkpoint: "true"`: it saves when sent
 * SIGTERM, within its terminationGracePeriodSeconds (default 30). Such pods are the ones
 * consolidation may move (evicted, their owner makes a new pod that resumes from the checkpoint)
 * and count as cheap victims (only the grace is at risk). Undefined otherwise.
 */
export function podCheckpoint(pod: V1Pod): { readonly graceSeconds: number } | undefined {
  if (pod.metadata?.annotations?.[ANN_CHECKPOINT] !== 'true') return undefined;
  return { graceSeconds: pod.spec?.terminationGracePeriodSeconds ?? 30 };
}

export function creationMs(pod: { metadata?: { creationTimestamp?: Date | string } }, fallback: number): number {
  const t = pod.metadata?.creationTimestamp;
  if (t === undefined) return fallback;
  const ms = new Date(t).getTime();
  return Number.isFinite(ms) ? ms : fallback;
}

// ---- the assignment annotation --------------------------------------------------------------

export interface AssignedGpu {
  readonly index: number;
  readonly uuid: string;
  readonly milli: number;
  readonly memoryMiB: number;
  readonly mig?: { readonly profile: string; readonly start: number };
}

export interface Assignment {
  readonly node: string;
  readonly gpus: readonly AssignedGpu[];
}

export function assignmentOf(b: Binding, node: NodeState | undefined): Assignment {
  return {
    node: b.node,
    gpus: b.gpus.map((g) => ({
      index: g.gpu,
      uuid: node?.gpus[g.gpu]?.uuid ?? '',
      milli: g.milli,
      memoryMiB: g.memoryMiB,
      ...(g.mig ? { mig: { profile: g.mig.profile, start: g.mig.start } } : {}),
    })),
  };
}

/** Reads the assignment Gantry wrote on a bound pod (or its compact form, compactAssignment); null when absent or unreadable. */
export function readAssignment(pod: V1Pod): Assignment | null {
  const raw = pod.metadata?.annotations?.[ANN_ASSIGNMENT];
  if (raw === undefined) return null;
  try {
    const a = raw.startsWith('[') ? fromCompact(JSON.parse(raw) as unknown) : (JSON.parse(raw) as Assignment);
    if (a === null || typeof a.node !== 'string' || !Array.isArray(a.gpus)) return null;
    for (const g of a.gpus) {
      if (!Number.isInteger(g.index) || !Number.isInteger(g.milli) || !Number.isInteger(g.memoryMiB)) return null;
    }
    return a;
  } catch {
    return null;
  }
}

/**
 * The assignment annotation without what the scheduler never reads back (the GPU UUIDs, the
 * field names): `["<node>", [[index, milli, memoryMiB(, profile, start)], ...]]`, a quarter of
 * the size. The scheduler's slim pods keep this form (slim.ts); readAssignment reads both. An
 * annotation that is not a readable assignment is returned as it is.
 */
export function compactAssignment(raw: string): string {
  if (raw.startsWith('[')) return raw;
  const a = readAssignment({ metadata: { annotations: { [ANN_ASSIGNMENT]: raw } } });
  if (a === null) return raw;
  return JSON.stringify([a.node, a.gpus.map((g) => (g.mig ? [g.index, g.milli, g.memoryMiB, g.mig.profile, g.mig.start] : [g.index, g.milli, g.memoryMiB]))]);
}

function fromCompact(v: unknown): Assignment | null {
  if (!Array.isArray(v) || typeof v[0] !== 'string' || !Array.isArray(v[1])) return null;
  const gpus: AssignedGpu[] = [];
  for (const g of v[1] as unknown[]) {
    if (!Array.isArray(g)) return null;
    const [index, milli, memoryMiB, profile, start] = g as [number, number, number, unknown, unknown];
    gpus.push({ index, uuid: '', milli, memoryMiB, ...(typeof profile === 'string' && Number.isInteger(start) ? { mig: { profile, start: start as number } } : {}) });
  }
  return { node: v[0], gpus };
}

/** The same node and the same GPUs (indices, shares, MIG slices), whatever the order. */
export function sameGrants(a: readonly GpuGrant[], b: readonly GpuGrant[]): boolean {
  const key = (g: GpuGrant): string => `${g.gpu}/${g.milli}/${g.memoryMiB}/${g.mig ? `${g.mig.profile}@${g.mig.start}` : ''}`;
  if (a.length !== b.length) return false;
  const ka = a.map(key).sort();
  const kb = b.map(key).sort();
  return ka.every((k, i) => k === kb[i]);
}

// ---- the gang plan annotation ---------------------------------------------------------------

/** Gang member (pod name) -> node and GPU grants. */
export type GangPlan = ReadonlyMap<string, { readonly node: string; readonly gpus: readonly GpuGrant[] }>;

/** A plan larger than this is not written (annotations are limited to 256 KiB per object). */
export const MAX_PLAN_BYTES = 64 * 1024;

/**
 * Compact JSON: {"<pod>": ["<node>", [[gpu, milli, memoryMiB(, profile, start)], ...]]}.
 * Null when the plan would be too large (the gang is then rolled back, not finished, at takeover).
 */
export function encodePlan(bindings: readonly Binding[]): string | null {
  const out: Record<string, [string, (number | string)[][]]> = {};
  for (const b of bindings) {
    const name = b.podId.slice(b.podId.indexOf('/') + 1);
    out[name] = [b.node, b.gpus.map((g) => (g.mig ? [g.gpu, g.milli, g.memoryMiB, g.mig.profile, g.mig.start] : [g.gpu, g.milli, g.memoryMiB]))];
  }
  const text = JSON.stringify(out);
  return text.length <= MAX_PLAN_BYTES ? text : null;
}

/** The gang plan recorded on a bound member; null when absent or unreadable. */
export function readPlan(pod: V1Pod): GangPlan | null {
  const raw = pod.metadata?.annotations?.[ANN_GANG_PLAN];
  if (raw === undefined) return null;
  try {
    const obj = JSON.parse(raw) as Record<string, unknown>;
    const plan = new Map<string, { node: string; gpus: GpuGrant[] }>();
    for (const [name, v] of Object.entries(obj)) {
      if (!Array.isArray(v) || typeof v[0] !== 'string' || !Array.isArray(v[1])) return null;
      const gpus: GpuGrant[] = [];
      for (const g of v[1] as unknown[]) {
        if (!Array.isArray(g) || !g.slice(0, 3).every((x) => Number.isInteger(x))) return null;
        const [gpu, milli, memoryMiB, profile, start] = g as [number, number, number, unknown, unknown];
        gpus.push({ gpu, milli, memoryMiB, ...(typeof profile === 'string' && Number.isInteger(start) ? { mig: { profile, start: start as number } } : {}) });
      }
      plan.set(name, { node: v[0], gpus });
    }
    return plan;
  } catch {
    return null;
  }
}

export function grantsOf(a: Assignment): GpuGrant[] {
  return a.gpus.map((g) => (g.mig ? { gpu: g.index, milli: g.milli, memoryMiB: g.memoryMiB, mig: g.mig } : g.milli === 1000 ? wholeGpuGrant(g.index, g.memoryMiB) : { gpu: g.index, milli: g.milli, memoryMiB: g.memoryMiB }));
}

/** The environment a GPU-share pod's containers get (through the per-pod ConfigMap). */
export function gpuEnvironment(a: Assignment, req: GpuRequest): Record<string, string> {
  // Only shares go through this path: whole GPUs and MIG slices are handed out by the device plugin.
  const uuids = a.gpus.map((g) => g.uuid).join(',');
  const env: Record<string, string> = {
    NVIDIA_VISIBLE_DEVICES: uuids,
    CUDA_VISIBLE_DEVICES: uuids,
    GANTRY_NODE: a.node,
    GANTRY_GPU_INDICES: a.gpus.map((g) => g.index).join(','),
  };
  if (req.kind === 'share') {
    const g = a.gpus[0];
    if (req.milli > 0) {
      env['CUDA_MPS_ACTIVE_THREAD_PERCENTAGE'] = String(Math.max(1, Math.round(req.milli / 10)));
      env['GANTRY_GPU_FRACTION'] = (req.milli / 1000).toString();
    }
    const mem = req.memoryMiB > 0 ? req.memoryMiB : 0;
    if (mem > 0) {
      env['CUDA_MPS_PINNED_DEVICE_MEM_LIMIT'] = `0=${mem}M`;
      env['GANTRY_GPU_MEMORY_MIB'] = String(mem);
    }
    if (g && req.milli > 0 && mem === 0) env['GANTRY_GPU_MEMORY_MIB'] = String(g.memoryMiB);
  }
  return env;
}

/** The datasets a pod reads: its `gantry.dev/datasets` annotation, comma-separated names. */
export function datasetNames(annotation: string | undefined): string[] {
  return (annotation ?? '').split(',').map((d) => d.trim()).filter((d) => d !== '');
}
