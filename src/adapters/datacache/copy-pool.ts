/**
 * A small pool of worker threads that copy local files and hash the copies (copy-worker.ts).
 * One pool per process, one per core (at most 4), started with the first node cache
 * (startCopyPool): a thread takes a few hundred ms to start on a busy machine, which a first
 * fill would otherwise wait for. Idle workers do not keep the process alive.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CopyProgress, CopyReply, CopyRequest } from './copy-worker.js';
import type { ChecksumKind } from './dataset-source.js';

interface Slot {
  readonly worker: Worker;
  /** Requests posted and not answered yet (the worker runs them in order). */
  inflight: number;
}

/**
 * Requests queued per worker: the next file is already in the worker's queue when it finishes
 * one, so it does not wait for the event loop to hand it more (on a loaded machine the main
 * thread may take tens of ms to run again, per file).
 */
const PER_WORKER = 2;

let slots: Slot[] | null = null;
const waiting: (() => void)[] = [];
let nextId = 1;

function pool(): Slot[] {
  if (slots) return slots;
  const n = Math.max(1, Math.min(4, availableParallelism())); // one per core: more only add concurrent fdatasyncs (measured slower)
  slots = Array.from({ length: n }, () => {
    const worker = new Worker(new URL('./copy-worker.js', import.meta.url));
    worker.unref();
    return { worker, inflight: 0 };
  });
  return slots;
}

/** Starts the pool's threads now (idempotent), so that the first fill does not wait for them. */
export function startCopyPool(): void {
  pool();
}

/** A large file's copy reports progress this often (bytes). */
export const COPY_PROGRESS_BYTES = 64 << 20;

/**
 * Copies `src` to `dest` in a worker; resolves with the copy's checksum and size. `onProgress`
 * gets the bytes copied so far in steps of `progressEvery` (the rest is in the reply's size).
 */
export async function copyAndHash(src: string, dest: string, size: number, kind: ChecksumKind = 'sha256', onProgress?: (bytes: number) => void, progressEvery = COPY_PROGRESS_BYTES): Promise<CopyReply> {
  const free = (): Slot | undefined => pool().reduce<Slot | undefined>((best, x) => (x.inflight < PER_WORKER && (!best || x.inflight < best.inflight) ? x : best), undefined);
  let slot = free();
  while (!slot) {
    await new Promise<void>((r) => waiting.push(r));
    slot = free();
  }
  const s = slot;
  if (s.inflight++ === 0) s.worker.ref();
  const req: CopyRequest = { id: nextId++, src, dest, size, kind, progressEvery: onProgress ? progressEvery : 0 };
  try {
    return await new Promise<CopyReply>((resolve, reject) => {
      const onMessage = (m: CopyReply | CopyProgress): void => {
        if (m.id !== req.id) return;
        if ('progress' in m) {
          onProgress?.(m.progress);
          return;
        }
        s.worker.off('message', onMessage);
        s.worker.off('error', reject);
        resolve(m);
      };
      s.worker.on('message', onMessage);
      s.worker.once('error', reject);
      s.worker.postMessage(req);
    });
  } finally {
    if (--s.inflight === 0) s.worker.unref();
    waiting.shift()?.();
  }
}
