/**
 * Filter: a node's NoSchedule / NoExecute taints must each be tolerated by the request
 * (Kubernetes semantics: Exists matches any value; an empty key with Exists matches all).
 */
import type { FilterPlugin } from '../../framework/plugin.js';
import { Reason } from '../../framework/reasons.js';
import type { Taint, Toleration } from '../../model/request.js';

export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect !== undefined && t.effect !== taint.effect) return false;
  const op = t.operator ?? 'Equal';
  if (op === 'Exists') return t.key === undefined || t.key === '' || t.key === taint.key;
  return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
}

export const taintToleration: FilterPlugin = {
  name: 'TaintToleration',
  filter: (p, node) => {
    if (node.taints.length === 0) return Reason.None;
    const tols = p.req.tolerations ?? [];
    for (const taint of node.taints) {
      if (taint.effect === 'PreferNoSchedule') continue;
      if (!tols.some((t) => tolerates(t, taint))) return Reason.UntoleratedTaint;
    }
    return Reason.None;
  },
};
