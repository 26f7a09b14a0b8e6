/**
 * Places one pod: run the filters on every node, score every feasible node, take the best
 * (ties: the node first in name order), choose its GPUs. Every node is scored on every
 * decision, but a node-local plugin's score for a request shape is cached per node and
 * reused until that node changes (its generation moves): the result is exactly what a
 * full rescan gives, at the cost of rescoring only the nodes that changed.
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
}

class ShapeCache {
  gen: Float64Array;
  reason: Uint8Array;
  raw: Float64Array;
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
  ) {
    this.local = profile.scorers.filter((s) => s.plugin.nodeLocal).map((s) => s.plugin);
    this.localWeights = profile.scorers.filter((s) => s.plugin.nodeLocal).map((s) => s.weight);
    this.global = profile.scorers.filter((s) => !s.plugin.nodeLocal).map((s) => s.plugin);
    this.globalWeights = profile.scorers.filter((s) => !s.plugin.nodeLocal).map((s) => s.weight);
    this.assigner = profile.scorers.find((s) => s.plugin.assign !== undefined)?.plugin;
  }

  /** Drops every cached score (e.g. after a change the generations cannot show). */
  invalidate(): void {
    this.caches.clear();
  }

  private cacheFor(key: string): ShapeCache {
    const slots = this.cluster.slotCount;
    let c = this.caches.get(key);
    if (c) {
      this.caches.delete(key);
      this.caches.set(key, c);
      c.grow(slots);
      return c;
    }
    const per = 9 + 8 * Math.max(1, this.local.length);
    const max = Math.max(4, Math.floor(MAX_CACHE_BYTES / Math.max(1, slots * per)));
    while (this.caches.size >= max) {
      const oldest = this.caches.keys().next().value as string;
      this.caches.delete(oldest);
    }
    c = new ShapeCache(slots, this.local.length);
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

  placePrepared(p: PreparedRequest, opts: PlaceOptions = {}): PlaceResult {
    this.stats.decisions++;
    const cluster = this.cluster;
    cluster.ensureRanks();
    const ctx: CycleContext = { rng: this.rng, gangNodes: opts.gangNodes ?? null };
    const cache = this.cacheFor(p.shapeKey);
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
    const cgen = cache.gen;
    const creason = cache.reason;
    const craw = cache.raw;
    // Fast path: one node-local scorer without normalisation -> pick the best during the scan.
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
      total++;
      if (cgen[slot] !== g) {
        const node = cluster.nodeAt(slot) as NodeState;
        const r = this.filter(p, node);
        creason[slot] = r;
        if (r === Reason.None) for (let j = 0; j < L; j++) craw[slot * L + j] = (this.local[j] as ScorePlugin).score(p, node, ctx);
        cgen[slot] = g;
        this.stats.nodesRescored++;
      }
      const r = creason[slot] as number;
      if (r !== Reason.None) {
        counts[r] = (counts[r] as number) + 1;
        continue;
      }
      if (single) {
        const sc = craw[slot] as number;
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
    if (cand) counts[Reason.NotInDomain] = (counts[Reason.NotInDomain] as number) + (cluster.nodeCount - total);
    if (count === 0) {
      const reasons = reasonList(counts);
      const all = cluster.nodeCount;
      return { ok: false, reasons, totalNodes: all, message: formatReasons(all, reasons) };
    }
    if (!single) {
      const totals = this.totals;
      const tmp = this.tmp;
      totals.fill(0, 0, count);
      for (let j = 0; j < L; j++) {
        const plugin = this.local[j] as ScorePlugin;
        const w = this.localWeights[j] as number;
        for (let i = 0; i < count; i++) tmp[i] = craw[(feasible[i] as number) * L + j] as number;
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
