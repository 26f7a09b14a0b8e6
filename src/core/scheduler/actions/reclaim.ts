/**
 * Reclaim: a queue below its deserved share (guarantee included) with a pending job that does
 * not fit takes lent capacity back from queues above their deserved share, evicting their
 * preemptible jobs. The plan must leave the reclaiming queue within its deserved share and
 * every victim queue at or above its own, so two queues can never take turns evicting each
 * other (no ping-pong).
 */
import type { Action } from './action.js';
import type { JobRecord } from '../job.js';
import { RESOURCE_KEYS, type QueueNode } from '../queues.js';
import { requestResources } from '../resources.js';
import { queueOrder } from './allocate.js';
import { executePlan, findVictims } from './victims.js';

function ancestors(q: QueueNode): Set<QueueNode> {
  return new Set(q.chain());
}

export const reclaim: Action = {
  name: 'reclaim',
  execute(s) {
    const blocked = s.pendingJobs().filter((j) => j.awaiting.size === 0 && !s.touched.has(j.spec.id) && (s.waits.get(j.spec.id) ?? []).some((w) => w.kind === 'fit' || w.kind === 'gang'));
    if (blocked.length === 0) return;
    // Listed once per cycle, not per blocked job (O(pending x jobs) with many pending jobs).
    const running = s.runningJobs();
    if (running.length === 0) return;
    const byQueue = queueOrder(s, blocked);
    for (const [q, jobs] of byQueue) {
      for (const job of jobs) {
        if (s.quotaReason(job)) continue;
        const ask = requestResources(job.spec.members);
        // The reclaimer must stay within its deserved share (guarantee or fair share).
        if (q.usage.gpu + ask.gpu > Math.max(q.deserved.gpu, q.guaranteed('gpu')) + 1e-6) continue;
        const mine = ancestors(q);
        const planned = new Map<QueueNode, number>();
        const candidates = running.filter((v) => {
          if (!s.isVictimCandidate(v)) return false;
          const vq = s.queues.get(v.spec.queue);
          return vq !== undefined && !mine.has(vq);
        });
        const allowed = (_chosen: readonly JobRecord[], v: JobRecord): boolean => {
          const vq = s.queues.get(v.spec.queue) as QueueNode;
          // Every queue on the victim's side (not shared with the reclaimer) stays at or above its deserved share.
          for (const n of vq.chain()) {
            if (mine.has(n)) break;
            const already = planned.get(n) ?? 0;
            for (const k of RESOURCE_KEYS) {
              if (k !== 'gpu') continue;
              if (n.usage[k] - already - v.resources[k] < Math.max(n.deserved[k], n.guaranteed(k)) - 1e-6) return false;
            }
          }
          for (const n of vq.chain()) {
            if (mine.has(n)) break;
            planned.set(n, (planned.get(n) ?? 0) + v.resources.gpu);
          }
          return true;
        };
        const plan = findVictims(s, job, candidates, allowed);
        if (plan) executePlan(s, job, plan, 'reclaim');
      }
    }
  },
};
