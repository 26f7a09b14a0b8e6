/**
 * A dataset in a local or mounted folder. A file is copied with one large-buffer read/write
 * loop that hashes each chunk as it passes (one read of the source, no second pass).
 */
import { createHash } from 'node:crypto';
import { createReadStream, type Dirent, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../core/errors.js';
import { checkDatasetPath, type DatasetFile, type DatasetSource, type ListedFile, sourceChanged } from './dataset-source.js';

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

  async fetch(file: DatasetFile | ListedFile, dest: string, onBytes: (n: number) => void): Promise<string> {
    const src = join(this.root, file.path);
    let inp: fsp.FileHandle;
    try {
      inp = await fsp.open(src, 'r');
    } catch {
      throw sourceChanged(`${file.path} is gone from ${this.root}`);
    }
    const out = await fsp.open(dest, 'w', 0o600);
    try {
      const size = (await inp.stat()).size;
      if (size !== file.size) throw sourceChanged(`${file.path} is ${size} bytes, the version recorded ${file.size}`);
      const hash = createHash('sha256');
      // Two buffers: the next read runs while the previous chunk is written and hashed.
      const bufs = [Buffer.allocUnsafe(LOCAL_CHUNK), Buffer.allocUnsafe(LOCAL_CHUNK)];
      let pos = 0;
      let i = 0;
      let pending = inp.read(bufs[0] as Buffer, 0, LOCAL_CHUNK, 0);
      for (;;) {
        const { bytesRead } = await pending;
        if (bytesRead === 0) break;
        const buf = bufs[i] as Buffer;
        pos += bytesRead;
        i ^= 1;
        pending = inp.read(bufs[i] as Buffer, 0, LOCAL_CHUNK, pos);
        const chunk = buf.subarray(0, bytesRead);
        hash.update(chunk);
        await out.write(chunk, 0, bytesRead);
        onBytes(bytesRead);
      }
      await out.sync();
      return hash.digest('hex');
    } finally {
      await Promise.allSettled([inp.close(), out.close()]);
    }
  }
}
