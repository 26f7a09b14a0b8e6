/**
 * Which GPUs a container gets, decided by what Gantry's scheduler recorded (pure; used by the
 * device plugin, device-plugin.ts).
 *
 * The kubelet's Allocate call names only the device IDs it picked and their count, not the pod.
 * As HAMi does, the plugin finds the pod being admitted among the pods bound to its node: Gantry
 * pods with a GPU assignment whose next GPU container (init containers first, in order) asks for
 * that many GPUs and has not been handed devices yet. When several match, the one the kubelet
 * already knows wins: the kubelet adds a pod to its pod manager just before admitting it, and
 * admits pods one at a time, so its pod-resources List names the pod being admitted and not the
 * ones that come after it. Without that list (or when it names none of them), oldest first (the
 * kubelet admits a batch of new pods by creation time). The container then gets the assignment's
 * GPUs, whatever IDs the kubelet picked; GetPreferredAllocation proposes the same GPUs first, so
 * that the kubelet's own record (pod-resources) normally agrees.
 *
 * Limit: two matching pods that the kubelet both knows without devices (it restarted, or a pod's
 * admission failed and it is retried) are told apart only by age; if the kubelet admits them in
 * the other order they swap GPU sets (each still gets a set Gantry reserved on that node, never a
 * GPU booked for a third pod). HAMi serialises binds per node instead (docs/kubernetes.md).
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { ANN_GPU_ALLOCATED, RES_GPU } from './names.js';
import { isGantryPod, readAssignment } from './pods.js';

/** A device the plugin advertises (ID = the GPU UUID). */
export interface PluginDevice {
  readonly id: string;
  readonly index: number;
  readonly healthy: boolean;
}

export interface ContainerGrant {
  /** The pod (namespace/name) and its uid. */
  readonly pod: string;
  readonly uid: string;
  readonly container: string;
  /** Which of the pod's GPU containers (0-based, init containers first). */
  readonly ordinal: number;
  /** GPU UUIDs in the order of the assignment. */
  readonly uuids: readonly string[];
}

export type AllocationDecision =
  | { readonly kind: 'gantry'; readonly grant: ContainerGrant }
  /** No Gantry pod on the node waits for this many GPUs: the kubelet's own pick is used. */
  | { readonly kind: 'kubelet'; readonly reason: string }
  /** A Gantry pod matched but its record cannot be honoured (unknown GPU, wrong count). */
  | { readonly kind: 'error'; readonly message: string };

function gpuCount(c: V1Container): number {
  const v = c.resources?.limits?.[RES_GPU] ?? c.resources?.requests?.[RES_GPU];
  const n = v === undefined ? 0 : Number(v);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/** The pod's containers that ask for whole GPUs, in the kubelet's allocation order. */
export function gpuContainers(pod: V1Pod): { name: string; count: number }[] {
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  return all.map((c) => ({ name: c.name, count: gpuCount(c) })).filter((c) => c.count > 0);
}

/** How many of the pod's GPU containers were handed devices, by the record on the pod. */
export function handedFromAnnotation(pod: V1Pod): number {
  const raw = pod.metadata?.annotations?.[ANN_GPU_ALLOCATED];
  if (!raw) return 0;
  return raw.split(';').filter((part) => part.includes('=')).length;
}

/** The annotation value recording the containers handed devices so far: `c1=GPU-a,GPU-b;c2=...`. */
export function allocatedAnnotation(grants: readonly ContainerGrant[]): string {
  return grants.map((g) => `${g.container}=${g.uuids.join(',')}`).join(';');
}

function created(pod: V1Pod): number {
  const t = pod.metadata?.creationTimestamp;
  return t ? new Date(t).getTime() : 0;
}

/**
 * The container an Allocate (or GetPreferredAllocation) for `count` devices on `node` is for, and
 * its GPUs. `handed` counts, per pod uid, the GPU containers this plugin already served (the
 * annotation on the pod covers a restart of the plugin). `kubeletKnows` holds the pods
 * (namespace/name) the kubelet's pod-resources List returned, when it could be read.
 */
export function decideAllocation(
  pods: readonly V1Pod[],
  node: string,
  count: number,
  devices: readonly PluginDevice[],
  handed: ReadonlyMap<string, number>,
  kubeletKnows?: ReadonlySet<string>,
): AllocationDecision {
  const matches = matchingPods(pods, node, count, handed);
  const known = kubeletKnows ? matches.filter((m) => kubeletKnows.has(m.key)) : [];
  const chosen = known[0] ?? matches[0];
  if (!chosen) return { kind: 'kubelet', reason: `no gantry pod on ${node} waits for ${count} GPU${count === 1 ? '' : 's'}` };
  return grantFor(chosen, node, count, devices);
}

interface Match {
  readonly pod: V1Pod;
  readonly key: string;
  readonly containers: readonly { name: string; count: number }[];
  readonly done: number;
}

/** Gantry pods on the node whose next GPU container asks for `count` GPUs, oldest first. */
function matchingPods(pods: readonly V1Pod[], node: string, count: number, handed: ReadonlyMap<string, number>): Match[] {
  const candidates = pods
    .filter((p) => isGantryPod(p) && p.spec?.nodeName === node && !p.metadata?.deletionTimestamp)
    .filter((p) => p.status?.phase === undefined || p.status.phase === 'Pending')
    .sort((a, b) => created(a) - created(b) || `${a.metadata?.namespace ?? ''}/${a.metadata?.name ?? ''}`.localeCompare(`${b.metadata?.namespace ?? ''}/${b.metadata?.name ?? ''}`));
  const out: Match[] = [];
  for (const pod of candidates) {
    const containers = gpuContainers(pod);
    const done = Math.max(handed.get(pod.metadata?.uid ?? '') ?? 0, handedFromAnnotation(pod));
    const next = containers[done];
    if (next && next.count === count) out.push({ pod, key: `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`, containers, done });
  }
  return out;
}

function grantFor(m: Match, node: string, count: number, devices: readonly PluginDevice[]): AllocationDecision {
  const { pod, key, containers, done } = m;
  const uid = pod.metadata?.uid ?? '';
  const next = containers[done];
  if (!next) return { kind: 'error', message: `pod ${key} has no GPU container left to serve` };
  const a = readAssignment(pod);
  if (!a) return { kind: 'error', message: `pod ${key} is bound by gantry but has no readable GPU assignment` };
  const whole = a.gpus.filter((g) => g.milli >= 1000 && !g.mig);
  const total = containers.reduce((s, c) => s + c.count, 0);
  if (whole.length !== total) {
    return { kind: 'error', message: `pod ${key} asks for ${total} GPUs but gantry recorded ${whole.length} whole GPUs for it` };
  }
  const offset = containers.slice(0, done).reduce((s, c) => s + c.count, 0);
  const mine = whole.slice(offset, offset + count);
  const uuids: string[] = [];
  for (const g of mine) {
    const d = g.uuid !== '' ? devices.find((x) => x.id === g.uuid) : devices.find((x) => x.index === g.index);
    if (!d) return { kind: 'error', message: `pod ${key}: GPU ${g.uuid || `#${g.index}`} recorded by gantry is not a device of node ${node}` };
    uuids.push(d.id);
  }
  return { kind: 'gantry', grant: { pod: key, uid, container: next.name, ordinal: done, uuids } };
}

/** The environment a container with these GPUs gets (the NVIDIA container runtime reads the first). */
export function deviceEnvironment(uuids: readonly string[], simulated: boolean): Record<string, string> {
  const list = uuids.join(',');
  return {
    NVIDIA_VISIBLE_DEVICES: list,
    CUDA_VISIBLE_DEVICES: list,
    ...(simulated ? { GANTRY_SIMULATED: '1' } : {}),
  };
}
