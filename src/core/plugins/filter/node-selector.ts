/** Filter: every key=value of the request's nodeSelector must be a label of the node. */
import type { FilterPlugin } from '../../framework/plugin.js';
import { Reason } from '../../framework/reasons.js';

export const nodeSelector: FilterPlugin = {
  name: 'NodeSelector',
  filter: (p, node) => {
    const sel = p.req.nodeSelector;
    if (!sel) return Reason.None;
    for (const k in sel) if (node.labels[k] !== sel[k]) return Reason.NodeSelectorMismatch;
    return Reason.None;
  },
};
