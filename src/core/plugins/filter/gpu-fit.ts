/**
 * Filter: the node's GPUs can hold the GPU request: enough whole free GPUs of one allowed
 * model (a worker never spans two models); one GPU with enough free compute share and memory;
 * or a GPU in MIG mode with a free valid start slot for the profile. Uses the node's summaries first, per-GPU checks only
 * when a summary cannot decide.
 */
import type { FilterPlugin, PreparedRequest } from '../../framework/plugin.js';
import { Reason, type ReasonCode } from '../../framework/reasons.js';
import type { NodeState } from '../../model/node.js';
import { validStarts } from '../../model/mig.js';
import { freeWholeOfOneModel } from '../../placement/gpu-assign.js';

function modelAllowed(p: PreparedRequest, model: string): boolean {
  return p.allowed === null || p.allowed.has(model);
}

export function gpuFit(p: PreparedRequest, node: NodeState): ReasonCode {
  const g = p.req.gpu;
  if (g.kind === 'none') return Reason.None;
  if (node.gpus.length === 0) return Reason.NoGpu;
  const single = node.gpuModels.length === 1;
  if (single && !modelAllowed(p, node.gpuModels[0] as string)) return Reason.GpuModelNotAllowed;
  switch (g.kind) {
    case 'whole': {
      if (single) return node.wholeFreeCount >= g.count ? Reason.None : Reason.InsufficientWholeGpu;
      // Several models: a worker's GPUs are all of one model (see freeWholeGpus).
      if (!node.gpuModels.some((m) => modelAllowed(p, m))) return Reason.GpuModelNotAllowed;
      return freeWholeOfOneModel(p, node) >= g.count ? Reason.None : Reason.InsufficientWholeGpu;
    }
    case 'share': {
      if (single && (node.maxShareMilli < g.milli || node.maxShareMilli === 0)) return Reason.InsufficientGpu;
      let anyAllowed = false;
      let milliOk = false;
      for (const gpu of node.gpus) {
        if (!modelAllowed(p, gpu.model)) continue;
        anyAllowed = true;
        if (!gpu.healthy || gpu.mig !== null || gpu.milliFree < g.milli || gpu.milliFree === 0) continue;
        milliOk = true;
        if (gpu.memFree >= g.memoryMiB) return Reason.None;
      }
      if (!anyAllowed) return Reason.GpuModelNotAllowed;
      return milliOk ? Reason.InsufficientGpuMemory : Reason.InsufficientGpu;
    }
    case 'mig': {
      if (node.migGpus === 0) return Reason.NoMigProfile;
      let offered = false;
      for (const gpu of node.gpus) {
        if (gpu.mig === null || !gpu.healthy || !modelAllowed(p, gpu.model)) continue;
        const prof = p.migByModel?.get(gpu.model);
        if (!prof) continue;
        offered = true;
        if (validStarts(gpu.mig, prof).length > 0) return Reason.None;
      }
      return offered ? Reason.NoFreeMigSlot : Reason.NoMigProfile;
    }
  }
}

export const gpuFitPlugin: FilterPlugin = { name: 'GpuFit', filter: gpuFit };
