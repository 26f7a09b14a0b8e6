/**
 * The HTTP API (fastify). Every route validates its input with zod and answers errors from
 * the catalogue in errors.ts; a rejected request changes nothing. Submissions are grouped
 * into durable batches by the writer thread (submit-writer.ts), so many concurrent clients
 * share each fsync and the event loop never waits for one.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isUserError } from '../core/errors.js';
import type { JobRow, JobState, Store, UserRow } from '../adapters/store/store.js';
import { ACTIVE_STATES, JOB_STATES, TERMINAL_STATES } from '../adapters/store/store.js';
import { describeIssues, readYaml, validateJobFile } from '../spec/job-spec.js';
import type { Controller } from './controller.js';
import { ApiError, ERRORS, fromUserError } from './errors.js';
import { createUserWithToken, TokenResolver } from './auth.js';
import type { Metrics } from './metrics.js';
import type { GpuSample } from '../adapters/gpu/inventory.js';
import { openApiDocument } from './openapi.js';
import type { SubmitWriter } from './submit-writer.js';
import { dashboardHtml } from './dashboard.js';
import { checkGuarantees } from './queue-guarantees.js';

export interface ApiDeps {
  readonly store: Store;
  readonly controller: Controller;
  readonly metrics: Metrics;
  readonly samples: () => readonly GpuSample[];
  readonly dockerAvailable: boolean;
  readonly writer: SubmitWriter;
  readonly clock?: () => number;
  readonly log?: (line: string) => void;
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
});

const userBody = z.strictObject({ name: NAME, team: NAME, admin: z.boolean().default(false) });

const idParam = z.strictObject({ id: z.string().max(64) });
const nodeParam = z.strictObject({ name: z.string().max(253) });

export function buildApi(deps: ApiDeps): FastifyInstance {
  const { store, controller, metrics } = deps;
  const clock = deps.clock ?? Date.now;
  const log = deps.log ?? (() => undefined);
  const tokens = new TokenResolver(store);
  const writer = deps.writer;
  // Queues change only through PUT /v1/queues (below), so they are read from the store once.
  const queues = new Map(store.listQueues().map((q) => [q.name, q]));
  const app = Fastify({ logger: false, bodyLimit: 1 << 20, routerOptions: { ignoreTrailingSlash: true, maxParamLength: 300 } });

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
    const user = tokens.resolve(req.headers.authorization);
    if (!user) throw new ApiError('UNAUTHENTICATED', req.headers.authorization ? 'unknown token' : 'send "Authorization: Bearer <token>" (gantry up printed where the admin token is)');
    return user;
  };
  const admin = (req: FastifyRequest): UserRow => {
    const u = auth(req);
    if (!u.admin) throw new ApiError('FORBIDDEN', 'only an admin may do this');
    return u;
  };
  const visibleJob = (u: UserRow, id: string): JobRow => {
    const j = controller.activeJob(id) ?? store.getJob(id);
    if (!j || (!u.admin && j.team !== u.team)) throw new ApiError('JOB_NOT_FOUND', `no job ${id}`);
    return j;
  };
  const audit = (u: UserRow, req: FastifyRequest, action: string, target: string, detail: Record<string, unknown> | null = null): void => {
    store.appendAudit({ at: clock(), actor: u.name, action, target, source: req.ip, detail });
  };

  // ---- public ---------------------------------------------------------------------------
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(dashboardHtml()));
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/openapi.json', async () => openApiDocument());
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  // ---- jobs -----------------------------------------------------------------------------
  app.post('/v1/jobs', async (req, reply) => {
    const user = auth(req);
    const keyHeader = req.headers['idempotency-key'];
    const key = keyHeader === undefined ? null : parse(z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'), keyHeader, 'BAD_REQUEST');
    if (req.body === undefined || req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) throw new ApiError('JOB_INVALID', 'the body must be a job object (JSON or YAML) with at least name and command');
    const spec = validateJobFile(req.body);
    const queue = queues.get(spec.queue);
    if (!queue) throw new ApiError('QUEUE_NOT_FOUND', `queue "${spec.queue}" does not exist`);
    if (!user.admin && queue.team !== null && queue.team !== user.team) throw new ApiError('FORBIDDEN', `queue "${spec.queue}" belongs to team ${queue.team}`);
    if (spec.image !== undefined && !deps.dockerAvailable) throw new ApiError('DOCKER_UNAVAILABLE', `the job names image "${spec.image}" but no Docker daemon is reachable; remove image to run it as a process`);
    if (spec.workingDir !== undefined && !(existsSync(spec.workingDir) && statSync(spec.workingDir).isDirectory())) throw new ApiError('WORKDIR_NOT_FOUND', `workingDir "${spec.workingDir}" is not a directory on the server`);
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
    const j = visibleJob(user, id);
    return { ...jobView(j, controller), waitingFor: j.state === 'queued' ? (controller.pendingReasons(j.id) ?? []) : [] };
  });

  app.post('/v1/jobs/:id/cancel', async (req) => {
    const user = auth(req);
    const { id } = parse(idParam, req.params, 'BAD_REQUEST');
    const j = visibleJob(user, id);
    if ((TERMINAL_STATES as readonly string[]).includes(j.state)) throw new ApiError('JOB_FINISHED', `job ${id} already ${j.state}`);
    const row = controller.cancel(id, user.name);
    audit(user, req, 'job.cancel', id);
    return jobView(row, controller);
  });

  app.get('/v1/jobs/:id/explain', async (req) => {
    const user = auth(req);
    const { id } = parse(idParam, req.params, 'BAD_REQUEST');
    const j = visibleJob(user, id);
    if (j.state !== 'queued') return { job: id, state: j.state, reason: j.reason, reasons: [] };
    const e = controller.explain(id);
    return { job: id, state: j.state, reason: j.reason, reasons: e.reasons, queuePosition: e.queuePosition ?? null, estimatedStart: e.estimatedStart !== undefined ? iso(e.estimatedStart) : null, estimateNote: e.estimateNote ?? null, preemptingFor: e.preemptingFor ?? [] };
  });

  app.get('/v1/jobs/:id/logs', async (req, reply) => {
    const user = auth(req);
    const { id } = parse(idParam, req.params, 'BAD_REQUEST');
    const q = parse(z.strictObject({ worker: z.coerce.number().int().min(0).max(1023).default(0), offset: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(4 << 20).default(1 << 20) }), req.query, 'QUERY_INVALID');
    const j = visibleJob(user, id);
    if (q.worker >= j.spec.workers) throw new ApiError('QUERY_INVALID', `worker: the job has ${j.spec.workers} worker(s)`);
    const file = `${controller.paths(j.id).logs}/worker-${q.worker}.log`;
    let size = 0;
    try {
      size = statSync(file).size;
    } catch {
      size = 0;
    }
    const start = Math.min(q.offset, size);
    const len = Math.min(size - start, q.limit);
    const buf = Buffer.alloc(len);
    if (len > 0) {
      const fd = openSync(file, 'r');
      try {
        readSync(fd, buf, 0, len, start);
      } finally {
        closeSync(fd);
      }
    }
    const finished = (TERMINAL_STATES as readonly string[]).includes((controller.activeJob(j.id) ?? j).state);
    return reply.type('text/plain; charset=utf-8').header('x-next-offset', String(start + len)).header('x-job-finished', String(finished)).send(buf);
  });

  app.post('/v1/jobs/:id/progress', async (req) => {
    const user = auth(req);
    const { id } = parse(idParam, req.params, 'BAD_REQUEST');
    const body = parse(progressBody, req.body ?? {}, 'BODY_INVALID');
    visibleJob(user, id);
    controller.reportProgress(id, Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)) as { step?: number; loss?: number; samplesPerSec?: number; checkpoint?: boolean });
    return { ok: true };
  });

  // ---- queues, nodes, GPUs ---------------------------------------------------------------
  app.get('/v1/queues', async (req) => {
    auth(req);
    const rows = new Map(store.listQueues().map((q) => [q.name, q]));
    return { items: controller.queueStatus().map((s) => ({ ...s, team: rows.get(s.name)?.team ?? null, usedGpu: s.usedGpu / 1000, deservedGpu: s.deservedGpu / 1000, pendingGpu: s.pendingGpu / 1000, guaranteedGpu: s.guaranteedGpu / 1000, limitGpu: s.limitGpu === null ? null : s.limitGpu / 1000 })) };
  });

  app.put('/v1/queues/:name', async (req) => {
    const user = admin(req);
    const { name } = parse(z.strictObject({ name: NAME }), req.params, 'BAD_REQUEST');
    const body = parse(queueBody, req.body ?? {}, 'BODY_INVALID');
    if (body.team !== null && !store.getTeam(body.team)) throw new ApiError('TEAM_NOT_FOUND', `team "${body.team}" does not exist`);
    const row = { name, team: body.team, parent: body.parent, guaranteedGpus: body.guaranteedGpus, limitGpus: body.limitGpus, weight: body.weight, priorityOrdering: body.ordering === 'priority' };
    const next = [...store.listQueues().filter((q) => q.name !== name), row];
    const warnings = checkGuarantees(next, name, controller.scheduler.cluster.nodes().reduce((s, n) => s + n.gpus.length, 0));
    try {
      controller.setQueues(next); // validates the tree (parents exist, no cycles) before anything is stored
    } catch (e) {
      if (isUserError(e)) throw new ApiError('BODY_INVALID', e.message);
      throw e;
    }
    store.transaction(() => {
      store.putQueue(row);
      audit(user, req, 'queue.put', name, body);
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
      if (action === 'drain') controller.drain(name);
      else controller.setCordon(name, action === 'cordon');
      audit(user, req, `node.${action}`, name);
      return { name, status: controller.nodeStatus(name) };
    });
  }

  app.post('/v1/nodes/:name/gpus/:index/health', async (req) => {
    const user = admin(req);
    const p = parse(z.strictObject({ name: z.string().max(253), index: z.coerce.number().int().min(0).max(63) }), req.params, 'BAD_REQUEST');
    const body = parse(z.strictObject({ healthy: z.boolean() }), req.body ?? {}, 'BODY_INVALID');
    controller.setGpuHealth(p.name, p.index, body.healthy, user.name);
    audit(user, req, 'gpu.health', `${p.name}/${p.index}`, body);
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
    const token = createUserWithToken(store, body.name, body.team, body.admin, clock());
    audit(user, req, 'user.create', body.name, { team: body.team, admin: body.admin });
    return reply.code(201).send({ name: body.name, team: body.team, admin: body.admin, token });
  });

  app.get('/v1/teams', async (req) => {
    admin(req);
    return { items: store.listTeams().map((t) => ({ name: t.name, users: store.listUsers().filter((u) => u.team === t.name).map((u) => u.name) })) };
  });

  app.get('/v1/audit', async (req) => {
    admin(req);
    const q = parse(z.strictObject({ after: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(1000).default(100) }), req.query, 'QUERY_INVALID');
    const items = store.listAudit(q.after, q.limit).map((e) => ({ ...e, at: iso(e.at) }));
    return { items, nextAfter: items.length === q.limit ? (items[items.length - 1]?.id ?? null) : null };
  });

  app.get('/v1/errors', async () => ({ items: Object.entries(ERRORS).map(([code, e]) => ({ code, status: e.status, description: e.description })) }));

  return app;
}

