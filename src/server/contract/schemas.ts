/**
 * The API's schemas, in zod: what the server validates requests with and what it promises to
 * answer. The OpenAPI document (openapi.ts), the route table (operations.ts) and the CLI's
 * typed client (src/cli/client.ts) are all made from these, so none of them can drift.
 * Field names are one per meaning everywhere: GPU amounts end in `Gpus`, times in `At`.
 */
import { extendZodWithOpenApi, type ZodOpenAPIMetadata } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { JOB_STATES } from '../../adapters/store/store.js';
import { jobFileSchema } from '../../spec/job-spec.js';
import { GPU_MODEL_NAMES } from './job-rules.js';
import { parseDuration } from '../auth.js';
import { ERRORS, type ErrorCode } from '../errors.js';

extendZodWithOpenApi(z);
/** OpenAPI 3.1 keywords the library's (3.0-shaped) metadata type does not list, such as propertyNames. */
type OpenApiMeta = Partial<ZodOpenAPIMetadata>;

export const NAME = z.string().regex(/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/, 'must be lowercase letters, digits, ".", "_" or "-"');
/** An integer parameter sent as text (path or query), documented as an integer. */
const intParam = (min: number, max: number) => z.coerce.number().int().min(min).max(max).openapi({ type: 'integer', minimum: min, maximum: max });
const time = z.iso.datetime().openapi({ example: '2026-12-06T03:00:00.000Z' });
const gpus = z.number().nonnegative().max(100000);

// ---- errors -------------------------------------------------------------------------------
export const ErrorCodeSchema = z.enum(Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]]).openapi('ErrorCode', { description: Object.entries(ERRORS).map(([c, e]) => `${c} (${e.status}): ${e.description}`).join('\n') });
export const ErrorSchema = z
  .object({ error: z.object({ code: ErrorCodeSchema, message: z.string(), details: z.record(z.string(), z.unknown()).optional() }) })
  .openapi('Error', { example: { error: { code: 'JOB_NOT_FOUND', message: 'no job job-42' } } });

// ---- parameters ---------------------------------------------------------------------------
export const jobIdParams = z.strictObject({ id: z.string().min(1).max(64).openapi({ param: { description: 'a job id from POST /v1/jobs', example: 'job-1' } }) });
export const tokenIdParams = z.strictObject({ id: z.string().min(1).max(64).openapi({ param: { description: 'a token id (tokenId when it was issued)' } }) });
export const nodeParams = z.strictObject({ name: z.string().min(1).max(253).openapi({ param: { example: 'local' } }) });
export const gpuParams = z.strictObject({ name: z.string().min(1).max(253).openapi({ param: { example: 'local' } }), index: intParam(0, 63).openapi({ param: { example: 0, required: true } }) });
export const queueParams = z.strictObject({ name: NAME.openapi({ param: { example: 'default' } }) });
export const userParams = z.strictObject({ name: NAME.openapi({ param: { example: 'alice' } }) });

// ---- queries ------------------------------------------------------------------------------
export const cursorSchema = z.string().regex(/^[1-9][0-9]{0,14}$/, 'is not a cursor from a previous page').openapi({ description: 'nextCursor of the previous page: the page holds the jobs submitted before it' });
const STATE_WORDS = [...JOB_STATES, 'active', 'finished'];
export const listJobsQuery = z.strictObject({
  limit: intParam(1, 500).default(50),
  cursor: cursorSchema.optional(),
  state: z
    .string()
    .max(200)
    .regex(new RegExp(`^(${STATE_WORDS.join('|')})(,(${STATE_WORDS.join('|')}))*$`), `comma-separated states (${STATE_WORDS.join(', ')})`)
    .optional()
    .openapi({ description: `comma-separated states: ${STATE_WORDS.join(', ')} (active and finished stand for their states)`, example: 'active' }),
  queue: z.string().max(63).optional(),
});
export const logsQuery = z.strictObject({
  worker: intParam(0, 1023).default(0).openapi({ description: 'rank of the worker (below the job\'s workers)' }),
  offset: intParam(0, Number.MAX_SAFE_INTEGER).default(0).openapi({ description: 'byte offset to read from (X-Next-Offset of the previous read)' }),
  limit: intParam(1, 4 << 20).default(1 << 20).openapi({ description: 'at most this many bytes' }),
});
export const tokensQuery = z.strictObject({ user: NAME.optional() });
export const auditQuery = z.strictObject({ after: intParam(0, Number.MAX_SAFE_INTEGER).default(0), limit: intParam(1, 1000).default(100) });
export const idempotencyHeaders = z.object({ 'idempotency-key': z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces').optional().openapi({ description: 'a retry with the same key and body returns the first job (200); a different body is 409 IDEMPOTENCY_KEY_REUSED' }) });

// ---- bodies -------------------------------------------------------------------------------
// A new object over the same fields (zod-to-openapi can only annotate schemas made after it loaded).
export const JobSpecSchema = z.strictObject(jobFileSchema.shape).openapi({
  description: 'A job: the same format as a job file (gantry submit FILE). workingDir is an absolute path on the server.',
  example: { name: 'train-resnet', queue: 'default', command: 'python train.py --epochs 3', resources: { gpu: 1, cpu: 1, memory: '1Gi' }, checkpoint: { intervalSeconds: 600 } },
});
export const progressBody = z
  .strictObject({
    step: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
    loss: z.number().finite().optional(),
    samplesPerSec: z.number().nonnegative().finite().optional(),
    checkpoint: z.boolean().optional().openapi({ description: 'true: the job saved a checkpoint (acknowledges a preemption signal)' }),
  })
  .openapi('ProgressReport', { example: { step: 1200, loss: 0.42, checkpoint: true } });

/** A GPU model by catalog name or alias (GPU_MODELS). */
const gpuModelName = z.string().min(1).max(64);
const modelQuotaBody = z.strictObject({ guaranteedGpus: gpus.nullable().default(null), limitGpus: gpus.nullable().default(null) });
const queueFields = {
  team: NAME.nullable().openapi({ description: 'team that owns the queue; null: open to every team' }),
  parent: z.string().max(63).nullable().openapi({ description: 'parent queue, or null for a top-level queue' }),
  guaranteedGpus: gpus.nullable().openapi({ description: 'GPUs guaranteed to the queue (null: none)' }),
  limitGpus: gpus.nullable().openapi({ description: 'at most this many GPUs (null: no limit)' }),
  weight: z.number().positive().max(1000).openapi({ description: 'share of spare capacity relative to its siblings' }),
  ordering: z.enum(['priority', 'fifo']),
  /** Per GPU model (catalog name or alias): GPUs guaranteed and at most, each optional. */
  gpuModels: z
    .record(gpuModelName, modelQuotaBody)
    .refine((r) => Object.keys(r).length <= 32, 'at most 32 GPU models')
    .openapi({ propertyNames: { enum: GPU_MODEL_NAMES }, maxProperties: 32, description: 'per GPU model (catalog name or alias): GPUs guaranteed and at most', example: { 'H100-80GB': { guaranteedGpus: 8, limitGpus: 16 } } } as OpenApiMeta),
};
/**
 * PUT: the whole queue. The body is required; a field left out takes its default (it is reset,
 * not kept: PATCH keeps what it does not name).
 */
export const queuePutBody = z
  .strictObject({
    team: queueFields.team.default(null),
    parent: queueFields.parent.default(null),
    guaranteedGpus: queueFields.guaranteedGpus.default(null),
    limitGpus: queueFields.limitGpus.default(null),
    weight: queueFields.weight.default(1),
    ordering: queueFields.ordering.default('priority'),
    gpuModels: queueFields.gpuModels.default({}),
  })
  .openapi('QueuePut', { example: { team: null, parent: null, guaranteedGpus: 8, limitGpus: null, weight: 1, ordering: 'priority', gpuModels: {} } });
/** PATCH (JSON merge patch, RFC 7396): the fields to change; null clears a nullable one. */
export const queuePatchBody = z
  .strictObject({
    team: queueFields.team.optional(),
    parent: queueFields.parent.optional(),
    guaranteedGpus: queueFields.guaranteedGpus.optional(),
    limitGpus: queueFields.limitGpus.optional(),
    weight: queueFields.weight.optional(),
    ordering: queueFields.ordering.optional(),
    gpuModels: z
      .record(gpuModelName, z.strictObject({ guaranteedGpus: gpus.nullable().optional(), limitGpus: gpus.nullable().optional() }).nullable())
      .refine((r) => Object.keys(r).length <= 32, 'at most 32 GPU models')
      .optional()
      .openapi({ propertyNames: { enum: GPU_MODEL_NAMES }, maxProperties: 32, description: 'merged per model; null removes a model\'s quota' } as OpenApiMeta),
  })
  .openapi('QueuePatch', { example: { guaranteedGpus: 4 } });

const expiresField = z
  .string()
  .max(16)
  .refine((v) => parseDuration(v) !== null, 'must be a duration such as 30d, 12h, 90m or 3600s')
  .optional()
  .openapi({ description: 'lifetime such as 30d, 12h, 90m or 3600s (none: never expires)', pattern: '^[1-9][0-9]{0,5}[smhd]$', example: '30d' });
export const userBody = z.strictObject({ name: NAME, team: NAME, admin: z.boolean().default(false), expires: expiresField }).openapi('UserCreate', { example: { name: 'alice', team: 'vision' } });
export const tokenBody = z.strictObject({ expires: expiresField }).openapi('TokenCreate');
export const teamBody = z.strictObject({ name: NAME }).openapi('TeamCreate', { example: { name: 'vision' } });
export const gpuHealthBody = z.strictObject({ healthy: z.boolean() }).openapi('GpuHealth', { example: { healthy: false } });

// ---- responses ----------------------------------------------------------------------------
/** A job's data as `GET /v1/jobs/{id}` and explain show it: each dataset, its version, local copy and state. */
export const JobDataSchema = z
  .array(
    z.object({
      name: z.string(),
      version: z.number().int().nullable(),
      path: z.string().nullable(),
      state: z.enum(['cached', 'repairing', 'filling', 'waiting-for-space', 'failed', 'interrupted', 'not-cached', 'external', 'unresolved']),
      bytesDone: z.number().int().optional(),
      totalBytes: z.number().int().optional(),
      bytesPerSecond: z.number().int().nullable().optional(),
      etaSeconds: z.number().int().nullable().optional(),
      message: z.string().optional().openapi({ description: 'the state in a sentence: filling 40% (1.2 GiB of 3.0 GiB, 80.0 MiB/s, ETA 23 s), waiting for space ...' }),
    }),
  )
  .openapi('JobData');
const WaitReasonSchema = z
  .object({ kind: z.enum(['quota', 'fit', 'gang', 'reservation', 'order', 'preempting', 'data', 'budget']), message: z.string(), reasons: z.array(z.object({ code: z.string(), message: z.string(), nodes: z.number().int() })).optional() })
  .openapi('WaitReason');
const placementSchema = z.object({
  rank: z.number().int(),
  node: z.string(),
  simulated: z.boolean(),
  gpus: z.array(z.object({ index: z.number().int(), uuid: z.string().nullable(), model: z.string().nullable(), milli: z.number().int(), memoryMiB: z.number(), mig: z.string().optional() })),
});
const jobSummaryFields = {
  id: z.string().openapi({ example: 'job-1' }),
  name: z.string(),
  team: z.string(),
  owner: z.string(),
  queue: z.string(),
  state: z.enum(JOB_STATES as [string, ...string[]]),
  reason: z.string().nullable(),
  priority: z.number().int(),
  preemptible: z.boolean(),
  workers: z.number().int(),
  resources: z.record(z.string(), z.unknown()),
  submittedAt: time,
  startedAt: time.nullable(),
  finishedAt: time.nullable(),
  attempts: z.number().int(),
  retries: z.number().int(),
  preemptions: z.number().int(),
  exitCode: z.number().int().nullable(),
  lastCheckpointAt: time.nullable(),
  progress: z.object({ step: z.number().optional(), loss: z.number().optional(), samplesPerSec: z.number().optional(), at: time }).nullable(),
  placement: z.array(placementSchema),
  /** Why a queued job waits (empty otherwise); a list shows the first reason only. */
  waitingFor: z.array(WaitReasonSchema),
};
export const JobSummarySchema = z.object(jobSummaryFields).openapi('JobSummary');
export const JobSchema = z
  .object({
    ...jobSummaryFields,
    processes: z.array(z.object({ rank: z.number().int(), pid: z.number().int().nullable(), exitCode: z.number().int().nullable(), signal: z.string().nullable() })),
    spec: z.record(z.string(), z.unknown()).openapi('StoredJobSpec', { description: 'the job as stored (a JobSpec with defaults filled in)' }),
    data: JobDataSchema.optional(),
  })
  .openapi('Job');
export const JobListSchema = z.object({ items: z.array(JobSummarySchema), nextCursor: z.string().nullable() }).openapi('JobList');
export const ExplanationSchema = z
  .object({
    job: z.string(),
    state: z.string(),
    reason: z.string().nullable(),
    reasons: z.array(WaitReasonSchema),
    queuePosition: z.number().int().nullable().optional(),
    estimatedStart: time.nullable().optional(),
    estimateNote: z.string().nullable().optional(),
    preemptingFor: z.array(z.string()).optional(),
    data: JobDataSchema.optional(),
  })
  .openapi('Explanation');

const modelQuotaView = z.object({ guaranteedGpus: z.number().nullable(), limitGpus: z.number().nullable(), usedGpus: z.number() });
export const QueueSchema = z
  .object({
    name: z.string(),
    team: z.string().nullable(),
    parent: z.string().nullable(),
    guaranteedGpus: z.number().nullable(),
    limitGpus: z.number().nullable(),
    weight: z.number(),
    ordering: z.enum(['priority', 'fifo']),
    gpuModels: z.record(z.string(), modelQuotaView),
    deservedGpus: z.number(),
    usedGpus: z.number(),
    pendingGpus: z.number(),
    running: z.number().int(),
    pending: z.number().int(),
    aggregateOnly: z.boolean().optional().openapi({ description: 'true: another team\'s queue, shown as aggregates only' }),
  })
  .openapi('Queue');
export const QueueListSchema = z.object({ items: z.array(QueueSchema) }).openapi('QueueList');
export const QueueSavedSchema = QueueSchema.extend({ warnings: z.array(z.object({ code: z.string(), message: z.string() })).optional() }).openapi('QueueSaved');

export const NodeListSchema = z
  .object({
    items: z.array(
      z.object({
        name: z.string(),
        status: z.enum(['ready', 'cordoned', 'draining', 'drained']),
        simulated: z.boolean(),
        sharingMode: z.string(),
        cpuMilli: z.number().int(),
        memoryMiB: z.number(),
        gpus: z.array(z.object({ index: z.number().int(), uuid: z.string(), model: z.string(), memoryMiB: z.number(), healthy: z.boolean(), health: z.object({ admin: z.boolean(), present: z.boolean() }), mig: z.boolean(), freeMilli: z.number().int(), freeMemoryMiB: z.number(), jobs: z.number().int() })),
      }),
    ),
  })
  .openapi('NodeList');
export const NodeStatusSchema = z.object({ name: z.string(), status: z.enum(['ready', 'cordoned', 'draining', 'drained']) }).openapi('NodeStatus');
export const GpuHealthSchema = z.object({ node: z.string(), gpu: z.number().int(), healthy: z.boolean() }).openapi('GpuHealthStatus');
export const TopSchema = z
  .object({
    simulated: z.boolean(),
    gpus: z.array(
      z.object({
        node: z.string(),
        index: z.number().int(),
        uuid: z.string(),
        model: z.string(),
        healthy: z.boolean(),
        simulated: z.boolean(),
        utilization: z.number().nullable(),
        memoryUsedMiB: z.number().nullable(),
        memoryMiB: z.number(),
        powerW: z.number().nullable(),
        temperatureC: z.number().nullable(),
        jobs: z.array(
          z.object({
            job: z.string().openapi({ description: '"(another team)" for a job of another team, with only its share' }),
            share: z.number(),
            name: z.string().nullable().optional(),
            team: z.string().nullable().optional(),
            queue: z.string().nullable().optional(),
            memoryMiB: z.number().optional(),
            mig: z.string().nullable().optional(),
            step: z.number().nullable().optional(),
          }),
        ),
      }),
    ),
  })
  .openapi('Top');
export const WhoamiSchema = z.object({ name: z.string(), team: z.string(), admin: z.boolean() }).openapi('Whoami');
export const UserCreatedSchema = z.object({ name: z.string(), team: z.string(), admin: z.boolean(), token: z.string().openapi({ description: 'shown once' }), tokenId: z.string(), expiresAt: time.nullable() }).openapi('UserCreated');
export const TokenIssuedSchema = z.object({ user: z.string(), token: z.string().openapi({ description: 'shown once' }), tokenId: z.string(), expiresAt: time.nullable() }).openapi('TokenIssued');
export const TokenSchema = z.object({ id: z.string(), user: z.string(), createdAt: time, expiresAt: time.nullable(), revokedAt: time.nullable(), status: z.enum(['active', 'expired', 'revoked']) }).openapi('Token');
export const TokenListSchema = z.object({ items: z.array(TokenSchema) }).openapi('TokenList');
export const TeamSchema = z.object({ name: z.string(), createdAt: time.optional(), users: z.array(z.string()) }).openapi('Team');
export const TeamListSchema = z.object({ items: z.array(TeamSchema) }).openapi('TeamList');
export const AuditListSchema = z
  .object({ items: z.array(z.object({ id: z.number().int(), at: time, actor: z.string(), action: z.string(), target: z.string(), source: z.string(), detail: z.record(z.string(), z.unknown()).nullable() })), nextAfter: z.number().int().nullable() })
  .openapi('AuditList');
export const ErrorCatalogueSchema = z.object({ items: z.array(z.object({ code: ErrorCodeSchema, status: z.number().int(), description: z.string() })) }).openapi('ErrorCatalogue');
export const StatusSchema = z.object({ storedState: z.enum(['ok', 'problems']), problems: z.array(z.string()), problemCount: z.number().int(), rateLimit: z.object({ perSecond: z.number(), burst: z.number() }).nullable() }).openapi('ServerStatus');
export const OkSchema = z.object({ ok: z.literal(true) }).openapi('Ok');
