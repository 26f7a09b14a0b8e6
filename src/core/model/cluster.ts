/**
 * The cluster snapshot: nodes by slot and by name, and what every bound pod holds.
 * `bind` and `release` are the only ways to change allocations; both validate first and
 * change nothing when they fail. A Statement records changes so a plan can be rolled back
 * (a transaction in the style of KAI's Statement).
 */
import { cachedBytesOf, NodeState, type NodeSpec } from './node.js';
import { applyMig, releaseMig } from './mig.js';
import type { Taint } from './request.js';

export interface GpuGrant {
  /** GPU index on the node. */
  readonly gpu: number;
  readonly milli: number;
  readonly memoryMiB: number;
  readonly mig?: { readonly profile: string; readonly start: number };
}

export interface Binding {
  readonly podId: string;
  readonly node: string;
  readonly cpuMilli: number;
  readonly memoryMiB: number;
  readonly gpus: readonly GpuGrant[];
}

export class ClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterError';
  }
}

/**
 * Slots of nodes in the order they changed, so per-shape caches can catch up on exactly the
 * nodes that changed since they last looked. Old entries are dropped in halves; a cache that
 * fell behind the dropped part rescans every node once.
 */
export class ChangeLog {
  entries: number[] = [];
  /** Sequence number of entries[0]. */
  base = 0;
  limit = 4096;

  push(slot: number): void {
    this.entries.push(slot);
    if (this.entries.length > this.limit) {
      const half = this.entries.length >> 1;
      this.entries = this.entries.slice(half);
      this.base += half;
    }
  }

  /** Sequence number after the last entry. */
  get end(): number {
    return this.base + this.entries.length;
  }
}

export class Cluster {
  readonly changes = new ChangeLog();
  private readonly slots: (NodeState | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  private readonly byName = new Map<string, NodeState>();
  private readonly bindings = new Map<string, Binding>();
  private ranksDirty = false;
  /** Bumped on node membership changes (caches resize / re-rank). */
  membershipVersion = 0;
  /**
   * Bumped whenever a node's own facts change (added, removed, cordoned, relabelled, a GPU's
   * health), never by binds: caches of what depends only on those facts key on it.
   */
  specVersion = 0;
  /** Per slot: the node's generation (0 = empty slot) and its rank in name order. */
  generations = new Float64Array(64);
  ranks = new Int32Array(64);

  constructor(nodes: readonly NodeSpec[] = []) {
    for (const n of nodes) this.addNode(n);
  }

  get nodeCount(): number {
    return this.byName.size;
  }

  /** Upper bound of node slots, for per-slot arrays. */
  get slotCount(): number {
    return this.slots.length;
  }

  nodeAt(slot: number): NodeState | undefined {
    return this.slots[slot];
  }

  node(name: string): NodeState | undefined {
    return this.byName.get(name);
  }

  nodes(): NodeState[] {
    this.ensureRanks();
    const out: NodeState[] = [];
    for (const n of this.slots) if (n) out.push(n);
    return out;
  }

  /** Nodes in name order. */
  nodesByName(): NodeState[] {
    return this.nodes().sort((a, b) => a.rank - b.rank);
  }

  addNode(spec: NodeSpec): NodeState {
    if (this.byName.has(spec.name)) throw new ClusterError(`node ${spec.name} already exists`);
    const node = new NodeState(spec);
    const slot = this.freeSlots.pop() ?? this.slots.length;
    node.slot = slot;
    this.slots[slot] = node;
    if (slot >= this.generations.length) {
      const size = Math.max(slot + 1, this.generations.length * 2);
      const g = new Float64Array(size);
      g.set(this.generations);
      this.generations = g;
      const r = new Int32Array(size);
      r.set(this.ranks);
      this.ranks = r;
      for (const n of this.slots) if (n) n.generationSink = g;
    }
    node.generationSink = this.generations;
    node.changeLog = this.changes;
    this.changes.limit = Math.max(4096, 4 * this.slots.length);
    this.generations[slot] = node.generation;
    this.changes.push(slot);
    this.byName.set(spec.name, node);
    this.countHolders(node.cachedBytes, 1);
    if (node.rack !== '' && (node.cachedBytes.size > 0 || this.rackHasCache(node.rack))) this.refreshRackCache(node.rack, node);
    this.ranksDirty = true;
    this.membershipVersion++;
    this.specVersion++;
    return node;
  }

  /** Removes a node; the pods bound to it are released and returned. */
  removeNode(name: string): Binding[] {
    const node = this.byName.get(name);
    if (!node) return [];
    const released: Binding[] = [];
    for (const b of [...this.bindings.values()]) {
      if (b.node === name) {
        this.bindings.delete(b.podId);
        released.push(b);
      }
    }
    this.slots[node.slot] = undefined;
    this.generations[node.slot] = 0;
    node.generationSink = null;
    node.changeLog = null;
    this.changes.push(node.slot);
    this.freeSlots.push(node.slot);
    this.byName.delete(name);
    this.countHolders(node.cachedBytes, -1);
    if (node.rack !== '' && node.cachedBytes.size > 0) this.refreshRackCache(node.rack);
    this.ranksDirty = true;
    this.membershipVersion++;
    this.specVersion++;
    return released;
  }

  private rackHasCache(rack: string): boolean {
    for (const n of this.byName.values()) if (n.rack === rack && n.cachedBytes.size > 0) return true;
    return false;
  }

  ensureRanks(): void {
    if (!this.ranksDirty) return;
    const all = [...this.byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    all.forEach((n, i) => {
      n.rank = i;
      this.ranks[n.slot] = i;
    });
    this.ranksDirty = false;
  }

  binding(podId: string): Binding | undefined {
    return this.bindings.get(podId);
  }

  allBindings(): IterableIterator<Binding> {
    return this.bindings.values();
  }

  get boundCount(): number {
    return this.bindings.size;
  }

  /** Checks that a binding fits on its node right now; returns the reason when it does not. */
  checkBinding(b: Binding): string | null {
    if (this.bindings.has(b.podId)) return `pod ${b.podId} is already bound`;
    const node = this.byName.get(b.node);
    if (!node) return `node ${b.node} does not exist`;
    if (node.cpuFree < b.cpuMilli) return `node ${b.node} has too little free CPU`;
    if (node.memFree < b.memoryMiB) return `node ${b.node} has too little free memory`;
    const gpus = b.gpus;
    for (let i = 0; i < gpus.length; i++) {
      const g = gpus[i] as Binding['gpus'][number];
      const gpu = node.gpus[g.gpu];
      if (!gpu) return `node ${b.node} has no GPU ${g.gpu}`;
      for (let k = 0; k < i; k++) if ((gpus[k] as Binding['gpus'][number]).gpu === g.gpu) return `GPU ${g.gpu} granted twice`;
      if (!gpu.healthy) return `GPU ${g.gpu} on ${b.node} is unhealthy`;
      if (g.mig) {
        if (!gpu.mig) return `GPU ${g.gpu} on ${b.node} is not in MIG mode`;
        const prof = gpu.migProfiles.find((p) => p.name === g.mig?.profile);
        if (!prof) return `GPU ${g.gpu} on ${b.node} has no MIG profile ${g.mig.profile}`;
        const mask = ((1 << prof.memSlices) - 1) << g.mig.start;
        if (!prof.starts.includes(g.mig.start) || (gpu.mig.usedMask & mask) !== 0 || gpu.mig.smUsed + prof.smSlices > 7) {
          return `MIG slot ${g.mig.profile}@${g.mig.start} on GPU ${g.gpu} of ${b.node} is not free`;
        }
      } else {
        if (gpu.mig) return `GPU ${g.gpu} on ${b.node} is in MIG mode`;
        if (gpu.milliFree < g.milli || gpu.memFree < g.memoryMiB) return `GPU ${g.gpu} on ${b.node} has too little free capacity`;
      }
    }
    return null;
  }

  bind(b: Binding): void {
    const problem = this.checkBinding(b);
    if (problem) throw new ClusterError(problem);
    const node = this.byName.get(b.node) as NodeState;
    node.cpuFree -= b.cpuMilli;
    node.memFree -= b.memoryMiB;
    for (const g of b.gpus) {
      const gpu = node.gpus[g.gpu];
      if (!gpu) continue;
      if (g.mig && gpu.mig) {
        const prof = gpu.migProfiles.find((p) => p.name === g.mig?.profile);
        if (prof) applyMig(gpu.mig, prof, g.mig.start, b.podId);
      } else {
        gpu.milliFree -= g.milli;
        gpu.memFree -= g.memoryMiB;
      }
    }
    node.podCount++;
    this.bindings.set(b.podId, b);
    node.refresh();
  }

  release(podId: string): Binding | undefined {
    const b = this.bindings.get(podId);
    if (!b) return undefined;
    this.bindings.delete(podId);
    const node = this.byName.get(b.node);
    if (!node) return b;
    node.cpuFree += b.cpuMilli;
    node.memFree += b.memoryMiB;
    for (const g of b.gpus) {
      const gpu = node.gpus[g.gpu];
      if (!gpu) continue;
      if (g.mig && gpu.mig) {
        const prof = gpu.migProfiles.find((p) => p.name === g.mig?.profile);
        if (prof) releaseMig(gpu.mig, prof, g.mig.start);
      } else {
        gpu.milliFree += g.milli;
        gpu.memFree += g.memoryMiB;
      }
    }
    node.podCount--;
    node.refresh();
    return b;
  }

  /** Marks a node (un)schedulable, e.g. cordon. */
  setUnschedulable(name: string, value: boolean): void {
    const node = this.byName.get(name);
    if (!node) throw new ClusterError(`node ${name} does not exist`);
    node.unschedulable = value;
    this.specVersion++;
    node.refresh();
  }

  /** Replaces a node's labels, taints and cached datasets (they change on live nodes; capacity does not). */
  setNodeMeta(name: string, labels: Readonly<Record<string, string>>, taints: readonly Taint[], cachedDatasets?: readonly string[], cachedBytes?: Readonly<Record<string, number>>): void {
    const node = this.byName.get(name);
    if (!node) throw new ClusterError(`node ${name} does not exist`);
    node.labels = labels;
    node.taints = taints;
    if (cachedDatasets !== undefined || cachedBytes !== undefined) {
      node.cachedDatasets = new Set(cachedDatasets ?? []);
      this.countHolders(node.cachedBytes, -1);
      node.cachedBytes = cachedBytesOf(cachedDatasets, cachedBytes);
      this.countHolders(node.cachedBytes, 1);
      this.refreshRackCache(node.rack, node);
    }
    this.specVersion++;
    node.refresh();
  }

  /**
   * Replaces what a node's dataset cache holds (NodeCacheReport). Scores change, feasibility
   * does not: the node and its rack are refreshed (their cached scores are redone) but the
   * spec version, which feasibility caches follow, stays.
   */
  setNodeCache(name: string, held: Readonly<Record<string, number>>): void {
    const node = this.byName.get(name);
    if (!node) throw new ClusterError(`node ${name} does not exist`);
    if (node.cachedBytes.size === 0 && node.cachedDatasets.size === 0 && !hasBytes(held)) return;
    node.cachedDatasets = new Set();
    this.countHolders(node.cachedBytes, -1);
    node.cachedBytes = cachedBytesOf(undefined, held);
    this.countHolders(node.cachedBytes, 1);
    this.refreshRackCache(node.rack, node);
    node.refresh();
  }

  /** Nodes holding bytes of each dataset (for holding jobs back for their data). */
  private readonly holders = new Map<string, number>();

  private countHolders(bytes: ReadonlyMap<string, number>, sign: 1 | -1): void {
    for (const k of bytes.keys()) {
      const n = (this.holders.get(k) ?? 0) + sign;
      if (n > 0) this.holders.set(k, n);
      else this.holders.delete(k);
    }
  }

  /** How many nodes hold bytes of a dataset. */
  holdersOf(dataset: string): number {
    return this.holders.get(dataset) ?? 0;
  }

  /**
   * Recomputes the most bytes of each dataset held in a rack and hands it to the rack's nodes;
   * a node whose view changed is refreshed (its generation moves, so cached scores are redone).
   */
  private refreshRackCache(rack: string, changed?: NodeState): void {
    if (rack === '') {
      if (changed) changed.rackCachedBytes = changed.cachedBytes;
      return;
    }
    const members = [...this.byName.values()].filter((n) => n.rack === rack);
    const max = new Map<string, number>();
    for (const n of members) for (const [k, v] of n.cachedBytes) if (v > (max.get(k) ?? 0)) max.set(k, v);
    for (const n of members) {
      n.rackCachedBytes = max;
      if (n !== changed && (max.size > 0 || n.cachedBytes.size > 0)) n.refresh();
    }
  }

  setGpuHealth(name: string, gpuIndex: number, healthy: boolean): void {
    const node = this.byName.get(name);
    const gpu = node?.gpus[gpuIndex];
    if (!node || !gpu) throw new ClusterError(`GPU ${gpuIndex} on node ${name} does not exist`);
    gpu.healthy = healthy;
    this.specVersion++;
    node.refresh();
  }

  begin(): Statement {
    return new Statement(this);
  }
}

type Op = { readonly kind: 'bind'; readonly b: Binding } | { readonly kind: 'release'; readonly b: Binding };

/** A transaction over bind/release: try a plan, then commit or roll back. */
export class Statement {
  private ops: Op[] = [];
  constructor(private readonly cluster: Cluster) {}

  bind(b: Binding): void {
    this.cluster.bind(b);
    this.ops.push({ kind: 'bind', b });
  }

  release(podId: string): Binding | undefined {
    const b = this.cluster.release(podId);
    if (b) this.ops.push({ kind: 'release', b });
    return b;
  }

  get size(): number {
    return this.ops.length;
  }

  /** Operations since the statement began, oldest first. */
  operations(): readonly Op[] {
    return this.ops;
  }

  /** A mark to roll back to (for nested attempts within one plan). */
  checkpoint(): number {
    return this.ops.length;
  }

  rollback(to = 0): void {
    while (this.ops.length > to) {
      const op = this.ops.pop() as Op;
      if (op.kind === 'bind') this.cluster.release(op.b.podId);
      else this.cluster.bind(op.b);
    }
  }

  commit(): readonly Op[] {
    const done = this.ops;
    this.ops = [];
    return done;
  }
}

function hasBytes(held: Readonly<Record<string, number>>): boolean {
  for (const k in held) if ((held[k] ?? 0) > 0) return true;
  return false;
}
