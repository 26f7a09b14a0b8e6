/**
 * The HTTP API (fastify). Every route validates its input with zod and answers errors from
 * the catalogue in errors.ts; a rejected request changes nothing. Submissions are grouped
 * into durable batches by the writer thread (submit-writer.ts), so many concurrent clients
 * share each fsync and the event loop never waits for one.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isUserError } from '../core/errors.js';
import { findGpuModel, GPU_MODELS } from '../core/model/gpu-catalog.js';
import type { JobRow, JobState, ModelQuota, Store, UserRow } from '../adapters/store/store.js';
import { ACTIVE_STATES, JOB_STATES, TERMINAL_STATES } from '../adapters/store/store.js';
import { describeIssues, readYaml, validateJobFile } from '../spec/job-spec.js';
import type { Controller } from './controller.js';
import { readJobFile } from './job-files.js';
import { ApiError, ERRORS, fromUserError } from './errors.js';
import { createUserWithTokenId, issueToken, parseDuration, TokenResolver } from './auth.js';
import { RateLimiter } from './rate-limit.js';
import { DenialLog } from './denials.js';
import { queueChangeProblem } from './stored-state.js';
import type { Metrics } from './metrics.js';
import type { GpuSample } from '../adapters/gpu/inventory.js';
import { openApiDocument } from './openapi.js';
import type { SubmitWriter } from './submit-writer.js';
import { dashboardHtml } from './dashboard.js';
import { checkGuarantees } from './queue-guarantees.js';
import type { DatasetService } from './datasets.js';
import { registerDatasetRoutes } from './datasets-api.js';

export interface ApiDeps {
  readonly store: Store;
  readonly controller: Controller;
  readonly metrics: Metrics;
  readonly samples: () => readonly GpuSample[];
  readonly dockerAvailable: boolean;
  readonly writer: SubmitWriter;
  readonly clock?: () => number;
  readonly log?: (line: string) => void;
  /** Requests per second per (non-admin) user, and the burst; 0 = no limit. */
  readonly rateLimit?: { readonly perSecond: number; readonly burst: number };
  /** PEM key and certificate: serve HTTPS. */
  readonly tls?: { readonly key: Buffer; readonly cert: Buffer };
  /** Problems found in the stored state at start (stored-state.ts), shown by /v1/status. */
  readonly storedStateProblems?: readonly string[];
  /** Datasets and the node cache (datasets.ts); absent = jobs may name only plain `path` datasets. */
  readonly datasets?: DatasetService;
}

declare module 'fastify' {
  interface FastifyRequest {
    user?: UserRow;
  }
}

const NAME = z.string().regex(/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/, 'must be lowercase letters, digits, ".", "_" or "-"');

function parse<T>(schema: z.ZodType<T>, value: unknown, code: 'BODY_INVALID' | 'QUERY_INVALID' | 'BAD_REQUEST'): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues = describeIssues(r.error.issues);
    throw new ApiError(code, issues.join('; '), { issues });
  }
  return r.data;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** A job as the API shows it; lists leave out the spec and the processes (`full` = false). */
export function jobView(j: JobRow, controller: Controller, full = true): Record<string, unknown> {
  const node = (name: string) => controller.scheduler.cluster.node(name);
  return {
    id: j.id,
    name: j.name,
    team: j.team,
    owner: j.owner,
    queue: j.queue,
    state: j.state,
    reason: j.reason,
    priority: j.spec.priority,
    preemptible: j.spec.preemptible,
    workers: j.spec.workers,
    resources: j.spec.resources,
    submittedAt: iso(j.submittedAt),
    startedAt: iso(j.startedAt),
    finishedAt: iso(j.finishedAt),
    attempts: j.attempts,
    retries: j.retries,
    preemptions: j.preemptions,
    exitCode: j.exitCode,
    lastCheckpointAt: iso(j.lastCheckpointAt),
    progress: j.progress ? { ...j.progress, at: iso(j.progress.at) } : null,
    placement: (j.bindings ?? []).map((b, rank) => ({
      rank,
      node: b.node,
      simulated: node(b.node)?.simulated ?? false,
      gpus: b.gpus.map((g) => ({ index: g.gpu, uuid: node(b.node)?.gpus[g.gpu]?.uuid ?? null, model: node(b.node)?.gpus[g.gpu]?.model ?? null, milli: g.milli, memoryMiB: g.memoryMiB, ...(g.mig ? { mig: g.mig } : {}) })),
    })),
    ...(full ? { processes: j.workers.map((w) => ({ rank: w.rank, pid: w.pid, exitCode: w.exitCode, signal: w.signal ?? null })), spec: j.spec } : {}),
  };
}

const cursorSchema = z.string().regex(/^[A-Za-z0-9_-]{1,24}$/, 'is not a cursor from a previous page');
function encodeCursor(seq: number): string {
  return Buffer.from(`s${seq}`).toString('base64url');
}
function decodeCursor(c: string): number {
  const m = /^s([1-9][0-9]{0,14})$/.exec(Buffer.from(c, 'base64url').toString());
  if (!m) throw new ApiError('QUERY_INVALID', 'cursor: is not a cursor from a previous page');
  return Number(m[1]);
}

const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: cursorSchema.optional(),
  state: z
    .string()
    .max(200)
    .optional()
    .transform((s, ctx) => {
      if (s === undefined) return undefined;
      const parts = s.split(',');
      for (const p of parts) {
        if (p !== 'active' && p !== 'finished' && !(JOB_STATES as readonly string[]).includes(p)) {
          ctx.addIssue({ code: 'custom', message: `unknown state "${p}" (states: ${JOB_STATES.join(', ')}, active, finished)` });
          return z.NEVER;
        }
      }
      return parts.flatMap((p) => (p === 'active' ? ACTIVE_STATES : p === 'finished' ? TERMINAL_STATES : [p as JobState]));
    }),
  queue: z.string().max(63).optional(),
});

const progressBody = z.strictObject({
  step: z.number().int().nonnegative().optional(),
  loss: z.number().finite().optional(),
  samplesPerSec: z.number().nonnegative().finite().optional(),
  checkpoint: z.boolean().optional(),
});

const queueBody = z.strictObject({
  team: NAME.nullable().default(null),
  parent: z.string().max(63).nullable().default(null),
  guaranteedGpus: z.number().nonnegative().max(100000).nullable().default(null),
  limitGpus: z.number().nonnegative().max(100000).nullable().default(null),
  weight: z.number().positive().max(1000).default(1),
  ordering: z.enum(['priority', 'fifo']).default('priority'),
  /** Per GPU model (catalog name or alias): GPUs guaranteed and at most, each optional. */
  gpuModels: z
    .record(
      z.string().min(1).max(64),
      z.strictObject({ guaranteedGpus: z.number().nonnegative().max(100000).nullable().default(null), limitGpus: z.number().nonnegative().max(100000).nullable().default(null) }),
    )
    .refine((r) => Object.keys(r).length <= 32, 'at most 32 GPU models')
    .default({}),
});

const expiresField = z
  .string()
  .max(16)
  .refine((v) => parseDuration(v) !== null, 'must be a duration such as 30d, 12h, 90m or 3600s')
  .optional();
const userBody = z.strictObject({ name: NAME, team: NAME, admin: z.boolean().default(false), expires: expiresField });
const tokenBody = z.strictObject({ expires: expiresField });
const teamBody = z.strictObject({ name: NAME });

/** Fields of a queue any user may see: counts and GPU totals, never a job. */
const AGGREGATE_QUEUE_FIELDS = ['name', 'team', 'parent', 'weight', 'guaranteedGpu', 'limitGpu', 'deservedGpu', 'usedGpu', 'pendingGpu', 'running', 'pending', 'gpuModels'] as const;

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

const idParam = z.strictObject({ id: z.string().max(64) });
const nodeParam = z.strictObject({ name: z.string().max(253) });

/**
 * A queue body's per-model quotas under canonical catalog names. An unknown model, two names
 * for one model, or a guarantee above the limit: 400 QUEUE_MODEL_QUOTA_INVALID.
 */
function modelQuotas(queue: string, raw: Record<string, { guaranteedGpus: number | null; limitGpus: number | null }>): Record<string, ModelQuota> {
  const out: Record<string, ModelQuota> = {};
  for (const [given, q] of Object.entries(raw)) {
    const model = findGpuModel(given)?.name;
    if (!model) throw new ApiError('QUEUE_MODEL_QUOTA_INVALID', `queue ${queue}: unknown GPU model "${given}" (known: ${GPU_MODELS.map((g) => g.name).join(', ')})`);
    if (out[model]) throw new ApiError('QUEUE_MODEL_QUOTA_INVALID', `queue ${queue}: GPU model ${model} is given twice ("${given}" is another name for it)`);
    if (q.guaranteedGpus !== null && q.limitGpus !== null && q.guaranteedGpus > q.limitGpus) {
      throw new ApiError('QUEUE_MODEL_QUOTA_INVALID', `queue ${queue}: guaranteed ${q.guaranteedGpus} ${model} GPUs, more than its ${model} limit of ${q.limitGpus}`);
    }
    if (q.guaranteedGpus !== null || q.limitGpus !== null) out[model] = q;
  }
  return out;
}

export function buildApi(deps: ApiDeps): FastifyInstance {
  const { store, controller, metrics } = deps;
  const clock = deps.clock ?? Date.now;
  const log = deps.log ?? (() => undefined);
  const tokens = new TokenResolver(store, clock);
  const limiter = new RateLimiter(deps.rateLimit?.perSecond ?? 0, Math.max(1, deps.rateLimit?.burst ?? 1), clock);
  const denials = new DenialLog(store, clock, log);
  const writer = deps.writer;
  // Queues change only through PUT /v1/queues (below), so they are read from the store once.
  const queues = new Map(store.listQueues().map((q) => [q.name, q]));
  const options = { logger: false, bodyLimit: 1 << 20, routerOptions: { ignoreTrailingSlash: true, maxParamLength: 300 } };
  // (An HTTPS instance differs from an HTTP one only in its server's type, which nothing here uses.)
  const app = deps.tls ? (Fastify({ ...options, https: { key: deps.tls.key, cert: deps.tls.cert } }) as unknown as FastifyInstance) : Fastify(options);

  app.removeContentTypeParser('text/plain');
  // Our own JSON parser, so a bad body is told what is wrong with it (fastify's says only
  // "not valid JSON"). A "__proto__" key is refused: merged later, it could alter prototypes.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = (body as string).replace(/^\ufeff/, '');
    if (text.trim() === '') return done(new ApiError('BAD_REQUEST', 'the body is empty; send a JSON object (or no content-type header)'), undefined);
    if (/"__proto__"\s*:/.test(text)) return done(new ApiError('BAD_REQUEST', 'the body may not contain a "__proto__" key'), undefined);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(new ApiError('BAD_REQUEST', `the body is not valid JSON: ${(e as Error).message.slice(0, 200)}`), undefined);
    }
  });
  app.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml'], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, readYaml(body as string, 'the body'));
    } catch (e) {
      done(isUserError(e) ? e : new ApiError('JOB_INVALID', `the body is not valid YAML: ${((e as Error).message.split('\n')[0] ?? '').slice(0, 200)}`), undefined);
    }
  });

  app.addHook('onResponse', (req, reply, done) => {
    metrics.httpSeconds.observe({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });

  app.setErrorHandler((err: unknown, req, reply) => {
    let e: ApiError;
    if (err instanceof ApiError) e = err;
    else if (isUserError(err)) e = fromUserError(err);
    else {
      const fe = err as { code?: string; statusCode?: number; message?: string };
      if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') e = new ApiError('BODY_TOO_LARGE', 'the request body is larger than 1 MiB');
      else if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') e = new ApiError('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json (or application/yaml for a job)');
      else if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) e = new ApiError('BAD_REQUEST', (fe.message ?? 'bad request').replace(/^Body /, 'body '));
      else {
        log(`internal error on ${req.method} ${req.routeOptions.url ?? '?'}: ${(err as Error).stack ?? String(err)}`);
        e = new ApiError('INTERNAL', 'internal error (see the server log)');
      }
    }
    // Refused attempts are audited: any on a route that changes something, and a forbidden read.
    if (e.status === 403 || ((e.status === 401 || e.status === 429) && !READS.has(req.method))) {
      denials.add({ actor: req.user?.name ?? 'anonymous', method: req.method, route: req.routeOptions.url ?? 'unmatched', target: req.url.split('?')[0] ?? '', code: e.code, source: req.ip });
    }
    if (e.code === 'RATE_LIMITED' && typeof e.details?.['retryAfterSeconds'] === 'number') void reply.header('retry-after', String(e.details['retryAfterSeconds']));
    void reply.code(e.status).send({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } });
  });
  // Every route's pattern, so a known path asked with the wrong method is told which ones work.
  const routes = new Map<string, { pattern: RegExp; methods: Set<string> }>();
  app.addHook('onRoute', (r) => {
    const source = `^${r.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z]+/g, '[^/]+')}/?$`;
    const entry = routes.get(source) ?? { pattern: new RegExp(source), methods: new Set<string>() };
    routes.set(source, entry);
    for (const m of [r.method].flat()) if (m !== 'HEAD') entry.methods.add(m);
  });
  app.addHook('onClose', (_app, done) => {
    denials.flush();
    done();
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    const allowed = [...new Set([...routes.values()].filter((r) => r.pattern.test(path)).flatMap((r) => [...r.methods]))].sort();
    if (allowed.length > 0) {
      void reply.code(405).header('allow', allowed.join(', ')).send({ error: { code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed on ${path}; use ${allowed.join(' or ')}` } });
      return;
    }
    void reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${path}` } });
  });

  const auth = (req: FastifyRequest): UserRow => {
    const r = tokens.resolve(req.headers.authorization);
    if (!r.ok) {
      if (r.why === 'missing') throw new ApiError('UNAUTHENTICATED', 'send "Authorization: Bearer <token>" (gantry up printed where the admin token is)');
      if (r.why === 'expired') throw new ApiError('UNAUTHENTICATED', `the token expired at ${iso(r.at ?? null) ?? '?'}; ask an admin for a new one (gantry users token USER)`);
      if (r.why === 'revoked') throw new ApiError('UNAUTHENTICATED', `the token was revoked at ${iso(r.at ?? null) ?? '?'}; ask an admin for a new one (gantry users token USER)`);
      throw new ApiError('UNAUTHENTICATED', 'unknown token');
    }
    req.user = r.user;
    // Admins are exempt: the operator's own tooling (and the submission benchmark) runs as admin.
    if (!r.user.admin) {
      const wait = limiter.take(r.user.name);
      if (wait > 0) throw new ApiError('RATE_LIMITED', `more than ${limiter.perSecond} requests/s (burst ${limiter.burst}) from user ${r.user.name}; retry after ${wait} s`, { retryAfterSeconds: wait });
    }
    return r.user;
  };
  const admin = (req: FastifyRequest): UserRow => {
    const u = auth(req);
    if (!u.admin) throw new ApiError('FORBIDDEN', 'only an admin may do this');
    return u;
  };
  const visibleJob = (u: UserRow, id: string, req: FastifyRequest): JobRow => {
    const j = controller.activeJob(id) ?? store.getJob(id);
    if (j && !u.admin && j.team !== u.team) {
      // Answered as not found (a job's existence is not another team's business), audited as forbidden.
      denials.add({ actor: u.name, method: req.method, route: req.routeOptions.url ?? 'unmatched', target: id, code: 'FORBIDDEN', source: req.ip });
    }
    if (!j || (!u.admin && j.team !== u.team)) throw new ApiError('JOB_NOT_FOUND', `no job ${id}`);
    return j;
  };
  /**
   * A change and its audit entry in one transaction: the entry is written first, so a change
   * that throws takes it back, and an entry that cannot be written stops the change.
   */
  const audited = <T>(u: UserRow, req: FastifyRequest, action: string, target: string, detail: Record<string, unknown> | null, change: () => T): T =>
    store.transaction(() => {
      store.appendAudit({ at: clock(), actor: u.name, action, target, source: req.ip, detail });
      return change();
    });

  // ---- public ---------------------------------------------------------------------------
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(dashboardHtml()));
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/openapi.json', async () => openApiDocument());
  // Any valid token; only admins see per-job series (the loopback --metrics-port needs none).
  app.get('/metrics', async (req, reply) => {
    const user = auth(req);
    return reply.type(metrics.registry.contentType).send(await metrics.render(user.admin ? 'full' : 'aggregate'));
  });
  app.get('/v1/status', async (req) => {
    const user = auth(req);
    const problems = deps.storedStateProblems ?? [];
    return { storedState: problems.length === 0 ? 'ok' : 'problems', problems: user.admin ? problems : [], problemCount: problems.length, rateLimit: limiter.enabled ? { perSecond: limiter.perSecond, burst: limiter.burst } : null };
  });

  // ---- jobs -----------------------------------------------------------------------------
  app.post('/v1/jobs', async (req, reply) => {
    const user = auth(req);
    const keyHeader = req.headers['idempotency-key'];
    const key = keyHeader === undefined ? null : parse(z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'), keyHeader, 'BAD_REQUEST');
    if (req.body === undefined || req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) throw new ApiError('JOB_INVALID', 'the body must be a job object (JSON or YAML) with at least name and command');
    const parsed = validateJobFile(req.body);
    const spec = deps.datasets ? deps.datasets.pinVersions(parsed) : parsed;
    const queue = queues.get(spec.queue);
    if (!queue) throw new ApiError('QUEUE_NOT_FOUND', `queue "${spec.queue}" does not exist`);
    if (!user.admin && queue.team !== null && queue.team !== user.team) throw new ApiError('FORBIDDEN', `queue "${spec.queue}" belongs to team ${queue.team}`);
    if (spec.image !== undefined && !deps.dockerAvailable) throw new ApiError('DOCKER_UNAVAILABLE', `the job names image "${spec.image}" but no Docker daemon is reachable; remove image to run it as a process`);
    if (spec.workingDir !== undefined && !(existsSync(spec.workingDir) && statSync(spec.workingDir).isDirectory())) throw new ApiError('WORKDIR_NOT_FOUND', `workingDir "${spec.workingDir}" is not a directory on the server`);
    controller.checkTenant(user.team);
    controller.admit(spec);
    const hash = createHash('sha256').update(JSON.stringify(spec)).digest('hex');
    const now = clock();
    const r = await writer.write({
      job: { name: spec.name, team: user.team, owner: user.name, queue: spec.queue, spec, submittedAt: now, state: 'queued', reason: null, startedAt: null, finishedAt: null, attempts: 0, retries: 0, preemptions: 0, notBefore: 0, bindings: null, workers: [], exitCode: null, lastCheckpointAt: null, progress: null, idempotencyKey: key, requestHash: hash },
      audit: { at: now, actor: user.name, action: 'job.submit', source: req.ip, detail: { name: spec.name, queue: spec.queue } },
    });
    if (!r.ok) throw r.code in ERRORS ? new ApiError(r.code as keyof typeof ERRORS, r.message) : new Error(r.message);
    const { job, replayed } = r;
    if (!replayed) metrics.submissions.inc();
    return reply.code(replayed ? 200 : 201).header('idempotent-replayed', String(replayed)).send(jobView(job, controller));
  });

  app.get('/v1/jobs', async (req) => {
    const user = auth(req);
    const q = parse(listQuery, req.query, 'QUERY_INVALID');
    const ids = store.listJobIds({
      ...(user.admin ? {} : { team: user.team }),
      ...(q.state ? { states: q.state } : {}),
      ...(q.queue ? { queue: q.queue } : {}),
      ...(q.cursor ? { beforeSeq: decodeCursor(q.cursor) } : {}),
      limit: q.limit + 1,
    });
    // Active jobs are read from memory (the controller's rows are the current ones); only
    // finished jobs are read from the store.
    const page = ids.slice(0, q.limit).flatMap((id) => {
      const j = controller.activeJob(id) ?? store.getJob(id);
      return j ? [j] : [];
    });
    const last = page[page.length - 1];
    // A queued job's first wait reason rides along, so a list says why each one waits.
    const waiting = (j: JobRow): Record<string, unknown> => (j.state === 'queued' ? { waitingFor: controller.pendingReasons(j.id)?.[0]?.message ?? null } : {});
    return { items: page.map((j) => ({ ...jobView(j, controller, false), ...waiting(j) })), nextCursor: ids.length > q.limit && last ? encodeCursor(last.seq) : null };
  });

  app.get('/v1/jobs/:id', async (req) => {
    const user = auth(req);
    const { id } = parse(idParam, req.params, 'BAD_REQUEST');
    const j = visibleJob(user, id, req);
    return { ...jobView(j, controller), waitingFor: j.state === 'queued' ? (controller.pendingReasons(j.id) ?? []) : [], ...(deps.datasets && j.spec.datasets.length > 0 ? { data: deps.datasets.jobData(j) } : {}) };
  });

  app.post('/v1/jobs/:id/cancel', async (req) => {
    const user = auth(req);
    const { id } = parse(idParam, req.params, 'BAD_REQUEST');
    const j = visibleJob(user, id, req);
    if ((TERMINAL_STATES as readonly string[]).includes(j.state)) throw new ApiError('JOB_FINISHED', `job ${id} already ${j.state}`);
    const row = audited(user, req, 'job.cancel', id, null, () => controller.cancel(id, user.name));
    return jobView(row, controller);
  });

  app.get('/v1/jobs/:id/explain', async (req) => {
    const user = auth(req);
    const { id } = parse(idParam, req.params, 'BAD_REQUEST');
    const j = visibleJob(user, id, req);
    const data = deps.datasets && j.spec.datasets.length > 0 ? { data: deps.datasets.jobData(j) } : {};
    if (j.state !== 'queued') return { job: id, state: j.state, reason: j.reason, reasons: [], ...data };
    const e = controller.explain(id);
    return { ...data, job: id, state: j.state, reason: j.reason, reasons: e.reasons, queuePosition: e.queuePosition ?? null, estimatedStart: e.estimatedStart !== undefined ? iso(e.estimatedStart) : null, estimateNote: e.estimateNote ?? null, preemptingFor: e.preemptingFor ?? [] };
  });

  app.get('/v1/jobs/:id/logs', async (req, reply) => {
    const user = auth(req);
    const { id } = parse(idParam, req.params, 'BAD_REQUEST');
    const q = parse(z.strictObject({ worker: z.coerce.number().int().min(0).max(1023).default(0), offset: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(4 << 20).default(1 << 20) }), req.query, 'QUERY_INVALID');
    const j = visibleJob(user, id, req);
    if (q.worker >= j.spec.workers) throw new ApiError('QUERY_INVALID', `worker: the job has ${j.spec.workers} worker(s)`);
    // The job's folder is the team's to read, not to trust: no symlink out of it is followed.
    const p = controller.paths(j.id, j.team);
    const got = readJobFile(`${p.logs}/worker-${q.worker}.log`, q.offset, q.limit, p.dir);
    const size = got?.size ?? 0;
    const start = Math.min(q.offset, size);
    const buf = got?.data ?? Buffer.alloc(0);
    const len = buf.length;
    const finished = (TERMINAL_STATES as readonly string[]).includes((controller.activeJob(j.id) ?? j).state);
    return reply.type('text/plain; charset=utf-8').header('x-next-offset', String(start + len)).header('x-job-finished', String(finished)).send(buf);
  });

  app.post('/v1/jobs/:id/progress', async (req) => {
    const user = auth(req);
    const { id } = parse(idParam, req.params, 'BAD_REQUEST');
    const body = parse(progressBody, req.body ?? {}, 'BODY_INVALID');
    visibleJob(user, id, req);
    const p = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)) as { step?: number; loss?: number; samplesPerSec?: number; checkpoint?: boolean };
    audited(user, req, p.checkpoint ? 'job.checkpoint' : 'job.progress', id, p, () => controller.reportProgress(id, p));
    return { ok: true };
  });

  // ---- queues, nodes, GPUs ---------------------------------------------------------------
  app.get('/v1/queues', async (req) => {
    const user = auth(req);
    const rows = new Map(store.listQueues().map((q) => [q.name, q]));
    return {
      items: controller.queueStatus().map((s) => {
        const team = rows.get(s.name)?.team ?? null;
        const gpus = (m: number | null): number | null => (m === null ? null : m / 1000);
        const gpuModels = Object.fromEntries(Object.entries(s.gpuModels).map(([m, q]) => [m, { guaranteedGpu: gpus(q.guaranteedGpu), limitGpu: gpus(q.limitGpu), usedGpu: q.usedGpu / 1000 }]));
        const view: Record<string, unknown> = { ...s, team, usedGpu: s.usedGpu / 1000, deservedGpu: s.deservedGpu / 1000, pendingGpu: s.pendingGpu / 1000, guaranteedGpu: s.guaranteedGpu / 1000, limitGpu: gpus(s.limitGpu), gpuModels };
        // Another team's queue: only the aggregate fields, whatever the status grows to carry.
        if (user.admin || team === null || team === user.team) return view;
        return { ...Object.fromEntries(AGGREGATE_QUEUE_FIELDS.map((f) => [f, view[f] ?? null])), aggregateOnly: true };
      }),
    };
  });

  app.put('/v1/queues/:name', async (req) => {
    const user = admin(req);
    const { name } = parse(z.strictObject({ name: NAME }), req.params, 'BAD_REQUEST');
    const body = parse(queueBody, req.body ?? {}, 'BODY_INVALID');
    if (body.team !== null && !store.getTeam(body.team)) throw new ApiError('TEAM_NOT_FOUND', `team "${body.team}" does not exist`);
    const row = { name, team: body.team, parent: body.parent, guaranteedGpus: body.guaranteedGpus, limitGpus: body.limitGpus, weight: body.weight, priorityOrdering: body.ordering === 'priority', gpuModels: modelQuotas(name, body.gpuModels) };
    const current = store.listQueues();
    const running = new Map(controller.queueStatus().map((q) => [q.name, q.running + q.pending]));
    const problem = queueChangeProblem(current, row, (q) => running.get(q) ?? 0);
    if (problem) throw new ApiError('QUEUE_TREE_INVALID', problem);
    const next = [...current.filter((q) => q.name !== name), row];
    const fleetByModel = new Map<string, number>();
    for (const n of controller.scheduler.cluster.nodes()) for (const g of n.gpus) fleetByModel.set(g.model, (fleetByModel.get(g.model) ?? 0) + 1);
    const warnings = checkGuarantees(next, name, [...fleetByModel.values()].reduce((a, b) => a + b, 0), fleetByModel);
    audited(user, req, 'queue.put', name, body, () => {
      store.putQueue(row);
      try {
        controller.setQueues(next); // the scheduler's own checks; a refusal rolls the row back
      } catch (e) {
        if (isUserError(e)) throw e.code === 'QUEUE_MODEL_QUOTA_INVALID' ? fromUserError(e) : new ApiError('QUEUE_TREE_INVALID', e.message);
        throw e;
      }
    });
    queues.set(name, row);
    return warnings.length > 0 ? { ...row, warnings } : row;
  });

  app.get('/v1/nodes', async (req) => {
    auth(req);
    const holders = controller.gpuHolders();
    return {
      items: controller.scheduler.cluster.nodesByName().map((n) => ({
        name: n.name,
        status: controller.nodeStatus(n.name),
        simulated: n.simulated,
        sharingMode: n.sharingMode,
        cpuMilli: n.cpuMilli,
        memoryMiB: n.memoryMiB,
        gpus: n.gpus.map((g) => ({ index: g.index, uuid: g.uuid, model: g.model, memoryMiB: g.memoryMiB, healthy: g.healthy, health: controller.gpuHealth(n.name, g.index), mig: g.mig !== null, freeMilli: g.milliFree, freeMemoryMiB: g.memFree, jobs: (holders.get(`${n.name}/${g.index}`) ?? []).length })),
      })),
    };
  });

  for (const action of ['cordon', 'uncordon', 'drain'] as const) {
    app.post(`/v1/nodes/:name/${action}`, async (req) => {
      const user = admin(req);
      const { name } = parse(nodeParam, req.params, 'BAD_REQUEST');
      audited(user, req, `node.${action}`, name, null, () => {
        if (action === 'drain') controller.drain(name);
        else controller.setCordon(name, action === 'cordon');
      });
      return { name, status: controller.nodeStatus(name) };
    });
  }

  app.post('/v1/nodes/:name/gpus/:index/health', async (req) => {
    const user = admin(req);
    const p = parse(z.strictObject({ name: z.string().max(253), index: z.coerce.number().int().min(0).max(63) }), req.params, 'BAD_REQUEST');
    const body = parse(z.strictObject({ healthy: z.boolean() }), req.body ?? {}, 'BODY_INVALID');
    audited(user, req, 'gpu.health', `${p.name}/${p.index}`, body, () => controller.setGpuHealth(p.name, p.index, body.healthy, user.name));
    return { node: p.name, gpu: p.index, healthy: body.healthy };
  });

  app.get('/v1/top', async (req) => {
    const user = auth(req);
    const holders = controller.gpuHolders();
    const samples = new Map(deps.samples().map((s) => [s.uuid, s]));
    return {
      simulated: controller.inventory.simulated,
      gpus: controller.scheduler.cluster.nodesByName().flatMap((n) =>
        n.gpus.map((g) => {
          const s = samples.get(g.uuid);
          return {
            node: n.name,
            index: g.index,
            uuid: g.uuid,
            model: g.model,
            healthy: g.healthy,
            simulated: n.simulated,
            utilization: s?.utilization ?? null,
            memoryUsedMiB: s?.memoryUsedMiB ?? null,
            memoryMiB: g.memoryMiB,
            powerW: s?.powerW ?? null,
            temperatureC: s?.temperatureC ?? null,
            jobs: (holders.get(`${n.name}/${g.index}`) ?? []).map((h) => {
              const row = controller.activeJob(h.job);
              const mine = user.admin || row?.team === user.team;
              return mine ? { job: h.job, name: row?.name ?? null, team: row?.team ?? null, queue: row?.queue ?? null, share: h.milli / 1000, memoryMiB: h.memoryMiB, mig: h.mig ?? null, step: row?.progress?.step ?? null } : { job: '(another team)', share: h.milli / 1000 };
            }),
          };
        }),
      ),
    };
  });

  // ---- users, teams, audit ----------------------------------------------------------------
  app.get('/v1/whoami', async (req) => {
    const u = auth(req);
    return { name: u.name, team: u.team, admin: u.admin };
  });

  app.post('/v1/users', async (req, reply) => {
    const user = admin(req);
    const body = parse(userBody, req.body ?? {}, 'BODY_INVALID');
    if (store.getUser(body.name)) throw new ApiError('ALREADY_EXISTS', `user "${body.name}" exists`);
    controller.checkTenant(body.team);
    const now = clock();
    const expiresAt = body.expires === undefined ? null : now + (parseDuration(body.expires) as number);
    const t = audited(user, req, 'user.create', body.name, { team: body.team, admin: body.admin, expiresAt }, () => createUserWithTokenId(store, body.name, body.team, body.admin, now, expiresAt));
    return reply.code(201).send({ name: body.name, team: body.team, admin: body.admin, token: t.token, tokenId: t.id, expiresAt: iso(expiresAt) });
  });

  // ---- tokens: admins manage everyone's; a member lists and revokes their own ----------------
  const tokenView = (t: { id: string; user: string; createdAt: number; expiresAt: number | null; revokedAt: number | null }) => {
    const now = clock();
    const status = t.revokedAt !== null ? 'revoked' : t.expiresAt !== null && t.expiresAt <= now ? 'expired' : 'active';
    return { id: t.id, user: t.user, createdAt: iso(t.createdAt), expiresAt: iso(t.expiresAt), revokedAt: iso(t.revokedAt), status };
  };
  app.get('/v1/tokens', async (req) => {
    const user = auth(req);
    const q = parse(z.strictObject({ user: NAME.optional() }), req.query, 'QUERY_INVALID');
    if (!user.admin && q.user !== undefined && q.user !== user.name) throw new ApiError('FORBIDDEN', 'a member may list only their own tokens');
    const who = user.admin ? q.user : user.name;
    if (who !== undefined && !store.getUser(who)) throw new ApiError('USER_NOT_FOUND', `no user "${who}"`);
    return { items: store.listTokens(who).map(tokenView) };
  });
  app.post('/v1/users/:name/tokens', async (req, reply) => {
    const user = admin(req);
    const { name } = parse(z.strictObject({ name: NAME }), req.params, 'BAD_REQUEST');
    const body = parse(tokenBody, req.body ?? {}, 'BODY_INVALID');
    if (!store.getUser(name)) throw new ApiError('USER_NOT_FOUND', `no user "${name}"`);
    const now = clock();
    const expiresAt = body.expires === undefined ? null : now + (parseDuration(body.expires) as number);
    const t = audited(user, req, 'token.issue', name, { expiresAt }, () => issueToken(store, name, now, expiresAt));
    return reply.code(201).send({ user: name, token: t.token, tokenId: t.id, expiresAt: iso(expiresAt) });
  });
  app.post('/v1/tokens/:id/revoke', async (req) => {
    const user = auth(req);
    const { id } = parse(z.strictObject({ id: z.string().max(64) }), req.params, 'BAD_REQUEST');
    const t = store.getToken(id);
    if (!t || (!user.admin && t.user !== user.name)) throw new ApiError('TOKEN_NOT_FOUND', `no token ${id}${user.admin ? '' : ' of yours'}`);
    if (t.revokedAt === null) audited(user, req, 'token.revoke', id, { user: t.user }, () => store.revokeToken(id, clock()));
    tokens.forget();
    return tokenView(store.getToken(id) ?? t);
  });

  app.get('/v1/teams', async (req) => {
    admin(req);
    return { items: store.listTeams().map((t) => ({ name: t.name, users: store.listUsers().filter((u) => u.team === t.name).map((u) => u.name) })) };
  });
  app.post('/v1/teams', async (req, reply) => {
    const user = admin(req);
    const body = parse(teamBody, req.body ?? {}, 'BODY_INVALID');
    if (store.getTeam(body.name)) throw new ApiError('ALREADY_EXISTS', `team "${body.name}" exists`);
    const now = clock();
    audited(user, req, 'team.create', body.name, null, () => store.createTeam(body.name, now));
    return reply.code(201).send({ name: body.name, createdAt: iso(now), users: [] });
  });

  app.get('/v1/audit', async (req) => {
    admin(req);
    const q = parse(z.strictObject({ after: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(1000).default(100) }), req.query, 'QUERY_INVALID');
    const items = store.listAudit(q.after, q.limit).map((e) => ({ ...e, at: iso(e.at) }));
    return { items, nextAfter: items.length === q.limit ? (items[items.length - 1]?.id ?? null) : null };
  });

  if (deps.datasets) registerDatasetRoutes(app, { datasets: deps.datasets, auth, admin, audit: (u, req, action, target, detail) => audited(u, req, action, target, detail, () => undefined) });

  app.get('/v1/errors', async () => ({ items: Object.entries(ERRORS).map(([code, e]) => ({ code, status: e.status, description: e.description })) }));

  return app;
}

