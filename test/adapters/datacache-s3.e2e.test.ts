/**
 * The S3 source against a real S3-compatible server (SeaweedFS, test/helpers/seaweedfs.ts):
 * listing, hashing, fills (small objects whole, a multipart object as ranged GETs), a replaced
 * object refused by its ETag, bad credentials and a missing bucket as clear errors, and a fill
 * through `gantry up`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { SqliteStore } from '../../src/adapters/store/sqlite-store.js';
import { DatasetCatalog } from '../../src/adapters/datacache/dataset-catalog.js';
import { scanSource } from '../../src/adapters/datacache/dataset-scan.js';
import { NodeCache } from '../../src/adapters/datacache/node-cache.js';
import { openSource } from '../../src/adapters/datacache/open-source.js';
import { RANGE_BYTES, S3Source } from '../../src/adapters/datacache/s3-source.js';
import { gantryUp, started } from '../helpers/gantry-process.js';
import { s3Skip, S3_KEYS, startSeaweedfs, type S3Server } from '../helpers/seaweedfs.js';
import { job, tempDir, waitFor } from '../helpers/server.js';

const skip = s3Skip();
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('S3 dataset source (SeaweedFS)', { skip }, () => {
  let s3: S3Server;
  const dirs: string[] = [];
  const objects = new Map<string, Buffer>();
  before(async () => {
    s3 = await startSeaweedfs();
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: S3_KEYS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_KEYS.secretAccessKey, AWS_REGION: 'us-east-1' });
    await s3.client.send(new CreateBucketCommand({ Bucket: 'data' }));
    for (let i = 0; i < 5; i++) objects.set(`train/shard-${i}.bin`, randomBytes(300_000 + i));
    objects.set('train/big/weights.bin', randomBytes(RANGE_BYTES * 2 + 12_345));
    for (const [k, body] of objects) {
      if (body.length > RANGE_BYTES) await new Upload({ client: s3.client, params: { Bucket: 'data', Key: `ds/${k}`, Body: body }, partSize: 8 << 20, queueSize: 4 }).done();
      else await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: `ds/${k}`, Body: body }));
    }
    await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'other/x.bin', Body: 'not in the dataset' }));
  });
  after(() => {
    for (const c of started) c.kill('SIGKILL');
    s3?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true, maxRetries: 2 });
  });

  it('lists and hashes a prefix, then fills a cache with verified copies (multipart object as ranged GETs)', async () => {
    const src = new S3Source({ bucket: 'data', prefix: 'ds', endpoint: s3.endpoint });
    const files = await scanSource(src);
    assert.deepEqual(files.map((f) => f.path), [...objects.keys()].sort());
    for (const f of files) assert.equal(f.sha256, sha(objects.get(f.path) as Buffer));
    assert.match(files.find((f) => f.path.endsWith('weights.bin'))?.etag ?? '', /-\d+"$/, 'the big object is multipart');
    const dir = tempDir('gantry-s3c-');
    dirs.push(dir);
    const store = new SqliteStore(':memory:');
    const catalog = new DatasetCatalog(store.connection);
    const v = catalog.addVersion({ name: 'ds', source: { type: 's3', bucket: 'data', prefix: 'ds', endpoint: s3.endpoint }, files, totalBytes: files.reduce((s, f) => s + f.size, 0), createdAt: 1, createdBy: 't' });
    const cache = new NodeCache(catalog, { node: 'n', dir: join(dir, 'cache'), capacityBytes: 1 << 30, openSource });
    await cache.fill(v);
    const copy = cache.readyPath('ds', 1) as string;
    for (const [k, body] of objects) assert.equal(sha(readFileSync(join(copy, k))), sha(body), k);

    // The object is replaced after the version was recorded: its ETag no longer matches.
    await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'ds/train/shard-1.bin', Body: randomBytes(300_001) }));
    await cache.evict('ds', 1);
    await assert.rejects(cache.fill(v), (e: Error & { code?: string }) => e.code === 'DATASET_SOURCE_CHANGED' && /shard-1\.bin/.test(e.message));
    assert.equal(cache.readyPath('ds', 1), null);
    await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'ds/train/shard-1.bin', Body: objects.get('train/shard-1.bin') as Buffer }));
    store.close();
  });

  it('bad credentials and a missing bucket are clear errors', async () => {
    const saved = process.env['AWS_SECRET_ACCESS_KEY'];
    process.env['AWS_SECRET_ACCESS_KEY'] = 'wrong';
    await assert.rejects(new S3Source({ bucket: 'data', prefix: 'ds', endpoint: s3.endpoint }).list(), (e: Error & { code?: string }) => e.code === 'DATASET_SOURCE_DENIED');
    process.env['AWS_SECRET_ACCESS_KEY'] = saved;
    await assert.rejects(new S3Source({ bucket: 'nope', prefix: '', endpoint: s3.endpoint }).list(), (e: Error & { code?: string }) => e.code === 'DATASET_SOURCE_UNREADABLE' && /no such bucket/.test(e.message));
  });

  it('gantry up: add from S3, a job reads its local copy', async () => {
    const dir = tempDir('gantry-s3u-');
    dirs.push(dir);
    const { chmodSync } = await import('node:fs');
    chmodSync(dir, 0o755);
    const g = await gantryUp(join(dir, 'state'), ['--gpus', '1xH100-80GB', '--cache-capacity', '1Gi'], s3.env);
    const add = await g.api('POST', '/v1/datasets', { name: 'weights', source: { type: 's3', bucket: 'data', prefix: 'ds/train/big', endpoint: s3.endpoint } });
    assert.equal(add.status, 201, add.text);
    const sub = await g.api('POST', '/v1/jobs', job({ command: ['sh', '-c', 'sha256sum "$GANTRY_DATASET_WEIGHTS/weights.bin"'], datasets: [{ name: 'weights' }] }));
    const id = String(sub.body['id']);
    await waitFor('the job to finish', async () => ['succeeded', 'failed'].includes(String((await g.api('GET', `/v1/jobs/${id}`)).body['state'])), 60_000);
    const log = (await g.api('GET', `/v1/jobs/${id}/logs`)).text;
    assert.match(log, new RegExp(sha(objects.get('train/big/weights.bin') as Buffer)));
    await g.stop();
  });
});
