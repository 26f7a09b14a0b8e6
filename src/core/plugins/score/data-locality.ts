/**
 * Score wrapper: data locality. What it scores: the share of a request's dataset bytes already
 * on the node, in [0, 1], plus partial credit (`rackCredit`, default 0.5) for bytes that only
 * another node of the same rack holds (a copy over the rack switch, not the uplink). Without
 * sizes (a Kubernetes annotation names datasets only) each dataset counts alike and a named
 * copy counts as complete. Each gang member is scored on its own datasets.
 *
 * Configuration: `weight`, in the wrapped policy's score units: the score is
 * `policy + weight * locality`. The default (1e12, larger than any policy score) makes locality
 * lead and the policy break ties among equally local nodes; a small weight lets packing win
 * when it gains more than `weight * (locality difference)`. Locality never overrides
 * feasibility (filters run first); a request without datasets scores exactly as the policy.
 * `reserve` (with a DataDemand, which the scheduler refreshes each cycle): minus `reserve`
 * points per TB the node holds of data other pending jobs read, so a job with a choice leaves
 * holders to their data's jobs. The wrapper stays node-local (it reads the request, the node,
 * whose rack summary the Cluster keeps and whose generation moves when it changes, and the
 * demand, whose version the profile's scoresVersion adds), so the placer's per-node caches and
 * best-node tree still apply. Nodes report what they hold: NodeSpec.cachedDatasets /
 * cachedBytes (the dataset cache adapter, or the Kubernetes node annotation).
 */
import type { ScorePlugin } from '../../framework/plugin.js';
import type { NodeState } from '../../model/node.js';
import type { PodRequest } from '../../model/request.js';
import type { DataPaths } from '../../model/node-cache.js';

/** Larger than any policy score, so locality leads; finite so ties still fall to the policy. */
export const LOCALITY_LEADS = 1e12;

/**
 * The holder reserve's default, points per TB: above the packing policy's scores (it leads
 * packing among equally local nodes) and far below locality's (a TB-weighted demand never
 * outweighs a job's own data).
 */
export const RESERVE_DEFAULT = 1e6;

export interface LocalityOptions {
  /** Score points a fully local node gains over a node holding nothing (default LOCALITY_LEADS). */
  readonly weight?: number;
  /** Credit, in [0, 1], for bytes another node of the same rack holds (default 0.5). */
  readonly rackCredit?: number;
  /**
   * Holder reserve: score points a node loses per TB of data it holds that pending jobs other
   * than the one placed want, each dataset's bytes shared among its holders (DataDemand).
   * Default RESERVE_DEFAULT; 0 turns it off. It keeps a holder's GPUs for the jobs that would
   * read its copy.
   */
  readonly reserve?: number;
}

/**
 * What pending work wants of the data nodes hold: per dataset, pending members that read it
 * per node holding it. Refreshed once per cycle by the scheduler (the queue changes between
 * cycles, not during one's scoring); `version` moves when it changes, so placer caches drop
 * the scores computed under the old demand.
 */
export class DataDemand {
  version = 0;
  private perHolder: ReadonlyMap<string, number> = new Map();

  /** Replaces the demand: dataset -> pending members reading it, with its holder count. */
  set(members: ReadonlyMap<string, number>, holdersOf: (dataset: string) => number): void {
    const next = new Map<string, number>();
    for (const [d, n] of members) {
      const h = holdersOf(d);
      if (h > 0 && n > 0) next.set(d, n / h);
    }
    if (sameEntries(next, this.perHolder)) return;
    this.perHolder = next;
    this.version++;
  }

  /** Bytes on `node` that pending jobs want, per holder, leaving out the request's own datasets. */
  heldFor(req: Pick<PodRequest, 'datasets'>, node: Pick<NodeState, 'cachedBytes'>): number {
    if (this.perHolder.size === 0 || node.cachedBytes.size === 0) return 0;
    const own = req.datasets ?? [];
    let out = 0;
    for (const [d, bytes] of node.cachedBytes) {
      const w = this.perHolder.get(d);
      if (w !== undefined && !own.includes(d)) out += w * bytes;
    }
    return out;
  }
}

function sameEntries(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** Share of the request's dataset bytes on the node (plus rack credit), in [0, 1]. */
export function localityShare(req: Pick<PodRequest, 'datasets' | 'datasetBytes'>, node: Pick<NodeState, 'cachedBytes' | 'rackCachedBytes'>, rackCredit = 0.5): number {
  const ds = req.datasets;
  if (!ds || ds.length === 0) return 0;
  if (node.cachedBytes.size === 0 && node.rackCachedBytes.size === 0) return 0;
  const sizes = req.datasetBytes;
  let total = 0;
  let got = 0;
  for (let i = 0; i < ds.length; i++) {
    const d = ds[i] as string;
    // Unknown sizes: each dataset weighs 1 and any held bytes count as the whole copy.
    const size = sizes ? Math.max(0, sizes[i] ?? 0) : 1;
    const on = node.cachedBytes.get(d) ?? 0;
    const inRack = node.rackCachedBytes.get(d) ?? 0;
    const here = sizes ? Math.min(size, on) : on > 0 ? 1 : 0;
    const rack = sizes ? Math.min(size, inRack) : inRack > 0 ? 1 : 0;
    total += size;
    got += here + rackCredit * Math.max(0, rack - here);
  }
  return total > 0 ? got / total : 0;
}

/**
 * Expected seconds before a request's data is on the node: bytes another node of the rack
 * holds copy at rack speed, the rest comes from the source through the uplink. Unknown sizes
 * count 0 (nothing to estimate). The same share as localityShare, in time: inference ranks
 * nodes for a replica's model weights by it (expected start-up time).
 */
export function expectedDataSeconds(req: Pick<PodRequest, 'datasets' | 'datasetBytes'>, node: Pick<NodeState, 'cachedBytes' | 'rackCachedBytes'>, paths: DataPaths): number {
  const ds = req.datasets;
  const sizes = req.datasetBytes;
  if (!ds || !sizes) return 0;
  let seconds = 0;
  for (let i = 0; i < ds.length; i++) {
    const d = ds[i] as string;
    const size = Math.max(0, sizes[i] ?? 0);
    const here = Math.min(size, node.cachedBytes.get(d) ?? 0);
    const rack = Math.max(here, Math.min(size, node.rackCachedBytes.get(d) ?? 0));
    seconds += (rack - here) / paths.rackBytesPerSec + (size - rack) / paths.remoteBytesPerSec;
  }
  return seconds;
}

export function withDataLocality(inner: ScorePlugin, o: LocalityOptions = {}, demand?: DataDemand): ScorePlugin {
  const weight = o.weight ?? LOCALITY_LEADS;
  const rackCredit = Math.min(1, Math.max(0, o.rackCredit ?? 0.5));
  const reserve = demand && weight !== 0 ? Math.max(0, o.reserve ?? RESERVE_DEFAULT) : 0;
  const wrapped: ScorePlugin = {
    name: `${inner.name}+DataLocality`,
    nodeLocal: inner.nodeLocal,
    score(p, node, ctx) {
      const base = inner.score(p, node, ctx);
      const ds = p.req.datasets;
      if (!ds || ds.length === 0 || weight === 0) return base;
      const held = reserve > 0 ? (demand as DataDemand).heldFor(p.req, node) : 0;
      return localityShare(p.req, node, rackCredit) * weight + base - (reserve * held) / 1e12;
    },
  };
  if (inner.normalize) wrapped.normalize = inner.normalize;
  if (inner.assign) wrapped.assign = inner.assign;
  return wrapped;
}
