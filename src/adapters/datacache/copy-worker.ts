/**
 * Worker thread of the local copy pool (copy-pool.ts): copies one file in a single pass through
 * a small buffer (read a chunk, checksum it, write that same chunk), so the checksum is of the
 * bytes written to the cache and each byte crosses memory once each way, as `cp` does. A chunk
 * fits in the core's L2 cache: the checksum reads it from there, not from memory. (The earlier
 * copy_file_range then read-back moved each byte twice more and ran at ~0.55x `cp`:
 * docs/benchmarks.md, "Dataset fill speed".) Hashing here, not on the server's event loop,
 * keeps the API responsive and uses every core. The copy is not synced here: the cache syncs
 * verified files in the background (node-cache.ts).
 */
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { newChecksum } from './checksum.js';
import type { ChecksumKind } from './dataset-source.js';
import { parentPort } from 'node:worker_threads';

export interface CopyRequest {
  readonly id: number;
  readonly src: string;
  readonly dest: string;
  readonly size: number;
  readonly kind: ChecksumKind;
  /** Post a progress message each time this many more bytes were copied (0: none). */
  readonly progressEvery: number;
}
export type CopyReply = { readonly id: number; readonly ok: true; readonly digest: string; readonly size: number } | { readonly id: number; readonly ok: false; readonly code: string; readonly message: string };
/** Bytes copied since the last progress message of the same request (a large file's fill shows progress before it ends). */
export interface CopyProgress {
  readonly id: number;
  readonly progress: number;
}

/** 256 KiB: measured against 64 KiB-4 MiB; larger chunks leave the L2 cache and ran slower. */
export const COPY_CHUNK = 256 << 10;
const buf = Buffer.allocUnsafe(COPY_CHUNK);

/** The copy, created or truncated; a read-only leftover of an earlier fill is replaced. */
function openDest(p: string): number {
  try {
    return openSync(p, 'w', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EACCES') throw e;
    unlinkSync(p);
    return openSync(p, 'w', 0o644);
  }
}

function copyAndHash(r: CopyRequest): CopyReply {
  let from = -1;
  let to = -1;
  try {
    from = openSync(r.src, 'r');
    to = openDest(r.dest);
    const h = newChecksum(r.kind);
    let size = 0;
    let unreported = 0;
    for (;;) {
      const n = readSync(from, buf, 0, COPY_CHUNK, null);
      if (n === 0) break;
      const chunk = buf.subarray(0, n);
      h.update(chunk);
      for (let off = 0; off < n; ) off += writeSync(to, chunk, off, n - off);
      size += n;
      if (size > r.size) break; // grown since it was recorded (or still growing): the caller refuses it
      unreported += n;
      if (r.progressEvery > 0 && unreported >= r.progressEvery) {
        parentPort?.postMessage({ id: r.id, progress: unreported } satisfies CopyProgress);
        unreported = 0;
      }
    }
    return { id: r.id, ok: true, digest: h.digest(), size };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    return { id: r.id, ok: false, code, message: (e as Error).message };
  } finally {
    if (from >= 0) closeSync(from);
    if (to >= 0) closeSync(to);
  }
}

parentPort?.on('message', (r: CopyRequest) => parentPort?.postMessage(copyAndHash(r)));
