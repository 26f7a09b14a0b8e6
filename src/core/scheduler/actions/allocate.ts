/**
 * Allocate: place pending jobs on free capacity, queue by queue in fair-share order (the
 * queue furthest below its deserved share goes next), each queue's jobs by priority then
 * submission. A job is admitted only when its quota allows it and it can be placed now
 * (quota and placement decided together). Nodes reserved for a starving job are off limits
 * to others (see backfill). A gang shape that failed is not retried until something frees.
 */
import type { Action } from './action.js';
import type { Session } from '../session.js';
import type { JobRecord } from '../job.js';
import type { QueueNode } from '../queues.js';

export function queueOrder(s: Session, jobs: readonly JobRecord[]): Map<QueueNode, JobRecord[]> {
  const byQueue = new Map<QueueNode, JobRecord[]>();
  for (const j of jobs) {
    const q = s.queues.get(j.spec.queue);
    if (!q) {
      s.wait(j, { kind: 'quota', message: `queue ${j.spec.queue} does not exist` });
      continue;
    }
    let list = byQueue.get(q);
    if (!list) byQueue.set(q, (list = []));
    list.push(j);
  }
  for (const list of byQueue.values()) list.sort((a, b) => s.compareWithinQueue(a, b));
  return byQueue;
}

/** Tries one job; returns true when it was bound. */
export function tryAllocate(s: Session, job: JobRecord): boolean {
  s.considered++;
  if (job.awaiting.size > 0) {
    s.wait(job, { kind: 'preempting', message: `waiting for ${job.awaiting.size} job(s) to stop and free capacity` });
    return false;
  }
  const quota = s.quotaReason(job);
  if (quota) {
    s.wait(job, quota);
    return false;
  }
  // Jobs that see the same capacity (no reservation or nominated nodes of their own, no
  // declared duration that could backfill into reserved holes) share the failed-shape cache.
  const shape = s.gangShape(job);
  const cacheable = job.nominatedNodes.size === 0 && job.spec.expectedDurationMs === undefined && !s.reservations.has(job.spec.id);
  const known = cacheable ? s.failedShapes.get(shape) : undefined;
  if (known) {
    s.wait(job, known);
    return false;
  }
  const stmt = s.cluster.begin();
  const r = s.tryPlace(job, stmt);
  if (!r.ok) {
    const reason = job.spec.members.length > 1
      ? ({ kind: 'gang', message: r.message } as const)
      : ({ kind: 'fit', message: r.message, reasons: r.reasons } as const);
    s.wait(job, reason);
    if (cacheable) s.failedShapes.set(shape, reason);
    return false;
  }
  const modelQuota = s.modelQuotaReason(job, r.bindings);
  if (modelQuota) {
    stmt.rollback();
    s.wait(job, { kind: 'quota', message: modelQuota });
    return false;
  }
  stmt.commit();
  s.commitBind(job, r.bindings);
  return true;
}

export const allocate: Action = {
  name: 'allocate',
  execute(s) {
    const byQueue = queueOrder(s, s.pendingJobs());
    const cursor = new Map<QueueNode, number>();
    // Per queue: its fair-share key, recomputed only after a bind (usage changes then).
    const keys = new Map<QueueNode, number>();
    for (const q of byQueue.keys()) keys.set(q, s.fairKey(q));
    /** After a bind in `q`: the keys of queues under q's root change (in a flat tree: q only). */
    const refreshKeys = (q: QueueNode): void => {
      const top = q.chain()[q.chain().length - 1] as QueueNode;
      for (const other of byQueue.keys()) {
        if (other === q || (top !== q && other.chain().includes(top))) keys.set(other, s.fairKey(other));
      }
    };
    const byPrio = s.config.acrossQueues === 'priority';
    for (;;) {
      // Tiers: a job that fits in its queue's unused guarantee; then queues below their
      // deserved share; then the rest. Within a tier, the queue whose next job has the highest
      // (effective) priority, then the queue furthest below its share.
      let best: QueueNode | null = null;
      let bestTier = 3;
      let bestPrio = -Infinity;
      let bestKey = Infinity;
      for (const [q, list] of byQueue) {
        const i = cursor.get(q) ?? 0;
        if (i >= list.length) continue;
        const job = list[i] as JobRecord;
        const k = keys.get(q) as number;
        const tier = q.usage.gpu + job.resources.gpu <= q.guaranteed('gpu') ? 0 : k < 1 ? 1 : 2;
        const prio = s.priorityOf(job);
        // Under `priority` order a job within its queue's guarantee still goes first (it
        // would be reclaimed for otherwise); the rest is taken by priority across queues.
        const guaranteedFirst = byPrio && (tier === 0) !== (bestTier === 0);
        const better =
          best === null ||
          (guaranteedFirst
            ? tier === 0
            : byPrio && prio !== bestPrio
              ? prio > bestPrio
              : tier !== bestTier
                ? tier < bestTier
                : prio !== bestPrio
                  ? prio > bestPrio
                  : k !== bestKey
                    ? k < bestKey
                    : q.name < best.name);
        if (better) {
          best = q;
          bestTier = tier;
          bestPrio = prio;
          bestKey = k;
        }
      }
      if (best === null) break;
      const i = cursor.get(best) ?? 0;
      cursor.set(best, i + 1);
      const job = (byQueue.get(best) as JobRecord[])[i] as JobRecord;
      if (tryAllocate(s, job)) refreshKeys(best);
    }
  },
};
