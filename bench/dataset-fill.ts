/**
 * Fill speed (issue 13): a dataset cache fill against the plain tools in the same run, A/B
 * interleaved, on the same files.
 *   local: NodeCache.fill from a folder  vs  `cp -r` (and `cp -r && sync`, for scale: a fill
 *          records its files unsynced and syncs them in the background, after it returns)
 *   s3:    NodeCache.fill from SeaweedFS  vs  parallel GetObject piped to files (same streams)
 * A fill also checksums every byte (CRC-32) and records each file in SQLite. Before
 * the timed rounds, one untimed fill of a single file starts the copy threads and loads the
 * code, as a server's first fill does once (--no-warmup: the first round pays for it).
 *
 *   npx tsc -p . && node dist/bench/dataset-fill.js [--mode local,s3] [--rounds 3]
 *       [--files 32] [--size-mib 16] [--streams 4]
 * The s3 mode needs scripts/s3/ensure-seaweedfs.sh to have built SeaweedFS.
 * Prints MB/s per run (MB = 10^6 bytes) and the median ratio fill / baseline.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DatasetCatalog, type DatasetVersion } from '../src/adapters/datacache/dataset-catalog.js';
import { scanSource } from '../src/adapters/datacache/dataset-scan.js';
import type { SourceSpec } from '../src/adapters/datacache/dataset-source.js';
import { crc32Implementation } from '../src/adapters/datacache/checksum.js';
import { NodeCache } from '../src/adapters/datacache/node-cache.js';
import { openSource } from '../src/adapters/datacache/open-source.js';
import { SqliteStore } from '../src/adapters/store/sqlite-store.js';
import { startSeaweedfs, S3_KEYS } from '../test/helpers/seaweedfs.js';
import { tempDir } from '../test/helpers/server.js';

const { values: a } = parseArgs({ options: { 'no-warmup': { type: 'boolean', default: false }, mode: { type: 'string', default: 'local,s3' }, rounds: { type: 'string', default: '3' }, files: { type: 'string', default: '32' }, 'size-mib': { type: 'string', default: '16' }, streams: { type: 'string', default: '4' } } });
const rounds = Number(a.rounds);
const nFiles = Number(a.files);
const size = Number(a['size-mib']) << 20;
const streams = Number(a.streams);
const total = nFiles * size;
const root = tempDir('gantry-bench-fill-');
const src = join(root, 'src');
mkdirSync(src);
const names: string[] = [];
for (let i = 0; i < nFiles; i++) {
  const p = `shard-${String(i).padStart(4, '0')}.bin`;
  writeFileSync(join(src, p), randomBytes(size));
  names.push(p);
}
const mbps = (ms: number): number => total / 1e6 / (ms / 1000);
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;

async function timed(fn: () => Promise<void> | void): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** One fill into a fresh cache (and a fresh SQLite file), returning ms. */
async function fill(source: SourceSpec, label: string, bytes = total): Promise<{ ms: number; version: DatasetVersion }> {
  const dir = join(root, `cache-${label}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  const store = new SqliteStore(join(dir, 'gantry.db'));
  const catalog = new DatasetCatalog(store.connection);
  const files = await scanSource(openSource(source));
  const version = catalog.addVersion({ name: 'b', source, files, totalBytes: bytes, createdAt: 0, createdBy: 'bench' });
  const cache = new NodeCache(catalog, { node: 'n', dir: join(dir, 'c'), capacityBytes: bytes * 2, streams, openSource });
  const ms = await timed(() => cache.fill(version));
  await cache.close(); // and its background sync: the bench syncs between rounds itself
  store.close();
  rmSync(dir, { recursive: true, force: true });
  return { ms, version };
}

const rows: string[] = [];
const report = (mode: string, base: string, fills: number[], bases: number[]): void => {
  const ratios = fills.map((f, i) => (bases[i] as number) / f);
  rows.push(`| ${mode} | ${base} | ${fills.map((f) => mbps(f).toFixed(0)).join(', ')} | ${bases.map((b) => mbps(b).toFixed(0)).join(', ')} | ${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}) |`);
};

if (!a['no-warmup']) {
  const one = join(root, 'warmup');
  mkdirSync(one);
  writeFileSync(join(one, 'one.bin'), randomBytes(1 << 20));
  const { ms } = await fill({ type: 'local', path: one }, 'warmup', 1 << 20);
  process.stdout.write(`warm-up fill (1 file, 1 MiB, copy threads started): ${ms.toFixed(0)} ms\n`);
}

if (a.mode.includes('local')) {
  const f: number[] = [];
  const cp: number[] = [];
  const cpSync: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const dst = join(root, 'cp');
    rmSync(dst, { recursive: true, force: true });
    cp.push(await timed(() => void execFileSync('cp', ['-r', src, dst])));
    rmSync(dst, { recursive: true, force: true });
    execFileSync('sync');
    cpSync.push(await timed(() => void execFileSync('sh', ['-c', `cp -r "${src}" "${dst}" && sync`])));
    rmSync(dst, { recursive: true, force: true });
    execFileSync('sync');
    f.push((await fill({ type: 'local', path: src }, 'local')).ms);
    execFileSync('sync');
  }
  report('local', 'cp -r', f, cp);
  report('local', 'cp -r && sync', f, cpSync);
}

if (a.mode.includes('s3')) {
  const s3 = await startSeaweedfs();
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: S3_KEYS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_KEYS.secretAccessKey, AWS_REGION: 'us-east-1' });
  try {
    await s3.client.send(new CreateBucketCommand({ Bucket: 'bench' }));
    const { readFileSync } = await import('node:fs');
    for (const n of names) await s3.client.send(new PutObjectCommand({ Bucket: 'bench', Key: `ds/${n}`, Body: readFileSync(join(src, n)) }));
    const source: SourceSpec = { type: 's3', bucket: 'bench', prefix: 'ds', endpoint: s3.endpoint };
    const f: number[] = [];
    const get: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const dst = join(root, 'get');
      rmSync(dst, { recursive: true, force: true });
      mkdirSync(dst);
      let next = 0;
      get.push(
        await timed(async () => {
          const worker = async (): Promise<void> => {
            while (next < names.length) {
              const n = names[next++] as string;
              const o = await s3.client.send(new GetObjectCommand({ Bucket: 'bench', Key: `ds/${n}` }));
              await pipeline(o.Body as Readable, createWriteStream(join(dst, n)));
            }
          };
          await Promise.all(Array.from({ length: streams }, worker));
        }),
      );
      rmSync(dst, { recursive: true, force: true });
      execFileSync('sync');
      f.push((await fill(source, 's3')).ms);
      execFileSync('sync');
    }
    report('s3', `GetObject x${streams} to files`, f, get);
  } finally {
    s3.stop();
  }
}

rmSync(root, { recursive: true, force: true });
process.stdout.write(`${nFiles} files x ${size >> 20} MiB = ${(total / 1e6).toFixed(0)} MB, ${streams} streams, ${rounds} rounds (A/B interleaved), CRC-32: ${crc32Implementation}\n`);
process.stdout.write('| mode | baseline | fill MB/s | baseline MB/s | fill / baseline (median, range) |\n|---|---|---|---|---|\n');
process.stdout.write(rows.join('\n') + '\n');
