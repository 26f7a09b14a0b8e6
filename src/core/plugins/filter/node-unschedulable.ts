/** Filter: rejects cordoned nodes. No configuration. */
import type { FilterPlugin } from '../../framework/plugin.js';
import { Reason } from '../../framework/reasons.js';

export const nodeUnschedulable: FilterPlugin = {
  name: 'NodeUnschedulable',
  filter: (_p, node) => (node.unschedulable ? Reason.NodeUnschedulable : Reason.None),
};
