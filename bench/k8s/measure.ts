/**
 * What the Kubernetes benchmark observes: a watch on a namespace's pods that records, per pod,
 * when and where it was bound, the GPUs its assignment names, and when it stopped holding them
 * (finished or deleted), in the apiserver's own order (resourceVersion); and the figures made
 * from that (percentiles, packing, GPUs booked twice).
 */
import { Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { ANN_GPU_UUIDS } from '../../src/adapters/k8s/names.js';

export const GPUS_PER_NODE = 8;

export interface PodTrace {
  node: string;
  gpus: number;
  /** GPU UUIDs of the assignment annotation (Gantry's binds); empty for other schedulers. */
  uuids: string[];
  boundAt: number;
  boundRv: number;
  runningAt?: number;
  /** resourceVersion at which it stopped holding its GPUs (Succeeded, Failed or deleted). */
  endRv?: number;
  finished?: boolean;
}

function gpusOf(pod: V1Pod): number {
  let n = 0;
  for (const c of pod.spec?.containers ?? []) n += Number(c.resources?.limits?.['nvidia.com/gpu'] ?? 0);
  return n;
}

/** Watches pods of a namespace; records when each was first seen bound (ms, performance clock). */
export class BindWatch {
  readonly boundAt = new Map<string, number>();
  readonly nodeOf = new Map<string, string>();
  readonly traces = new Map<string, PodTrace>();
  private req: { abort(): void } | null = null;
  private stopped = false;
  private lastRv = '';
  /** Times the watch broke (a loaded apiserver drops connections) and resumed from the last event seen. */
  reconnects = 0;
  constructor(private readonly kc: KubeConfig) {}

  async start(namespace: string): Promise<void> {
    const params = this.lastRv ? { resourceVersion: this.lastRv } : {};
    this.req = await new Watch(this.kc).watch(
      `/api/v1/namespaces/${namespace}/pods`,
      params,
      (phase: string, pod: V1Pod) => {
        if (phase === 'ERROR') return;
        this.lastRv = pod.metadata?.resourceVersion ?? this.lastRv;
        this.seen(phase, pod);
      },
      () => {
        if (this.stopped) return;
        this.reconnects++;
        process.stderr.write(`bench watch of ${namespace} broke; resuming at resourceVersion ${this.lastRv}\n`);
        const retry = (): void => void setTimeout(() => void this.start(namespace).catch(retry), 200);
        retry();
      },
    );
  }

  private seen(phase: string, pod: V1Pod): void {
    const name = pod.metadata?.name ?? '';
    const rv = Number(pod.metadata?.resourceVersion ?? 0);
    const node = pod.spec?.nodeName;
    if (node && !this.boundAt.has(name)) {
      const now = performance.now();
      this.boundAt.set(name, now);
      this.nodeOf.set(name, node);
      const uuids = (pod.metadata?.annotations?.[ANN_GPU_UUIDS] ?? '').split(',').filter((u) => u !== '');
      this.traces.set(name, { node, gpus: gpusOf(pod), uuids, boundAt: now, boundRv: rv });
    }
    const t = this.traces.get(name);
    if (!t) return;
    const p = pod.status?.phase;
    if (p === 'Running' && t.runningAt === undefined) t.runningAt = performance.now();
    if (t.endRv === undefined && (phase === 'DELETED' || p === 'Succeeded' || p === 'Failed')) {
      t.endRv = rv;
      t.finished = p === 'Succeeded';
    }
  }

  stop(): void {
    this.stopped = true;
    this.req?.abort();
  }
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

export interface Packing {
  nodesUsed: number;
  fullNodes: number;
  partialNodes: number;
  strandedGpus: number;
  emptyNodes: number;
}

export function packing(nodeOf: ReadonlyMap<string, string>, sizes: ReadonlyMap<string, number>, nodes: number): Packing {
  const used = new Map<string, number>();
  for (const [pod, node] of nodeOf) used.set(node, (used.get(node) ?? 0) + (sizes.get(pod) ?? 0));
  let full = 0;
  let partial = 0;
  let stranded = 0;
  for (const u of used.values()) {
    if (u >= GPUS_PER_NODE) full++;
    else if (u > 0) {
      partial++;
      stranded += GPUS_PER_NODE - u;
    }
  }
  return { nodesUsed: used.size, fullNodes: full, partialNodes: partial, strandedGpus: stranded, emptyNodes: nodes - used.size };
}

export interface Overbooking {
  /** Binds that named a GPU another live pod on the node held. */
  gpusBookedTwice: number;
  /** Binds after which the node's live pods asked for more GPUs than it has. */
  nodesOverfull: number;
  /** Binds whose assignment names another number of GPUs than the pod asked for. */
  wrongSize: number;
}

/**
 * Replays the binds and ends in the apiserver's order: at every bind, the GPUs of the pods live
 * on that node (bound, not yet finished or deleted) must be distinct and at most the node's.
 */
export function overbooking(traces: ReadonlyMap<string, PodTrace>, gpusPerNode = GPUS_PER_NODE, checkUuids = true): Overbooking {
  const events: { rv: number; kind: 0 | 1; t: PodTrace }[] = [];
  for (const t of traces.values()) {
    events.push({ rv: t.boundRv, kind: 1, t });
    if (t.endRv !== undefined) events.push({ rv: t.endRv, kind: 0, t });
  }
  // Ends before binds at the same revision (a pod that ends frees its GPUs first).
  events.sort((a, b) => a.rv - b.rv || a.kind - b.kind);
  const live = new Map<string, Set<PodTrace>>();
  const r: Overbooking = { gpusBookedTwice: 0, nodesOverfull: 0, wrongSize: 0 };
  for (const e of events) {
    const set = live.get(e.t.node) ?? new Set<PodTrace>();
    live.set(e.t.node, set);
    if (e.kind === 0) {
      set.delete(e.t);
      continue;
    }
    if (checkUuids) {
      if (e.t.uuids.length !== e.t.gpus) r.wrongSize++;
      const held = new Set<string>();
      for (const o of set) for (const u of o.uuids) held.add(u);
      if (e.t.uuids.some((u) => held.has(u))) r.gpusBookedTwice++;
    }
    set.add(e.t);
    let used = 0;
    for (const o of set) used += o.gpus;
    if (used > gpusPerNode) r.nodesOverfull++;
  }
  return r;
}

export async function parallel<T>(items: readonly T[], width: number, f: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (i < items.length) {
        const x = items[i++] as T;
        await f(x);
      }
    }),
  );
}
