/**
 * How long a server's SQLite commit (synchronous=FULL, WAL, another file on the same disk) can
 * wait while a 2 GB local fill runs: one commit every 100 ms during the fill and for 2 s after,
 * p50 / p99 / max. On ext4 an fsync also writes out other files' dirty pages, so the unsynced
 * bytes a fill leaves behind (cache-durability.ts, SYNC_BACKLOG_BYTES) show here.
 *
 *   npx tsc -p . && node bench/fill-commit-stall.mjs DIST [BACKLOG_BYTES]
 *
 * DIST: a build's dist folder (this one's, or another commit's for a baseline in the same run).
 */
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
const dist = resolve(process.argv[2] ?? 'dist'); const backlog = process.argv[3] ? Number(process.argv[3]) : undefined;
const { SqliteStore } = await import(`${dist}/src/adapters/store/sqlite-store.js`);
const { DatasetCatalog } = await import(`${dist}/src/adapters/datacache/dataset-catalog.js`);
const { NodeCache } = await import(`${dist}/src/adapters/datacache/node-cache.js`);
const { LocalSource } = await import(`${dist}/src/adapters/datacache/local-source.js`);
const { openSource } = await import(`${dist}/src/adapters/datacache/open-source.js`);
const { scanSource } = await import(`${dist}/src/adapters/datacache/dataset-scan.js`);
const Database = (await import('better-sqlite3')).default;
const dir = mkdtempSync(join(tmpdir(), 'fill-stall-')); rmSync(dir, { recursive: true, force: true }); mkdirSync(join(dir, 'src'), { recursive: true });
const chunk = randomBytes(32 << 20);
for (let i = 0; i < 64; i++) writeFileSync(join(dir, 'src', `f${i}`), chunk);
const { execSync } = await import('node:child_process'); execSync('sync');
const store = new SqliteStore(join(dir, 'g.db'));
const catalog = new DatasetCatalog(store.connection);
const files = await scanSource(new LocalSource(join(dir, 'src')));
const v = catalog.addVersion({ name: 'ds', source: { type: 'local', path: join(dir, 'src') }, files, totalBytes: files.reduce((s, f) => s + f.size, 0), createdAt: 1, createdBy: 't' });
const cache = new NodeCache(catalog, { node: 'n1', dir: join(dir, 'cache'), capacityBytes: 1e12, streams: 4, openSource, ...(backlog ? { syncBacklogBytes: backlog } : {}) });
const other = new Database(join(dir, 'other.db')); other.pragma('journal_mode = WAL'); other.pragma('synchronous = FULL');
other.exec('CREATE TABLE t (x)'); const ins = other.prepare('INSERT INTO t VALUES (?)');
const times = []; let filling = true;
const t0 = performance.now();
const p = cache.fill(v).then(() => { filling = false; });
while (filling) { const a = performance.now(); ins.run(a); times.push(performance.now() - a); await new Promise((r) => setTimeout(r, 100)); }
await p; const fillMs = performance.now() - t0;
for (let i = 0; i < 20; i++) { const a = performance.now(); ins.run(a); times.push(performance.now() - a); await new Promise((r) => setTimeout(r, 100)); }
times.sort((a, b) => a - b);
console.log(JSON.stringify({ dist, backlog: backlog ?? 'default', fillMs: Math.round(fillMs), MBps: Math.round(2147 / (fillMs / 1000)), commits: times.length, p50: +times[times.length >> 1].toFixed(1), p99: +times[Math.floor(times.length * 0.99)].toFixed(1), max: +times.at(-1).toFixed(1) }));
await cache.close(); store.close(); rmSync(dir, { recursive: true, force: true });
