/**
 * Datasets end to end in `gantry up` (its own process) with real files: a job that names a
 * dataset waits while its node's cache fills, then reads its read-only local copy; a corrupted
 * shard is found and fetched again; eviction under a small cache never touches the copy a
 * running job reads; a fill interrupted by kill -9 of the server resumes at the next start
 * without copying again what was verified.
 */
import { after, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { gantryUp, started } from '../helpers/gantry-process.js';
import { job, tempDir, waitFor } from '../helpers/server.js';

const dirs: string[] = [];
after(() => {
  for (const c of started) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true, maxRetries: 2 }); // the caches lie beside the data dirs, inside d
});

function folder(prefix: string): string {
  const d = tempDir(prefix);
  chmodSync(d, 0o755); // the cache beside the data dir must be reachable by jobs, which run as their own uids
  dirs.push(d);
  return d;
}

/** `n` random files of `size` bytes under `root`; returns their SHA-256 by path. */
function makeFiles(root: string, n: number, size: number): Map<string, string> {
  mkdirSync(root, { recursive: true });
  const out = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const b = randomBytes(size);
    const p = `shard-${String(i).padStart(3, '0')}.bin`;
    writeFileSync(join(root, p), b);
    out.set(p, createHash('sha256').update(b).digest('hex'));
  }
  return out;
}

test('a job waits for its dataset, reads the read-only local copy, and records the version it read', async () => {
  const root = folder('gantry-ds-a-');
  const src = join(root, 'src');
  const sums = makeFiles(src, 6, 1 << 20);
  const g = await gantryUp(join(root, 'd'), ['--gpus', '2xH100-80GB', '--cache-capacity', '64Mi']);
  const add = await g.api('POST', '/v1/datasets', { name: 'imgs', source: { type: 'local', path: src } });
  assert.equal(add.status, 201, add.text);
  assert.equal(add.body['ref'], 'imgs@1');
  // Not cached yet: submitting starts the fill; the job starts once the copy is complete.
  const script = 'cd "$GANTRY_DATASET_IMGS" && sha256sum shard-*.bin && pwd && (touch x 2>/dev/null && echo WRITABLE || echo READONLY)';
  const sub = await g.api('POST', '/v1/jobs', job({ name: 'reader', command: ['sh', '-c', script], datasets: [{ name: 'imgs' }] }));
  assert.equal(sub.status, 201, sub.text);
  const id = String(sub.body['id']);
  assert.deepEqual((sub.body['spec'] as { datasets: unknown[] }).datasets, [{ name: 'imgs', version: 1 }], 'the version is pinned at submission');
  await waitFor('the job to finish', async () => ['succeeded', 'failed'].includes(String((await g.api('GET', `/v1/jobs/${id}`)).body['state'])));
  const got = await g.api('GET', `/v1/jobs/${id}`);
  assert.equal(got.body['state'], 'succeeded', got.text);
  const data = got.body['data'] as { name: string; version: number; state: string; path: string }[];
  assert.equal(data[0]?.state, 'cached');
  const log = (await g.api('GET', `/v1/jobs/${id}/logs`)).text;
  for (const [p, sum] of sums) assert.match(log, new RegExp(`${sum}  ${p}`));
  assert.match(log, new RegExp(`${data[0]?.path}\\n`), 'the job read the node cache copy');
  assert.ok(data[0]?.path.endsWith('-datasets/imgs@1'));
  assert.match(log, /READONLY/);
  assert.match(g.output(), /imgs@1 ready/);
  // Provenance: the audit log names the version; the dataset lists its cached copy.
  const audit = await g.api('GET', '/v1/audit');
  assert.ok((audit.body['items'] as { action: string; target: string }[]).some((e) => e.action === 'dataset.add' && e.target === 'imgs@1'));

  // A corrupted shard is found by verify and fetched again.
  const copy = String(data[0]?.path);
  chmodSync(join(copy, 'shard-002.bin'), 0o644);
  writeFileSync(join(copy, 'shard-002.bin'), Buffer.alloc(1 << 20));
  const v = await g.api('POST', '/v1/datasets/imgs/1/verify');
  assert.equal(v.status, 200, v.text);
  assert.deepEqual(v.body['repaired'], ['shard-002.bin']);
  assert.equal(createHash('sha256').update(readFileSync(join(copy, 'shard-002.bin'))).digest('hex'), sums.get('shard-002.bin'));

  // Bad input: clear codes, nothing changed.
  assert.equal((await g.api('POST', '/v1/jobs', job({ datasets: [{ name: 'nope' }] }))).body.error?.code, 'DATASET_NOT_FOUND');
  assert.equal((await g.api('POST', '/v1/jobs', job({ datasets: [{ name: 'imgs', version: 9 }] }))).body.error?.code, 'DATASET_NOT_FOUND');
  assert.equal((await g.api('POST', '/v1/datasets', { name: 'x', source: { type: 'local', path: join(root, 'missing') } })).body.error?.code, 'DATASET_SOURCE_UNREADABLE');
  assert.equal((await g.api('POST', '/v1/datasets', { name: 'x', source: { type: 'local', path: 'relative' } })).body.error?.code, 'DATASET_INVALID');
  assert.equal((await g.api('GET', '/v1/datasets/x/1')).body.error?.code, 'DATASET_NOT_FOUND');
  await g.stop();
});

test('eviction under a small cache never touches the copy a running job reads', async () => {
  const root = folder('gantry-ds-b-');
  const sums: Record<string, Map<string, string>> = {};
  for (const n of ['a', 'b', 'c', 'd']) sums[n] = makeFiles(join(root, n), 2, 1 << 20); // 2 MiB each
  const g = await gantryUp(join(root, 'state'), ['--gpus', '2xH100-80GB', '--cache-capacity', '5Mi']);
  for (const n of ['a', 'b', 'c', 'd']) assert.equal((await g.api('POST', '/v1/datasets', { name: n, source: { type: 'local', path: join(root, n) } })).status, 201);
  // A job reads a (the oldest copy) for a while, then checks its bytes.
  const script = 'sleep 3; cd "$GANTRY_DATASET_A" && sha256sum shard-*.bin';
  const sub = await g.api('POST', '/v1/jobs', job({ name: 'long', command: ['sh', '-c', script], datasets: [{ name: 'a' }] }));
  const id = String(sub.body['id']);
  await waitFor('the job to run', async () => (await g.api('GET', `/v1/jobs/${id}`)).body['state'] === 'running');
  const fb = await g.api('POST', '/v1/datasets/b/1/fill?wait=true');
  assert.equal(fb.status, 200, fb.text);
  // a (pinned) + b fill the cache: c evicts b, though a was used longer ago.
  assert.equal((await g.api('POST', '/v1/datasets/c/1/fill?wait=true')).status, 200);
  let cache = await g.api('GET', '/v1/dataset-cache');
  assert.deepEqual((cache.body['items'] as { ref: string }[]).map((e) => e.ref).sort(), ['a@1', 'c@1']);
  assert.equal((cache.body['items'] as { ref: string; pinned: boolean }[]).find((e) => e.ref === 'a@1')?.pinned, true);
  // Evicting a by hand is refused while the job runs.
  assert.equal((await g.api('POST', '/v1/datasets/a/1/evict')).body.error?.code, 'DATASET_IN_USE');
  // d then evicts c, never a.
  const fd = await g.api('POST', '/v1/datasets/d/1/fill?wait=true');
  assert.equal(fd.status, 200, fd.text);
  cache = await g.api('GET', '/v1/dataset-cache');
  assert.deepEqual((cache.body['items'] as { ref: string }[]).map((e) => e.ref).sort(), ['a@1', 'd@1']);
  await waitFor('the job to finish', async () => ['succeeded', 'failed'].includes(String((await g.api('GET', `/v1/jobs/${id}`)).body['state'])), 30_000);
  const log = (await g.api('GET', `/v1/jobs/${id}/logs`)).text;
  for (const [p, sum] of sums['a'] as Map<string, string>) assert.match(log, new RegExp(`${sum}  ${p}`), 'the running job read its data intact');
  // Finished: a is no longer pinned and can go.
  assert.equal((await g.api('POST', '/v1/datasets/a/1/evict')).status, 200);
  // Too big for the cache even when empty of unpinned copies: refused with the figures.
  makeFiles(join(root, 'big'), 3, 2 << 20);
  await g.api('POST', '/v1/datasets', { name: 'big', source: { type: 'local', path: join(root, 'big') } });
  const full = await g.api('POST', '/v1/datasets/big/1/fill');
  assert.equal(full.status, 507, full.text);
  assert.equal(full.body.error?.code, 'DATASET_CACHE_FULL');
  await g.stop();
});

test('a fill interrupted by kill -9 of the server resumes without copying the verified files again', async () => {
  const root = folder('gantry-ds-c-');
  const src = join(root, 'src');
  // 300 files: the first record of verified files (at 256 files or 200 ms) comes before the end.
  const sums = makeFiles(src, 300, 64 << 10);
  const dataDir = join(root, 'd');
  let g = await gantryUp(dataDir, ['--gpus', '1xH100-80GB', '--cache-capacity', '1Gi'], { ...process.env, GANTRY_FAILPOINT: 'dataset-fill-flush:1' });
  assert.equal((await g.api('POST', '/v1/datasets', { name: 'big', source: { type: 'local', path: src } })).status, 201);
  // A job that names the dataset starts its fill (the job path); the server dies mid-way.
  const sub = await g.api('POST', '/v1/jobs', job({ name: 'counter', command: ['sh', '-c', 'ls "$GANTRY_DATASET_BIG" | wc -l; sha256sum "$GANTRY_DATASET_BIG"/shard-299.bin'], datasets: [{ name: 'big' }] })).catch(() => null);
  assert.equal(sub?.status, 201, sub?.text);
  const id = String(sub?.body['id']);
  await waitFor('the server to be killed at the failpoint', async () => g.child.exitCode !== null || g.child.signalCode !== null, 30_000);
  assert.equal(g.child.signalCode, 'SIGKILL');
  // What the killed server had recorded as verified, and those files' inodes.
  const db = new Database(join(dataDir, 'gantry.db'), { readonly: true });
  const verified = db.prepare("SELECT path FROM dataset_cache_files WHERE name = 'big'").pluck().all() as string[];
  db.close();
  assert.ok(verified.length > 0 && verified.length < 300, `some files verified before the kill (${verified.length})`);
  const staging = join(`${dataDir}-datasets`, '.staging', 'big@1');
  const inodes = new Map(verified.map((p) => [p, statSync(join(staging, p)).ino]));
  g = await gantryUp(dataDir, ['--gpus', '1xH100-80GB', '--cache-capacity', '1Gi']);
  await waitFor('the resumed fill to complete', async () => (await g.api('GET', '/v1/datasets/big/1')).body['cache'] && ((await g.api('GET', '/v1/datasets/big/1')).body['cache'] as { state: string }).state === 'ready', 30_000);
  assert.match(g.output(), new RegExp(`resuming big@1: ${verified.length} of 300 files kept, ${300 - verified.length} to copy`));
  const copy = join(`${dataDir}-datasets`, 'big@1');
  for (const [p, ino] of inodes) assert.equal(statSync(join(copy, p)).ino, ino, `${p} was not copied again`);
  assert.equal(readdirSync(copy).length, 300);
  for (const [p, sum] of sums) assert.equal(createHash('sha256').update(readFileSync(join(copy, p))).digest('hex'), sum);
  // The job, still queued across the crash, then runs on the resumed copy.
  await waitFor('the job to finish', async () => ['succeeded', 'failed'].includes(String((await g.api('GET', `/v1/jobs/${id}`)).body['state'])), 30_000);
  const log = (await g.api('GET', `/v1/jobs/${id}/logs`)).text;
  assert.match(log, /^300$/m);
  assert.match(log, new RegExp(`${sums.get('shard-299.bin')}  ${copy}/shard-299.bin`));
  await g.stop();
});

test('prefetch: a queued job\'s data is cached before it starts; a shard written meanwhile is fetched again before the job reads it', async () => {
  const root = folder('gantry-ds-d-');
  const src = join(root, 'src');
  const sums = makeFiles(src, 4, 1 << 20);
  const g = await gantryUp(join(root, 'state'), ['--gpus', '1xH100-80GB', '--cache-capacity', '64Mi']);
  assert.equal((await g.api('POST', '/v1/datasets', { name: 'pre', source: { type: 'local', path: src } })).status, 201);
  // The only GPU is busy until the test says so, so the reader queues behind it.
  const go = join(root, 'go');
  const blocker = await g.api('POST', '/v1/jobs', job({ name: 'blocker', command: ['sh', '-c', `while [ ! -e ${go} ]; do sleep 0.1; done`], resources: { gpu: 1, cpu: '100m', memory: '64Mi' } }));
  await waitFor('the blocker to run', async () => (await g.api('GET', `/v1/jobs/${String(blocker.body['id'])}`)).body['state'] === 'running');
  const sub = await g.api('POST', '/v1/jobs', job({ name: 'reader', command: ['sh', '-c', 'sha256sum "$GANTRY_DATASET_PRE"/shard-*.bin'], resources: { gpu: 1, cpu: '100m', memory: '64Mi' }, datasets: [{ name: 'pre' }] }));
  const id = String(sub.body['id']);
  const ex = await waitFor('the queued job\'s data to be prefetched', async () => {
    const e = await g.api('GET', `/v1/jobs/${id}/explain`);
    return e.body['state'] === 'queued' && (e.body['data'] as { state: string }[])[0]?.state === 'cached' ? e : null;
  }, 15_000);
  const d0 = (ex.body['data'] as { name: string; version: number; bytesDone: number; totalBytes: number; message: string; path: string }[])[0];
  assert.equal(d0?.version, 1);
  assert.equal(d0?.bytesDone, 4 << 20);
  assert.equal(d0?.totalBytes, 4 << 20);
  assert.equal(d0?.message, 'pre@1 cached');
  assert.match(g.output(), /prefetching for queued jobs: pre@1/);
  // The CLI says the same: the job is queued and its data cached, where.
  const cli = (...args: string[]): string => spawnSync(process.execPath, ['bin/gantry.js', ...args], { encoding: 'utf8', env: { ...process.env, GANTRY_URL: g.url, GANTRY_TOKEN: g.token } }).stdout;
  assert.match(cli('explain', id), new RegExp(`is queued[^]*\\n  data: pre@1 cached at ${d0?.path}\\n`));
  assert.match(cli('get', id), new RegExp(`\\n  data: pre@1 cached at ${d0?.path}`));
  const cache = await g.api('GET', '/v1/dataset-cache');
  assert.equal((cache.body['items'] as { ref: string; pinned: boolean }[]).find((e) => e.ref === 'pre@1')?.pinned, true, 'a queued job\'s prefetched copy is pinned');
  // A shard of the prefetched copy is overwritten while the job waits: found before the job starts.
  const shard = join(String(d0?.path), 'shard-001.bin');
  chmodSync(shard, 0o644);
  writeFileSync(shard, Buffer.alloc(1 << 20));
  writeFileSync(go, '');
  await waitFor('the reader to finish', async () => ['succeeded', 'failed'].includes(String((await g.api('GET', `/v1/jobs/${id}`)).body['state'])), 30_000);
  const log = (await g.api('GET', `/v1/jobs/${id}/logs`)).text;
  for (const [p, sum] of sums) assert.match(log, new RegExp(`${sum}  ${d0?.path}/${p}`), `${p} read intact from the local copy`);
  assert.match(g.output(), /pre@1: shard-001\.bin is corrupted .* fetching it again/);
  assert.match(g.output(), /pre@1: repaired shard-001\.bin before a job read it/);
  assert.equal(statSync(shard).mode & 0o777, 0o444, 'the repaired shard is read-only again');
  await g.stop();
});
