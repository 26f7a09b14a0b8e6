/**
 * Group commit for submissions, off the event loop. Requests that arrive while a batch is being
 * written wait for the next batch; each batch is one transaction in the writer thread
 * (submit-worker.ts). A request is answered only after its batch is durable.
 */
import { Worker } from 'node:worker_threads';
import type { AuditEntry, JobRow, NewJob } from '../adapters/store/store.js';

export interface WriteRequest {
  readonly job: NewJob;
  readonly audit: Omit<AuditEntry, 'id' | 'target'>;
}

export type WriteResult = { ok: true; job: JobRow; replayed: boolean } | { ok: false; code: string; message: string };

interface Pending {
  readonly req: WriteRequest;
  readonly resolve: (r: WriteResult) => void;
  readonly reject: (e: Error) => void;
}

export class SubmitWriter {
  private readonly worker: Worker;
  private queue: Pending[] = [];
  private inFlight: Pending[] | null = null;
  private nextId = 1;
  private closed = false;

  /** `onCommitted` runs on the event loop after each durable batch, before the requests are answered. */
  constructor(
    dbPath: string,
    private readonly onCommitted: (rows: JobRow[]) => void,
    /** Queued jobs a team may have at most (0 = no cap); checked in each batch's transaction. */
    maxQueuedPerTeam = 0,
  ) {
    this.worker = new Worker(new URL('./submit-worker.js', import.meta.url), { workerData: { path: dbPath, maxQueuedPerTeam } });
    this.worker.on('message', (msg: { id: number; results?: WriteResult[]; error?: string }) => this.done(msg));
    this.worker.on('error', (e) => this.failAll(e));
    this.worker.unref();
  }

  write(req: WriteRequest): Promise<WriteResult> {
    if (this.closed) return Promise.reject(new Error('the server is shutting down'));
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      if (!this.inFlight) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    if (this.inFlight || this.queue.length === 0) return;
    this.inFlight = this.queue;
    this.queue = [];
    this.worker.ref();
    this.worker.postMessage({ id: this.nextId++, items: this.inFlight.map((p) => p.req) });
  }

  private done(msg: { results?: WriteResult[]; error?: string }): void {
    const batch = this.inFlight ?? [];
    this.inFlight = null;
    this.worker.unref();
    if (msg.error !== undefined || !msg.results) {
      for (const p of batch) p.reject(new Error(msg.error ?? 'write failed'));
    } else {
      const results = msg.results;
      this.onCommitted(results.flatMap((r) => (r.ok && !r.replayed ? [r.job] : [])));
      batch.forEach((p, i) => p.resolve(results[i] ?? { ok: false, code: 'INTERNAL', message: 'no result' }));
    }
    this.flush();
  }

  private failAll(e: Error): void {
    for (const p of [...(this.inFlight ?? []), ...this.queue]) p.reject(e);
    this.inFlight = null;
    this.queue = [];
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.inFlight || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
    await this.worker.terminate();
  }
}
