/**
 * Score wrapper: data locality. A request that names datasets prefers nodes whose local cache
 * already holds them, before anything else the policy weighs: the share of its datasets the
 * node caches is the leading term, the wrapped policy's score breaks ties among equally local
 * nodes. Requests without datasets score exactly as the wrapped policy says. The wrapper stays
 * node-local (it reads only the request and the node), so the placer's per-node caches and its
 * best-node tree still apply. Configuration: none; nodes report their cached datasets
 * (NodeSpec.cachedDatasets, updated by the dataset cache adapter).
 */
import type { ScorePlugin } from '../../framework/plugin.js';

/** Larger than any policy score, so locality leads; finite so ties still fall to the policy. */
const LOCALITY_WEIGHT = 1e12;

export function cachedFraction(datasets: readonly string[] | undefined, cached: ReadonlySet<string>): number {
  if (!datasets || datasets.length === 0 || cached.size === 0) return 0;
  let hit = 0;
  for (const d of datasets) if (cached.has(d)) hit++;
  return hit / datasets.length;
}

export function withDataLocality(inner: ScorePlugin): ScorePlugin {
  const wrapped: ScorePlugin = {
    name: `${inner.name}+DataLocality`,
    nodeLocal: inner.nodeLocal,
    score(p, node, ctx) {
      const base = inner.score(p, node, ctx);
      const ds = p.req.datasets;
      if (!ds || ds.length === 0) return base;
      return cachedFraction(ds, node.cachedDatasets) * LOCALITY_WEIGHT + base;
    },
  };
  if (inner.normalize) wrapped.normalize = inner.normalize;
  if (inner.assign) wrapped.assign = inner.assign;
  return wrapped;
}
