/**
 * Score: GPU Clustering, as the FGD paper's simulator defines it: keep requests of the same
 * GPU shape together (shapes: a share, or N whole GPUs). A node that holds only this shape scores (75, 100]; one that holds this
 * and others (50, 75]; an idle node (25, 50]; a node with other shapes only (0, 25]; within
 * each band, fuller nodes score higher. Tracks the shapes on each node through reserve.
 */
import type { ReservePlugin, ScorePlugin, PreparedRequest } from '../../framework/plugin.js';
import type { Binding } from '../../model/cluster.js';

function shapeTag(p: PreparedRequest): string | null {
  const g = p.req.gpu;
  if (g.kind === 'none') return null;
  if (g.kind === 'whole') return `${g.count}-gpu`;
  if (g.kind === 'share') return 'share';
  return `m${g.profile}`;
}

export function createGpuClustering(): ScorePlugin & ReservePlugin {
  const tagsByNode = new Map<string, Map<string, number>>();
  const tagByPod = new Map<string, string>();
  return {
    name: 'GpuClustering',
    nodeLocal: true,
    score(p, node) {
      const tag = shapeTag(p);
      if (tag === null) return 0;
      const tags = tagsByNode.get(node.name);
      const used = Math.trunc((25 * (8000 - node.gpuMilliFreeTotal)) / 8000);
      const has = (tags?.get(tag) ?? 0) > 0;
      const kinds = tags ? [...tags.values()].filter((v) => v > 0).length : 0;
      if (has) return kinds === 1 ? used + 75 : used + 50;
      return kinds === 0 ? used + 25 : used;
    },
    reserve(b: Binding) {
      // The tag is derived from the grant: all shares alike, whole GPUs by count.
      const g = b.gpus;
      if (g.length === 0) return;
      const first = g[0];
      if (!first) return;
      const tag = first.mig ? `m${first.mig.profile}` : first.milli < 1000 ? 'share' : `${g.length}-gpu`;
      let tags = tagsByNode.get(b.node);
      if (!tags) tagsByNode.set(b.node, (tags = new Map()));
      tags.set(tag, (tags.get(tag) ?? 0) + 1);
      tagByPod.set(b.podId, tag);
    },
    unreserve(b: Binding) {
      const tag = tagByPod.get(b.podId);
      if (tag === undefined) return;
      tagByPod.delete(b.podId);
      const tags = tagsByNode.get(b.node);
      if (tags) tags.set(tag, Math.max(0, (tags.get(tag) ?? 0) - 1));
    },
  };
}
