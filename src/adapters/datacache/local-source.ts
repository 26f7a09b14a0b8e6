/**
 * A dataset in a local or mounted folder. A file is copied by a worker thread in one pass
 * (copy-worker.ts: read a chunk, checksum it, write it), so the checksum is of the bytes written
 * to the cache and the event loop never hashes.
 */
import { createReadStream, type Dirent, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../core/errors.js';
import { copyAndHash } from './copy-pool.js';
import { type ChecksumKind, checkDatasetPath, type DatasetFile, type DatasetSource, type ListedFile, sourceChanged } from './dataset-source.js';

/** Bytes per read: large enough that syscalls are a small cost, small enough to stay in cache. */
export const LOCAL_CHUNK = 4 << 20;

export class LocalSource implements DatasetSource {
  constructor(private readonly root: string) {}

  async list(): Promise<ListedFile[]> {
    const st = await fsp.stat(this.root).catch(() => null);
    if (!st?.isDirectory()) throw new UserError('DATASET_SOURCE_UNREADABLE', `source path ${this.root} is not a readable folder on the server`);
    const out: ListedFile[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (e) {
        throw new UserError('DATASET_SOURCE_UNREADABLE', `cannot read ${dir}: ${(e as Error).message}`);
      }
      for (const e of entries) {
        const r = rel === '' ? e.name : `${rel}/${e.name}`;
        if (e.isDirectory()) await walk(join(dir, e.name), r);
        else if (e.isFile()) {
          checkDatasetPath(r);
          out.push({ path: r, size: (await fsp.stat(join(dir, e.name))).size });
        }
        // Symlinks, sockets and devices are left out: a dataset is regular files.
      }
    };
    await walk(this.root, '');
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  read(file: ListedFile): AsyncIterable<Buffer> {
    return createReadStream(join(this.root, file.path), { highWaterMark: LOCAL_CHUNK }) as AsyncIterable<Buffer>;
  }

  async fetch(file: DatasetFile | ListedFile, dest: string, onBytes: (n: number) => void, kind: ChecksumKind = 'sha256'): Promise<string> {
    // No stat first (one event-loop round trip per file less): the worker reports a missing
    // source (ENOENT), a folder in its place (EISDIR) and the size it copied.
    let reported = 0;
    const r = await copyAndHash(join(this.root, file.path), dest, file.size, kind, (n) => {
      reported += n;
      onBytes(n);
    });
    if (!r.ok) throw r.code === 'ENOENT' || r.code === 'EISDIR' ? sourceChanged(`${file.path} is gone from ${this.root}`) : new UserError('DATASET_FILL_FAILED', `copying ${file.path}: ${r.message}`);
    if (r.size > file.size) throw sourceChanged(`${file.path} is larger than the ${file.size} bytes the version recorded`);
    if (r.size !== file.size) throw sourceChanged(`${file.path} is ${r.size} bytes, the version recorded ${file.size}`);
    onBytes(r.size - reported);
    return r.digest;
  }
}
