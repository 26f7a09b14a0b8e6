/**
 * What the scheduler keeps of the Pods and Nodes it mirrors: the object without the parts it
 * never reads. managedFields (the server-side-apply bookkeeping: dozens of nested objects per
 * pod once a kubelet has written its status) made up most of the scheduler's heap per pod, and
 * a real node's status (images, addresses, nodeInfo, timestamped conditions) is larger than the
 * rest of the node. Kept of a pod: its identity (name, namespace, uid, resourceVersion,
 * creation and deletion times), the labels and annotations the scheduler reads (the GPU
 * assignment in its compact form, pods.ts compactAssignment), its placement
 * constraints while it is unbound (a bound pod's are never read again), priority, grace and
 * container resources, its phase (and reason); of a pod that ended only what says which pod it
 * was, where, and that it ended. Of a node: all of metadata but managedFields, its spec, its
 * capacity, allocatable and condition states.
 *
 * The parts most pods have alike (namespace, node name, tolerations, containers, the labels
 * kept) are shared between pods through a bounded table: a 5,000-pod cluster has a handful of
 * distinct toleration lists, and each pod held its own copy (docs/benchmarks.md, "Scheduler memory").
 */
import type { V1Container, V1Node, V1NodeStatus, V1ObjectMeta, V1Pod, V1PodSpec, V1PodStatus } from '@kubernetes/client-node';
import {
  ANN_ASSIGNMENT, ANN_CHECKPOINT, ANN_DATASETS, ANN_ENV_CONFIGMAP, ANN_GANG_PLAN, ANN_GPU_FRACTION, ANN_GPU_MEMORY, ANN_GPU_MODELS, ANN_PREEMPTIBLE, POD_GROUP_LABEL, POD_GROUP_LABEL_LEGACY,
  QUEUE_LABEL,
} from './names.js';
import { compactAssignment, internString } from './pods.js';

/** The annotations and labels of a pod the scheduler reads (pods.ts, scheduler.ts); the others are dropped. */
const POD_ANNOTATIONS_KEPT = [ANN_ASSIGNMENT, ANN_GANG_PLAN, ANN_GPU_FRACTION, ANN_GPU_MEMORY, ANN_GPU_MODELS, ANN_PREEMPTIBLE, ANN_CHECKPOINT, ANN_DATASETS, ANN_ENV_CONFIGMAP] as const;
const POD_LABELS_KEPT = [POD_GROUP_LABEL, POD_GROUP_LABEL_LEGACY, QUEUE_LABEL] as const;


/**
 * One copy of equal values (by their JSON). Bounded: past MAX_SHARED entries it starts again;
 * sharing is only a saving, an unshared copy is equal all the same. Shared values are never
 * changed in place by the scheduler (it only reads what it mirrors).
 */
const MAX_SHARED = 16_384;
const shared = new Map<string, unknown>();

function share<T>(value: T): T {
  const key = typeof value === 'string' ? `s${value}` : `j${JSON.stringify(value)}`;
  const known = shared.get(key);
  if (known !== undefined) return known as T;
  if (shared.size >= MAX_SHARED) shared.clear();
  shared.set(key, value);
  return value;
}

const NO_CONTAINERS: V1Container[] = [];

function slimContainer(c: V1Container): V1Container {
  return { name: c.name, ...(c.resources !== undefined ? { resources: c.resources } : {}), ...(c.restartPolicy !== undefined ? { restartPolicy: c.restartPolicy } : {}) };
}

function picked(from: Record<string, string> | undefined, keys: readonly string[]): Record<string, string> | undefined {
  if (from === undefined) return undefined;
  let out: Record<string, string> | undefined;
  for (const k of keys) {
    const v = from[k];
    if (v !== undefined) (out ??= {})[k] = v;
  }
  return out;
}

/**
 * Objects made by one literal with every field (absent ones undefined) keep all their fields in
 * the object itself; one built field by field from `{}` spills past the 4th into a separate
 * property array (~40-60 bytes more per object).
 */
function slimPodMeta(m: V1ObjectMeta, ended: boolean): V1ObjectMeta {
  const annotations = ended ? undefined : picked(m.annotations, POD_ANNOTATIONS_KEPT);
  const assignment = annotations?.[ANN_ASSIGNMENT];
  if (annotations !== undefined && assignment !== undefined) annotations[ANN_ASSIGNMENT] = compactAssignment(assignment);
  const labels = picked(m.labels, POD_LABELS_KEPT);
  return {
    name: m.name,
    namespace: m.namespace !== undefined ? share(m.namespace) : undefined,
    uid: m.uid,
    resourceVersion: m.resourceVersion,
    creationTimestamp: m.creationTimestamp,
    deletionTimestamp: m.deletionTimestamp,
    labels: labels !== undefined ? share(labels) : undefined,
    annotations,
  } as V1ObjectMeta;
}

function slimPodSpec(spec: V1PodSpec, ended: boolean): V1PodSpec {
  const place = !ended && spec.nodeName === undefined;
  const shared = <T>(v: T | undefined): T | undefined => (v !== undefined ? share(v) : undefined);
  return {
    containers: ended ? NO_CONTAINERS : share(spec.containers.map(slimContainer)),
    initContainers: !ended && spec.initContainers !== undefined ? share(spec.initContainers.map(slimContainer)) : undefined,
    nodeName: shared(spec.nodeName),
    schedulerName: shared(spec.schedulerName),
    priority: spec.priority,
    terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds,
    // Where it may go: read while it waits, never once it is bound.
    priorityClassName: place ? spec.priorityClassName : undefined,
    preemptionPolicy: place ? spec.preemptionPolicy : undefined,
    nodeSelector: place ? shared(spec.nodeSelector) : undefined,
    affinity: place ? shared(spec.affinity) : undefined,
    tolerations: place ? shared(spec.tolerations) : undefined,
  } as V1PodSpec;
}

/** One status object per phase for the pods without a reason (nearly all): ~40 bytes less per pod. */
const STATUS_OF_PHASE = new Map<string | undefined, V1PodStatus>();

function slimStatus(s: V1PodStatus): V1PodStatus {
  if (s.reason !== undefined) return { phase: s.phase !== undefined ? share(s.phase) : undefined, reason: s.reason } as V1PodStatus;
  const known = STATUS_OF_PHASE.get(s.phase);
  if (known !== undefined) return known;
  const status = { phase: s.phase } as V1PodStatus;
  if (STATUS_OF_PHASE.size < 16) STATUS_OF_PHASE.set(s.phase, Object.freeze(status));
  return status;
}

export function slimPod(pod: V1Pod): V1Pod {
  const s = pod.status;
  const ended = s?.phase === 'Succeeded' || s?.phase === 'Failed';
  const m = pod.metadata;
  return {
    // Its key (pods.ts podKey), one string for every version of the pod and every map keyed by it.
    key: internString(`${m?.namespace ?? ''}/${m?.name ?? ''}`),
    metadata: m ? slimPodMeta(m, ended) : undefined,
    spec: pod.spec ? slimPodSpec(pod.spec, ended) : undefined,
    status: s ? slimStatus(s) : undefined,
  } as unknown as V1Pod;
}

export function slimNode(node: V1Node): V1Node {
  const { managedFields: _m, ...metadata } = node.metadata ?? {};
  const s = node.status;
  if (!s) return { ...node, metadata };
  const status: V1NodeStatus = {};
  if (s.capacity !== undefined) status.capacity = s.capacity;
  if (s.allocatable !== undefined) status.allocatable = s.allocatable;
  if (s.conditions !== undefined) status.conditions = s.conditions.map((c) => ({ type: c.type, status: c.status }));
  return { ...node, metadata, status };
}
