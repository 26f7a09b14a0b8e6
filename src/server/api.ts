/**
 * The HTTP API (fastify). Every route validates its input with zod and answers errors from
 * the catalogue in errors.ts; a rejected request changes nothing. Submissions are grouped
 * into durable batches by the writer thread (submit-writer.ts), so many concurrent clients
 * share each fsync and the event loop never waits for one.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { isUserError } from '../core/errors.js';
import { findGpuModel, GPU_MODELS } from '../core/model/gpu-catalog.js';
import type { JobRow, JobState, ModelQuota, QueueRow, Store, UserRow } from '../adapters/store/store.js';
import type { QueueStatus } from '../core/scheduler/scheduler.js';
import { ACTIVE_STATES, TERMINAL_STATES } from '../adapters/store/store.js';
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
import { OPERATIONS, fastifyPath, type Access, type OperationId } from './contract/operations.js';
import * as S from './contract/schemas.js';
import type { SubmitWriter } from './submit-writer.js';
import { dashboardAsset, dashboardHtml } from './dashboard.js';
import { registerEventRoutes } from './events/events-api.js';
import { uiAssetParams } from './contract/dashboard-schemas.js';
import { checkGuarantees } from './queue-guarantees.js';
import type { DatasetService } from './datasets.js';
import { registerDatasetRoutes } from './datasets-api.js';
import { registerCostRoutes, type CostRouteDeps } from './cost/cost-api.js';
import type { AdmissionPolicies } from './admission-policies.js';
import { registerPolicyRoutes } from './policies-api.js';
import type { ServiceManager } from './services/service-manager.js';
import { registerServiceRoutes } from './services/services-api.js';
import { registerHistoryRoutes } from './history/history-api.js';
import type { HistoryStore } from '../adapters/store/history-store.js';

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
  /** Prices, the attempts ledger and budgets (src/server/cost/). */
  readonly cost: Pick<CostRouteDeps, 'ledger' | 'budgets' | 'watch'>;
  /** Use over time, downsampled (history/history-sampler.ts writes it). */
  readonly history: HistoryStore;
  /** The admission policies (admission-policies.ts), judged at every submission. */
  readonly policies: AdmissionPolicies;
  /** Inference services (services/service-manager.ts); absent = no /v1/services routes. */
  readonly services?: ServiceManager;
}

declare module 'fastify' {
  interface FastifyRequest {
    user?: UserRow;
  }
  interface FastifyContextConfig {
    operationId?: OperationId;
    access?: Access;
  }
}

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
    // Why a queued job waits; a list carries the first reason only.
    waitingFor: j.state === 'queued' ? (controller.pendingReasons(j.id) ?? []).slice(0, full ? undefined : 1) : [],
    ...(full ? { processes: j.workers.map((w) => ({ rank: w.rank, pid: w.pid, exitCode: w.exitCode, signal: w.signal ?? null })), spec: j.spec } : {}),
  };
}

/** A page's cursor: the sequence number the next page starts below. */
function encodeCursor(seq: number): string {
  return String(seq);
}
function decodeCursor(c: string): number {
  return Number(c);
}

/** `state=active,failed`: the states named, `active` and `finished` standing for theirs. */
function statesOf(list: string): JobState[] {
  return list.split(',').flatMap((p) => (p === 'active' ? ACTIVE_STATES : p === 'finished' ? TERMINAL_STATES : [p as JobState]));
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

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

const ROUTES = new WeakMap<FastifyInstance, readonly { method: string; url: string }[]>();
/** Every route an API instance registered (HEAD excepted), to check them against the contract. */
export function routesOf(app: FastifyInstance): readonly { method: string; url: string }[] {
  return ROUTES.get(app) ?? [];
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
  // The router's own refusals (a path parameter over 300 characters, a malformed URL) in the
  // project's error shape, like every other error.
  const options = {
    logger: false,
    bodyLimit: 1 << 20,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 300 },
    frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void => {
      const e = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? new ApiError('URI_TOO_LONG', 'a path parameter is longer than 300 characters') : new ApiError('BAD_REQUEST', 'the URL is malformed (bad percent-encoding)');
      void reply.code(e.status).send({ error: { code: e.code, message: e.message } });
    },
  } as const;
  // (An HTTPS instance differs from an HTTP one only in its server's type, which nothing here uses.)
  const app = deps.tls ? (Fastify({ ...options, https: { key: deps.tls.key, cert: deps.tls.cert } }) as unknown as FastifyInstance) : Fastify(options);

  app.removeContentTypeParser('text/plain');
  // Our own JSON parser, so a bad body is told what is wrong with it (fastify's says only
  // "not valid JSON"). A "__proto__" key is refused: merged later, it could alter prototypes.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(['application/json', 'application/merge-patch+json'], { parseAs: 'string' }, (_req, body, done) => {
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
    if (req.routeOptions.url === undefined) {
      unmatched(req, reply); // no route: 404 or 405, whatever the framework objected to first
      return;
    }
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
  const registered: { method: string; url: string }[] = [];
  ROUTES.set(app, registered);
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) if (m !== 'HEAD') registered.push({ method: m, url: r.url });
    const source = `^${r.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z]+/g, '[^/]+')}/?$`;
    const entry = routes.get(source) ?? { pattern: new RegExp(source), methods: new Set<string>() };
    routes.set(source, entry);
    for (const m of [r.method].flat()) if (m !== 'HEAD') entry.methods.add(m);
  });
  app.addHook('onClose', (_app, done) => {
    denials.flush();
    done();
  });
  const unmatched = (req: FastifyRequest, reply: FastifyReply): void => {
    const path = req.url.split('?')[0] ?? '';
    const allowed = [...new Set([...routes.values()].filter((r) => r.pattern.test(path)).flatMap((r) => [...r.methods]))].sort();
    if (allowed.length > 0) {
      void reply.code(405).header('allow', allowed.join(', ')).send({ error: { code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed on ${path}; use ${allowed.join(' or ')}` } });
      return;
    }
    void reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${path}` } });
  };
  app.setNotFoundHandler(unmatched);

  const auth = (req: FastifyRequest): UserRow => {
    if (req.user) return req.user; // resolved once per request, before its body was read
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

  /** Registers one operation of the contract (contract/operations.ts) with its handler. */
  const route = (id: OperationId, handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>): void => {
    const op = OPERATIONS[id];
    app.route({ method: op.method.toUpperCase() as Uppercase<typeof op.method>, url: fastifyPath(op.path), config: { operationId: id, access: op.access }, handler });
  };
  /** A body the operation requires: none at all is an error, never an empty object of defaults. */
  const requiredBody = (req: FastifyRequest): unknown => {
    if (req.body === undefined || req.body === null) throw new ApiError('BODY_INVALID', 'this request needs a JSON body (see /openapi.json for its schema)');
    return req.body;
  };
  // Who is calling is settled before the body is read, so a caller without a valid token is
  // answered 401 (or 403) whatever it sent, and only an authenticated one is told about its body.
  app.addHook('onRequest', async (req) => {
    const access = req.routeOptions.config.access;
    if (access === 'admin') admin(req);
    else if (access === 'user') auth(req);
  });

  // ---- public ---------------------------------------------------------------------------
  route('dashboard', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(dashboardHtml()));
  route('dashboardAsset', async (req, reply) => {
    const { file } = parse(uiAssetParams, req.params, 'BAD_REQUEST');
    const a = dashboardAsset(file);
    if (!a) throw new ApiError('NOT_FOUND', `no dashboard file ${file} (is the bundle built? npm run build)`);
    if (req.headers['if-none-match'] === a.etag) return reply.code(304).header('etag', a.etag).send();
    return reply.type(a.type).header('etag', a.etag).header('cache-control', 'no-cache').send(a.body);
  });
  route('healthz', async () => ({ ok: true }));
  route('openapi', async () => openApiDocument());
  // Any valid token; only admins see per-job series (the loopback --metrics-port needs none).
  route('metrics', async (req, reply) => {
    const user = auth(req);
    return reply.type(metrics.registry.contentType).send(await metrics.render(user.admin ? 'full' : 'aggregate'));
  });
  route('getStatus', async (req) => {
    const user = auth(req);
    const problems = deps.storedStateProblems ?? [];
    return { storedState: problems.length === 0 ? 'ok' : 'problems', problems: user.admin ? problems : [], problemCount: problems.length, rateLimit: limiter.enabled ? { perSecond: limiter.perSecond, burst: limiter.burst } : null };
  });

  // ---- jobs -----------------------------------------------------------------------------
  route('submitJob', async (req, reply) => {
    const user = auth(req);
    const key = parse(S.idempotencyHeaders, req.headers, 'BAD_REQUEST')['idempotency-key'] ?? null;
    if (req.body === undefined || req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) throw new ApiError('JOB_INVALID', 'the body must be a job object (JSON or YAML) with at least name and command');
    const parsed = validateJobFile(req.body);
    if (parsed.env['GANTRY_SERVICE'] !== undefined) throw new ApiError('JOB_INVALID', 'invalid job: env: GANTRY_SERVICE is set by Gantry for service replicas; submit a service (kind: Service) instead', { issues: ['env.GANTRY_SERVICE: is set by Gantry for service replicas'] });
    const spec = deps.datasets ? deps.datasets.pinVersions(parsed) : parsed;
    const queue = queues.get(spec.queue);
    if (!queue) throw new ApiError('QUEUE_NOT_FOUND', `queue "${spec.queue}" does not exist`);
    if (!user.admin && queue.team !== null && queue.team !== user.team) throw new ApiError('FORBIDDEN', `queue "${spec.queue}" belongs to team ${queue.team}`);
    deps.policies.admit(spec, user.team, user.name);
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

  route('listJobs', async (req) => {
    const user = auth(req);
    const q = parse(S.listJobsQuery, req.query, 'QUERY_INVALID');
    const ids = store.listJobIds({
      ...(user.admin ? {} : { team: user.team }),
      ...(q.state ? { states: statesOf(q.state) } : {}),
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
    return { items: page.map((j) => jobView(j, controller, false)), nextCursor: ids.length > q.limit && last ? encodeCursor(last.seq) : null };
  });

  route('getJob', async (req) => {
    const user = auth(req);
    const { id } = parse(S.jobIdParams, req.params, 'BAD_REQUEST');
    const j = visibleJob(user, id, req);
    return { ...jobView(j, controller), ...(deps.datasets && j.spec.datasets.length > 0 ? { data: deps.datasets.jobData(j) } : {}) };
  });

  route('cancelJob', async (req) => {
    const user = auth(req);
    const { id } = parse(S.jobIdParams, req.params, 'BAD_REQUEST');
    const j = visibleJob(user, id, req);
    if ((TERMINAL_STATES as readonly string[]).includes(j.state)) throw new ApiError('JOB_FINISHED', `job ${id} already ${j.state}`);
    const row = audited(user, req, 'job.cancel', id, null, () => controller.cancel(id, user.name));
    return jobView(row, controller);
  });

  route('explainJob', async (req) => {
    const user = auth(req);
    const { id } = parse(S.jobIdParams, req.params, 'BAD_REQUEST');
    const j = visibleJob(user, id, req);
    const data = deps.datasets && j.spec.datasets.length > 0 ? { data: deps.datasets.jobData(j) } : {};
    if (j.state !== 'queued') return { job: id, state: j.state, reason: j.reason, reasons: [], ...data };
    const e = controller.explain(id);
    return { ...data, job: id, state: j.state, reason: j.reason, reasons: e.reasons, queuePosition: e.queuePosition ?? null, estimatedStart: e.estimatedStart !== undefined ? iso(e.estimatedStart) : null, estimateNote: e.estimateNote ?? null, preemptingFor: e.preemptingFor ?? [] };
  });

  route('getJobLogs', async (req, reply) => {
    const user = auth(req);
    const { id } = parse(S.jobIdParams, req.params, 'BAD_REQUEST');
    const q = parse(S.logsQuery, req.query, 'QUERY_INVALID');
    const j = visibleJob(user, id, req);
    if (q.worker >= j.spec.workers) throw new ApiError('WORKER_NOT_FOUND', `job ${id} has no worker ${q.worker}: it has ${j.spec.workers} worker(s), ranks 0 to ${j.spec.workers - 1}`);
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

  route('reportJobProgress', async (req) => {
    const user = auth(req);
    const { id } = parse(S.jobIdParams, req.params, 'BAD_REQUEST');
    const body = parse(S.progressBody, requiredBody(req), 'BODY_INVALID');
    visibleJob(user, id, req);
    const p = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)) as { step?: number; loss?: number; samplesPerSec?: number; checkpoint?: boolean };
    audited(user, req, p.checkpoint ? 'job.checkpoint' : 'job.progress', id, p, () => controller.reportProgress(id, p));
    return { ok: true };
  });

  // ---- queues, nodes, GPUs ---------------------------------------------------------------
  /** A queue as the API shows it: its stored settings and the scheduler's figures, in GPUs. */
  const queueView = (row: QueueRow, status: QueueStatus | undefined): z.output<typeof S.QueueSchema> => {
    const gpus = (m: number | null | undefined): number | null => (m === null || m === undefined ? null : m / 1000);
    return {
      name: row.name,
      team: row.team,
      parent: row.parent,
      guaranteedGpus: row.guaranteedGpus,
      limitGpus: row.limitGpus,
      weight: row.weight,
      ordering: row.priorityOrdering ? 'priority' : 'fifo',
      gpuModels: Object.fromEntries(Object.entries(status?.gpuModels ?? {}).map(([m, q]) => [m, { guaranteedGpus: gpus(q.guaranteedGpu), limitGpus: gpus(q.limitGpu), usedGpus: q.usedGpu / 1000 }])),
      deservedGpus: (status?.deservedGpu ?? 0) / 1000,
      usedGpus: (status?.usedGpu ?? 0) / 1000,
      pendingGpus: (status?.pendingGpu ?? 0) / 1000,
      running: status?.running ?? 0,
      pending: status?.pending ?? 0,
    };
  };
  const queueViewOf = (name: string): z.output<typeof S.QueueSchema> | null => {
    const row = queues.get(name);
    return row ? queueView(row, controller.queueStatus().find((q) => q.name === name)) : null;
  };

  route('listQueues', async (req) => {
    const user = auth(req);
    const status = new Map(controller.queueStatus().map((q) => [q.name, q]));
    return {
      items: [...queues.values()]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((row) => {
          const view = queueView(row, status.get(row.name));
          // Another team's queue: marked, so a client knows it sees aggregates (no job is shown anywhere here).
          return user.admin || row.team === null || row.team === user.team ? view : { ...view, aggregateOnly: true };
        }),
    };
  });

  /** PUT and PATCH end here: checks the whole new queue, stores it, and answers its view. */
  const saveQueue = (user: UserRow, req: FastifyRequest, name: string, body: z.output<typeof S.queuePutBody>, action: 'queue.put' | 'queue.patch') => {
    if (body.team !== null && !store.getTeam(body.team)) throw new ApiError('TEAM_NOT_FOUND', `team "${body.team}" does not exist`);
    const row: QueueRow = { name, team: body.team, parent: body.parent, guaranteedGpus: body.guaranteedGpus, limitGpus: body.limitGpus, weight: body.weight, priorityOrdering: body.ordering === 'priority', gpuModels: modelQuotas(name, body.gpuModels) };
    const current = store.listQueues();
    const running = new Map(controller.queueStatus().map((q) => [q.name, q.running + q.pending]));
    const problem = queueChangeProblem(current, row, (q) => running.get(q) ?? 0);
    if (problem) throw new ApiError('QUEUE_TREE_INVALID', problem);
    const next = [...current.filter((q) => q.name !== name), row];
    const fleetByModel = new Map<string, number>();
    for (const n of controller.scheduler.cluster.nodes()) for (const g of n.gpus) fleetByModel.set(g.model, (fleetByModel.get(g.model) ?? 0) + 1);
    const warnings = checkGuarantees(next, name, [...fleetByModel.values()].reduce((a, b) => a + b, 0), fleetByModel);
    audited(user, req, action, name, body, () => {
      store.putQueue(row);
      try {
        controller.setQueues(next); // the scheduler's own checks; a refusal rolls the row back
      } catch (e) {
        if (isUserError(e)) throw e.code === 'QUEUE_MODEL_QUOTA_INVALID' ? fromUserError(e) : new ApiError('QUEUE_TREE_INVALID', e.message);
        throw e;
      }
    });
    queues.set(name, row);
    const view = queueViewOf(name) ?? queueView(row, undefined);
    return warnings.length > 0 ? { ...view, warnings } : view;
  };

  route('putQueue', async (req) => {
    const user = admin(req);
    const { name } = parse(S.queueParams, req.params, 'BAD_REQUEST');
    return saveQueue(user, req, name, parse(S.queuePutBody, requiredBody(req), 'BODY_INVALID'), 'queue.put');
  });

  route('patchQueue', async (req) => {
    const user = admin(req);
    const { name } = parse(S.queueParams, req.params, 'BAD_REQUEST');
    const patch = parse(S.queuePatchBody, requiredBody(req), 'BODY_INVALID');
    const row = queues.get(name);
    if (!row) throw new ApiError('QUEUE_NOT_FOUND', `queue "${name}" does not exist; create it with PUT`);
    // JSON merge patch (RFC 7396): an absent field is kept, null clears a nullable one, and
    // gpuModels merges per model (null removes that model's quota).
    const models: Record<string, { guaranteedGpus: number | null; limitGpus: number | null }> = { ...(row.gpuModels ?? {}) };
    for (const [model, q] of Object.entries(patch.gpuModels ?? {})) {
      if (q === null) delete models[model];
      else models[model] = { guaranteedGpus: q.guaranteedGpus !== undefined ? q.guaranteedGpus : (models[model]?.guaranteedGpus ?? null), limitGpus: q.limitGpus !== undefined ? q.limitGpus : (models[model]?.limitGpus ?? null) };
    }
    const merged = {
      team: patch.team !== undefined ? patch.team : row.team,
      parent: patch.parent !== undefined ? patch.parent : row.parent,
      guaranteedGpus: patch.guaranteedGpus !== undefined ? patch.guaranteedGpus : row.guaranteedGpus,
      limitGpus: patch.limitGpus !== undefined ? patch.limitGpus : row.limitGpus,
      weight: patch.weight ?? row.weight,
      ordering: patch.ordering ?? (row.priorityOrdering ? 'priority' : 'fifo'),
      gpuModels: models,
    } as const;
    return saveQueue(user, req, name, merged, 'queue.patch');
  });

  route('listNodes', async (req) => {
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
    route(`${action}Node`, async (req) => {
      const user = admin(req);
      const { name } = parse(S.nodeParams, req.params, 'BAD_REQUEST');
      audited(user, req, `node.${action}`, name, null, () => {
        if (action === 'drain') controller.drain(name);
        else controller.setCordon(name, action === 'cordon');
      });
      return { name, status: controller.nodeStatus(name) };
    });
  }

  route('setGpuHealth', async (req) => {
    const user = admin(req);
    const p = parse(S.gpuParams, req.params, 'BAD_REQUEST');
    const body = parse(S.gpuHealthBody, requiredBody(req), 'BODY_INVALID');
    audited(user, req, 'gpu.health', `${p.name}/${p.index}`, body, () => controller.setGpuHealth(p.name, p.index, body.healthy, user.name));
    return { node: p.name, gpu: p.index, healthy: body.healthy };
  });

  route('top', async (req) => {
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
  route('whoami', async (req) => {
    const u = auth(req);
    return { name: u.name, team: u.team, admin: u.admin };
  });

  route('createUser', async (req, reply) => {
    const user = admin(req);
    const body = parse(S.userBody, requiredBody(req), 'BODY_INVALID');
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
  route('listTokens', async (req) => {
    const user = auth(req);
    const q = parse(S.tokensQuery, req.query, 'QUERY_INVALID');
    if (!user.admin && q.user !== undefined && q.user !== user.name) throw new ApiError('FORBIDDEN', 'a member may list only their own tokens');
    const who = user.admin ? q.user : user.name;
    if (who !== undefined && !store.getUser(who)) throw new ApiError('USER_NOT_FOUND', `no user "${who}"`);
    return { items: store.listTokens(who).map(tokenView) };
  });
  route('issueToken', async (req, reply) => {
    const user = admin(req);
    const { name } = parse(S.userParams, req.params, 'BAD_REQUEST');
    const body = parse(S.tokenBody, req.body === undefined ? {} : req.body, 'BODY_INVALID');
    if (!store.getUser(name)) throw new ApiError('USER_NOT_FOUND', `no user "${name}"`);
    const now = clock();
    const expiresAt = body.expires === undefined ? null : now + (parseDuration(body.expires) as number);
    const t = audited(user, req, 'token.issue', name, { expiresAt }, () => issueToken(store, name, now, expiresAt));
    return reply.code(201).send({ user: name, token: t.token, tokenId: t.id, expiresAt: iso(expiresAt) });
  });
  route('revokeToken', async (req) => {
    const user = auth(req);
    const { id } = parse(S.tokenIdParams, req.params, 'BAD_REQUEST');
    const t = store.getToken(id);
    if (!t || (!user.admin && t.user !== user.name)) throw new ApiError('TOKEN_NOT_FOUND', `no token ${id}${user.admin ? '' : ' of yours'}`);
    if (t.revokedAt === null) audited(user, req, 'token.revoke', id, { user: t.user }, () => store.revokeToken(id, clock()));
    tokens.forget();
    return tokenView(store.getToken(id) ?? t);
  });

  route('listTeams', async (req) => {
    admin(req);
    return { items: store.listTeams().map((t) => ({ name: t.name, users: store.listUsers().filter((u) => u.team === t.name).map((u) => u.name) })) };
  });
  route('createTeam', async (req, reply) => {
    const user = admin(req);
    const body = parse(S.teamBody, requiredBody(req), 'BODY_INVALID');
    if (store.getTeam(body.name)) throw new ApiError('ALREADY_EXISTS', `team "${body.name}" exists`);
    const now = clock();
    audited(user, req, 'team.create', body.name, null, () => store.createTeam(body.name, now));
    return reply.code(201).send({ name: body.name, createdAt: iso(now), users: [] });
  });

  route('listAudit', async (req) => {
    admin(req);
    const q = parse(S.auditQuery, req.query, 'QUERY_INVALID');
    const items = store.listAudit(q.after, q.limit).map((e) => ({ ...e, at: iso(e.at) }));
    return { items, nextAfter: items.length === q.limit ? (items[items.length - 1]?.id ?? null) : null };
  });

  if (deps.datasets) registerDatasetRoutes({ datasets: deps.datasets, auth, admin, route, audit: (u, req, action, target, detail) => audited(u, req, action, target, detail, () => undefined) });

  registerEventRoutes({ app, controller, store, auth, route });
  registerCostRoutes({ ...deps.cost, store, clock, auth, admin, audited, parse, route });
  registerHistoryRoutes({ history: deps.history, clock, auth, parse, route });
  registerPolicyRoutes({ policies: deps.policies, activeJobs: () => controller.activeJobs(), admin, clock, audited, route });
  if (deps.services) registerServiceRoutes({ services: deps.services, auth, route, dockerAvailable: deps.dockerAvailable });

  route('listErrors', async () => ({ items: Object.entries(ERRORS).map(([code, e]) => ({ code, status: e.status, description: e.description })) }));

  return app;
}

