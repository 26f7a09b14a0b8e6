/**
 * The `churn` workload: a generated stress test of preemption across queues (issue 17). A
 * queue tree (by default org with 48 guaranteed GPUs -> team-a 24, team-b 24, scratch 0 that
 * only borrows), gangs of 2-8 GPUs split into pods of 1, 2, 4 or 8 GPUs, most jobs
 * checkpointing, some non-preemptible, and bursts of high-priority jobs every 1-3 hours, at a
 * given load (offered GPU time / capacity). Deterministic per seed.
 */
import type { NodeSpec } from '../../core/model/node.js';
import type { PodRequest } from '../../core/model/request.js';
import type { QueueSpec } from '../../core/scheduler/types.js';
import { createRng, type Rng } from '../../core/rng.js';
import type { SimJob } from './driver.js';

export interface ChurnSpec {
  readonly seed: number;
  readonly hours: number;
  /** Offered GPU time over the capacity's GPU time (1.25 = a quarter more work than fits). */
  readonly load: number;
  /** 8-GPU servers. */
  readonly servers: number;
  readonly queues: readonly QueueSpec[];
  readonly gangGpus: readonly [number, number];
  /** Mean run time of a job (exponential, at least a minute, at most 8 h). */
  readonly meanMinutes: number;
  /** Share of jobs that checkpoint (every 10-30 min, 30 s grace); the rest lose all work when stopped. */
  readonly checkpointing: number;
  /** Share of jobs (of queues with a guarantee) that may not be preempted. */
  readonly nonPreemptible: number;
  /** Hours between bursts of high-priority jobs (uniform in the range). */
  readonly burstEveryHours: readonly [number, number];
  /** Jobs per burst (uniform in the range), each `burstPriority`, in one queue with a guarantee. */
  readonly burstJobs: readonly [number, number];
  readonly burstPriority: number;
}

/** The tree: org guarantees the whole 48-GPU cluster to two teams; scratch only borrows. */
export const CHURN_QUEUES: readonly QueueSpec[] = [
  { name: 'org', guaranteed: { gpu: 48_000 } },
  { name: 'team-a', parent: 'org', guaranteed: { gpu: 24_000 } },
  { name: 'team-b', parent: 'org', guaranteed: { gpu: 24_000 } },
  { name: 'scratch', parent: 'org', guaranteed: { gpu: 0 } },
];

export const CHURN_DEFAULTS: Omit<ChurnSpec, 'seed' | 'hours' | 'load'> = {
  servers: 6,
  queues: CHURN_QUEUES,
  gangGpus: [2, 8],
  meanMinutes: 20,
  checkpointing: 0.7,
  nonPreemptible: 0.1,
  burstEveryHours: [1, 3],
  burstJobs: [2, 4],
  burstPriority: 10,
};

export function churnFleet(servers: number): NodeSpec[] {
  return Array.from({ length: servers }, (_, n) => ({
    name: `srv-${String(n).padStart(4, '0')}`,
    cpuMilli: 64_000,
    memoryMiB: 512 * 1024,
    gpus: Array.from({ length: 8 }, () => ({ model: 'A100' })),
    rack: `rack-${String(Math.floor(n / 16)).padStart(3, '0')}`,
  }));
}

const uniform = (rng: Rng, [lo, hi]: readonly [number, number]): number => lo + rng.next() * (hi - lo);
const uniformInt = (rng: Rng, [lo, hi]: readonly [number, number]): number => lo + rng.int(hi - lo + 1);

/** Pods of `size` GPUs (the last one smaller when it does not divide). */
function members(id: string, gpus: number, size: number): PodRequest[] {
  const out: PodRequest[] = [];
  for (let left = gpus, k = 0; left > 0; k++) {
    const g = Math.min(size, left);
    out.push({ id: `${id}-${k}`, cpuMilli: g * 4000, memoryMiB: g * 32 * 1024, gpu: { kind: 'whole', count: g } });
    left -= g;
  }
  return out;
}

/** Leaves get work in proportion to their guarantee; a leaf without one, half the mean guarantee. */
function leafWeights(queues: readonly QueueSpec[]): { name: string; weight: number; guaranteed: number }[] {
  const parents = new Set(queues.map((q) => q.parent).filter((p) => p !== undefined));
  const leaves = queues.filter((q) => !parents.has(q.name)).map((q) => ({ name: q.name, guaranteed: q.guaranteed?.gpu ?? 0 }));
  const positive = leaves.filter((l) => l.guaranteed > 0);
  const mean = positive.length ? positive.reduce((a, l) => a + l.guaranteed, 0) / positive.length : 1;
  return leaves.map((l) => ({ ...l, weight: l.guaranteed > 0 ? l.guaranteed : mean / 2 }));
}

export function churnJobs(spec: ChurnSpec): SimJob[] {
  const rng = createRng(spec.seed * 7919 + 17);
  const span = spec.hours * 3_600_000;
  const capacity = spec.servers * 8;
  const leaves = leafWeights(spec.queues);
  const guaranteedLeaves = leaves.filter((l) => l.guaranteed > 0);
  const totalWeight = leaves.reduce((a, l) => a + l.weight, 0);
  const pickLeaf = (): (typeof leaves)[number] => {
    let x = rng.next() * totalWeight;
    for (const l of leaves) if ((x -= l.weight) < 0) return l;
    return leaves[leaves.length - 1] as (typeof leaves)[number];
  };
  const duration = (): number => Math.min(8 * 3_600_000, Math.max(60_000, -Math.log(1 - rng.next()) * spec.meanMinutes * 60_000));
  const checkpoint = (): { intervalMs: number; graceMs: number } | null => (rng.next() < spec.checkpointing ? { intervalMs: Math.round(uniform(rng, [10, 30])) * 60_000, graceMs: 30_000 } : null);
  const jobs: SimJob[] = [];
  const make = (id: string, queue: (typeof leaves)[number], submit: number, priority: number): SimJob => {
    const gpus = uniformInt(rng, spec.gangGpus);
    const sizes = [1, 2, 4, 8].filter((p) => p <= gpus);
    const size = sizes[rng.int(sizes.length)] as number;
    const fixed = queue.guaranteed > 0 && rng.next() < spec.nonPreemptible;
    return { id, queue: queue.name, submit, duration: duration(), gpus, members: members(id, gpus, size), priority, preemptible: !fixed, checkpoint: checkpoint() };
  };
  // Bursts first (their work is part of the load), then the steady stream for the rest.
  let burstWork = 0;
  if (guaranteedLeaves.length > 0) {
    for (let t = uniform(rng, spec.burstEveryHours) * 3_600_000, b = 0; t < span; t += uniform(rng, spec.burstEveryHours) * 3_600_000, b++) {
      const q = guaranteedLeaves[rng.int(guaranteedLeaves.length)] as (typeof leaves)[number];
      const n = uniformInt(rng, spec.burstJobs);
      for (let k = 0; k < n; k++) {
        const j = make(`burst-${b}-${k}`, q, Math.round(t + k * 5_000), spec.burstPriority);
        burstWork += j.gpus * j.duration;
        jobs.push(j);
      }
    }
  }
  const meanGpus = (spec.gangGpus[0] + spec.gangGpus[1]) / 2;
  const meanWork = meanGpus * spec.meanMinutes * 60_000;
  const target = Math.max(0, spec.load * capacity * span - burstWork);
  const rate = target / meanWork / span; // arrivals per ms
  let n = 0;
  for (let t = -Math.log(1 - rng.next()) / rate; rate > 0 && t < span; t += -Math.log(1 - rng.next()) / rate) {
    const q = pickLeaf();
    jobs.push(make(`job-${n++}`, q, Math.round(t), 0));
  }
  return jobs.sort((a, b) => a.submit - b.submit || (a.id < b.id ? -1 : 1));
}
