/**
 * What the scheduler keeps of the Pods and Nodes it mirrors: the object without the parts it
 * never reads. managedFields (the server-side-apply bookkeeping: dozens of nested objects per
 * pod once a kubelet has written its status) made up most of the scheduler's heap per pod, and
 * a real node's status (images, addresses, nodeInfo, timestamped conditions) is larger than the
 * rest of the node. Kept of a pod: its identity (name, namespace, uid, resourceVersion,
 * creation and deletion times), the labels and annotations the scheduler reads, its placement
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

/** The annotations and labels of a pod the scheduler reads (pods.ts, scheduler.ts); the others are dropped. */
const POD_ANNOTATIONS_KEPT = [ANN_ASSIGNMENT, ANN_GANG_PLAN, ANN_GPU_FRACTION, ANN_GPU_MEMORY, ANN_GPU_MODELS, ANN_PREEMPTIBLE, ANN_CHECKPOINT, ANN_DATASETS, ANN_ENV_CONFIGMAP] as const;
const POD_LABELS_KEPT = [POD_GROUP_LABEL, POD_GROUP_LABEL_LEGACY, QUEUE_LABEL] as const;

/** What the scheduler reads of any pod's spec (priority, grace); containers keep their resources. */
const POD_SPEC_KEPT = ['nodeName', 'schedulerName', 'priority', 'terminationGracePeriodSeconds'] as const;
/** ... and of an unbound pod's: where it may go. */
const POD_PLACEMENT_KEPT = ['priorityClassName', 'preemptionPolicy', 'nodeSelector', 'affinity', 'tolerations'] as const;

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

function slimPodMeta(m: V1ObjectMeta, ended: boolean): V1ObjectMeta {
  const out: V1ObjectMeta = {};
  if (m.name !== undefined) out.name = m.name;
  if (m.namespace !== undefined) out.namespace = share(m.namespace);
  if (m.uid !== undefined) out.uid = m.uid;
  if (m.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion;
  if (m.creationTimestamp !== undefined) out.creationTimestamp = m.creationTimestamp;
  if (m.deletionTimestamp !== undefined) out.deletionTimestamp = m.deletionTimestamp;
  const labels = picked(m.labels, POD_LABELS_KEPT);
  if (labels !== undefined) out.labels = share(labels);
  const annotations = ended ? undefined : picked(m.annotations, POD_ANNOTATIONS_KEPT);
  if (annotations !== undefined) out.annotations = annotations;
  return out;
}

function slimPodSpec(spec: V1PodSpec, ended: boolean): V1PodSpec {
  const out: V1PodSpec = { containers: ended ? NO_CONTAINERS : share(spec.containers.map(slimContainer)) };
  if (!ended && spec.initContainers !== undefined) out.initContainers = share(spec.initContainers.map(slimContainer));
  const o = out as unknown as Record<string, unknown>;
  for (const k of POD_SPEC_KEPT) if (spec[k] !== undefined) o[k] = typeof spec[k] === 'string' ? share(spec[k]) : spec[k];
  if (!ended && spec.nodeName === undefined) for (const k of POD_PLACEMENT_KEPT) if (spec[k] !== undefined) o[k] = share(spec[k]);
  return out;
}

export function slimPod(pod: V1Pod): V1Pod {
  const phase = pod.status?.phase;
  const ended = phase === 'Succeeded' || phase === 'Failed';
  const out: V1Pod = {};
  if (pod.metadata) out.metadata = slimPodMeta(pod.metadata, ended);
  if (pod.spec) out.spec = slimPodSpec(pod.spec, ended);
  const s = pod.status;
  if (!s) return out;
  const status: V1PodStatus = {};
  if (s.phase !== undefined) status.phase = share(s.phase);
  if (s.reason !== undefined) status.reason = s.reason;
  out.status = status;
  return out;
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
