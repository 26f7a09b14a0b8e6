/**
 * Worker thread of the local copy pool (copy-pool.ts): copies one file with fs.copyFileSync
 * (copy_file_range: the kernel moves the bytes, no user-space copy), then checksums the copy
 * (read back from the page cache). Hashing here, not on the server's event loop, keeps the API
 * responsive and uses every core. The copy is not synced here: the cache syncs verified files
 * in batches off the copy streams (node-cache.ts), so the disk writes while the next file copies.
 */
import { closeSync, copyFileSync, fstatSync, openSync, readSync } from 'node:fs';
import { newChecksum } from './checksum.js';
import type { ChecksumKind } from './dataset-source.js';
import { parentPort } from 'node:worker_threads';

export interface CopyRequest {
  readonly id: number;
  readonly src: string;
  readonly dest: string;
  readonly size: number;
  readonly kind: ChecksumKind;
}
export type CopyReply = { readonly id: number; readonly ok: true; readonly digest: string; readonly size: number } | { readonly id: number; readonly ok: false; readonly code: string; readonly message: string };

const CHUNK = 4 << 20;
const buf = Buffer.allocUnsafe(CHUNK);

function copyAndHash(r: CopyRequest): CopyReply {
  try {
    copyFileSync(r.src, r.dest);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    return { id: r.id, ok: false, code, message: (e as Error).message };
  }
  const fd = openSync(r.dest, 'r'); // the copy may carry the source's read-only mode
  try {
    const size = fstatSync(fd).size;
    const h = newChecksum(r.kind);
    for (let pos = 0; pos < size; ) {
      const n = readSync(fd, buf, 0, CHUNK, pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
    return { id: r.id, ok: true, digest: h.digest(), size };
  } finally {
    closeSync(fd);
  }
}

parentPort?.on('message', (r: CopyRequest) => parentPort?.postMessage(copyAndHash(r)));
