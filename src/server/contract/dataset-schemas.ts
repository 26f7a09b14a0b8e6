/**
 * The datasets routes' schemas (see datasets-api.ts): what the server validates dataset requests
 * with and what it answers, described in the OpenAPI document like every other route.
 */
import { z } from 'zod';
import { NAME } from './schemas.js';

const time = z.iso.datetime().openapi({ example: '2026-12-06T03:00:00.000Z' });

export const datasetSourceSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('local'), path: z.string().min(1).max(4096).refine((p) => p.startsWith('/'), 'must be an absolute path on the server').openapi({ pattern: '^/', example: '/data/imagenet' }) }),
    z.strictObject({
      type: z.literal('s3'),
      bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'is not a bucket name'),
      prefix: z.string().max(1024).default(''),
      endpoint: z.url({ protocol: /^https?$/ }).optional(),
      region: z.string().regex(/^[a-z0-9-]{1,64}$/, 'is not a region name (e.g. us-east-1)').optional(),
    }),
  ])
  .openapi('DatasetSource');
export const datasetAddBody = z.strictObject({ name: NAME, source: datasetSourceSchema }).openapi('DatasetCreate', { example: { name: 'imagenet', source: { type: 'local', path: '/data/imagenet' } } });
export const datasetNameParams = z.strictObject({ name: NAME.openapi({ param: { example: 'imagenet' } }) });
export const datasetVersionParams = z.strictObject({
  name: NAME.openapi({ param: { example: 'imagenet' } }),
  version: z
    .union([z.literal('latest'), z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER)])
    .openapi({ type: 'string', pattern: '^(latest|[1-9][0-9]{0,15})$', param: { description: 'a version number or latest', example: 'latest' } }),
});
const cacheNode = z.string().max(253).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a node name').optional().openapi({ description: 'the node whose cache (a simulated node of --sim-nodes); default the local node' });
export const datasetFillQuery = z.strictObject({ wait: z.enum(['true', 'false']).default('false'), node: cacheNode });
export const datasetEvictQuery = z.strictObject({ node: cacheNode });

const cacheEntryFields = {
  name: z.string(),
  version: z.number().int(),
  state: z.enum(['ready', 'filling', 'interrupted']),
  totalBytes: z.number(),
  bytesDone: z.number(),
  files: z.number().int(),
  filesDone: z.number().int(),
  lastUsedAt: time.nullable(),
  readyAt: time.nullable(),
  path: z.string().nullable(),
  pinned: z.boolean(),
  bytesPerSecond: z.number().nullable(),
  etaSeconds: z.number().nullable(),
};
const lastError = z.object({ code: z.string(), message: z.string(), at: z.number() }).nullable();
const CacheStateSchema = z
  .union([
    z.object({ ...cacheEntryFields, describe: z.string(), lastError }),
    z.object({ state: z.literal('failed'), lastError }),
  ])
  .nullable()
  .openapi('DatasetCacheState', { description: 'this node\'s copy: ready, filling (with progress and ETA), interrupted, failed, or null when there is none' });
const versionFields = {
  name: z.string(),
  version: z.number().int(),
  ref: z.string().openapi({ example: 'imagenet@1' }),
  source: z.record(z.string(), z.unknown()),
  totalBytes: z.number(),
  fileCount: z.number().int().optional(),
  createdAt: time.nullable(),
  createdBy: z.string(),
  removedAt: time.nullable(),
};
export const DatasetVersionSchema = z
  .object({ ...versionFields, files: z.array(z.object({ path: z.string(), size: z.number(), sha256: z.string() })).optional(), cache: CacheStateSchema, node: z.string() })
  .openapi('DatasetVersion');
export const DatasetCreatedSchema = z.object({ ...versionFields, created: z.boolean() }).openapi('DatasetCreated');
export const DatasetSchema = z.object({ name: z.string(), versions: z.array(z.object({ ...versionFields, cache: CacheStateSchema })) }).openapi('Dataset');
export const DatasetListSchema = z
  .object({
    items: z.array(z.object({
      name: z.string(),
      latest: z.object(versionFields).nullable(),
      versions: z.array(z.object({ version: z.number().int(), totalBytes: z.number(), removed: z.boolean(), cached: z.string().nullable() })),
    })),
  })
  .openapi('DatasetList');
export const DatasetRemovedSchema = z.object({ name: z.string(), version: z.number().int(), removed: z.literal(true), evicted: z.boolean() }).openapi('DatasetRemoved');
export const DatasetFillSchema = z.object({ name: z.string(), version: z.number().int(), node: z.string(), cache: CacheStateSchema }).openapi('DatasetFill');
export const DatasetEvictedSchema = z.object({ name: z.string(), version: z.number().int(), node: z.string(), evicted: z.literal(true) }).openapi('DatasetEvicted');
export const DatasetVerifiedSchema = z.object({ name: z.string(), version: z.number().int(), node: z.string(), checked: z.number().int(), repaired: z.array(z.string()) }).openapi('DatasetVerified');
export const DatasetCacheSchema = z
  .object({
    node: z.string(),
    dir: z.string(),
    capacityBytes: z.number(),
    usedBytes: z.number(),
    items: z.array(z.object({ ...cacheEntryFields, ref: z.string(), lastError })),
  })
  .openapi('DatasetCache');
