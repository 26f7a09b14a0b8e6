/**
 * The service file: an inference service for `gantry serve apply FILE` (YAML) and
 * `POST /v1/services` (JSON). A service is a template of replicas plus how to route to them and
 * scale them. Each replica runs as an ordinary job named `NAME-rN` (so it is placed, queued and
 * accounted like training), with the port Gantry chose for it in `PORT`.
 */
import { z } from 'zod';
import { createHash } from 'node:crypto';
import { UserError } from '../core/errors.js';
import { llmEngineProfileSchema } from '../serve/llm-model/engine-profile.js';
import { ROUTE_POLICY_NAMES } from '../serve/router/route-policies.js';
import { describeIssues, jobFileSchema, validateJobFile, type JobFile } from './job-spec.js';

/** Short enough that `NAME-r9999` is still a job name (63 characters). */
const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?$/;
const job = jobFileSchema.shape;
/** A dataset name (as in a job's datasets), optionally `@VERSION`. */
const DATASET_REF = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?(@[1-9][0-9]{0,8})?$/;

/** The dataset a service's weights name (version null: not pinned yet), or null for a path or none. */
export function weightsDataset(s: Pick<ServiceFile, 'weights'>): { name: string; version: number | null } | null {
  if (s.weights === undefined || typeof s.weights === 'string') return null;
  const [name, version] = s.weights.dataset.split('@');
  return { name: name as string, version: version === undefined ? null : Number(version) };
}

export const serviceFileSchema = z
  .strictObject({
    kind: z.literal('Service').optional(),
    name: z.string().regex(SERVICE_NAME, 'must be lowercase letters, digits or "-", at most 50 characters'),
    queue: job.queue,
    /** Replicas outrank preemptible training by default. */
    priority: z.number().int().min(-1000).max(1000).default(100),
    preemptible: z.boolean().default(false),
    command: job.command,
    image: job.image,
    env: job.env,
    // One pattern (the job's two read as one in the document: an absolute path, not "/").
    workingDir: z.string().max(4096).regex(/^\/.*[^/.]/, 'must be an absolute path other than the root folder "/"').refine((v) => !v.includes('\0'), 'must not contain a NUL byte').optional(),
    resources: job.resources,
    /**
     * The model's weights (GANTRY_WEIGHTS in the replica's environment): an absolute path, or a
     * registered dataset (`{dataset: NAME}` or `NAME@VERSION`; the newest version is pinned when
     * the service is applied), copied to the replica's node before it starts and placed for.
     */
    weights: z
      .union([
        z.string().min(1).max(4096).regex(/^\//, 'must be an absolute path'),
        z.strictObject({ dataset: z.string().max(80).regex(DATASET_REF, 'must be a dataset NAME or NAME@VERSION') }),
      ])
      .optional(),
    readiness: z
      .strictObject({
        path: z.string().max(512).regex(/^\/[\x21-\x7e]*$/, 'must be a path starting with "/"').default('/health'),
        periodSeconds: z.number().min(0.2).max(60).default(1),
        timeoutSeconds: z.number().min(0.1).max(60).default(1),
      })
      .default({ path: '/health', periodSeconds: 1, timeoutSeconds: 1 }),
    replicas: z
      .strictObject({
        min: z.number().int().min(0).max(256).default(1),
        max: z.number().int().min(1).max(256).default(4),
        /** Replicas at creation (default: min, at least 1 when min is 0 is not implied). */
        initial: z.number().int().min(0).max(256).optional(),
      })
      .default({ min: 1, max: 4 }),
    objective: z
      .strictObject({
        ttftP99Ms: z.number().positive().max(600_000).optional(),
        itlP99Ms: z.number().positive().max(600_000).optional(),
        latencyP99Ms: z.number().positive().max(3_600_000).optional(),
      })
      .default({}),
    autoscaler: z
      .strictObject({
        /** gantry: sized from the tokens requests bring (OpenAI-compatible servers); kpa: from requests in flight. */
        policy: z.enum(['gantry', 'kpa']).default('gantry'),
        /** kpa: requests in flight one replica should hold. */
        targetInFlight: z.number().positive().max(100_000).default(16),
        stableSeconds: z.number().min(2).max(3600).default(60),
        panicSeconds: z.number().min(2).max(600).default(6),
        tolerance: z.number().min(0).max(1).default(0.1),
        scaleDownDelaySeconds: z.number().min(0).max(86_400).default(120),
        /** gantry: the replicas' timing (defaults: an 8B model on one H100, see docs/inference.md). */
        profile: llmEngineProfileSchema.partial().strict().default({}),
      })
      .default({ policy: 'gantry', targetInFlight: 16, stableSeconds: 60, panicSeconds: 6, tolerance: 0.1, scaleDownDelaySeconds: 120, profile: {} }),
    routing: z
      .strictObject({
        policy: z.enum(ROUTE_POLICY_NAMES).default('load-prefix'),
        loadBound: z.number().int().min(0).max(100_000).default(8),
        /**
         * With a p99 TTFT objective: a replica takes a request only while the prompts it has not
         * started answering would take at most this share of the objective to prefill; others
         * wait in the router for the first replica with room (router/prefill-gate.ts). 0: no bound.
         */
        promptQueueShare: z.number().min(0).max(10).default(0.5),
      })
      .default({ policy: 'load-prefix', loadBound: 8, promptQueueShare: 0.5 }),
    /** How long a removed replica's open requests may take before it is stopped. */
    drainSeconds: z.number().min(0).max(3600).default(30),
    /** How a new replica template (a new revision) replaces the running one (docs/services.md). */
    rollout: z
      .strictObject({
        /** canary: one new replica takes canaryPercent of requests, judged, then promoted or rolled back; replace: no canary. */
        strategy: z.enum(['canary', 'replace']).default('canary'),
        canaryPercent: z.number().min(1).max(100).default(10),
        /** How long the canary is judged once Ready. */
        analysisSeconds: z.number().min(1).max(86_400).default(60),
        /** The canary's highest share of 5xx answers. */
        maxErrorRate: z.number().min(0).max(1).default(0.01),
        /** Requests the canary must answer before it is judged (the analysis waits for them). */
        minRequests: z.number().int().min(1).max(1_000_000).default(20),
        /** A canary not Ready by then is rolled back. */
        readyTimeoutSeconds: z.number().min(1).max(86_400).default(600),
      })
      .default({ strategy: 'canary', canaryPercent: 10, analysisSeconds: 60, maxErrorRate: 0.01, minRequests: 20, readyTimeoutSeconds: 600 }),
  })
  .superRefine((s, ctx) => {
    if (s.replicas.min > s.replicas.max) ctx.addIssue({ code: 'custom', path: ['replicas', 'min'], message: `must be at most replicas.max (${s.replicas.max})` });
    const initial = s.replicas.initial;
    if (initial !== undefined && (initial < s.replicas.min || initial > s.replicas.max)) ctx.addIssue({ code: 'custom', path: ['replicas', 'initial'], message: `must be between replicas.min (${s.replicas.min}) and replicas.max (${s.replicas.max})` });
    if (s.env['PORT'] !== undefined) ctx.addIssue({ code: 'custom', path: ['env', 'PORT'], message: 'is set by Gantry (each replica gets its own port)' });
    for (const k of ['GANTRY_SERVICE', 'GANTRY_REPLICA', 'GANTRY_SERVICE_REVISION', 'GANTRY_WEIGHTS_DATASET']) if (s.env[k] !== undefined) ctx.addIssue({ code: 'custom', path: ['env', k], message: 'is set by Gantry for each replica' });
  });

export type ServiceFile = z.output<typeof serviceFileSchema>;

/** Validates a parsed object; throws UserError SERVICE_INVALID with one line per problem. */
export function validateServiceFile(input: unknown): ServiceFile {
  const r = serviceFileSchema.safeParse(input);
  if (!r.success) {
    const lines = describeIssues(r.error.issues);
    throw new UserError('SERVICE_INVALID', `invalid service: ${lines.join('; ')}`, { issues: lines });
  }
  // The replica template must be a valid job too (quantities, network, workingDir).
  try {
    replicaJob(r.data, 1, 1024);
  } catch (e) {
    if (e instanceof UserError && e.code === 'JOB_INVALID') throw new UserError('SERVICE_INVALID', e.message.replace(/^invalid job/, 'invalid service'), e.details);
    throw e;
  }
  return r.data;
}

/** In a replica job's env: which of its datasets holds the weights (GANTRY_WEIGHTS then points at its copy). */
export const WEIGHTS_DATASET_ENV = 'GANTRY_WEIGHTS_DATASET';

/** The replica index of a job name `NAME-rN` of service `name`, or null. */
export function replicaIndexOf(service: string, jobName: string): number | null {
  const m = /^(.*)-r([1-9][0-9]*)$/.exec(jobName);
  return m && m[1] === service ? Number(m[2]) : null;
}

/** The job that runs replica `index` of a service, listening on `port`. */
export function replicaJob(s: ServiceFile, index: number, port: number): JobFile {
  const revision = replicaRevision(s);
  const data = weightsDataset(s);
  return validateJobFile({
    name: `${s.name}-r${index}`,
    queue: s.queue,
    priority: s.priority,
    preemptible: s.preemptible,
    command: s.command,
    ...(s.image !== undefined ? { image: s.image, network: 'host' } : {}),
    ...(s.workingDir !== undefined ? { workingDir: s.workingDir } : {}),
    resources: s.resources,
    // Dataset weights: the job reads the dataset, and GANTRY_WEIGHTS is set to its node's copy when it starts (worker-env.ts).
    ...(data ? { datasets: [{ name: data.name, ...(data.version !== null ? { version: data.version } : {}) }] } : {}),
    env: { ...s.env, PORT: String(port), GANTRY_SERVICE: s.name, GANTRY_REPLICA: String(index), GANTRY_SERVICE_REVISION: revision, ...(typeof s.weights === 'string' ? { GANTRY_WEIGHTS: s.weights } : {}), ...(data ? { [WEIGHTS_DATASET_ENV]: data.name } : {}) },
  });
}

/**
 * The revision of a service's replica template: a hash of the fields that shape a replica
 * (command, image, env, workingDir, resources, readiness, weights). A change of anything else
 * (replicas, autoscaler, routing, objective, rollout) keeps the revision and applies in place.
 */
export function replicaRevision(s: ServiceFile): string {
  const template = { command: s.command, image: s.image ?? null, env: Object.fromEntries(Object.entries(s.env).sort(([a], [b]) => a.localeCompare(b))), workingDir: s.workingDir ?? null, resources: s.resources, readiness: s.readiness, weights: s.weights ?? null };
  return createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
}
