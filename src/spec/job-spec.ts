/**
 * The job file: one format for `gantry submit FILE` (YAML) and `POST /v1/jobs` (JSON).
 * Validated with zod; every message names the field path and the reason. The normalised
 * form (`JobFile`) is what the store keeps and what `toCoreJob` turns into the core's JobSpec.
 */
import { z } from 'zod';
import { parseDocument } from 'yaml';
import { UserError } from '../core/errors.js';
import { parseMemoryMiB, parseMilliCpu, QuantityError } from '../core/quantity.js';
import { findGpuModel, modelsWithMigProfile } from '../core/model/gpu-catalog.js';
import type { GpuRequest, PodRequest } from '../core/model/request.js';
import type { JobSpec } from '../core/scheduler/types.js';

const NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Kubernetes' label syntax, so a job's labels and a pod's are judged by the same policies. */
export const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Shares are counted in milli-GPU; below 10 milli a share is rounding noise, not a request. */
export const MIN_GPU_SHARE = 0.01;
/** A runtime estimate beyond a year is a typo (or a unit mix-up), and would overflow estimates. */
export const MAX_EXPECTED_DURATION_SECONDS = 366 * 86_400;

/** Text handed to the kernel (argv, environment, paths) cannot hold a NUL byte: refuse it here, not at start. */
const text = (max: number, min = 0) => z.string().min(min).max(max).refine((v) => !v.includes('\0'), 'must not contain a NUL byte');

const quantity = z.union([z.string().max(32), z.number().nonnegative().finite()]);

const resourcesSchema = z
  .strictObject({
    cpu: quantity.optional(),
    memory: quantity.optional(),
    /** Whole GPUs (integer >= 1) or a share of one GPU (0 < x < 1). */
    gpu: z.number().positive().max(64).finite().optional(),
    /** GPU memory for a share (e.g. 20Gi); alone it is a memory-only share. */
    gpuMemory: quantity.optional(),
    /** A MIG slice by profile name, e.g. 3g.40gb. */
    mig: z.string().max(32).optional(),
    /** Allowed GPU models, e.g. [H100-80GB]. */
    gpuModels: z.array(z.string().max(64)).max(16).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.gpu !== undefined && r.gpu < MIN_GPU_SHARE) ctx.addIssue({ code: 'custom', path: ['gpu'], message: `a GPU share must be at least ${MIN_GPU_SHARE} GPU (got ${r.gpu})` });
    if (r.gpu !== undefined && r.gpu >= 1 && !Number.isInteger(r.gpu)) ctx.addIssue({ code: 'custom', path: ['gpu'], message: 'must be a whole number of GPUs (1, 2, ...) or a share below 1 (e.g. 0.5)' });
    if (r.mig !== undefined && (r.gpu !== undefined || r.gpuMemory !== undefined)) ctx.addIssue({ code: 'custom', path: ['mig'], message: 'a MIG slice cannot be combined with gpu or gpuMemory' });
    if (r.gpuMemory !== undefined && r.gpu !== undefined && r.gpu >= 1) ctx.addIssue({ code: 'custom', path: ['gpuMemory'], message: 'gpuMemory applies to a share of one GPU (gpu below 1), not to whole GPUs' });
    if (r.mig !== undefined && modelsWithMigProfile(r.mig).length === 0) ctx.addIssue({ code: 'custom', path: ['mig'], message: `unknown MIG profile "${r.mig}" (examples: 1g.10gb, 3g.40gb)` });
    for (const [i, m] of (r.gpuModels ?? []).entries()) {
      if (!findGpuModel(m)) ctx.addIssue({ code: 'custom', path: ['gpuModels', i], message: `unknown GPU model "${m}" (examples: H100-80GB, A100-80GB, L4)` });
    }
  });

export const jobFileSchema = z.strictObject({
  name: z.string().regex(NAME, 'must be lowercase letters, digits, ".", "_" or "-", at most 63 characters'),
  queue: z.string().max(63).default('default'),
  priority: z.number().int().min(-1000).max(1000).default(0),
  preemptible: z.boolean().default(true),
  /** Number of workers started together (a gang); 1 = a single process. */
  workers: z.number().int().min(1).max(256).default(1),
  resources: resourcesSchema.default({}),
  /** A shell command line (run by /bin/sh -c) or an argument vector. */
  command: z.union([text(8192, 1), z.array(text(8192)).min(1).max(1024)]),
  env: z
    .record(z.string().regex(ENV_NAME, 'environment variable names are letters, digits and "_"'), text(65536))
    .refine((e) => Object.keys(e).length <= 256, 'at most 256 variables')
    .default({}),
  /** Absolute path (the CLI resolves a relative one against the job file's folder). */
  workingDir: text(4096)
    .regex(/^\//, 'must be an absolute path')
    .regex(/^\/.*[^/.]/, 'must not be the root folder "/"')
    .optional(),
  /** Run in this container image (needs a reachable Docker daemon). */
  image: text(512).optional(),
  /** A container's network: none (only loopback) or the host's (only meaningful for `image:` jobs). */
  network: z.enum(['none', 'host']).default('none'),
  checkpoint: z
    .strictObject({
      intervalSeconds: z.number().int().positive().max(86_400 * 7).optional(),
      graceSeconds: z.number().int().min(0).max(3600).default(30),
    })
    .optional(),
  /**
   * Datasets the job reads. With `path`: a folder used as it is. Without: a dataset registered
   * with `gantry datasets add`, copied to the node's cache before the job starts; `version`
   * defaults to the newest at submission and is recorded in the stored spec (provenance).
   */
  datasets: z
    .array(z.strictObject({ name: z.string().regex(NAME, 'must be a simple name'), version: z.number().int().positive().optional(), path: text(4096, 1).optional() }))
    .max(32)
    .default([]),
  retries: z
    .strictObject({
      limit: z.number().int().min(0).max(100).default(0),
      backoffSeconds: z.number().min(0).max(3600).default(5),
    })
    .default({ limit: 0, backoffSeconds: 5 }),
  /** Runtime estimate, for backfill and start-time estimates. */
  expectedDurationSeconds: z.number().int().positive().max(MAX_EXPECTED_DURATION_SECONDS, `must be at most ${MAX_EXPECTED_DURATION_SECONDS} (366 days)`).optional(),
  nodeSelector: z.record(z.string().max(128), z.string().max(128)).optional(),
  /** Labels (project, cost centre, ...): admission policies may require some (docs/policies.md). */
  labels: z
    .record(z.string().regex(LABEL_KEY, 'label keys are a name, optionally with a DNS prefix (example.com/cost-center)'), z.string().max(63).regex(LABEL_VALUE, 'label values are at most 63 letters, digits, "-", "_" or "."'))
    .refine((l) => Object.keys(l).length <= 64, 'at most 64 labels')
    .optional(),
});

export type JobFile = z.output<typeof jobFileSchema>;

/** Formats zod issues as "path: reason" lines. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => {
    const path = i.path.length === 0 ? '(top level)' : i.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
    let msg = i.message;
    if (i.code === 'unrecognized_keys') msg = `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`;
    return `${path}: ${msg}`;
  });
}

/** True for "/" however written ("//", "/.", "/tmp/.."). */
function isRootFolder(path: string): boolean {
  const parts: string[] = [];
  for (const p of path.split('/')) {
    if (p === '..') parts.pop();
    else if (p !== '' && p !== '.') parts.push(p);
  }
  return parts.length === 0;
}

/** Validates a parsed object; throws UserError JOB_INVALID with one line per problem. */
export function validateJobFile(input: unknown): JobFile {
  const r = jobFileSchema.safeParse(input);
  if (!r.success) {
    const lines = describeIssues(r.error.issues);
    throw new UserError('JOB_INVALID', `invalid job: ${lines.join('; ')}`, { issues: lines });
  }
  const job = r.data;
  // Quantities: parse now so a bad one is reported with its path.
  const res = job.resources;
  const check = (path: string, fn: () => number): void => {
    try {
      fn();
    } catch (e) {
      if (e instanceof QuantityError) throw new UserError('JOB_INVALID', `invalid job: ${path}: ${e.message}`, { issues: [`${path}: ${e.message}`] });
      throw e;
    }
  };
  if (res.cpu !== undefined) check('resources.cpu', () => parseMilliCpu(res.cpu as string | number));
  if (res.memory !== undefined) check('resources.memory', () => parseMemoryMiB(res.memory as string | number));
  if (res.gpuMemory !== undefined) check('resources.gpuMemory', () => parseMemoryMiB(res.gpuMemory as string | number));
  const invalid = (issue: string): UserError => new UserError('JOB_INVALID', `invalid job: ${issue}`, { issues: [issue] });
  // Well formed, but contradictory (which copy would the job read?): 422, not a schema error.
  const seen = new Set<string>();
  for (const d of job.datasets) {
    if (seen.has(d.name)) throw new UserError('JOB_DATASET_TWICE', `invalid job: datasets: names dataset "${d.name}" twice; name each dataset once`, { issues: [`datasets: names "${d.name}" twice`] });
    seen.add(d.name);
  }
  if (job.workingDir !== undefined && !job.workingDir.startsWith('/')) throw invalid('workingDir: must be an absolute path');
  // A job's working directory is mounted into its container and may be written by it: never the whole host.
  if (job.workingDir !== undefined && isRootFolder(job.workingDir)) throw invalid('workingDir: must not be the root folder "/"');
  // `none` is the default a stored (normalised) spec carries, so only `host` without an image is a mistake.
  if (job.network === 'host' && job.image === undefined) throw invalid('network: host applies only to a job that names an image (it runs in a container)');
  return job;
}

/**
 * Reads YAML text as plain data: a syntax error, an unknown tag (`!!js/function`, which the
 * library would turn into a string with only a console warning) and an alias bomb ("billion
 * laughs", over 100 aliases) are each a UserError JOB_INVALID naming the source.
 */
export function readYaml(text: string, source = 'job file'): unknown {
  const doc = parseDocument(text, { logLevel: 'silent' });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw new UserError('JOB_INVALID', `${source}: not valid YAML: ${problem.message.split('\n')[0] ?? ''}`);
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // The yaml library throws a ReferenceError for an alias bomb.
    if (e instanceof ReferenceError && /alias/i.test(e.message)) throw new UserError('JOB_INVALID', `${source}: too many YAML aliases (at most 100; a job file needs none)`);
    throw e;
  }
}

/** Parses YAML text (a job file) and validates it. */
export function parseJobYaml(text: string, source = 'job file'): JobFile {
  const doc = readYaml(text, source);
  if (doc === null || doc === undefined || typeof doc !== 'object' || Array.isArray(doc)) throw new UserError('JOB_INVALID', `${source}: must be a mapping with at least name and command`);
  return validateJobFile(doc);
}

export function gpuRequestOf(job: JobFile): GpuRequest {
  const r = job.resources;
  if (r.mig !== undefined) return { kind: 'mig', profile: r.mig };
  const mem = r.gpuMemory !== undefined ? parseMemoryMiB(r.gpuMemory) : 0;
  if (r.gpu !== undefined && r.gpu >= 1) return { kind: 'whole', count: r.gpu };
  if (r.gpu !== undefined || mem > 0) return { kind: 'share', milli: Math.round((r.gpu ?? 0) * 1000), memoryMiB: mem };
  return { kind: 'none' };
}

/** Member (worker) ids are job-scoped: `<job>/<rank>`. */
export function memberId(jobId: string, rank: number): string {
  return `${jobId}/${rank}`;
}

/** Each worker's CPU and memory request (the defaults when the job names none): also its limits. */
export function cpuMemoryOf(job: JobFile): { milliCpu: number; memoryMiB: number } {
  return {
    milliCpu: job.resources.cpu !== undefined ? parseMilliCpu(job.resources.cpu) : 100,
    memoryMiB: job.resources.memory !== undefined ? parseMemoryMiB(job.resources.memory) : 256,
  };
}

export function toCoreJob(id: string, job: JobFile, submittedAt: number): JobSpec {
  const gpu = gpuRequestOf(job);
  const cpuMemory = cpuMemoryOf(job);
  const models = (job.resources.gpuModels ?? []).map((m) => findGpuModel(m)?.name ?? m);
  const members: PodRequest[] = [];
  for (let rank = 0; rank < job.workers; rank++) {
    members.push({
      id: memberId(id, rank),
      cpuMilli: cpuMemory.milliCpu,
      memoryMiB: cpuMemory.memoryMiB,
      gpu,
      ...(models.length > 0 ? { allowedModels: models } : {}),
      ...(job.nodeSelector ? { nodeSelector: job.nodeSelector } : {}),
      ...(job.datasets.length > 0 ? { datasets: job.datasets.map((d) => (d.version !== undefined ? `${d.name}@${d.version}` : d.name)) } : {}),
    });
  }
  return {
    id,
    queue: job.queue,
    priority: job.priority,
    preemptible: job.preemptible,
    submittedAt,
    members,
    ...(job.checkpoint ? { checkpoint: { ...(job.checkpoint.intervalSeconds !== undefined ? { intervalSeconds: job.checkpoint.intervalSeconds } : {}), graceSeconds: job.checkpoint.graceSeconds } } : {}),
    ...(job.expectedDurationSeconds !== undefined ? { expectedDurationMs: job.expectedDurationSeconds * 1000 } : {}),
  };
}
