/**
 * Preempt: within one queue, a pending job evicts running preemptible jobs of strictly lower
 * priority when that lets it fit. Strict priority makes the order acyclic (no ping-pong).
 */
import type { Action } from './action.js';
import { executePlan, findVictims } from './victims.js';

export const preempt: Action = {
  name: 'preempt',
  execute(s) {
    const blocked = s.pendingJobs()
      .filter((j) => j.awaiting.size === 0 && !s.touched.has(j.spec.id) && (s.waits.get(j.spec.id) ?? []).some((w) => w.kind === 'fit' || w.kind === 'gang'))
      .sort((a, b) => s.compareWithinQueue(a, b));
    // Listed once per cycle, not per blocked job (O(pending x jobs) with many pending jobs).
    const running = s.runningJobs();
    if (running.length === 0) return;
    for (const job of blocked) {
      if (s.quotaReason(job)) continue;
      const candidates = running.filter((v) => v.spec.queue === job.spec.queue && v.spec.priority < job.spec.priority && s.isVictimCandidate(v));
      if (candidates.length === 0) continue;
      const plan = findVictims(s, job, candidates, () => true);
      if (plan) executePlan(s, job, plan, 'preempt');
    }
  },
};
