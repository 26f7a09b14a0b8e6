/**
 * Places one pod: run the filters on every node, score every feasible node, take the best
 * (ties: the node first in name order), choose its GPUs.
 *
 * Every node's score is exact and current, but nothing is recomputed that did not change:
 * for each request shape the placer keeps, per node, the filter verdict and the node-local
 * scores, tagged with the node's generation. The cluster's change log says which nodes
 * changed since the shape was last placed; only those are rescored. With a single node-local
 * scorer (the usual policies) the best node is kept in a segment tree over node slots, so a
 * decision costs O(changed nodes x log N) instead of O(N); the result is the same node a full
 * rescan would pick. Other profiles (several scorers, normalisation, randomness) and
 * decisions restricted to a candidate set scan the nodes, still reusing cached scores.
 */
import type { Cluster, Binding, GpuGrant } from '../model/cluster.js';
import type { NodeState } from '../model/node.js';
import { findGpuModel, GPU_MODELS, type MigProfile } from '../model/gpu-catalog.js';
import { requestMilliGpu, requestShapeKey, type PodRequest } from '../model/request.js';
import type { CycleContext, PreparedRequest, Profile, ScorePlugin } from '../framework/plugin.js';
import { REASON_COUNT, Reason, formatReasons, reasonList, type ReasonCount, type ReasonCode } from '../framework/reasons.js';
import type { Rng } from '../rng.js';
import { defaultAssign } from './gpu-assign.js';

export type PlaceResult =
  | { readonly ok: true; readonly binding: Binding; readonly score: number; readonly feasibleNodes: number }
  | { readonly ok: false; readonly reasons: readonly ReasonCount[]; readonly totalNodes: number; readonly message: string };

export interface PlaceOptions {
  /** Only these node slots are candidates (others count as "outside the domain"). */
  readonly candidates?: readonly number[];
  readonly gangNodes?: ReadonlyMap<number, number>;
  /** Node slots that are off limits (counted as outside the domain). */
  readonly excludeSlots?: ReadonlySet<number>;
}

class ShapeCache {
  gen: Float64Array;
  reason: Uint8Array;
  raw: Float64Array;
  /** Change-log position this cache has caught up to; -1 = never synced (rescan all). */
  pos = -1;
  /** Nodes per reason (index 0 = feasible), kept current with `reason` (tree mode). */
  readonly counts = new Int32Array(REASON_COUNT);
  /** Membership version the tree's ranks were built under. */
  membership = -1;
  /** Segment tree of the best feasible slot per subtree (-1 = none); tree mode only. */
  tree: Int32Array | null = null;
  size = 0;
  lastUsed = 0;

  constructor(
    slots: number,
    readonly width: number,
  ) {
    this.gen = new Float64Array(slots);
    this.reason = new Uint8Array(slots);
    this.raw = new Float64Array(slots * Math.max(1, width));
  }

  grow(slots: number): void {
    if (slots <= this.gen.length) return;
    const g = new Float64Array(slots);
    g.set(this.gen);
    const r = new Uint8Array(slots);
    r.set(this.reason);
    const s = new Float64Array(slots * Math.max(1, this.width));
    s.set(this.raw);
    this.gen = g;
    this.reason = r;
    this.raw = s;
    this.pos = -1; // rebuild the tree at the new size
  }

  resetTree(slots: number): void {
    let size = 1;
    while (size < slots) size <<= 1;
    this.size = size;
    this.tree = new Int32Array(2 * size).fill(-1);
    this.counts.fill(0);
    this.gen.fill(0);
  }

  /** The better of two slots (-1 = none): higher score, then lower rank (name order). */
  private pick(a: number, b: number, ranks: Int32Array): number {
    if (a < 0) return b;
    if (b < 0) return a;
    const sa = this.raw[a] as number;
    const sb = this.raw[b] as number;
    if (sa > sb) return a;
    if (sb > sa) return b;
    return (ranks[a] as number) <= (ranks[b] as number) ? a : b;
  }

  /** Re-evaluates the tree path above `slot` (leaf = slot when feasible and present). */
  updateTree(slot: number, feasible: boolean, ranks: Int32Array): void {
    const tree = this.tree as Int32Array;
    let i = this.size + slot;
    tree[i] = feasible ? slot : -1;
    i >>= 1;
    while (i >= 1) {
      tree[i] = this.pick(tree[2 * i] as number, tree[2 * i + 1] as number, ranks);
      i >>= 1;
    }
  }

  /** Rebuilds all internal tree nodes bottom-up (after a full rescan). */
  buildTree(ranks: Int32Array): void {
    const tree = this.tree as Int32Array;
    for (let i = this.size - 1; i >= 1; i--) tree[i] = this.pick(tree[2 * i] as number, tree[2 * i + 1] as number, ranks);
  }

  get best(): number {
    return this.tree ? (this.tree[1] as number) : -1;
  }
}

export function prepareRequest(req: PodRequest): PreparedRequest {
  const allowed = req.allowedModels && req.allowedModels.length > 0 ? new Set(req.allowedModels.map((m) => findGpuModel(m)?.name ?? m)) : null;
  let migByModel: Map<string, MigProfile> | null = null;
  if (req.gpu.kind === 'mig') {
    migByModel = new Map();
    for (const m of GPU_MODELS) {
      const prof = m.migProfiles.find((p) => p.name === (req.gpu as { profile: string }).profile);
      if (prof) migByModel.set(m.name, prof);
    }
  }
  return { req, shapeKey: requestShapeKey(req), milliGpu: requestMilliGpu(req.gpu), allowed, migByModel };
}

const MAX_CACHE_BYTES = 96 * 1024 * 1024;
const NO_SLOTS: number[] = [];

export class Placer {
  private readonly caches = new Map<string, ShapeCache>();
  private readonly local: ScorePlugin[];
  private readonly localWeights: number[];
  private readonly global: ScorePlugin[];
  private readonly globalWeights: number[];
  private readonly assigner: ScorePlugin | undefined;
  private readonly counts = new Int32Array(REASON_COUNT);
  private feasible = new Int32Array(0);
  private totals = new Float64Array(0);
  private tmp = new Float64Array(0);
  /** Decisions made and nodes (re)scored, for benchmarks. */
  stats = { decisions: 0, nodesRescored: 0 };

  constructor(
    readonly cluster: Cluster,
    readonly profile: Profile,
    readonly rng: Rng,
    /** false = forget every cached score before each decision (a full rescan; for benchmarks). */
    private readonly incremental = true,
  ) {
    this.local = profile.scorers.filter((s) => s.plugin.nodeLocal).map((s) => s.plugin);
    this.localWeights = profile.scorers.filter((s) => s.plugin.nodeLocal).map((s) => s.weight);
    this.global = profile.scorers.filter((s) => !s.plugin.nodeLocal).map((s) => s.plugin);
    this.globalWeights = profile.scorers.filter((s) => !s.plugin.nodeLocal).map((s) => s.weight);
    this.assigner = profile.scorers.find((s) => s.plugin.assign !== undefined)?.plugin;
    this.treeMode = this.local.length === 1 && this.global.length === 0 && this.local[0]?.normalize === undefined;
    this.plainCtx = { rng, gangNodes: null };
  }

  /** Drops every cached score (e.g. after a change the generations cannot show). */
  invalidate(): void {
    this.caches.clear();
  }

  private useClock = 0;
  /** The profile's scoresVersion the cached scores were computed under. */
  private scoresVersion = 0;

  /** How many shape caches fit in MAX_CACHE_BYTES at the cluster's size. */
  private maxCaches(): number {
    const per = 9 + 8 * Math.max(1, this.local.length) + 8;
    return Math.max(4, Math.floor(MAX_CACHE_BYTES / Math.max(1, this.cluster.slotCount * per)));
  }

  /**
   * A request of a shape not seen before arrives: build its cache now (every node filtered and
   * scored once), so that the cycle that places it only catches up with what changed since,
   * instead of scanning the whole cluster mid-cycle. Only in tree mode, and never at the cost
   * of evicting another shape's cache. The cache is kept current by the change log, so what
   * the cycle sees is what a scan at that moment would give.
   */
  warm(p: PreparedRequest): void {
    if (!this.incremental || !this.treeMode || this.caches.size >= this.maxCaches()) return;
    if (this.caches.has(p.shapeKey) && (this.profile.scoresVersion?.() ?? 0) === this.scoresVersion) return;
    this.cluster.ensureRanks();
    this.sync(this.cacheFor(p.shapeKey), p, this.plainCtx);
  }

  private cacheFor(key: string): ShapeCache {
    const version = this.profile.scoresVersion?.() ?? 0;
    if (version !== this.scoresVersion) {
      this.scoresVersion = version;
      this.caches.clear();
    }
    const slots = this.cluster.slotCount;
    let c = this.caches.get(key);
    if (c) {
      c.lastUsed = ++this.useClock;
      if (slots > c.gen.length) c.grow(slots);
      return c;
    }
    const max = this.maxCaches();
    if (this.caches.size >= max) {
      // Evict the least recently used shape (rare: only when there are many shapes).
      let oldest: string | null = null;
      let at = Infinity;
      for (const [k, v] of this.caches) {
        if (v.lastUsed < at) {
          at = v.lastUsed;
          oldest = k;
        }
      }
      if (oldest !== null) this.caches.delete(oldest);
    }
    c = new ShapeCache(slots, this.local.length);
    c.lastUsed = ++this.useClock;
    this.caches.set(key, c);
    return c;
  }

  filter(p: PreparedRequest, node: NodeState): ReasonCode {
    for (const f of this.profile.filters) {
      const r = f.filter(p, node);
      if (r !== Reason.None) return r;
    }
    return Reason.None;
  }

  place(req: PodRequest, opts: PlaceOptions = {}): PlaceResult {
    return this.placePrepared(prepareRequest(req), opts);
  }

  /** True when the best node can be kept in a tree: one node-local scorer, no normalisation. */
  private readonly treeMode: boolean;
  /** The context of a decision outside a gang (one object for all of them). */
  private readonly plainCtx: CycleContext;

  /** Recomputes a slot's verdict and score; keeps counts and tree current in tree mode. */
  private refreshSlot(cache: ShapeCache, p: PreparedRequest, slot: number, ctx: CycleContext, tree: boolean): void {
    const cluster = this.cluster;
    const g = cluster.generations[slot] as number;
    if (cache.gen[slot] === g) return;
    const L = this.local.length;
    const had = cache.gen[slot] !== 0;
    const oldReason = cache.reason[slot] as number;
    if (g === 0) {
      cache.gen[slot] = 0;
      if (tree && slot < cache.size) {
        if (had) cache.counts[oldReason] = (cache.counts[oldReason] as number) - 1;
        cache.updateTree(slot, false, cluster.ranks);
      }
      return;
    }
    const node = cluster.nodeAt(slot) as NodeState;
    const r = this.filter(p, node);
    cache.reason[slot] = r;
    if (r === Reason.None) for (let j = 0; j < L; j++) cache.raw[slot * L + j] = (this.local[j] as ScorePlugin).score(p, node, ctx);
    cache.gen[slot] = g;
    this.stats.nodesRescored++;
    if (tree && slot < cache.size) {
      if (had) cache.counts[oldReason] = (cache.counts[oldReason] as number) - 1;
      cache.counts[r] = (cache.counts[r] as number) + 1;
      cache.updateTree(slot, r === Reason.None, cluster.ranks);
    }
  }

  /** Brings a tree-mode cache up to date with the cluster: the changed nodes, or everything. */
  private sync(cache: ShapeCache, p: PreparedRequest, ctx: CycleContext): void {
    const cluster = this.cluster;
    const log = cluster.changes;
    if (cache.tree === null || cache.pos < log.base || cache.membership !== cluster.membershipVersion || cache.size < cluster.slotCount) {
      cache.resetTree(cluster.slotCount);
      const L = this.local.length;
      const tree = cache.tree as unknown as Int32Array;
      for (let slot = 0; slot < cluster.slotCount; slot++) {
        const g = cluster.generations[slot] as number;
        if (g === 0) continue;
        const node = cluster.nodeAt(slot) as NodeState;
        const r = this.filter(p, node);
        cache.reason[slot] = r;
        if (r === Reason.None) for (let j = 0; j < L; j++) cache.raw[slot * L + j] = (this.local[j] as ScorePlugin).score(p, node, ctx);
        cache.gen[slot] = g;
        cache.counts[r] = (cache.counts[r] as number) + 1;
        tree[cache.size + slot] = r === Reason.None ? slot : -1;
        this.stats.nodesRescored++;
      }
      cache.buildTree(cluster.ranks);
      cache.membership = cluster.membershipVersion;
      cache.pos = log.end;
      return;
    }
    const entries = log.entries;
    for (let i = cache.pos - log.base; i < entries.length; i++) this.refreshSlot(cache, p, entries[i] as number, ctx, true);
    cache.pos = log.end;
  }

  /**
   * The scanning path: every candidate node (all, or `opts.candidates`), cached verdicts and
   * scores reused per generation; normalisation and non-node-local scorers applied here.
   * Fills this.counts with the rejection reasons.
   */
  private scan(cache: ShapeCache, p: PreparedRequest, opts: PlaceOptions, ctx: CycleContext, ex: ReadonlySet<number> | null): { best: number; score: number; count: number } {
    const cluster = this.cluster;
    const L = this.local.length;
    const counts = this.counts;
    counts.fill(0);
    const slots = cluster.slotCount;
    if (this.feasible.length < slots) {
      this.feasible = new Int32Array(slots);
      this.totals = new Float64Array(slots);
      this.tmp = new Float64Array(slots);
    }
    const gens = cluster.generations;
    const ranks = cluster.ranks;
    const useTree = cache.tree !== null && cache.pos >= 0 && cache.size >= slots;
    const single = L === 1 && this.global.length === 0 && this.local[0]?.normalize === undefined;
    const feasible = this.feasible;
    let count = 0;
    let total = 0;
    let best = -1;
    let bestScore = -Infinity;
    let bestRank = Infinity;
    const cand = opts.candidates;
    const n = cand ? cand.length : slots;
    for (let k = 0; k < n; k++) {
      const slot = cand ? (cand[k] as number) : k;
      const g = gens[slot] as number;
      if (g === 0) continue;
      if (ex !== null && ex.has(slot)) continue;
      total++;
      if (cache.gen[slot] !== g) this.refreshSlot(cache, p, slot, ctx, useTree);
      const r = cache.reason[slot] as number;
      if (r !== Reason.None) {
        counts[r] = (counts[r] as number) + 1;
        continue;
      }
      if (single) {
        const sc = cache.raw[slot] as number;
        if (sc > bestScore || (sc === bestScore && (ranks[slot] as number) < bestRank)) {
          best = slot;
          bestScore = sc;
          bestRank = ranks[slot] as number;
        }
        count++;
        continue;
      }
      feasible[count++] = slot;
    }
    if (cand || ex) counts[Reason.NotInDomain] = (counts[Reason.NotInDomain] as number) + (cluster.nodeCount - total);
    if (count === 0 || single) return { best, score: bestScore, count };
    const totals = this.totals;
    const tmp = this.tmp;
    totals.fill(0, 0, count);
    for (let j = 0; j < L; j++) {
      const plugin = this.local[j] as ScorePlugin;
      const w = this.localWeights[j] as number;
      for (let i = 0; i < count; i++) tmp[i] = cache.raw[(feasible[i] as number) * L + j] as number;
      if (plugin.normalize) plugin.normalize(tmp, count);
      for (let i = 0; i < count; i++) totals[i] = (totals[i] as number) + w * (tmp[i] as number);
    }
    for (let j = 0; j < this.global.length; j++) {
      const plugin = this.global[j] as ScorePlugin;
      const w = this.globalWeights[j] as number;
      for (let i = 0; i < count; i++) tmp[i] = plugin.score(p, cluster.nodeAt(feasible[i] as number) as NodeState, ctx);
      if (plugin.normalize) plugin.normalize(tmp, count);
      for (let i = 0; i < count; i++) totals[i] = (totals[i] as number) + w * (tmp[i] as number);
    }
    for (let i = 0; i < count; i++) {
      const sc = totals[i] as number;
      const slot = feasible[i] as number;
      if (sc > bestScore || (sc === bestScore && (ranks[slot] as number) < bestRank)) {
        best = slot;
        bestScore = sc;
        bestRank = ranks[slot] as number;
      }
    }
    return { best, score: bestScore, count };
  }

  placePrepared(p: PreparedRequest, opts: PlaceOptions = {}): PlaceResult {
    this.stats.decisions++;
    if (!this.incremental) this.caches.clear();
    const cluster = this.cluster;
    cluster.ensureRanks();
    const ctx: CycleContext = opts.gangNodes ? { rng: this.rng, gangNodes: opts.gangNodes } : this.plainCtx;
    const cache = this.cacheFor(p.shapeKey);
    const ex = opts.excludeSlots !== undefined && opts.excludeSlots.size > 0 ? opts.excludeSlots : null;
    let best = -1;
    let bestScore = -Infinity;
    let count = 0;
    if (this.treeMode && opts.candidates === undefined) {
      this.sync(cache, p, ctx);
      // Excluded slots leave the tree for this query only.
      const masked: number[] = ex !== null ? [] : NO_SLOTS;
      if (ex !== null) {
        for (const slot of ex) {
          if ((cluster.generations[slot] as number) !== 0 && cache.reason[slot] === Reason.None) {
            cache.updateTree(slot, false, cluster.ranks);
            masked.push(slot);
          }
        }
      }
      best = cache.best;
      count = (cache.counts[Reason.None] as number) - masked.length;
      for (const slot of masked) cache.updateTree(slot, true, cluster.ranks);
      if (best < 0) {
        const counts = this.counts;
        counts.set(cache.counts);
        counts[Reason.None] = 0;
        if (ex !== null) {
          // Excluded nodes count as outside the domain, whatever their own verdict.
          for (const slot of ex) {
            if ((cluster.generations[slot] as number) === 0) continue;
            const r = cache.reason[slot] as number;
            if (r !== Reason.None) counts[r] = (counts[r] as number) - 1;
            counts[Reason.NotInDomain] = (counts[Reason.NotInDomain] as number) + 1;
          }
        }
        const reasons = reasonList(counts);
        return { ok: false, reasons, totalNodes: cluster.nodeCount, message: formatReasons(cluster.nodeCount, reasons) };
      }
      bestScore = cache.raw[best] as number;
    } else {
      const r = this.scan(cache, p, opts, ctx, ex);
      if (r.best < 0) {
        const reasons = reasonList(this.counts);
        return { ok: false, reasons, totalNodes: cluster.nodeCount, message: formatReasons(cluster.nodeCount, reasons) };
      }
      best = r.best;
      bestScore = r.score;
      count = r.count;
    }
    const node = cluster.nodeAt(best) as NodeState;
    const grants: GpuGrant[] | null = this.assigner?.assign?.(p, node, ctx) ?? defaultAssign(p, node);
    if (grants === null) {
      // A filter passed but no GPU set could be chosen: a plugin bug, reported, never thrown.
      return { ok: false, reasons: [], totalNodes: cluster.nodeCount, message: `internal: no GPU assignment on ${node.name}` };
    }
    return {
      ok: true,
      binding: { podId: p.req.id, node: node.name, cpuMilli: p.req.cpuMilli, memoryMiB: p.req.memoryMiB, gpus: grants },
      score: bestScore,
      feasibleNodes: count,
    };
  }
}
