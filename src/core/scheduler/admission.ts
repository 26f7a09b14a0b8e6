/**
 * Admission: can the fleet ever run this job? Checked at submission against the nodes'
 * whole capacity (allocatable CPU and memory, every GPU, labels), ignoring what runs now,
 * so a job refused here could never start, not merely not yet. Temporary states (a cordoned
 * node, an unhealthy GPU) do not count against a job: they end. Pure, so the standalone
 * controller and the Kubernetes adapter share it.
 */
import type { PodRequest } from '../model/request.js';
import { findGpuModel, findMigProfile } from '../model/gpu-catalog.js';
import { applyMig, emptyMigState, validStarts } from '../model/mig.js';

/** What admission reads of a node (NodeState and NodeSpec-derived views both fit). */
export interface FleetNode {
  readonly name: string;
  readonly cpuMilli: number;
  readonly memoryMiB: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly gpus: readonly { readonly model: string; readonly memoryMiB: number; readonly mig: object | null }[];
}

const SHOWN_NODES = 3;

/**
 * How many members shaped like `m` the node could hold at once when empty: the smallest of
 * its CPU, memory and GPU room (0 when its labels or GPU models rule it out).
 */
export function membersPerNode(node: FleetNode, m: PodRequest): number {
  const sel = m.nodeSelector;
  if (sel) for (const k in sel) if (node.labels[k] !== sel[k]) return 0;
  let n = Math.min(m.cpuMilli > 0 ? Math.floor(node.cpuMilli / m.cpuMilli) : Infinity, m.memoryMiB > 0 ? Math.floor(node.memoryMiB / m.memoryMiB) : Infinity);
  if (n === 0) return 0;
  const g = m.gpu;
  if (g.kind === 'none') return n;
  const allowed = m.allowedModels && m.allowedModels.length > 0 ? new Set(m.allowedModels.map((x) => findGpuModel(x)?.name ?? x)) : null;
  const gpus = node.gpus.filter((x) => allowed === null || allowed.has(x.model));
  let gpuRoom = 0;
  switch (g.kind) {
    case 'whole':
      gpuRoom = Math.floor(gpus.filter((x) => x.mig === null).length / g.count);
      break;
    case 'share':
      for (const x of gpus) {
        if (x.mig !== null || x.memoryMiB < g.memoryMiB) continue;
        gpuRoom += Math.min(g.milli > 0 ? Math.floor(1000 / g.milli) : Infinity, g.memoryMiB > 0 ? Math.floor(x.memoryMiB / g.memoryMiB) : Infinity);
      }
      break;
    case 'mig':
      for (const x of gpus) {
        const profile = x.mig !== null ? findMigProfile(x.model, g.profile) : undefined;
        if (!profile) continue;
        const state = emptyMigState();
        for (let s = validStarts(state, profile)[0]; s !== undefined; s = validStarts(state, profile)[0]) {
          applyMig(state, profile, s, null);
          gpuRoom++;
        }
      }
      break;
  }
  n = Math.min(n, gpuRoom);
  return Number.isFinite(n) ? n : Number.MAX_SAFE_INTEGER;
}

function cpu(milli: number): string {
  return `${milli % 1000 === 0 ? milli / 1000 : (milli / 1000).toFixed(2)} CPU`;
}

function mem(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024}Gi` : `${mib}Mi`;
}

function gpuWhat(m: PodRequest): string {
  const g = m.gpu;
  const models = m.allowedModels && m.allowedModels.length > 0 ? ` ${m.allowedModels.join('/')}` : '';
  switch (g.kind) {
    case 'none':
      return `${cpu(m.cpuMilli)} and ${mem(m.memoryMiB)}`;
    case 'whole':
      return `${g.count}${models} GPU${g.count === 1 ? '' : 's'}`;
    case 'share':
      return `a${models} GPU share (${[g.milli > 0 ? `${g.milli / 1000} GPU` : '', g.memoryMiB > 0 ? `${mem(g.memoryMiB)} GPU memory` : ''].filter(Boolean).join(', ')})`;
    case 'mig':
      return `a MIG ${g.profile} slice${models ? ` of${models}` : ''}`;
  }
}

function nodeWhat(n: FleetNode, m: PodRequest): string {
  if (m.gpu.kind === 'none') return `${cpu(n.cpuMilli)}, ${mem(n.memoryMiB)}`;
  const byModel = new Map<string, number>();
  for (const g of n.gpus) byModel.set(g.model + (g.mig !== null ? ' MIG' : ''), (byModel.get(g.model + (g.mig !== null ? ' MIG' : '')) ?? 0) + 1);
  const gpus = byModel.size === 0 ? 'no GPUs' : [...byModel].map(([model, c]) => `${c} ${model}`).join(' + ') + (n.gpus.length === 1 ? ' GPU' : ' GPUs');
  return `${gpus}, ${cpu(n.cpuMilli)}, ${mem(n.memoryMiB)}`;
}

function listed(nodes: readonly FleetNode[], show: (n: FleetNode) => string): string {
  const head = nodes.slice(0, SHOWN_NODES).map((n) => `node ${n.name}: ${show(n)}`);
  return head.join('; ') + (nodes.length > SHOWN_NODES ? `; and ${nodes.length - SHOWN_NODES} more` : '');
}

/**
 * Why the fleet could never run these members all at once, or null when it could. The
 * message names the first thing that rules the job out: a node selector no node matches,
 * a CPU or memory request above every node's allocatable, a GPU request no node offers,
 * then a gang larger than the fleet holds at once. Members of different shapes are
 * checked per shape (a necessary condition: shapes compete for the same nodes).
 */
export function unsatisfiableReason(nodes: readonly FleetNode[], members: readonly PodRequest[]): string | null {
  const first = members[0];
  if (!first) return null;
  if (nodes.length === 0) return 'the fleet has no nodes';
  const sel = first.nodeSelector;
  if (sel && Object.keys(sel).length > 0) {
    const matching = nodes.filter((n) => Object.entries(sel).every(([k, v]) => n.labels[k] === v));
    if (matching.length === 0) {
      const wanted = Object.entries(sel).map(([k, v]) => `${k}=${v}`).join(', ');
      const labels = [...new Set(nodes.flatMap((n) => Object.entries(n.labels).map(([k, v]) => `${k}=${v}`)))].slice(0, 8);
      return `nodeSelector ${wanted} matches no node (labels on the fleet: ${labels.length > 0 ? labels.join(', ') : 'none'})`;
    }
    nodes = matching;
  }
  const biggest = (pick: (n: FleetNode) => number): FleetNode => nodes.reduce((a, b) => (pick(b) > pick(a) ? b : a));
  const maxCpu = biggest((n) => n.cpuMilli);
  if (first.cpuMilli > maxCpu.cpuMilli) return `each worker asks for ${cpu(first.cpuMilli)}; the largest node has ${cpu(maxCpu.cpuMilli)} allocatable (node ${maxCpu.name})`;
  const maxMem = biggest((n) => n.memoryMiB);
  if (first.memoryMiB > maxMem.memoryMiB) return `each worker asks for ${mem(first.memoryMiB)} memory; the largest node has ${mem(maxMem.memoryMiB)} allocatable (node ${maxMem.name})`;

  const shapes = new Map<string, { m: PodRequest; count: number }>();
  for (const m of members) {
    const key = JSON.stringify({ ...m, id: '' });
    const s = shapes.get(key);
    if (s) s.count++;
    else shapes.set(key, { m, count: 1 });
  }
  for (const { m, count } of shapes.values()) {
    const room = nodes.map((n) => ({ n, k: membersPerNode(n, m) }));
    const total = room.reduce((s, r) => s + r.k, 0);
    if (total >= count) continue;
    const what = gpuWhat(m);
    if (total === 0) {
      const gpuNodes = nodes.filter((n) => n.gpus.length > 0);
      const fleet = gpuNodes.length > 0 ? ` (${listed(gpuNodes, (n) => nodeWhat(n, m))})` : ' (no node has GPUs)';
      return `no node could hold a worker of ${what}${m.gpu.kind !== 'none' ? ` with ${cpu(m.cpuMilli)} and ${mem(m.memoryMiB)}` : ''}${fleet}`;
    }
    const holders = room.filter((r) => r.k > 0).map((r) => r.n);
    return `the gang needs ${count} workers of ${what}; the fleet can hold at most ${total} at once (${listed(holders, (n) => nodeWhat(n, m))})`;
  }
  return null;
}
