/**
 * Fills record unsynced, tagged with the boot id (cache-durability.ts): served within the boot
 * that recorded them, synced in the background, and checked again (checksums) when found after
 * a reboot. A reboot is simulated by opening the same cache with another injected boot id.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { SqliteStore } from '../../src/adapters/store/sqlite-store.js';
import { DatasetCatalog, type DatasetVersion } from '../../src/adapters/datacache/dataset-catalog.js';
import type { SourceSpec } from '../../src/adapters/datacache/dataset-source.js';
import { scanSource } from '../../src/adapters/datacache/dataset-scan.js';
import { LocalSource } from '../../src/adapters/datacache/local-source.js';
import { NodeCache } from '../../src/adapters/datacache/node-cache.js';
import { copyTrusted, currentBootId, markerPath } from '../../src/adapters/datacache/cache-durability.js';
import { datasetsReady } from '../../src/adapters/k8s/data-wait.js';
import { CountingSource } from '../helpers/counting-source.js';
import { tempDir, waitFor } from '../helpers/server.js';

/** One cache folder and SQLite file; `open(boot)` is the cache as a server of that boot sees it. */
async function setup(files = 6, size = 150_000) {
  const dir = tempDir('gantry-dd-');
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(src, `shard-${i}.bin`), randomBytes(size));
  const store = new SqliteStore(join(dir, 'gantry.db'));
  const catalog = new DatasetCatalog(store.connection);
  const scanned = await scanSource(new LocalSource(src));
  const v: DatasetVersion = catalog.addVersion({ name: 'ds', source: { type: 'local', path: src }, files: scanned, totalBytes: scanned.reduce((s, f) => s + f.size, 0), createdAt: 1, createdBy: 't' });
  const cacheDir = join(dir, 'cache');
  let counting = new CountingSource(new LocalSource(src));
  let fetchedBefore: string[] = [];
  // A new cache stands for a new server: what it fetches is counted from zero.
  const open = (bootId: string, o: { failAfter?: number; syncDelayMs?: number; syncBacklogBytes?: number } = {}): NodeCache => {
    counting = new CountingSource(new LocalSource(src));
    fetchedBefore = [];
    return new NodeCache(catalog, {
      node: 'n1',
      dir: cacheDir,
      capacityBytes: 1 << 30,
      streams: 2,
      bootId,
      syncDelayMs: o.syncDelayMs ?? 3_600_000, // no background sync unless the test asks for it
      ...(o.syncBacklogBytes !== undefined ? { syncBacklogBytes: o.syncBacklogBytes } : {}),
      openSource: (s: SourceSpec) => {
        fetchedBefore.push(...counting.fetched);
        return (counting = new CountingSource(new LocalSource((s as { path: string }).path), o.failAfter));
      },
    });
  };
  return { dir, src, cacheDir, store, catalog, v, open, fetched: () => [...fetchedBefore, ...counting.fetched], done: () => (store.close(), rmSync(dir, { recursive: true, force: true, maxRetries: 2 })) };
}

/** A file of the copy overwritten with zeros, its seal (mode, mtime) kept: what a crash may leave of bytes never written out. */
function zeroKeepingSeal(p: string, size: number): void {
  chmodSync(p, 0o644);
  writeFileSync(p, Buffer.alloc(size));
  chmodSync(p, 0o444);
  utimesSync(p, 0, 0);
}

test('a fill records its files and the copy unsynced with the boot id, and the copy is served in that boot', async () => {
  const t = await setup();
  const cache = t.open('boot-a');
  await cache.fill(t.v);
  const rows = t.catalog.unsyncedRows('n1');
  assert.deepEqual(rows.map((r) => r.path).sort(), ['', ...t.v.files.map((f) => f.path)].sort(), 'every file and the final rename wait for the background sync');
  assert.ok(rows.every((r) => r.boot === 'boot-a'));
  assert.equal(cache.isUnverifiedSinceReboot('ds', 1), false);
  assert.deepEqual(cache.changedFiles(t.v), [], 'nothing to check before a job reads it');
  assert.equal(cache.readyPath('ds', 1), join(t.cacheDir, 'ds@1'));
  assert.equal(readFileSync(markerPath(t.cacheDir, 'ds@1'), 'utf8'), 'boot-a');
  assert.equal(copyTrusted(t.cacheDir, 'ds@1', 'boot-a'), true, 'wait-data takes it in this boot');
  assert.equal(copyTrusted(t.cacheDir, 'ds@1', 'boot-b'), false, 'and not after a reboot');
  await cache.close();
  t.done();
});

test('the background sync syncs what was recorded, clears the tags and the marker; a synced copy is trusted after a reboot', async () => {
  const t = await setup();
  const cache = t.open('boot-a', { syncDelayMs: 20 });
  await cache.fill(t.v);
  await waitFor('the background sync', async () => t.catalog.unsyncedRows('n1').length === 0, 10_000);
  await waitFor('the marker to go', async () => !existsSync(markerPath(t.cacheDir, 'ds@1')), 5_000);
  assert.equal(copyTrusted(t.cacheDir, 'ds@1', 'boot-b'), true);
  await cache.close();
  const after = t.open('boot-b');
  assert.equal(after.isUnverifiedSinceReboot('ds', 1), false);
  assert.deepEqual(after.changedFiles(t.v), []);
  assert.deepEqual(after.resumeInterrupted(() => t.v), []);
  assert.equal(after.isRepairing('ds', 1), false, 'nothing is checked again');
  await after.close();
  t.done();
});

test('fills that leave more than the backlog bound unsynced get a sync pass at once, not after the delay', async () => {
  const t = await setup(6, 150_000);
  // The delay is an hour: only the backlog (one file's bytes) can start a pass.
  const cache = t.open('boot-a', { syncBacklogBytes: 150_000 });
  await cache.fill(t.v);
  await waitFor('a pass started by the backlog', async () => t.catalog.unsyncedRows('n1').filter((r) => r.path !== '').length < t.v.files.length, 10_000);
  await cache.close();
  t.done();
});

test('a copy recorded in another boot and never synced is checked before it is served, and a file lost in the crash is fetched again', async () => {
  const t = await setup();
  const before = t.open('boot-a');
  await before.fill(t.v);
  await before.close();
  // The machine crashed before the page cache reached the disk: shard-3 came back as zeros.
  const lost = join(t.cacheDir, 'ds@1', 'shard-3.bin');
  zeroKeepingSeal(lost, 150_000);
  const after = t.open('boot-b');
  assert.equal(after.isUnverifiedSinceReboot('ds', 1), true);
  assert.equal(after.changedFiles(t.v).length, t.v.files.length, 'every file is checked before a job reads the copy');
  assert.equal(copyTrusted(t.cacheDir, 'ds@1', 'boot-b'), false, 'wait-data does not take it either');
  after.resumeInterrupted(() => t.v);
  assert.equal(after.isRepairing('ds', 1), true, 'jobs wait (state repairing)');
  await waitFor('the check after the reboot', async () => !after.isRepairing('ds', 1), 10_000);
  assert.deepEqual(t.fetched(), ['shard-3.bin'], 'only the lost file is fetched again');
  for (const f of t.v.files) assert.deepEqual(readFileSync(join(t.cacheDir, 'ds@1', f.path)), readFileSync(join(t.src, f.path)));
  assert.equal(after.isUnverifiedSinceReboot('ds', 1), false);
  assert.deepEqual(after.changedFiles(t.v), []);
  assert.equal(copyTrusted(t.cacheDir, 'ds@1', 'boot-b'), true);
  assert.ok(t.catalog.unsyncedRows('n1').every((r) => r.boot === 'boot-b'), 'now this boot\'s to sync');
  await after.flushSync();
  assert.deepEqual(t.catalog.unsyncedRows('n1'), []);
  assert.equal(existsSync(markerPath(t.cacheDir, 'ds@1')), false);
  await after.close();
  t.done();
});

test('a fill interrupted before a reboot resumes: its unsynced files are checksummed, the intact kept, the lost copied again', async () => {
  const t = await setup(8);
  const before = t.open('boot-a', { failAfter: 5 });
  await assert.rejects(before.fill(t.v), /connection reset/);
  await before.close();
  const kept = [...t.catalog.verifiedFiles('n1', 'ds', 1)].sort();
  assert.equal(kept.length, 5);
  zeroKeepingSeal(join(t.cacheDir, '.staging', 'ds@1', kept[0] as string), 150_000);
  const same = t.open('boot-a');
  assert.equal(same.isUnverifiedSinceReboot('ds', 1), false, 'in the same boot (a kill -9) the records hold as they are');
  await same.close();
  const after = t.open('boot-b');
  await after.fill(t.v);
  assert.deepEqual(t.fetched().sort(), [kept[0], ...t.v.files.map((f) => f.path).filter((p) => !kept.includes(p))].sort(), 'the lost file and those never verified');
  for (const f of t.v.files) assert.deepEqual(readFileSync(join(t.cacheDir, 'ds@1', f.path)), readFileSync(join(t.src, f.path)));
  assert.ok(t.catalog.unsyncedRows('n1').every((r) => r.boot === 'boot-b'));
  assert.equal(after.isUnverifiedSinceReboot('ds', 1), false);
  await after.close();
  t.done();
});

test('a copy whose final rename was lost in the crash is renamed again and checked', async () => {
  const t = await setup(3);
  const before = t.open('boot-a');
  await before.fill(t.v);
  await before.close();
  // The rename of .staging/ds@1 to ds@1 never reached the disk.
  chmodSync(join(t.cacheDir, 'ds@1'), 0o755);
  const { renameSync } = await import('node:fs');
  renameSync(join(t.cacheDir, 'ds@1'), join(t.cacheDir, '.staging', 'ds@1'));
  const after = t.open('boot-b');
  after.resumeInterrupted(() => t.v);
  await waitFor('the check after the reboot', async () => !after.isRepairing('ds', 1), 10_000);
  assert.deepEqual(t.fetched(), []);
  assert.equal(after.readyPath('ds', 1), join(t.cacheDir, 'ds@1'));
  for (const f of t.v.files) assert.deepEqual(readFileSync(join(t.cacheDir, 'ds@1', f.path)), readFileSync(join(t.src, f.path)));
  await after.close();
  t.done();
});

test('wait-data skips a copy whose marker names another boot', () => {
  const dir = tempDir('gantry-dd-wait-');
  for (const k of ['a@1', 'b@1', 'c@1']) mkdirSync(join(dir, k));
  mkdirSync(join(dir, '.unsynced'));
  writeFileSync(join(dir, '.unsynced', 'a@1'), currentBootId());
  writeFileSync(join(dir, '.unsynced', 'b@1'), 'another-boot');
  assert.deepEqual(datasetsReady(dir, ['a', 'b', 'c']), { ready: ['a', 'c'], missing: ['b'] });
  writeFileSync(join(dir, '.unsynced', 'c@1'), ''); // the marker's bytes were lost in the crash
  assert.deepEqual(datasetsReady(dir, ['a', 'b', 'c']).missing, ['b', 'c']);
  rmSync(dir, { recursive: true, force: true });
});
