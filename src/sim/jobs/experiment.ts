/**
 * `gantry sim jobs`: builds the cluster, queues and jobs for a Philly window and simulates each
 * policy (in worker threads, one per core).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { BaselineDriver, type BaselineName } from './baselines.js';
import { GantryDriver } from './gantry-driver.js';
import { simulate, type JobsResult } from './engine.js';
import { loadPhilly, selectWindow, type TraceJob } from './philly.js';
import { buildFleet, fleetGpus, jobMembers, vcQueues, type FleetSpec } from './setup.js';
import type { SimDriver, SimJob } from './driver.js';
import type { NodeSpec } from '../../core/model/node.js';
import type { QueueSpec } from '../../core/scheduler/types.js';
import type { SchedulerConfig } from '../../core/scheduler/config.js';
import { churnFleet, churnJobs, type ChurnSpec } from './churn.js';
import { assignDatasets, type CatalogueDataset, type DatasetCatalogue } from './data/catalogue.js';
import { DataMovement, type DataSettings } from './data/data-movement.js';
import type { JobDataHooks } from './engine.js';

export const JOB_POLICIES = ['fifo', 'sjf', 'tiresias', 'drf', 'gantry', 'gantry-up', 'gantry-k8s', 'gantry-across'] as const;
export type JobPolicy = (typeof JOB_POLICIES)[number];
/** `--policy all` over the Philly trace: the policies of the published comparison. */
export const TRACE_POLICIES: readonly JobPolicy[] = ['fifo', 'sjf', 'tiresias', 'drf', 'gantry'];
/** `--policy all` for the churn workload: the core as `gantry up`, `gantry k8s`, and up with preemption across queues. */
export const CHURN_POLICIES: readonly JobPolicy[] = ['gantry-up', 'gantry-k8s', 'gantry-across'];

export interface JobsSpec {
  readonly trace: string;
  readonly from: number;
  readonly days: number;
  readonly load: number;
  readonly fleet: FleetSpec;
  readonly seed: number;
  readonly checkpointMinutes: number;
  readonly graceSeconds: number;
  readonly cycleSeconds: number;
  readonly restartSeconds: number;
  /** Fraction of the GPUs covered by queue guarantees. */
  readonly guaranteedFraction: number;
  /** A generated workload instead of the Philly window (its own cluster and queue tree). */
  readonly churn?: ChurnSpec;
  /** Bound on what a priority preemption victim may lose (SchedulerConfig.maxPreemptLossGpuSeconds), for the gantry-up/k8s/across modes. */
  readonly maxPreemptLossGpuSeconds?: number;
  /** Jobs read datasets of a catalogue; nodes cache them (see data/data-movement.ts). */
  readonly data?: JobsDataSpec;
  /** Prices per GPU-hour by GPU model, micro-units (--prices); absent = GPU-hours only. */
  readonly pricesMicros?: Readonly<Record<string, number>>;
}

export interface JobsDataSpec {
  readonly catalogue: DatasetCatalogue;
  /** On: requests name their dataset and the scheduler sees the node caches. Off: placement is blind to data. */
  readonly locality: boolean;
  /** The locality weight of the placement score (absent: the core's default, locality leads). */
  readonly localityWeight?: number;
  /** Delay scheduling: how long a job may wait for a node with its data (SchedulerConfig.locality.holdMs). */
  readonly localityHoldSeconds?: number;
  /** The hold is at most the time copying the job's data at the disk rate takes (locality.holdCopyBytesPerSec). */
  readonly localityHoldBySize?: boolean;
  /** Holder reserve: score points per TB of other pending jobs' data a node holds (locality.reserve; absent: the core's default). */
  readonly localityReserve?: number;
  readonly settings: DataSettings;
}

export interface Prepared {
  readonly jobs: SimJob[];
  readonly nodes: readonly NodeSpec[];
  readonly queues: readonly QueueSpec[];
  /** The trace jobs in the window (guarantees follow their GPU time). */
  readonly window: readonly TraceJob[];
  /** The dataset each job reads (with a catalogue). */
  readonly datasets?: ReadonlyMap<string, CatalogueDataset>;
}

/** Attaches the catalogue's datasets to the jobs; with locality on, their requests name them. */
function withData(p: Prepared, data: JobsDataSpec | undefined, seed: number): Prepared {
  if (!data) return p;
  const datasets = assignDatasets(p.jobs.map((j) => j.id), data.catalogue, seed);
  if (!data.locality) return { ...p, datasets };
  const jobs = p.jobs.map((j) => {
    const d = datasets.get(j.id) as CatalogueDataset;
    return { ...j, members: j.members.map((m) => ({ ...m, datasets: [d.name], datasetBytes: [d.bytes] })) };
  });
  return { ...p, jobs, datasets };
}

export function prepare(spec: JobsSpec, trace?: readonly TraceJob[]): Prepared {
  if (spec.churn) return withData({ jobs: churnJobs(spec.churn), nodes: churnFleet(spec.churn.servers), queues: spec.churn.queues, window: [] }, spec.data, spec.seed);
  const window = selectWindow(trace ?? loadPhilly(spec.trace), spec.from, spec.days, spec.load);
  const jobs = window.map((j) => ({ id: j.id, queue: `vc-${j.vc}`, submit: j.submit, duration: j.duration, gpus: j.gpus, members: jobMembers(j) }));
  return withData({ jobs, window, nodes: buildFleet(spec.fleet), queues: vcQueues(window, fleetGpus(spec.fleet), spec.guaranteedFraction) }, spec.data, spec.seed);
}

/**
 * The scheduling core as each way of running Gantry configures it: `gantry up`
 * (src/server/controller.ts: defaults, a one-minute minimum runtime), `gantry k8s`
 * (src/adapters/k8s/scheduler.ts: consolidation too, moving only pods that checkpoint, which
 * in the simulator are the jobs with a checkpoint policy; the CLI's 10-minute minimum runtime), and
 * `gantry up` with preemption across queues.
 */
export function modeConfig(mode: 'up' | 'k8s' | 'across'): Omit<SchedulerConfig, 'rng'> {
  if (mode === 'k8s') return { actions: ['allocate', 'backfill', 'consolidate', 'reclaim', 'preempt'], minRuntimeMs: 10 * 60_000 };
  return { minRuntimeMs: 60_000, ...(mode === 'across' ? { preemptAcrossQueues: true } : {}) };
}

export function makeDriver(policy: JobPolicy, spec: JobsSpec): SimDriver {
  const w = spec.data?.localityWeight;
  const hold = spec.data?.locality ? (spec.data.localityHoldSeconds ?? 0) : 0;
  const reserve = spec.data?.locality ? spec.data.localityReserve : undefined;
  const locality =
    w === undefined && hold === 0 && reserve === undefined
      ? {}
      : { locality: { ...(w === undefined ? {} : { weight: w }), ...(hold > 0 ? { holdMs: hold * 1000 } : {}), ...(hold > 0 && spec.data?.localityHoldBySize ? { holdCopyBytesPerSec: spec.data.settings.diskBytesPerSec } : {}), ...(reserve === undefined ? {} : { reserve }) } };
  if (policy === 'gantry-up' || policy === 'gantry-k8s' || policy === 'gantry-across') {
    const mode = policy.slice('gantry-'.length) as 'up' | 'k8s' | 'across';
    return new GantryDriver({ seed: spec.seed, checkpointIntervalSeconds: spec.checkpointMinutes * 60, graceSeconds: spec.graceSeconds, scheduler: { ...modeConfig(mode), ...locality, ...(spec.maxPreemptLossGpuSeconds === undefined ? {} : { maxPreemptLossGpuSeconds: spec.maxPreemptLossGpuSeconds }) } }, policy);
  }
  if (policy === 'gantry') {
    return new GantryDriver({
      seed: spec.seed,
      checkpointIntervalSeconds: spec.checkpointMinutes * 60,
      graceSeconds: spec.graceSeconds,
      // What the issue's `gantry` policy means: guarantees first (allocate tier 0, reclaim),
      // the capacity beyond guarantees shared by priority across queues, ordered by the Gittins
      // index of run-time distributions learned from jobs that ended (never true durations),
      // preemption across queues only of work beyond guarantees and only for a 2x higher index.
      scheduler: {
        policy: 'gantry',
        // No fixed workload: the scheduler learns it from submissions, as in gantry up.
        withinQueueOrder: 'gittins',
        // A start gives a job the 10-min minimum runtime: a waiting job is ranked over
        // horizons at least that long (a class of 1-min jobs mixed with 2-h ones does not
        // look short then).
        gittinsCommitted: true,
        acrossQueues: 'priority',
        preemptAcrossQueues: true,
        maxPreemptPlansPerQueue: 64,
        preemptMinGap: 4,
        fairShareHalfLifeMs: 3_600_000,
        minRuntimeMs: 10 * 60_000,
        reserveAfterMs: 2 * 3_600_000,
        ...locality,
      },
    });
  }
  return new BaselineDriver(policy as BaselineName, { placement: 'gantry', lasThresholdsGpuMs: [3_600_000, 36_000_000], seed: spec.seed, ...locality });
}

/** The engine's data hooks: caches fill as jobs start; with locality on the driver sees them. */
function dataHooks(spec: JobsSpec, prepared: Prepared, driver: SimDriver): JobDataHooks | undefined {
  const data = spec.data;
  const datasets = prepared.datasets;
  if (!data || !datasets) return undefined;
  const movement = new DataMovement(prepared.nodes, data.settings, data.locality ? (r) => driver.nodeCaches?.(r) : undefined);
  return {
    start: (job, bindings, now) => {
      const d = datasets.get(job.id);
      return d ? movement.start(job.id, { key: d.name, bytes: d.bytes }, bindings, now) : 0;
    },
    end: (job) => movement.end(job.id),
    metrics: () => movement.metrics(),
  };
}

export function runPolicy(policy: JobPolicy, spec: JobsSpec, prepared: Prepared, onProgress?: (d: number, t: number) => void): JobsResult {
  const driver = makeDriver(policy, spec);
  const data = dataHooks(spec, prepared, driver);
  return simulate(
    driver,
    prepared.nodes,
    prepared.queues,
    prepared.jobs,
    {
      cycleMs: spec.cycleSeconds * 1000,
      idleCycleMs: 10 * spec.cycleSeconds * 1000,
      checkpointMs: spec.checkpointMinutes * 60_000,
      restartMs: spec.restartSeconds * 1000,
      graceMs: spec.graceSeconds * 1000,
      sampleMs: 5 * 60_000,
      ...(onProgress ? { onProgress } : {}),
      ...(data ? { data } : {}),
      ...(spec.pricesMicros ? { pricesMicros: spec.pricesMicros } : {}),
    },
    () => performance.now(),
  );
}

/** Simulates one policy in a worker thread of its own (worker.ts). */
export async function simulateInWorker(spec: JobsSpec, policy: JobPolicy, onProgress?: (done: number, total: number) => void): Promise<JobsResult> {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { spec, policy } });
  try {
    return await new Promise<JobsResult>((resolve, reject) => {
      worker.on('message', (m: { kind: string; result?: JobsResult; done?: number; total?: number; error?: string }) => {
        if (m.kind === 'progress') onProgress?.(m.done ?? 0, m.total ?? 0);
        else if (m.kind === 'done' && m.result) resolve(m.result);
        else if (m.kind === 'error') reject(new Error(m.error));
      });
      worker.once('error', reject);
    });
  } finally {
    await worker.terminate();
  }
}

/** Runs the policies in parallel worker threads. */
export async function runJobsExperiment(spec: JobsSpec, policies: readonly JobPolicy[], onProgress?: (label: string, done: number, total: number) => void, threads = availableParallelism()): Promise<JobsResult[]> {
  const results = new Map<JobPolicy, JobsResult>();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(threads, policies.length)) }, async () => {
      for (;;) {
        const policy = policies[next++];
        if (!policy) break;
        results.set(policy, await simulateInWorker(spec, policy, (done, total) => onProgress?.(policy, done, total)));
      }
    }),
  );
  return policies.map((p) => results.get(p) as JobsResult);
}
