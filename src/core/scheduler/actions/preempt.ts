/**
 * Preempt: within one queue, a pending job evicts running preemptible jobs of strictly lower
 * (effective) priority when that lets it fit. Strict priority makes the order acyclic (no
 * ping-pong); under least-attained-service order a victim only ever gains service while it runs,
 * and a job that ran less than the minimum runtime is never a victim.
 */
import type { Action } from './action.js';
import type { JobRecord } from '../job.js';
import { executePlan, findVictims } from './victims.js';

/** Plan searches per queue per cycle: a bound on the cost when many jobs are blocked. */
const MAX_PLANS_PER_QUEUE = 8;


export const preempt: Action = {
  name: 'preempt',
  execute(s) {
    const blocked = s
      .pendingJobs()
      .filter((j) => j.awaiting.size === 0 && !s.touched.has(j.spec.id) && (s.waits.get(j.spec.id) ?? []).some((w) => w.kind === 'fit' || w.kind === 'gang'))
      .sort((a, b) => s.compareWithinQueue(a, b));
    if (blocked.length === 0) return;
    const runningByQueue = new Map<string, JobRecord[]>();
    for (const v of s.victimsByCost()) {
      const list = runningByQueue.get(v.spec.queue);
      if (list) list.push(v);
      else runningByQueue.set(v.spec.queue, [v]);
    }
    const plans = new Map<string, number>();
    // A shape that found no victims at some priority finds none at a lower one either.
    const hopeless = new Map<string, number>();
    for (const job of blocked) {
      const q = job.spec.queue;
      if ((plans.get(q) ?? 0) >= MAX_PLANS_PER_QUEUE) continue;
      const prio = s.priorityOf(job);
      const key = `${q}|${s.gangShape(job)}`;
      const h = hopeless.get(key);
      if (h !== undefined && prio <= h) continue;
      if (s.quotaReason(job)) continue;
      const candidates = (runningByQueue.get(q) ?? []).filter((v) => s.priorityOf(v) < prio);
      if (candidates.length === 0) {
        hopeless.set(key, Math.max(prio, h ?? -Infinity));
        continue;
      }
      plans.set(q, (plans.get(q) ?? 0) + 1);
      const plan = findVictims(s, job, candidates, () => true);
      if (plan) executePlan(s, job, plan, 'preempt');
      else hopeless.set(key, Math.max(prio, h ?? -Infinity));
    }
  },
};
