/**
 * Runs the openb experiment for several policies and seeds, in parallel worker threads (one
 * per core, at most the number of runs), and aggregates: unallocated GPU % at every arrived
 * level from 50 % to 130 % in steps of 10 (mean and sample sd over seeds), the mean allocation
 * curve, and throughput.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { OpenbNode, OpenbPod } from './trace.js';
import { replay, MAX_BIN, type NodeOrder, type WorkloadMode } from './replay.js';
import type { PolicyName } from '../../core/policies.js';
import { generateFamily, type FamilySpec } from './families.js';

export interface RunSpec {
  readonly nodesFile: string;
  readonly podsFile: string;
  readonly policies: readonly PolicyName[];
  readonly seeds: readonly number[];
  readonly inflate: number;
  /** How nodes are named, hence where ties go (replay.ts NodeOrder; default `shuffled`). */
  readonly nodeOrder?: NodeOrder;
  /** Where gantry's target workload comes from (replay.ts WorkloadMode; default online). */
  readonly workload?: WorkloadMode;
  /** Replay a workload family derived from the pods file instead of the file (families.ts). */
  readonly family?: FamilySpec;
  readonly threads?: number;
  /** The trace, when the caller has loaded it already (used when everything runs in one thread). */
  readonly loaded?: { readonly nodes: readonly OpenbNode[]; readonly pods: readonly OpenbPod[] };
  readonly onProgress?: (done: number, total: number) => void;
}

export interface SeedRun {
  readonly policy: PolicyName;
  readonly seed: number;
  readonly curve: readonly number[];
  readonly decisions: number;
  readonly seconds: number;
  readonly placed: number;
  readonly failed: number;
}

export interface PolicySummary {
  readonly policy: PolicyName;
  readonly seeds: readonly number[];
  /** Keyed by arrived level (ARRIVED_LEVELS). */
  readonly unallocatedPct: Readonly<Record<string, { mean: number; sd: number }>>;
  readonly curve: readonly number[];
  readonly placementsPerSecond: number;
  /** Seconds spent replaying this policy's seeds (one core each). */
  readonly wallSeconds: number;
  readonly secondsPerSeed: number;
  readonly runs: readonly SeedRun[];
}

/** The arrived levels (% of GPU capacity) at which unallocated GPU is reported. */
export const ARRIVED_LEVELS = ['50', '60', '70', '80', '90', '100', '110', '120', '130'] as const;

export function meanSd(xs: readonly number[]): { mean: number; sd: number } {
  const n = xs.length;
  if (n === 0) return { mean: NaN, sd: NaN };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd };
}

export function summarise(policy: PolicyName, runs: readonly SeedRun[]): PolicySummary {
  const at = (b: number): { mean: number; sd: number } => meanSd(runs.map((r) => 100 - (r.curve[b] as number)));
  const curve: number[] = [];
  for (let b = 0; b <= MAX_BIN; b++) curve.push(meanSd(runs.map((r) => r.curve[b] as number)).mean);
  const seconds = runs.reduce((a, r) => a + r.seconds, 0);
  const decisions = runs.reduce((a, r) => a + r.decisions, 0);
  return {
    policy,
    seeds: runs.map((r) => r.seed),
    unallocatedPct: Object.fromEntries(ARRIVED_LEVELS.map((l) => [l, at(Number(l))])),
    curve,
    placementsPerSecond: seconds > 0 ? decisions / seconds : 0,
    wallSeconds: seconds,
    secondsPerSeed: runs.length ? seconds / runs.length : 0,
    runs,
  };
}

export async function runExperiment(spec: RunSpec): Promise<PolicySummary[]> {
  const tasks = spec.policies.flatMap((policy) => spec.seeds.map((seed) => ({ policy, seed })));
  const threads = Math.max(1, Math.min(spec.threads ?? availableParallelism(), tasks.length));
  const results: SeedRun[] = [];
  let next = 0;
  let done = 0;
  spec.onProgress?.(0, tasks.length);
  if (threads === 1 && spec.loaded) {
    // One thread: replay here, on the trace the caller already loaded (no worker start-up).
    const loaded = spec.family ? { nodes: spec.loaded.nodes, pods: generateFamily(spec.loaded.pods, spec.loaded.nodes, spec.family) } : spec.loaded;
    for (const task of tasks) {
      const r = replay({ ...loaded, policy: task.policy, seed: task.seed, inflate: spec.inflate, nodeOrder: spec.nodeOrder ?? 'shuffled', workload: spec.workload ?? 'online', now: () => performance.now() });
      results.push({ policy: r.policy, seed: r.seed, curve: Array.from(r.curve), decisions: r.decisions, seconds: r.seconds, placed: r.placed, failed: r.failed });
      spec.onProgress?.(++done, tasks.length);
    }
    return spec.policies.map((p) => summarise(p, results.filter((r) => r.policy === p).sort((a, b) => a.seed - b.seed)));
  }
  await Promise.all(
    Array.from({ length: threads }, async () => {
      const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { nodesFile: spec.nodesFile, podsFile: spec.podsFile, family: spec.family ?? null } });
      try {
        for (;;) {
          const task = tasks[next++];
          if (!task) break;
          const run = await new Promise<SeedRun>((resolve, reject) => {
            const onMessage = (m: { kind: string; run?: SeedRun; error?: string }): void => {
              if (m.kind === 'done' && m.run) {
                worker.off('message', onMessage);
                worker.off('error', reject);
                resolve(m.run);
              } else if (m.kind === 'error') {
                worker.off('message', onMessage);
                reject(new Error(m.error));
              }
            };
            worker.on('message', onMessage);
            worker.once('error', reject);
            worker.postMessage({ ...task, inflate: spec.inflate, nodeOrder: spec.nodeOrder ?? 'shuffled', workload: spec.workload ?? 'online' });
          });
          results.push(run);
          spec.onProgress?.(++done, tasks.length);
        }
      } finally {
        await worker.terminate();
      }
    }),
  );
  return spec.policies.map((p) => summarise(p, results.filter((r) => r.policy === p).sort((a, b) => a.seed - b.seed)));
}
