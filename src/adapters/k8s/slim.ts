/**
 * What the scheduler keeps of the Pods and Nodes it mirrors: the object without the parts it
 * never reads. managedFields (the server-side-apply bookkeeping: dozens of nested objects per
 * pod once a kubelet has written its status) made up most of the scheduler's heap per pod, and
 * a real node's status (images, addresses, nodeInfo, timestamped conditions) is larger than the
 * rest of the node. Kept: all of metadata but managedFields, all of spec, and of status what the
 * scheduler reads: a pod's phase (and reason), a node's capacity, allocatable and condition states.
 * Measured: docs/benchmarks.md, "Scheduler memory".
 */
import type { V1Node, V1NodeStatus, V1Pod, V1PodStatus } from '@kubernetes/client-node';

export function slimPod(pod: V1Pod): V1Pod {
  const { managedFields: _m, ...metadata } = pod.metadata ?? {};
  const s = pod.status;
  if (!s) return { ...pod, metadata };
  const status: V1PodStatus = {};
  if (s.phase !== undefined) status.phase = s.phase;
  if (s.reason !== undefined) status.reason = s.reason;
  return { ...pod, metadata, status };
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
