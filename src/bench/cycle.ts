/**
 * The scheduling-cycle benchmark: a busy cluster of N 8-GPU nodes already running R jobs
 * (whole GPUs, shares and CPU-only work, in Q queues with guarantees; 50,000 jobs fill about
 * 94 % of 5,000 nodes), P more jobs pending (a mix that includes gangs and jobs too large to
 * place), then full cycles (allocate, backfill, consolidate, reclaim, preempt) are timed.
 * Setup is not timed. Wall time and CPU time are both reported (the CPU time is steadier on a
 * shared machine).
 */
import { performance } from 'node:perf_hooks';
import { Scheduler } from '../core/scheduler/scheduler.js';
import { createRng, type Rng } from '../core/rng.js';
import type { JobSpec, QueueSpec } from '../core/scheduler/types.js';
import type { PodRequest } from '../core/model/request.js';
import { targetWorkload } from '../core/plugins/score/fragmentation.js';
import { syntheticFleet } from './fleet.js';

export interface CycleBenchOptions {
  readonly nodes: number;
  readonly running: number;
  readonly pending: number;
  readonly queues: number;
  readonly repeats: number;
  readonly seed?: number;
  readonly onProgress?: (done: number, total: number, label: string) => void;
}

export interface CycleBenchResult {
  readonly nodes: number;
  readonly running: number;
  readonly pending: number;
  readonly firstCycleMs: number;
  /** CPU time of the first cycle (user + system), steadier than wall time on a shared machine. */
  readonly firstCycleCpuMs: number;
  readonly gpuAllocatedPct: number;
  /** Median of the cycles after the first (what a busy cluster sees cycle after cycle). */
  readonly steadyMedianMs: number;
  readonly steadyMedianCpuMs: number;
  /** Slowest of the cycles after the first. */
  readonly steadyMaxMs: number;
  /** Jobs evicted per steady cycle (median): the steady cycles keep making decisions. */
  readonly steadyEvicted: number;
  readonly bound: number;
  readonly evicted: number;
  readonly considered: number;
  readonly setupSeconds: number;
  /** Submitting the pending jobs (each new request shape has its placement cache built on arrival). */
  readonly arrivalMs: number;
  /** Milliseconds per action in the first timed cycle. */
  readonly actionMs: Readonly<Record<string, number>>;
}

function runningJob(rng: Rng, i: number, queue: string): JobSpec {
  const x = rng.next();
  // 60 % one whole GPU, 30 % half a GPU, 10 % CPU only: 50,000 jobs fill ~94 % of 5,000 x 8 GPUs.
  const members: PodRequest[] =
    x < 0.6
      ? [{ id: `r${i}-0`, cpuMilli: 4000, memoryMiB: 16384, gpu: { kind: 'whole', count: 1 } }]
      : x < 0.9
        ? [{ id: `r${i}-0`, cpuMilli: 2000, memoryMiB: 8192, gpu: { kind: 'share', milli: 500, memoryMiB: 0 } }]
        : [{ id: `r${i}-0`, cpuMilli: 1000, memoryMiB: 4096, gpu: { kind: 'none' } }];
  return { id: `run-${i}`, queue, priority: 0, preemptible: true, submittedAt: 0, members, checkpoint: { intervalSeconds: 1800, graceSeconds: 30 } };
}

function pendingJob(rng: Rng, i: number, queue: string, at: number): JobSpec {
  const x = rng.next();
  let members: PodRequest[];
  if (x < 0.05) members = Array.from({ length: 4 }, (_, k) => ({ id: `p${i}-${k}`, cpuMilli: 32000, memoryMiB: 131072, gpu: { kind: 'whole', count: 8 } }) as PodRequest);
  else if (x < 0.3) members = [{ id: `p${i}-0`, cpuMilli: 16000, memoryMiB: 65536, gpu: { kind: 'whole', count: 1 + rng.int(4) } }];
  else if (x < 0.7) members = [{ id: `p${i}-0`, cpuMilli: 2000, memoryMiB: 8192, gpu: { kind: 'share', milli: 250 * (1 + rng.int(3)), memoryMiB: 0 } }];
  else if (x < 0.8) members = [{ id: `p${i}-0`, cpuMilli: 4000, memoryMiB: 16384, gpu: { kind: 'mig', profile: '1g.10gb' } }];
  else members = [{ id: `p${i}-0`, cpuMilli: 2000, memoryMiB: 4096, gpu: { kind: 'none' } }];
  return { id: `pend-${i}`, queue, priority: rng.next() < 0.05 ? 1 : 0, preemptible: true, submittedAt: at, members, checkpoint: { intervalSeconds: 1800, graceSeconds: 30 } };
}

export function benchCycle(o: CycleBenchOptions): CycleBenchResult {
  const rng = createRng(o.seed ?? 7);
  const t0 = performance.now();
  const gpus = o.nodes * 8 * 1000;
  const queues: QueueSpec[] = Array.from({ length: o.queues }, (_, i) => ({ name: `q${i}`, guaranteed: { gpu: Math.floor(gpus / o.queues / 2) }, overQuotaWeight: 1 + (i % 3) }));
  const sample: PodRequest[] = [];
  for (let i = 0; i < 200; i++) sample.push(...pendingJob(rng, i, 'q0', 0).members, ...runningJob(rng, i, 'q0').members);
  const s = new Scheduler({ rng: createRng(1), clock: () => performance.now(), policy: 'gantry', workload: targetWorkload(sample) }, queues);
  for (const n of syntheticFleet(o.nodes, 8)) s.addNode(n);
  // Fill: submit the running jobs in batches and let cycles place them (not timed).
  const batch = 5000;
  for (let i = 0; i < o.running; i += batch) {
    for (let k = i; k < Math.min(o.running, i + batch); k++) s.submit(runningJob(rng, k, `q${k % o.queues}`));
    s.cycle(0);
    o.onProgress?.(Math.min(o.running, i + batch), o.running + o.pending, 'placing running jobs');
  }
  const placed = [...s.allJobs()].filter((j) => j.state === 'running').length;
  // Those that did not fit are dropped so that exactly the placed ones count as running.
  for (const j of [...s.allJobs()]) if (j.state === 'pending') s.remove(j.spec.id);
  const arrivals = performance.now();
  for (let i = 0; i < o.pending; i++) s.submit(pendingJob(rng, i, `q${i % o.queues}`, 60_000 + i));
  const arrivalMs = performance.now() - arrivals;
  const setupSeconds = (performance.now() - t0) / 1000;
  const capacity = s.capacity().gpu;
  const used = s.queueStatus().filter((q) => q.parent === null).reduce((a, q) => a + q.usedGpu, 0);
  const times: number[] = [];
  const cpu: number[] = [];
  const evicted: number[] = [];
  let first: ReturnType<Scheduler['cycle']> | null = null;
  for (let r = 0; r < o.repeats; r++) {
    const a = performance.now();
    const c = process.cpuUsage();
    const res = s.cycle(3_600_000 + r * 30_000);
    times.push(performance.now() - a);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
    evicted.push(res.stats.evicted);
    first ??= res;
    o.onProgress?.(r + 1, o.repeats, 'timing cycles');
  }
  const median = (xs: readonly number[]): number => {
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? NaN;
  };
  return {
    nodes: o.nodes,
    running: placed,
    pending: o.pending,
    firstCycleMs: times[0] ?? NaN,
    firstCycleCpuMs: cpu[0] ?? NaN,
    gpuAllocatedPct: Math.round((used / capacity) * 1000) / 10,
    steadyMedianMs: median(times.slice(1)),
    steadyMedianCpuMs: median(cpu.slice(1)),
    steadyMaxMs: times.length > 1 ? Math.max(...times.slice(1)) : NaN,
    steadyEvicted: median(evicted.slice(1)),
    bound: first?.stats.bound ?? 0,
    evicted: first?.stats.evicted ?? 0,
    considered: first?.stats.considered ?? 0,
    setupSeconds,
    arrivalMs,
    actionMs: Object.fromEntries(Object.entries(first?.stats.actionMs ?? {}).map(([k, v]) => [k, Math.round(v * 10) / 10])),
  };
}
