/**
 * A synthetic GPU fleet and request mix for decision-core benchmarks: 8-GPU nodes of H100
 * (a quarter of them with MIG enabled), A100 and L4, in racks of 32; requests mixing whole GPUs
 * (1, 2, 4, 8), shares (compute and memory), MIG slices and CPU-only pods.
 */
import type { NodeSpec } from '../core/model/node.js';
import { LINK } from '../core/model/node.js';
import type { PodRequest } from '../core/model/request.js';
import type { Rng } from '../core/rng.js';

const MODELS = ['H100-80GB', 'A100-80GB', 'L4'] as const;

/** NVLink inside each half of an 8-GPU board, PCIe host bridge across halves. */
function hgxLinks(n: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? LINK.SELF : Math.floor(i / 4) === Math.floor(j / 4) ? LINK.NVLINK : LINK.PHB)));
}

export function syntheticFleet(nodes: number, gpusPerNode: number): NodeSpec[] {
  const out: NodeSpec[] = [];
  const links = hgxLinks(gpusPerNode);
  for (let i = 0; i < nodes; i++) {
    const model = MODELS[i % 3] as string;
    const mig = model === 'H100-80GB' && i % 12 === 0;
    out.push({
      name: `node-${String(i).padStart(6, '0')}`,
      cpuMilli: 128_000,
      memoryMiB: 1024 * 1024,
      gpus: Array.from({ length: gpusPerNode }, () => ({ model, migEnabled: mig })),
      gpuLinks: model === 'L4' ? undefined : links,
      rack: `rack-${Math.floor(i / 32)}`,
      zone: `zone-${Math.floor(i / 1024)}`,
      labels: { 'nvidia.com/gpu.product': model },
    } as NodeSpec);
  }
  return out;
}

/** The request mix (shape, weight). */
const MIX: readonly [Omit<PodRequest, 'id'>, number][] = [
  [{ cpuMilli: 8000, memoryMiB: 64 * 1024, gpu: { kind: 'whole', count: 1 } }, 20],
  [{ cpuMilli: 16000, memoryMiB: 128 * 1024, gpu: { kind: 'whole', count: 2 } }, 6],
  [{ cpuMilli: 32000, memoryMiB: 256 * 1024, gpu: { kind: 'whole', count: 4 } }, 4],
  [{ cpuMilli: 64000, memoryMiB: 512 * 1024, gpu: { kind: 'whole', count: 8 } }, 2],
  [{ cpuMilli: 4000, memoryMiB: 16 * 1024, gpu: { kind: 'share', milli: 500, memoryMiB: 20 * 1024 } }, 18],
  [{ cpuMilli: 2000, memoryMiB: 8 * 1024, gpu: { kind: 'share', milli: 250, memoryMiB: 10 * 1024 } }, 14],
  [{ cpuMilli: 2000, memoryMiB: 8 * 1024, gpu: { kind: 'share', milli: 300, memoryMiB: 0 } }, 8],
  [{ cpuMilli: 4000, memoryMiB: 16 * 1024, gpu: { kind: 'mig', profile: '1g.10gb' } }, 8],
  [{ cpuMilli: 8000, memoryMiB: 32 * 1024, gpu: { kind: 'mig', profile: '3g.40gb' } }, 4],
  [{ cpuMilli: 8000, memoryMiB: 32 * 1024, gpu: { kind: 'whole', count: 1 }, allowedModels: ['H100-80GB'] }, 6],
  [{ cpuMilli: 4000, memoryMiB: 8 * 1024, gpu: { kind: 'none' } }, 10],
];

export function requestMix(): readonly PodRequest[] {
  return MIX.map(([r], i) => ({ ...r, id: `class-${i}` }));
}

export function sampleRequest(rng: Rng, id: string): PodRequest {
  const total = MIX.reduce((a, [, w]) => a + w, 0);
  let x = rng.next() * total;
  for (const [r, w] of MIX) {
    x -= w;
    if (x < 0) return { ...r, id };
  }
  return { ...(MIX[0] as [Omit<PodRequest, 'id'>, number])[0], id };
}

/** The mix expanded into a representative list (for fragmentation-aware target workloads). */
export function mixAsPods(): PodRequest[] {
  const out: PodRequest[] = [];
  MIX.forEach(([r, w], i) => {
    for (let k = 0; k < w; k++) out.push({ ...r, id: `mix-${i}-${k}` });
  });
  return out;
}
