/**
 * The simulated Philly-like cluster and workload: 8-GPU and 2-GPU servers in racks, one queue
 * per virtual cluster with a guarantee proportional to its GPU time in the trace, and jobs
 * split into gangs of at most 8 GPUs per member.
 */
import type { NodeSpec } from '../../core/model/node.js';
import type { PodRequest } from '../../core/model/request.js';
import type { QueueSpec } from '../../core/scheduler/types.js';
import type { TraceJob } from './philly.js';

export interface FleetSpec {
  readonly eightGpuServers: number;
  readonly twoGpuServers: number;
  readonly model: string;
  readonly serversPerRack: number;
}

/** About Philly's size in the traced period: ~2,490 GPUs in 8- and 2-GPU servers. */
export const PHILLY_FLEET: FleetSpec = { eightGpuServers: 280, twoGpuServers: 125, model: 'P100', serversPerRack: 16 };

export function buildFleet(f: FleetSpec): NodeSpec[] {
  const nodes: NodeSpec[] = [];
  let i = 0;
  const add = (gpus: number): void => {
    const n = i++;
    nodes.push({
      name: `srv-${String(n).padStart(4, '0')}`,
      cpuMilli: gpus * 8000,
      memoryMiB: gpus * 64 * 1024,
      gpus: Array.from({ length: gpus }, () => ({ model: f.model })),
      rack: `rack-${String(Math.floor(n / f.serversPerRack)).padStart(3, '0')}`,
    });
  };
  for (let k = 0; k < f.eightGpuServers; k++) add(8);
  for (let k = 0; k < f.twoGpuServers; k++) add(2);
  return nodes;
}

export function fleetGpus(f: FleetSpec): number {
  return f.eightGpuServers * 8 + f.twoGpuServers * 2;
}

/** Members of a job: one pod with all its GPUs up to 8, otherwise 8-GPU members plus a remainder. */
export function jobMembers(j: TraceJob): PodRequest[] {
  const members: PodRequest[] = [];
  let left = j.gpus;
  let k = 0;
  while (left > 0) {
    const g = Math.min(8, left);
    members.push({ id: `${j.id}-${k++}`, cpuMilli: g * 4000, memoryMiB: g * 32 * 1024, gpu: { kind: 'whole', count: g } });
    left -= g;
  }
  return members;
}

/**
 * One queue per virtual cluster, guaranteed GPUs proportional to its GPU time in the simulated
 * jobs, summing to `guaranteedFraction` of the capacity (every VC present gets at least one
 * GPU); the rest is shared by over-quota weight (also proportional to GPU time).
 */
export function vcQueues(jobs: readonly TraceJob[], capacityGpus: number, guaranteedFraction = 1): QueueSpec[] {
  const time = new Map<string, number>();
  for (const j of jobs) time.set(j.vc, (time.get(j.vc) ?? 0) + j.gpus * j.duration);
  const total = [...time.values()].reduce((a, b) => a + b, 0) || 1;
  const names = [...time.keys()].sort();
  // Largest-remainder rounding to whole GPUs, so guarantees sum exactly to the capacity.
  const guaranteed = Math.floor(capacityGpus * guaranteedFraction);
  const exact = names.map((n) => ((time.get(n) ?? 0) / total) * guaranteed);
  const floor = exact.map((x) => Math.max(1, Math.floor(x)));
  let left = guaranteed - floor.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0]);
  for (const [, i] of order) {
    if (left-- <= 0) break;
    floor[i] = (floor[i] as number) + 1;
  }
  return names.map((name, i) => ({ name: `vc-${name}`, guaranteed: { gpu: (floor[i] as number) * 1000 }, overQuotaWeight: Math.max(1, floor[i] as number) }));
}
