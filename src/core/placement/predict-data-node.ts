/**
 * Where a pod blocked only by capacity is expected to start, so that its data can be staged
 * there while it waits (prefetch). Once room frees, the pod goes to the node that then scores
 * best, and with locality leading that is a node holding its data: staging the data on one
 * node makes that node the likely one. The node chosen is the one closest to fitting the pod
 * now (fewest whole GPUs still to free), among the nodes it could run on were they empty
 * (schedulable, labels, taints, enough healthy GPUs of an allowed model, CPU and memory); ties
 * go to the node that holds more of its data, then by name. A pod with no datasets, or whose
 * data is already complete on a node it could run on, gets no prediction (nothing to stage).
 */
import type { Cluster } from '../model/cluster.js';
import type { NodeState } from '../model/node.js';
import type { PodRequest } from '../model/request.js';
import { localityShare } from '../plugins/score/data-locality.js';
import { nodeSelector } from '../plugins/filter/node-selector.js';
import { nodeUnschedulable } from '../plugins/filter/node-unschedulable.js';
import { taintToleration } from '../plugins/filter/taint-toleration.js';
import { Reason } from '../framework/reasons.js';
import type { PreparedRequest } from '../framework/plugin.js';
import { prepareRequest } from './placer.js';

/** Whole GPUs the request needs on one node (a share or a MIG slice needs one GPU). */
function gpusNeeded(req: PodRequest): number {
  if (req.gpu.kind === 'whole') return req.gpu.count;
  return req.gpu.kind === 'none' ? 0 : 1;
}

function usableGpus(p: PreparedRequest, node: NodeState): { total: number; free: number } {
  let total = 0;
  let free = 0;
  for (const g of node.gpus) {
    if (!g.healthy || (p.allowed && !p.allowed.has(g.model))) continue;
    total++;
    if (g.wholeFree) free++;
  }
  return { total, free };
}

/** Could `node` run the request if nothing else ran there? */
function fitsWhenEmpty(p: PreparedRequest, node: NodeState, need: number): boolean {
  for (const f of [nodeUnschedulable, nodeSelector, taintToleration]) if (f.filter(p, node) !== Reason.None) return false;
  if (node.cpuMilli < p.req.cpuMilli || node.memoryMiB < p.req.memoryMiB) return false;
  return usableGpus(p, node).total >= need;
}

/** `taken`: nodes already predicted for other members of the same gang (each needs its own). */
export function predictDataNode(cluster: Cluster, req: PodRequest, taken: ReadonlySet<string> = new Set()): string | null {
  if (!req.datasets || req.datasets.length === 0) return null;
  const p = prepareRequest(req);
  const need = gpusNeeded(req);
  let best: { node: string; missing: number; share: number } | null = null;
  for (const node of cluster.nodesByName()) {
    if (taken.has(node.name) || !fitsWhenEmpty(p, node, need)) continue;
    const share = localityShare(req, node, 0);
    if (share >= 1) return null;
    const missing = Math.max(0, need - usableGpus(p, node).free);
    if (!best || missing < best.missing || (missing === best.missing && share > best.share)) best = { node: node.name, missing, share };
  }
  return best?.node ?? null;
}
