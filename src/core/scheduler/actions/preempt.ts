/**
 * Preempt: within one queue, a pending job evicts running preemptible jobs of strictly lower
 * (effective) priority when that lets it fit. Strict priority makes the order acyclic (no
 * ping-pong); under least-attained-service order a victim only ever gains service while it runs,
 * and a job that ran less than the minimum runtime is never a victim.
 */
import type { Action } from './action.js';
import type { JobRecord } from '../job.js';
import { executePlan, findVictims, sortByVictimCost } from './victims.js';

/** Plan searches per queue per cycle: a bound on the cost when many jobs are blocked. */
const MAX_PLANS_PER_QUEUE = 8;

export const preempt: Action = {
  name: 'preempt',
  execute(s) {
    // Victim candidates per queue with their effective priority; a blocked job matters only if
    // it outranks some candidate of its queue (checked before any sorting).
    const prioOf = new Map<JobRecord, number>();
    const runningByQueue = new Map<string, { list: JobRecord[]; minPrio: number; sorted: boolean }>();
    for (const v of s.runningJobs()) {
      if (!s.isVictimCandidate(v)) continue;
      const p = s.priorityOf(v);
      prioOf.set(v, p);
      const g = runningByQueue.get(v.spec.queue);
      if (g) {
        g.list.push(v);
        if (p < g.minPrio) g.minPrio = p;
      } else runningByQueue.set(v.spec.queue, { list: [v], minPrio: p, sorted: false });
    }
    if (runningByQueue.size === 0) return;
    const blocked = s
      .pendingJobs()
      .filter((j) => {
        if (j.awaiting.size > 0 || s.touched.has(j.spec.id)) return false;
        const g = runningByQueue.get(j.spec.queue);
        if (g === undefined || g.minPrio >= s.priorityOf(j)) return false;
        return (s.waits.get(j.spec.id) ?? []).some((w) => w.kind === 'fit' || w.kind === 'gang');
      })
      .sort((a, b) => s.compareWithinQueue(a, b));
    if (blocked.length === 0) return;
    const plans = new Map<string, number>();
    // A shape that found no victims at some priority finds none at a lower one either.
    const hopeless = new Map<string, number>();
    for (const job of blocked) {
      if (!s.disruptionBudgetLeft) return;
      const q = job.spec.queue;
      if ((plans.get(q) ?? 0) >= MAX_PLANS_PER_QUEUE) continue;
      const prio = s.priorityOf(job);
      const key = `${q}|${s.gangShape(job)}`;
      const h = hopeless.get(key);
      if (h !== undefined && prio <= h) continue;
      if (s.quotaReason(job)) continue;
      const group = runningByQueue.get(q);
      if (group === undefined || group.minPrio >= prio) {
        hopeless.set(key, Math.max(prio, h ?? -Infinity));
        continue;
      }
      if (!group.sorted) {
        group.list = sortByVictimCost(s, group.list);
        group.sorted = true;
      }
      const candidates = group.list.filter((v) => (prioOf.get(v) as number) < prio);
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
