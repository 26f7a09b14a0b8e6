/** Filter: free CPU and memory on the node cover the request. */
import type { FilterPlugin } from '../../framework/plugin.js';
import { Reason } from '../../framework/reasons.js';

export const nodeResources: FilterPlugin = {
  name: 'NodeResourcesFit',
  filter: (p, node) => {
    if (node.cpuFree < p.req.cpuMilli) return Reason.InsufficientCpu;
    if (node.memFree < p.req.memoryMiB) return Reason.InsufficientMemory;
    return Reason.None;
  },
};
