/**
 * What the scheduler keeps of the Pods and Nodes it mirrors: the object without the parts it
 * never reads. managedFields (the server-side-apply bookkeeping: dozens of nested objects per
 * pod once a kubelet has written its status) made up most of the scheduler's heap per pod, and
 * a real node's status (images, addresses, nodeInfo, timestamped conditions) is larger than the
 * rest of the node. Kept: all of metadata but managedFields, a node's spec, and what the scheduler
 * reads of the rest: a pod's placement constraints, priority, grace and container resources, its
 * phase (and reason); a node's capacity, allocatable and condition states.
 * Measured: docs/benchmarks.md, "Scheduler memory".
 */
import type { V1Container, V1Node, V1NodeStatus, V1Pod, V1PodSpec, V1PodStatus } from '@kubernetes/client-node';

/** The parts of a pod spec the scheduler reads (placement, priority, grace); containers keep their resources. */
const POD_SPEC_KEPT = ['nodeName', 'schedulerName', 'priority', 'priorityClassName', 'preemptionPolicy', 'nodeSelector', 'affinity', 'tolerations', 'terminationGracePeriodSeconds'] as const;

function slimContainer(c: V1Container): V1Container {
  return { name: c.name, ...(c.resources !== undefined ? { resources: c.resources } : {}), ...(c.restartPolicy !== undefined ? { restartPolicy: c.restartPolicy } : {}) };
}

function slimPodSpec(spec: V1PodSpec): V1PodSpec {
  const out: V1PodSpec = { containers: spec.containers.map(slimContainer) };
  if (spec.initContainers !== undefined) out.initContainers = spec.initContainers.map(slimContainer);
  for (const k of POD_SPEC_KEPT) if (spec[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = spec[k];
  return out;
}

export function slimPod(pod: V1Pod): V1Pod {
  const { managedFields: _m, ...metadata } = pod.metadata ?? {};
  const out: V1Pod = { ...pod, metadata };
  if (pod.spec) out.spec = slimPodSpec(pod.spec);
  const s = pod.status;
  if (!s) return out;
  const status: V1PodStatus = {};
  if (s.phase !== undefined) status.phase = s.phase;
  if (s.reason !== undefined) status.reason = s.reason;
  return { ...out, status };
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
