import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { join, resolve } from 'node:path';
import { SqliteStore } from '../../src/adapters/store/sqlite-store.js';
import { DatasetCatalog, type DatasetVersion } from '../../src/adapters/datacache/dataset-catalog.js';
import { checkDatasetPath, type DatasetSource, type SourceSpec } from '../../src/adapters/datacache/dataset-source.js';
import { scanSource } from '../../src/adapters/datacache/dataset-scan.js';
import { LocalSource } from '../../src/adapters/datacache/local-source.js';
import { copyAndHash } from '../../src/adapters/datacache/copy-pool.js';
import { NodeCache } from '../../src/adapters/datacache/node-cache.js';
import { CountingSource } from '../helpers/counting-source.js';
import { tempDir } from '../helpers/server.js';

/** A folder of `n` random files of `size` bytes (one in a subfolder). */
function makeSource(root: string, n: number, size: number): void {
  mkdirSync(join(root, 'sub'), { recursive: true });
  for (let i = 0; i < n; i++) writeFileSync(join(root, i === 0 ? 'sub/shard-0.bin' : `shard-${i}.bin`), randomBytes(size));
}

function setup(capacity: number, source: (s: SourceSpec) => DatasetSource, pinned: Set<string> = new Set(), streams = 2) {
  const dir = tempDir('gantry-dc-');
  const store = new SqliteStore(':memory:');
  const catalog = new DatasetCatalog(store.connection);
  let now = 1_000;
  const cache = new NodeCache(catalog, { node: 'n1', dir: join(dir, 'cache'), capacityBytes: capacity, streams, clock: () => now++, pinned: () => pinned, openSource: source });
  const add = async (name: string, root: string): Promise<DatasetVersion> => {
    const files = await scanSource(new LocalSource(root));
    return catalog.addVersion({ name, source: { type: 'local', path: root }, files, totalBytes: files.reduce((s, f) => s + f.size, 0), createdAt: now, createdBy: 't' });
  };
  return { dir, store, catalog, cache, add, done: () => (store.close(), rmSync(dir, { recursive: true, force: true, maxRetries: 2 })) };
}

const local = (s: SourceSpec): DatasetSource => new LocalSource((s as { path: string }).path);

test('a fill copies every file, verified, into a read-only folder', async () => {
  const t = setup(1 << 30, local);
  const src = join(t.dir, 'src');
  makeSource(src, 5, 300_000);
  const v = await t.add('ds', src);
  assert.equal(v.version, 1);
  assert.equal(v.files.length, 5);
  assert.ok(v.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256) && /^[0-9a-f]{8}$/.test(f.crc32 ?? '')), 'each file has its SHA-256 and CRC-32');
  await t.cache.fill(v);
  const dir = t.cache.readyPath('ds', 1);
  assert.ok(dir);
  for (const f of v.files) assert.deepEqual(readFileSync(join(dir, f.path)), readFileSync(join(src, f.path)));
  assert.equal(statSync(join(dir, 'sub/shard-0.bin')).mode & 0o777, 0o444);
  assert.equal(statSync(dir).mode & 0o777, 0o555);
  assert.equal(existsSync(join(t.dir, 'cache', '.staging', 'ds@1')), false);
  assert.equal(t.cache.entry('ds', 1)?.state, 'ready');
  t.done();
});

test('an interrupted fill is never served, and resumes keeping the verified files', async () => {
  const src = { dir: '' };
  let counting = new CountingSource(new LocalSource('/nonexistent'));
  const t = setup(1 << 30, (s) => (counting = new CountingSource(local(s), 3)));
  src.dir = join(t.dir, 'src');
  makeSource(src.dir, 8, 200_000);
  const v = await t.add('ds', src.dir);
  await assert.rejects(t.cache.fill(v), /connection reset/);
  assert.equal(t.cache.readyPath('ds', 1), null, 'a partial copy is never handed out');
  const first = counting.fetched;
  assert.equal(first.length, 3);
  const kept = t.catalog.verifiedFiles('n1', 'ds', 1);
  assert.equal(kept.size, 3);
  assert.equal(t.cache.entry('ds', 1)?.state, 'interrupted');
  assert.equal(t.cache.entry('ds', 1)?.filesDone, 3);
  // The next fill uses a source that does not fail.
  const t2 = new NodeCache(t.catalog, { node: 'n1', dir: join(t.dir, 'cache'), capacityBytes: 1 << 30, openSource: (s) => (counting = new CountingSource(local(s))) });
  await t2.fill(v);
  assert.deepEqual(counting.fetched.sort(), v.files.map((f) => f.path).filter((p) => !kept.has(p)).sort(), 'only the files not verified before are copied');
  const dir = t2.readyPath('ds', 1) as string;
  for (const f of v.files) assert.deepEqual(readFileSync(join(dir, f.path)), readFileSync(join(src.dir, f.path)));
  t.done();
});

test('a source that changed after the version was recorded is refused, and nothing is served', async () => {
  const t = setup(1 << 30, local);
  const src = join(t.dir, 'src');
  makeSource(src, 3, 100_000);
  const v = await t.add('ds', src);
  writeFileSync(join(src, 'shard-1.bin'), randomBytes(100_000)); // same size, other bytes
  await assert.rejects(t.cache.fill(v), (e: Error & { code?: string }) => e.code === 'DATASET_CHECKSUM_MISMATCH' && /shard-1\.bin/.test(e.message));
  assert.equal(t.cache.readyPath('ds', 1), null);
  writeFileSync(join(src, 'shard-1.bin'), randomBytes(5));
  await assert.rejects(t.cache.fill(v), (e: Error & { code?: string }) => e.code === 'DATASET_SOURCE_CHANGED');
  assert.equal(t.cache.lastError('ds', 1)?.code, 'DATASET_SOURCE_CHANGED');
  writeFileSync(join(src, 'shard-1.bin'), randomBytes(900_000));
  await assert.rejects(t.cache.fill(v), (e: Error & { code?: string }) => e.code === 'DATASET_SOURCE_CHANGED' && /shard-1\.bin is larger than the 100000 bytes/.test(e.message));
  rmSync(join(src, 'shard-1.bin'));
  await assert.rejects(t.cache.fill(v), (e: Error & { code?: string }) => e.code === 'DATASET_SOURCE_CHANGED' && /shard-1\.bin is gone/.test(e.message));
  mkdirSync(join(src, 'shard-1.bin'));
  await assert.rejects(t.cache.fill(v), (e: Error & { code?: string }) => e.code === 'DATASET_SOURCE_CHANGED' && /shard-1\.bin is gone/.test(e.message));
  assert.equal(t.cache.readyPath('ds', 1), null);
  t.done();
});

test('the copy pool writes the bytes it checksums, replacing a read-only leftover', async () => {
  const dir = tempDir('gantry-cp-');
  const data = randomBytes(700_000); // not a multiple of the copy chunk
  writeFileSync(join(dir, 'a.bin'), data);
  writeFileSync(join(dir, 'a.part'), 'stale bytes of an earlier fill');
  chmodSync(join(dir, 'a.part'), 0o444);
  const steps: number[] = [];
  const r = await copyAndHash(join(dir, 'a.bin'), join(dir, 'a.part'), data.length, 'crc32', (n) => steps.push(n), 256 << 10);
  assert.ok(r.ok);
  assert.equal(r.size, data.length);
  assert.deepEqual(steps, [256 << 10, 256 << 10], 'progress in steps before the copy ends; the rest is in the reply');
  assert.equal(r.digest, (crc32(data) >>> 0).toString(16).padStart(8, '0'));
  assert.deepEqual(readFileSync(join(dir, 'a.part')), data);
  const empty = join(dir, 'empty.bin');
  writeFileSync(empty, '');
  const e = await copyAndHash(empty, join(dir, 'empty.part'), 0, 'sha256');
  assert.ok(e.ok && e.size === 0 && e.digest === createHash('sha256').digest('hex'));
  const gone = await copyAndHash(join(dir, 'missing.bin'), join(dir, 'm.part'), 1, 'crc32');
  assert.ok(!gone.ok && gone.code === 'ENOENT');
  rmSync(dir, { recursive: true, force: true });
});

test('verify finds a corrupted shard and fetches it again', async () => {
  const t = setup(1 << 30, local);
  const src = join(t.dir, 'src');
  makeSource(src, 4, 100_000);
  const v = await t.add('ds', src);
  await t.cache.fill(v);
  const dir = t.cache.readyPath('ds', 1) as string;
  chmodSync(join(dir, 'shard-2.bin'), 0o644);
  writeFileSync(join(dir, 'shard-2.bin'), Buffer.alloc(100_000));
  assert.deepEqual((await t.cache.verify(v)).repaired, ['shard-2.bin']);
  assert.deepEqual(readFileSync(join(dir, 'shard-2.bin')), readFileSync(join(src, 'shard-2.bin')));
  assert.equal(statSync(join(dir, 'shard-2.bin')).mode & 0o777, 0o444);
  assert.deepEqual((await t.cache.verify(v)).repaired, []);
  t.done();
});

test('eviction: least recently used first, never a pinned copy; no room at all is DATASET_CACHE_FULL', async () => {
  const pinned = new Set<string>();
  const t = setup(2_500_000, local, pinned);
  const vs: DatasetVersion[] = [];
  for (const name of ['a', 'b', 'c']) {
    const src = join(t.dir, name);
    makeSource(src, 2, 500_000);
    vs.push(await t.add(name, src));
  }
  const [a, b, c] = vs as [DatasetVersion, DatasetVersion, DatasetVersion];
  await t.cache.fill(a);
  await t.cache.fill(b);
  t.cache.readyPath('a', 1); // a used after b: b is now the least recently used
  pinned.add('a@1');
  await t.cache.fill(c); // 3 MB > 2.5 MB: one copy must go
  assert.deepEqual(t.cache.entries().map((e) => e.name).sort(), ['a', 'c']);
  // a is pinned, c unpinned: a new 1 MB dataset evicts c although a is older.
  const src = join(t.dir, 'd');
  makeSource(src, 2, 500_000);
  const d = await t.add('d', src);
  t.cache.readyPath('c', 1);
  await t.cache.fill(d);
  assert.deepEqual(t.cache.entries().map((e) => e.name).sort(), ['a', 'd']);
  // Everything pinned: refused, and nothing evicted.
  pinned.add('d@1');
  const big = join(t.dir, 'big');
  makeSource(big, 2, 600_000);
  const e = await t.add('big', big);
  await assert.rejects(t.cache.fill(e), (err: Error & { code?: string; details?: Record<string, unknown> }) => err.code === 'DATASET_CACHE_FULL' && err.details?.['evictableBytes'] === 0);
  assert.deepEqual(t.cache.entries().map((x) => x.name).sort(), ['a', 'd']);
  await assert.rejects(t.cache.evict('a', 1), (err: Error & { code?: string }) => err.code === 'DATASET_IN_USE');
  pinned.delete('a@1');
  await t.cache.evict('a', 1);
  assert.equal(existsSync(join(t.dir, 'cache', 'a@1')), false);
  t.done();
});

test('dataset versions are immutable and kept', async () => {
  const t = setup(1 << 30, local);
  const src = join(t.dir, 'src');
  makeSource(src, 1, 10);
  await t.add('ds', src);
  const db = t.store.connection;
  assert.throws(() => db.prepare("UPDATE dataset_versions SET files = '[]' WHERE name = 'ds'").run(), /immutable/);
  assert.throws(() => db.prepare("DELETE FROM dataset_versions WHERE name = 'ds'").run(), /provenance/);
  t.catalog.markRemoved('ds', 1, 5);
  assert.equal(t.catalog.get('ds'), undefined, 'a removed version is not the newest');
  assert.equal(t.catalog.get('ds', 1)?.removedAt, 5, 'but it is still there by number');
  t.done();
});

test('paths that cannot live in the cache are refused', () => {
  for (const p of ['../x', '/etc/passwd', 'a//b', 'a/./b', 'a\\b', '']) assert.throws(() => checkDatasetPath(p), (e: Error & { code?: string }) => e.code === 'DATASET_SOURCE_INVALID', p);
  checkDatasetPath('train/shard-0001.tar');
});

// The cache agent runs as uid 0 without capabilities, and `gantry up` as any user: neither may
// move a folder it cannot write (its ".." entry changes). This fill runs as such a process.
const nonRoot = process.getuid?.() !== 0 ? 'needs root to start a process as another user' : spawnSync('setpriv', ['--version']).status !== 0 ? 'needs setpriv (util-linux)' : false;
test('a fill by a process without CAP_DAC_OVERRIDE ends in a complete read-only copy', { skip: nonRoot }, () => {
  const dir = tempDir('gantry-dc-user-');
  try {
    makeSource(join(dir, 'src'), 3, 100_000);
    chownSync(dir, 65534, 65534);
    const dist = resolve('dist/src/adapters');
    const script = `
      const { SqliteStore } = await import('${dist}/store/sqlite-store.js');
      const { DatasetCatalog } = await import('${dist}/datacache/dataset-catalog.js');
      const { scanSource } = await import('${dist}/datacache/dataset-scan.js');
      const { LocalSource } = await import('${dist}/datacache/local-source.js');
      const { NodeCache } = await import('${dist}/datacache/node-cache.js');
      const store = new SqliteStore(':memory:');
      const catalog = new DatasetCatalog(store.connection);
      const root = '${join(dir, 'src')}';
      const files = await scanSource(new LocalSource(root));
      const v = catalog.addVersion({ name: 'ds', source: { type: 'local', path: root }, files, totalBytes: files.reduce((s, f) => s + f.size, 0), createdAt: 1, createdBy: 't' });
      const cache = new NodeCache(catalog, { node: 'n1', dir: '${join(dir, 'cache')}', capacityBytes: 1 << 30, openSource: (s) => new LocalSource(s.path) });
      await cache.fill(v);
      process.stdout.write(cache.readyPath('ds', 1));`;
    writeFileSync(join(dir, 'fill.mjs'), script);
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, join(dir, 'fill.mjs')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, join(dir, 'cache', 'ds@1'));
    assert.equal(statSync(r.stdout).mode & 0o777, 0o555);
    assert.equal(statSync(join(r.stdout, 'sub/shard-0.bin')).mode & 0o777, 0o444);
    assert.deepEqual(readFileSync(join(r.stdout, 'shard-1.bin')), readFileSync(join(dir, 'src', 'shard-1.bin')));
  } finally {
    for (const d of [join(dir, 'cache', 'ds@1', 'sub'), join(dir, 'cache', 'ds@1')]) if (existsSync(d)) chmodSync(d, 0o755);
    rmSync(dir, { recursive: true, force: true });
  }
});
