/**
 * Prefetch and the data state of `gantry get` / `explain` (DatasetService, real SQLite and real
 * files; a source that stops mid-way on request stands for a slow network): which queued jobs
 * are prefetched (next in line, capacity-blocked only), that their copies are pinned, and the
 * filling (bytes, rate, ETA) and waiting-for-space states.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStore } from '../../src/adapters/store/sqlite-store.js';
import type { JobRow } from '../../src/adapters/store/store.js';
import type { ChecksumKind, DatasetFile, DatasetSource, ListedFile, SourceSpec } from '../../src/adapters/datacache/dataset-source.js';
import { LocalSource } from '../../src/adapters/datacache/local-source.js';
import { DatasetService } from '../../src/server/datasets.js';
import { tempDir } from '../helpers/server.js';

/** Lets `open` fetches through, then holds every further one until `release()`. */
class GatedSource implements DatasetSource {
  private opened = 0;
  private wake: (() => void)[] = [];
  constructor(
    private readonly inner: DatasetSource,
    private open: number,
  ) {}
  release(): void {
    this.open = Infinity;
    for (const w of this.wake.splice(0)) w();
  }
  list(): Promise<ListedFile[]> {
    return this.inner.list();
  }
  read(f: ListedFile): AsyncIterable<Buffer> {
    return this.inner.read(f);
  }
  async fetch(f: DatasetFile | ListedFile, dest: string, onBytes: (n: number) => void, kind?: ChecksumKind): Promise<string> {
    if (this.opened++ >= this.open) await new Promise<void>((r) => this.wake.push(r));
    return this.inner.fetch(f, dest, onBytes, kind);
  }
}

function files(root: string, n: number, size: number): void {
  mkdirSync(root, { recursive: true });
  for (let i = 0; i < n; i++) writeFileSync(join(root, `shard-${i}.bin`), randomBytes(size));
}

function queued(id: string, seq: number, datasets: { name: string; version: number }[], priority = 0): JobRow {
  return { id, seq, state: 'queued', spec: { datasets, priority } } as unknown as JobRow;
}

function setup(capacity: number, gate: { open: number }) {
  const dir = tempDir('gantry-prefetch-');
  const store = new SqliteStore(':memory:');
  let now = 1_000_000;
  let source: GatedSource | null = null;
  const svc = new DatasetService({
    db: store.connection,
    node: 'n1',
    cacheDir: join(dir, 'cache'),
    capacityBytes: capacity,
    streams: 1,
    clock: () => now,
    openSource: (s: SourceSpec) => (source ??= new GatedSource(new LocalSource((s as { path: string }).path), gate.open)),
  });
  return {
    dir,
    svc,
    advance: (ms: number) => (now += ms),
    release: () => source?.release(),
    done: () => (store.close(), rmSync(dir, { recursive: true, force: true, maxRetries: 2 })),
  };
}

test('prefetch takes the next jobs in line that only capacity holds back and pins their copies', async () => {
  const t = setup(1 << 30, { open: Infinity });
  for (const n of ['a', 'b', 'c']) files(join(t.dir, n), 2, 64 << 10);
  for (const n of ['a', 'b', 'c']) await t.svc.add(n, { type: 'local', path: join(t.dir, n) }, 't');
  t.release(); // scanning went through the source too; from now every fetch passes
  const jobs = [queued('low', 1, [{ name: 'a', version: 1 }], -5), queued('held', 2, [{ name: 'b', version: 1 }]), queued('high', 3, [{ name: 'c', version: 1 }], 10)];
  t.svc.connect(() => jobs, () => undefined, (id) => id !== 'held');
  // Limit 1: the highest priority job in line; a job held by quota is never prefetched.
  assert.deepEqual(t.svc.prefetch(1), ['c@1']);
  assert.deepEqual(t.svc.prefetch(5), ['a@1']);
  await t.svc.cache.fill(t.svc.version('c', 1));
  await t.svc.cache.fill(t.svc.version('a', 1));
  const pinned = new Map(t.svc.cache.entries().map((e) => [`${e.name}@${e.version}`, e.pinned]));
  assert.deepEqual(Object.fromEntries(pinned), { 'a@1': true, 'c@1': true });
  assert.equal(t.svc.jobData(jobs[2] as JobRow)[0]?.state, 'cached');
  // The low job leaves the line: its copy is no longer pinned at the next prefetch.
  jobs.splice(0, 1);
  t.svc.prefetch(5);
  assert.equal(t.svc.cache.entry('a', 1)?.pinned, false);
  t.done();
});

test('a job\'s data state: filling with bytes done, total, rate and ETA; waiting for space with the figures', async () => {
  // Two files of 1 MiB; the second fetch is held: half the bytes are done.
  const t = setup(3 << 20, { open: 1 });
  files(join(t.dir, 'big'), 2, 1 << 20);
  files(join(t.dir, 'other'), 2, 1 << 20);
  const big = (await t.svc.add('big', { type: 'local', path: join(t.dir, 'big') }, 't')).version;
  await t.svc.add('other', { type: 'local', path: join(t.dir, 'other') }, 't');
  const jobs = [queued('j1', 1, [{ name: 'big', version: 1 }]), queued('j2', 2, [{ name: 'other', version: 1 }])];
  t.svc.connect(() => jobs, () => undefined);
  t.svc.cache.startFill(big);
  for (let i = 0; i < 200 && (t.svc.cache.entry('big', 1)?.bytesDone ?? 0) < 1 << 20; i++) await new Promise((r) => setTimeout(r, 10));
  t.advance(2_000); // 1 MiB in 2 s: 512 KiB/s, 2 s to go
  const d = t.svc.jobData(jobs[0] as JobRow)[0] as Record<string, unknown>;
  assert.equal(d['state'], 'filling');
  assert.equal(d['bytesDone'], 1 << 20);
  assert.equal(d['totalBytes'], 2 << 20);
  assert.equal(d['bytesPerSecond'], 512 << 10);
  assert.equal(d['etaSeconds'], 2);
  assert.equal(d['message'], 'big@1 filling 50% (1.0 MiB of 2.0 MiB, 512.0 KiB/s, ETA 2 s)');
  // j1's copy (filling, pinned) leaves 1 MiB: j2's 2 MiB wait for space.
  await t.svc.cache.fill(t.svc.version('other', 1)).catch(() => undefined);
  const w = t.svc.jobData(jobs[1] as JobRow)[0] as Record<string, unknown>;
  assert.equal(w['state'], 'waiting-for-space');
  assert.match(String(w['message']), /^other@1 waiting for space in the cache of n1 \(no room for other@1 \(2097152 bytes\).*in use or filling: big@1\)\)$/);
  t.release();
  await t.svc.cache.fill(big);
  assert.equal(t.svc.jobData(jobs[0] as JobRow)[0]?.state, 'cached');
  t.done();
});
