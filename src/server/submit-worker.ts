/**
 * The submission writer thread: commits batches of new jobs (with their audit entries) in one
 * durable transaction each, so the fsync does not stall the API's event loop. Each job has
 * its own savepoint: a refused one (a reused idempotency key, a team over its queued-job cap)
 * does not undo the others. A job and its audit entry commit together or not at all.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore } from '../adapters/store/sqlite-store.js';
import type { WriteRequest, WriteResult } from './submit-writer.js';

const { path, maxQueuedPerTeam } = workerData as { path: string; maxQueuedPerTeam: number };
const store = new SqliteStore(path);

parentPort?.on('message', (msg: { id: number; items: WriteRequest[] }) => {
  const results: WriteResult[] = [];
  try {
    store.transaction(() => {
      for (const item of msg.items) {
        try {
          results.push(
            store.transaction((): WriteResult => {
              if (item.job.idempotencyKey !== null) {
                const prior = store.jobByIdempotencyKey(item.job.owner, item.job.idempotencyKey);
                if (prior) {
                  if (prior.requestHash !== item.job.requestHash) return { ok: false, code: 'IDEMPOTENCY_KEY_REUSED', message: `idempotency key "${item.job.idempotencyKey}" was used for ${prior.id} with a different body` };
                  return { ok: true, job: prior, replayed: true };
                }
              }
              // Counted inside the batch's transaction (the store keeps the count), so concurrent
              // submissions cannot together pass the cap.
              if (maxQueuedPerTeam > 0 && store.countJobs(item.job.team, 'queued') >= maxQueuedPerTeam) {
                return { ok: false, code: 'QUOTA_EXCEEDED', message: `team ${item.job.team} already has ${maxQueuedPerTeam} queued jobs (the server's --max-queued-per-team); wait for some to start or cancel some` };
              }
              const row = store.insertJob(item.job);
              store.appendAudit({ ...item.audit, target: row.id });
              return { ok: true, job: row, replayed: false };
            }),
          );
        } catch (e) {
          results.push({ ok: false, code: 'INTERNAL', message: (e as Error).message });
        }
      }
    });
    parentPort?.postMessage({ id: msg.id, results });
  } catch (e) {
    parentPort?.postMessage({ id: msg.id, error: (e as Error).message });
  }
});
