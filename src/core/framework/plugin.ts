/**
 * The plugin framework: one small interface per extension point, after kube-scheduler.
 *  - Filter: may this node run the request? Returns Reason.None or a reason code.
 *  - Score: how good is this node (higher is better)? Optionally normalised across nodes.
 *  - Assign: which GPUs on the chosen node (the plugin that scores GPU choices decides them).
 *  - Reserve / Unreserve: side bookkeeping when a placement is (un)made; Unreserve is idempotent.
 * Plugins are pure functions of (request, node state[, cycle state]). A score plugin that
 * depends on nothing else is `nodeLocal`, and its scores are cached per node generation.
 */
import type { NodeState } from '../model/node.js';
import type { PodRequest } from '../model/request.js';
import type { GpuGrant, Binding } from '../model/cluster.js';
import type { MigProfile } from '../model/gpu-catalog.js';
import type { ReasonCode } from './reasons.js';
import type { Rng } from '../rng.js';

/** A request with what every plugin needs precomputed once (kube-scheduler's PreFilter). */
export interface PreparedRequest {
  readonly req: PodRequest;
  readonly shapeKey: string;
  /** Total milli-GPU the request takes (0 for CPU-only). */
  readonly milliGpu: number;
  /** Allowed models as a set, or null for any. */
  readonly allowed: ReadonlySet<string> | null;
  /** MIG profile per model that offers the requested profile (MIG requests only). */
  readonly migByModel: ReadonlyMap<string, MigProfile> | null;
}

/** Per-decision context for plugins that are not node-local (random, gang proximity). */
export interface CycleContext {
  readonly rng: Rng;
  /** Nodes already holding members of the gang being placed (slot -> member count). */
  readonly gangNodes: ReadonlyMap<number, number> | null;
}

export interface FilterPlugin {
  readonly name: string;
  filter(p: PreparedRequest, node: NodeState): ReasonCode;
}

export interface ScorePlugin {
  readonly name: string;
  /** True when score() depends only on the request shape and the node's state. */
  readonly nodeLocal: boolean;
  score(p: PreparedRequest, node: NodeState, ctx: CycleContext): number;
  /** Rescales the scores of the feasible nodes in place (e.g. min-max to 0..100). */
  normalize?(scores: Float64Array, count: number): void;
  /** Chooses GPUs on `node` for the request; null = use the default GPU choice. */
  assign?(p: PreparedRequest, node: NodeState, ctx: CycleContext): GpuGrant[] | null;
}

export interface ReservePlugin {
  readonly name: string;
  reserve(binding: Binding): void;
  /** Must tolerate being called for a binding that was never reserved. */
  unreserve(binding: Binding): void;
}

export interface WeightedScorer {
  readonly plugin: ScorePlugin;
  readonly weight: number;
}

/** A placement policy: the filters, the weighted scorers, and the reserve hooks. */
export interface Profile {
  readonly name: string;
  readonly filters: readonly FilterPlugin[];
  readonly scorers: readonly WeightedScorer[];
  readonly reservers?: readonly ReservePlugin[];
  /**
   * Changes when node-local scores change for a reason node generations do not show (a
   * target workload learned online): the placer then drops its cached scores.
   */
  readonly scoresVersion?: () => number;
}

/** Integer min-max normalisation to 0..100, as kube-scheduler plugins do (integer division). */
export function normalizeMinMaxInt(scores: Float64Array, count: number): void {
  if (count === 0) return;
  let hi = -Infinity;
  let lo = Infinity;
  for (let i = 0; i < count; i++) {
    const s = scores[i] as number;
    if (s > hi) hi = s;
    if (s < lo) lo = s;
  }
  const range = hi - lo;
  for (let i = 0; i < count; i++) {
    scores[i] = range === 0 ? 0 : Math.trunc((((scores[i] as number) - lo) * 100) / range);
  }
}
