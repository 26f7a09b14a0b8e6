/**
 * The datasets routes: versions (`/v1/datasets...`) and the node cache (`/v1/dataset-cache...`).
 * Any user may read; adding, removing, filling, evicting and verifying are an admin's.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { UserRow } from '../adapters/store/store.js';
import type { DatasetVersion } from '../adapters/datacache/dataset-catalog.js';
import type { SourceSpec } from '../adapters/datacache/dataset-source.js';
import { describeIssues } from '../spec/job-spec.js';
import { ApiError } from './errors.js';
import type { DatasetService } from './datasets.js';
import type { OperationId } from './contract/operations.js';
import { datasetAddBody, datasetEvictQuery, datasetFillQuery, datasetNameParams, datasetVersionParams } from './contract/dataset-schemas.js';
import type { NodeCache } from '../adapters/datacache/node-cache.js';

export interface DatasetRouteDeps {
  readonly datasets: DatasetService;
  readonly auth: (req: FastifyRequest) => UserRow;
  readonly admin: (req: FastifyRequest) => UserRow;
  readonly audit: (u: UserRow, req: FastifyRequest, action: string, target: string, detail: Record<string, unknown> | null) => void;
  /** Registers an operation of the contract (src/server/contract/operations.ts). */
  readonly route: (id: OperationId, handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => void;
}

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

export function registerDatasetRoutes(deps: DatasetRouteDeps): void {
  const route = deps.route;
  const ds = deps.datasets;
  const resolve = (p: { name: string; version: number | 'latest' }): DatasetVersion => ds.version(p.name, p.version === 'latest' ? undefined : p.version);
  const cacheView = (v: DatasetVersion, cache = ds.cache): Record<string, unknown> | null => {
    const e = cache.entry(v.name, v.version);
    const err = cache.lastError(v.name, v.version);
    if (!e) return err ? { state: 'failed', lastError: err } : null;
    return { ...e, lastUsedAt: iso(e.lastUsedAt), readyAt: iso(e.readyAt), describe: ds.describeWait(v.name, v.version, cache.node), lastError: err };
  };
  const cacheOn = (node: string | undefined): NodeCache => {
    if (node === undefined) return ds.cache;
    const c = ds.cacheOf(node);
    if (!c) throw new ApiError('NODE_NOT_FOUND', `node "${node}" has no dataset cache (nodes: ${[...ds.caches.keys()].join(', ')})`);
    return c;
  };

  route('listDatasets', async (req) => {
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

  route('addDataset', async (req, reply) => {
    const user = deps.admin(req);
    const body = parse(datasetAddBody, req.body ?? {}, 'DATASET_INVALID');
    const { version, created } = await ds.add(body.name, body.source as SourceSpec, user.name);
    if (created) deps.audit(user, req, 'dataset.add', `${version.name}@${version.version}`, { source: body.source, files: version.files.length, totalBytes: version.totalBytes });
    return reply.code(created ? 201 : 200).send({ ...versionView(version, false), fileCount: version.files.length, created });
  });

  route('getDataset', async (req) => {
    deps.auth(req);
    const { name } = parse(datasetNameParams, req.params, 'BAD_REQUEST');
    const vs = ds.catalog.list(name);
    if (vs.length === 0) throw new ApiError('DATASET_NOT_FOUND', `no dataset "${name}"`);
    return { name, versions: vs.map((v) => ({ ...versionView(v, false), cache: cacheView(v) })) };
  });

  route('getDatasetVersion', async (req) => {
    deps.auth(req);
    const p = parse(datasetVersionParams, req.params, 'BAD_REQUEST');
    const v = p.version === 'latest' ? resolve(p) : (ds.catalog.get(p.name, p.version) ?? resolve(p));
    return { ...versionView(v, true), cache: cacheView(v), node: ds.cache.node };
  });

  route('removeDatasetVersion', async (req) => {
    const user = deps.admin(req);
    const p = parse(datasetVersionParams, req.params, 'BAD_REQUEST');
    const v = resolve(p);
    const r = await ds.remove(v.name, v.version);
    deps.audit(user, req, 'dataset.remove', `${v.name}@${v.version}`, r);
    return { name: v.name, version: v.version, removed: true, evicted: r.evicted };
  });

  route('fillDatasetVersion', async (req) => {
    const user = deps.admin(req);
    const p = parse(datasetVersionParams, req.params, 'BAD_REQUEST');
    const q = parse(datasetFillQuery, req.query, 'QUERY_INVALID');
    const cache = cacheOn(q.node);
    const v = resolve(p);
    deps.audit(user, req, 'dataset.fill', `${v.name}@${v.version}`, q.node !== undefined ? { node: q.node } : null);
    if (q.wait === 'true') await cache.fill(v);
    else {
      // Refused at once when there is no room; otherwise runs in the background.
      const f = cache.fill(v);
      const early = await Promise.race([f.then(() => null, (e: unknown) => e), new Promise((r) => setTimeout(() => r(null), 50))]);
      if (early) throw early;
    }
    return { name: v.name, version: v.version, node: cache.node, cache: cacheView(v, cache) };
  });

  route('evictDatasetVersion', async (req) => {
    const user = deps.admin(req);
    const p = parse(datasetVersionParams, req.params, 'BAD_REQUEST');
    const q = parse(datasetEvictQuery, req.query, 'QUERY_INVALID');
    const cache = cacheOn(q.node);
    const v = ds.catalog.get(p.name, p.version === 'latest' ? undefined : p.version) ?? resolve(p);
    await cache.evict(v.name, v.version);
    deps.audit(user, req, 'dataset.evict', `${v.name}@${v.version}`, q.node !== undefined ? { node: q.node } : null);
    return { name: v.name, version: v.version, node: cache.node, evicted: true };
  });

  route('verifyDatasetVersion', async (req) => {
    const user = deps.admin(req);
    const p = parse(datasetVersionParams, req.params, 'BAD_REQUEST');
    const v = ds.catalog.get(p.name, p.version === 'latest' ? undefined : p.version) ?? resolve(p);
    const r = await ds.cache.verify(v);
    deps.audit(user, req, 'dataset.verify', `${v.name}@${v.version}`, { repaired: r.repaired });
    return { name: v.name, version: v.version, node: ds.cache.node, ...r };
  });

  route('getDatasetCache', async (req) => {
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
