/**
 * What a workload asks for. One GPU request per pod: nothing, N whole GPUs, a share of one
 * GPU (compute in milli-GPU and/or memory in MiB), or a MIG slice by profile name.
 * Gangs are N members that are placed all together or not at all.
 */

export type GpuRequest =
  | { readonly kind: 'none' }
  | { readonly kind: 'whole'; readonly count: number }
  /** A share of exactly one GPU. milli 0 = memory-only share; memoryMiB 0 = compute-only share. */
  | { readonly kind: 'share'; readonly milli: number; readonly memoryMiB: number }
  | { readonly kind: 'mig'; readonly profile: string };

export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';

export interface Taint {
  readonly key: string;
  readonly value?: string;
  readonly effect: TaintEffect;
}

export interface Toleration {
  readonly key?: string;
  readonly operator?: 'Equal' | 'Exists';
  readonly value?: string;
  readonly effect?: TaintEffect;
}

export interface PodRequest {
  readonly id: string;
  readonly cpuMilli: number;
  readonly memoryMiB: number;
  readonly gpu: GpuRequest;
  /** Allowed GPU models (canonical names); empty or absent = any. */
  readonly allowedModels?: readonly string[];
  readonly nodeSelector?: Readonly<Record<string, string>>;
  readonly tolerations?: readonly Toleration[];
  /** Datasets the pod reads; nodes that cache them score higher (data locality). */
  readonly datasets?: readonly string[];
  /** Bytes of each of `datasets` (same order), so locality counts bytes; absent = each dataset counts alike. */
  readonly datasetBytes?: readonly number[];
}

export interface GangRequest {
  readonly id: string;
  readonly members: readonly PodRequest[];
}

export const NO_GPU: GpuRequest = Object.freeze({ kind: 'none' });

/** Compute slices (sevenths of a GPU) of a MIG profile name such as "3g.40gb". */
export function migComputeSlices(profile: string): number {
  return Number(/^(\d)g/.exec(profile)?.[1] ?? 0);
}

/** Total milli-GPU a request takes (whole GPU = 1000; MIG counted by its SM share of 7). */
export function requestMilliGpu(gpu: GpuRequest): number {
  switch (gpu.kind) {
    case 'none':
      return 0;
    case 'whole':
      return gpu.count * 1000;
    case 'share':
      return gpu.milli;
    case 'mig': {
      return Math.round((migComputeSlices(gpu.profile) * 1000) / 7);
    }
  }
}

/** A stable key of everything about a request that filters and scores look at. */
export function requestShapeKey(r: PodRequest): string {
  let gpu: string;
  switch (r.gpu.kind) {
    case 'none':
      gpu = '-';
      break;
    case 'whole':
      gpu = `w${r.gpu.count}`;
      break;
    case 'share':
      gpu = `s${r.gpu.milli}/${r.gpu.memoryMiB}`;
      break;
    case 'mig':
      gpu = `m${r.gpu.profile}`;
      break;
  }
  let key = `${r.cpuMilli}|${r.memoryMiB}|${gpu}`;
  if (r.allowedModels && r.allowedModels.length > 0) key += `|M${[...r.allowedModels].sort().join(',')}`;
  if (r.nodeSelector) {
    const ks = Object.keys(r.nodeSelector).sort();
    if (ks.length > 0) key += `|S${ks.map((k) => `${k}=${r.nodeSelector?.[k] ?? ''}`).join(',')}`;
  }
  if (r.tolerations && r.tolerations.length > 0) key += `|T${JSON.stringify(r.tolerations)}`;
  if (r.datasets && r.datasets.length > 0) key += `|D${r.datasets.map((d, i) => (r.datasetBytes ? `${d}:${r.datasetBytes[i] ?? 0}` : d)).sort().join(',')}`;
  return key;
}
