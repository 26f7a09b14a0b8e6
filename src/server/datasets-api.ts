/**
 * The datasets routes: versions (`/v1/datasets...`) and the node cache (`/v1/dataset-cache...`).
 * Any user may read; adding, removing, filling, evicting and verifying are an admin's.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { UserRow } from '../adapters/store/store.js';
import type { DatasetVersion } from '../adapters/datacache/dataset-catalog.js';
import type { SourceSpec } from '../adapters/datacache/dataset-source.js';
import { describeIssues } from '../spec/job-spec.js';
import { ApiError } from './errors.js';
import type { DatasetService } from './datasets.js';

export interface DatasetRouteDeps {
  readonly datasets: DatasetService;
  readonly auth: (req: FastifyRequest) => UserRow;
  readonly admin: (req: FastifyRequest) => UserRow;
  readonly audit: (u: UserRow, req: FastifyRequest, action: string, target: string, detail: Record<string, unknown> | null) => void;
}

const NAME = z.string().regex(/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/, 'must be lowercase letters, digits, ".", "_" or "-"');
const source = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('local'), path: z.string().min(1).max(4096).refine((p) => p.startsWith('/'), 'must be an absolute path on the server') }),
  z.strictObject({
    type: z.literal('s3'),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'is not a bucket name'),
    prefix: z.string().max(1024).default(''),
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    region: z.string().max(64).optional(),
  }),
]);
const addBody = z.strictObject({ name: NAME, source });
const nameParam = z.strictObject({ name: NAME });
const versionParam = z.strictObject({ name: NAME, version: z.union([z.literal('latest'), z.coerce.number().int().positive()]) });

function parse<T>(schema: z.ZodType<T>, value: unknown, code: 'DATASET_INVALID' | 'BAD_REQUEST' | 'QUERY_INVALID'): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues = describeIssues(r.error.issues);
    throw new ApiError(code, issues.join('; '), { issues });
  }
  return r.data;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function versionView(v: DatasetVersion, files: boolean): Record<string, unknown> {
  return {
    name: v.name,
    version: v.version,
    ref: `${v.name}@${v.version}`,
    source: v.source,
    totalBytes: v.totalBytes,
    fileCount: files ? v.files.length : undefined,
    createdAt: iso(v.createdAt),
    createdBy: v.createdBy,
    removedAt: iso(v.removedAt),
    ...(files ? { files: v.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })) } : {}),
  };
}

export function registerDatasetRoutes(app: FastifyInstance, deps: DatasetRouteDeps): void {
  const ds = deps.datasets;
  const resolve = (p: { name: string; version: number | 'latest' }): DatasetVersion => ds.version(p.name, p.version === 'latest' ? undefined : p.version);
  const cacheView = (v: DatasetVersion): Record<string, unknown> | null => {
    const e = ds.cache.entry(v.name, v.version);
    const err = ds.cache.lastError(v.name, v.version);
    if (!e) return err ? { state: 'failed', lastError: err } : null;
    return { ...e, lastUsedAt: iso(e.lastUsedAt), readyAt: iso(e.readyAt), describe: ds.describeWait(v.name, v.version), lastError: err };
  };

  app.get('/v1/datasets', async (req) => {
    deps.auth(req);
    const byName = new Map<string, DatasetVersion[]>();
    for (const v of ds.catalog.list()) byName.set(v.name, [...(byName.get(v.name) ?? []), v]);
    return {
      items: [...byName.entries()].map(([name, vs]) => {
        const live = vs.filter((v) => v.removedAt === null);
        const latest = live[live.length - 1] ?? null;
        return { name, latest: latest ? versionView(latest, false) : null, versions: vs.map((v) => ({ version: v.version, totalBytes: v.totalBytes, removed: v.removedAt !== null, cached: ds.cache.entry(v.name, v.version)?.state ?? null })) };
      }),
    };
  });

  app.post('/v1/datasets', async (req, reply) => {
    const user = deps.admin(req);
    const body = parse(addBody, req.body ?? {}, 'DATASET_INVALID');
    const { version, created } = await ds.add(body.name, body.source as SourceSpec, user.name);
    if (created) deps.audit(user, req, 'dataset.add', `${version.name}@${version.version}`, { source: body.source, files: version.files.length, totalBytes: version.totalBytes });
    return reply.code(created ? 201 : 200).send({ ...versionView(version, false), fileCount: version.files.length, created });
  });

  app.get('/v1/datasets/:name', async (req) => {
    deps.auth(req);
    const { name } = parse(nameParam, req.params, 'BAD_REQUEST');
    const vs = ds.catalog.list(name);
    if (vs.length === 0) throw new ApiError('DATASET_NOT_FOUND', `no dataset "${name}"`);
    return { name, versions: vs.map((v) => ({ ...versionView(v, false), cache: cacheView(v) })) };
  });

  app.get('/v1/datasets/:name/:version', async (req) => {
    deps.auth(req);
    const p = parse(versionParam, req.params, 'BAD_REQUEST');
    const v = p.version === 'latest' ? resolve(p) : (ds.catalog.get(p.name, p.version) ?? resolve(p));
    return { ...versionView(v, true), cache: cacheView(v), node: ds.cache.node };
  });

  app.delete('/v1/datasets/:name/:version', async (req) => {
    const user = deps.admin(req);
    const p = parse(versionParam, req.params, 'BAD_REQUEST');
    const v = resolve(p);
    const r = await ds.remove(v.name, v.version);
    deps.audit(user, req, 'dataset.remove', `${v.name}@${v.version}`, r);
    return { name: v.name, version: v.version, removed: true, evicted: r.evicted };
  });

  app.post('/v1/datasets/:name/:version/fill', async (req) => {
    const user = deps.admin(req);
    const p = parse(versionParam, req.params, 'BAD_REQUEST');
    const q = parse(z.strictObject({ wait: z.enum(['true', 'false']).default('false') }), req.query, 'QUERY_INVALID');
    const v = resolve(p);
    deps.audit(user, req, 'dataset.fill', `${v.name}@${v.version}`, null);
    if (q.wait === 'true') await ds.cache.fill(v);
    else {
      // Refused at once when there is no room; otherwise runs in the background.
      const f = ds.cache.fill(v);
      const early = await Promise.race([f.then(() => null, (e: unknown) => e), new Promise((r) => setTimeout(() => r(null), 50))]);
      if (early) throw early;
    }
    return { name: v.name, version: v.version, node: ds.cache.node, cache: cacheView(v) };
  });

  app.post('/v1/datasets/:name/:version/evict', async (req) => {
    const user = deps.admin(req);
    const p = parse(versionParam, req.params, 'BAD_REQUEST');
    const v = ds.catalog.get(p.name, p.version === 'latest' ? undefined : p.version) ?? resolve(p);
    await ds.cache.evict(v.name, v.version);
    deps.audit(user, req, 'dataset.evict', `${v.name}@${v.version}`, null);
    return { name: v.name, version: v.version, node: ds.cache.node, evicted: true };
  });

  app.post('/v1/datasets/:name/:version/verify', async (req) => {
    const user = deps.admin(req);
    const p = parse(versionParam, req.params, 'BAD_REQUEST');
    const v = ds.catalog.get(p.name, p.version === 'latest' ? undefined : p.version) ?? resolve(p);
    const r = await ds.cache.verify(v);
    deps.audit(user, req, 'dataset.verify', `${v.name}@${v.version}`, { repaired: r.repaired });
    return { name: v.name, version: v.version, node: ds.cache.node, ...r };
  });

  app.get('/v1/dataset-cache', async (req) => {
    deps.auth(req);
    const c = ds.cache;
    return {
      node: c.node,
      dir: c.dir,
      capacityBytes: c.capacityBytes,
      usedBytes: c.usedBytes(),
      items: c.entries().map((e) => ({ ...e, ref: `${e.name}@${e.version}`, lastUsedAt: iso(e.lastUsedAt), readyAt: iso(e.readyAt) })),
    };
  });
}
