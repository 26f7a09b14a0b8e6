/**
 * Surge: a waiting inference replica (`JobSpec.surge`) takes GPUs from preemptible work of
 * lower priority, in any queue, through the checkpoint protocol with a bounded grace.
 *
 * Priority preemption (preempt.ts) serves training: it stays within a queue by default and
 * spares jobs younger than the minimum runtime, because a training job waiting an hour more
 * costs little. A service under a burst cannot wait: its scale-out must be Ready within a
 * minute. So a replica may stop any lower-priority preemptible job, however young, anywhere,
 * and the stop waits at most `surgeGraceMs` for the checkpoint (the victim's own grace when
 * shorter). The GPUs go back when the load falls: the autoscaler removes the replica, the
 * victim is requeued and placed again, and resumes from its checkpoint.
 *
 * No ping-pong: a victim has strictly lower priority (`preemptMinGap`), so it never stops the
 * replica back; replicas are not preemptible by default, so no action takes them either.
 */
import type { Action } from './action.js';
import { findVictims } from './victims.js';
import { awaitingCount } from '../job.js';

export const surge: Action = {
  name: 'surge',
  execute(s) {
    const waiting = s
      .pendingJobs()
      .filter((j) => j.spec.surge === true && awaitingCount(j) === 0 && !s.isTouched(j) && s.waitsForRoom(j))
      .sort((a, b) => s.order.priorityOf(b) - s.order.priorityOf(a) || a.spec.submittedAt - b.spec.submittedAt);
    for (const job of waiting) {
      if (!s.disruptionBudgetLeft) return;
      const below = s.order.priorityOf(job) - s.config.preemptMinGap;
      const allowed = (_chosen: unknown, v: (typeof waiting)[number]): boolean =>
        v.state === 'running' && v.preemptible && !s.isTouched(v) && s.order.priorityOf(v) <= below && s.mayDisplace(v, job);
      // Candidates regardless of the minimum runtime (victimsByCost(true), cheapest first).
      const plan = findVictims(s, job, s.victims.byCost(true), allowed);
      if (!plan) continue;
      for (const v of plan.victims) s.evict(v, 'preempt', job, undefined, s.config.surgeGraceMs);
      s.reservations.set(job.spec.id, { job: job.spec.id, nodes: new Set(plan.bindings.map((b) => b.node)), until: Infinity });
      s.wait(job, { kind: 'preempting', message: `surge: stopping ${plan.victims.length} preemptible job(s) of lower priority (checkpoint within ${Math.round(s.config.surgeGraceMs / 1000)} s)` });
    }
  },
};
