/**
 * Reclaim: a queue below its guarantee (or, with reclaimTo = deserved, below its fair share)
 * with a pending job that does not fit takes lent capacity back from queues above theirs,
 * evicting their preemptible jobs, checkpoint-cheapest first. The plan must leave the
 * reclaiming queue within its entitlement and every victim queue at or above its own, so two
 * queues can never take turns evicting each other (no ping-pong). A guarantee is a promise:
 * borrowed work is reclaimed even if it started recently (the minimum runtime protects only
 * against preemption by priority).
 */
import type { Action } from './action.js';
import { awaitingCount, type JobRecord } from '../job.js';
import type { QueueNode } from '../queues.js';
import { requestResources } from '../resources.js';
import { queueOrder } from './allocate.js';
import { executePlan, findVictims, plannedFrom, type VictimPlan } from './victims.js';
import { planWithMoves } from './reclaim-moves.js';
import { findLimitVictims, limitShortfall } from './limit-victims.js';

function ancestors(q: QueueNode): Set<QueueNode> {
  return new Set(q.chain());
}

export const reclaim: Action = {
  name: 'reclaim',
  execute(s) {
    const entitlement = (n: QueueNode): number => (s.config.reclaimTo === 'deserved' ? Math.max(n.deserved.gpu, n.guaranteed('gpu')) : n.guaranteed('gpu'));
    // A queue can take capacity back only from running jobs of queues outside its own chain:
    // a queue without any has nothing to reclaim (its jobs are not even read).
    const victimQueues = new Set<QueueNode>();
    for (const name of s.victims.queuesRunning()) {
      const vq = s.queues.get(name);
      if (vq) victimQueues.add(vq);
    }
    const screened = new Map<QueueNode, boolean>();
    const hasOthers = (q: QueueNode): boolean => {
      let ok = screened.get(q);
      if (ok === undefined) {
        const mine = q.chain();
        ok = false;
        for (const vq of victimQueues) if (!mine.includes(vq)) ok = true;
        screened.set(q, ok);
      }
      return ok;
    };
    if (!s.queues.all().some((q) => q.children.length === 0 && hasOthers(q))) return;
    // Only queues with room under their entitlement can reclaim: test that before anything costly.
    // A job may wait for room, or for a limit up the tree that siblings' borrowing uses up.
    const blocked = s.pendingJobs().filter((j) => {
      if (awaitingCount(j) > 0 || s.isTouched(j)) return false;
      const q = s.queues.get(j.queue);
      if (!q || !hasOthers(q) || q.usage.gpu + j.requestGpu > entitlement(q) + 1e-6) return false;
      return s.waitsForRoom(j) || s.waitsForQuota(j);
    });
    if (blocked.length === 0) return;
    const byQueue = queueOrder(s, blocked);
    const running = s.victims.byCost(true);
    // Capacity already on its way to a queue: pending jobs waiting for their victims to stop.
    const incoming = new Map<QueueNode, number>();
    const addIncoming = (j: JobRecord): void => {
      for (const n of s.queues.get(j.spec.queue)?.chain() ?? []) incoming.set(n, (incoming.get(n) ?? 0) + j.resources.gpu);
    };
    for (const j of s.pendingJobs()) if (awaitingCount(j) > 0) addIncoming(j);
    // Plans that move guaranteed work aside (see reclaim-moves.ts): one per cycle (each reads
    // every running job; a deficit it serves lasts longer than a cycle anyway).
    let moves = s.config.actions.includes('consolidate') ? 1 : 0;
    // The job's queue stays within its entitlement with the job and what is on its way.
    const entitledNow = (j: JobRecord): boolean => {
      const q = s.queues.get(j.queue) as QueueNode;
      return q.usage.gpu + (incoming.get(q) ?? 0) + j.requestGpu <= entitlement(q) + 1e-6;
    };
    for (const [q, jobs] of byQueue) {
      const hopeless = new Set<string>();
      const mine = ancestors(q);
      // Victims come from the other queues only: that list is the same for every job of this
      // queue (listed when first needed; jobs touched since are skipped by the search itself).
      let others: JobRecord[] | null = null;
      const candidatesOf = (): JobRecord[] =>
        (others ??= running.filter((v) => {
          const vq = s.queues.get(v.spec.queue);
          return vq !== undefined && !mine.has(vq);
        }));
      const allowed = (chosen: readonly JobRecord[], v: JobRecord): boolean => {
        const vq = s.queues.get(v.spec.queue) as QueueNode;
        // Every queue on the victim's side (not shared with the reclaimer) keeps its entitlement.
        for (const n of vq.chain()) {
          if (mine.has(n)) break;
          if (s.quota.settledGpu(n) - plannedFrom(s, chosen, n) - v.resources.gpu < entitlement(n) - 1e-6) return false;
        }
        return true;
      };
      // First without the jobs this one was stopped for (no ping-pong); a guarantee is the
      // stronger promise, so only if no other plan exists are they victims after all.
      const sparingFirst = <P>(job: JobRecord, search: (accept: typeof allowed) => P | null): P | null => {
        let spared = false;
        const plan = search((chosen, v) => {
          if (!s.mayDisplace(v, job)) {
            spared = true;
            return false;
          }
          return allowed(chosen, v);
        });
        return plan ?? (spared ? search(allowed) : null);
      };
      // Borrowed capacity held inside a larger job: a queue 2 GPUs over its guarantee whose
      // jobs all hold 3 or more lends nothing under the rule above. A victim whose queue is
      // still above its entitlement when it is taken may then take it below, by no more than
      // the plan frees beyond the job's request: that room is free for the victim's queue at
      // once, and no queue borrows from it, so it has nothing to reclaim back (no ping-pong).
      const above = (chosen: readonly JobRecord[], v: JobRecord): boolean => {
        if (!s.mayDisplace(v, job0)) return false;
        const vq = s.queues.get(v.spec.queue) as QueueNode;
        for (const n of vq.chain()) {
          if (mine.has(n)) break;
          if (s.quota.settledGpu(n) - plannedFrom(s, chosen, n) <= entitlement(n) + 1e-6) return false;
        }
        return true;
      };
      let job0 = jobs[0] as JobRecord;
      const roundedPlan = (job: JobRecord, candidates: readonly JobRecord[]): VictimPlan | null => {
        job0 = job;
        const plan = findVictims(s, job, candidates, above);
        if (!plan) return null;
        let spare = -job.requestGpu;
        for (const v of plan.victims) spare += v.resources.gpu;
        for (const v of plan.victims) {
          for (const n of (s.queues.get(v.spec.queue) as QueueNode).chain()) {
            if (mine.has(n)) break;
            if (s.quota.settledGpu(n) - plannedFrom(s, plan.victims, n) < entitlement(n) - spare - 1e-6) return null;
          }
        }
        return plan;
      };
      for (const job of jobs) {
        if (!s.reclaimBudgetLeft) return;
        const shape = s.gangShape(job);
        if (hopeless.has(shape)) continue;
        const ask = requestResources(job.spec.members);
        if (q.usage.gpu + (incoming.get(q) ?? 0) + ask.gpu > entitlement(q) + 1e-6) continue;
        if (s.quota.quotaReason(job)) {
          // A limit up the tree holds it back: a guarantee still holds under a parent's limit,
          // so borrowed work under that limit (a sibling's, within the hierarchy) is reclaimed.
          const shortfall = limitShortfall(s, job, (n) => incoming.get(n) ?? 0);
          if (!shortfall || shortfall.size === 0) continue;
          const limitKey = `reclaim-limit|${q.name}|${shape}`;
          if (s.misses.recent(limitKey, 0, true)) continue;
          const plan = sparingFirst(job, (accept) => findLimitVictims(s, job, candidatesOf(), shortfall, accept));
          if (plan) {
            executePlan(s, job, plan, 'reclaim');
            addIncoming(job);
          } else s.misses.note(limitKey, 0, Infinity);
          continue;
        }
        const candidates = candidatesOf();
        if (!candidates.some((v) => !s.isTouched(v))) {
          hopeless.add(shape);
          continue;
        }
        const missKey = `reclaim|${q.name}|${shape}`;
        if (s.misses.recent(missKey, 0, true)) continue; // nothing changed since a search for this shape found nothing
        let plan = sparingFirst(job, (accept) => findVictims(s, job, candidates, accept));
        if (!plan && entitledNow(job)) plan = roundedPlan(job, candidates);
        if (!plan && moves-- > 0 && s.quota.entitled(job)) {
          // Borrowed GPUs spread over nodes that also run guaranteed work: free one node by
          // moving that work aside (only where consolidation is on: a move needs the adapter).
          const m = planWithMoves(s, job, candidates, (v) => !mine.has(s.queues.get(v.queue) as QueueNode), allowed);
          if (m) {
            for (const v of m.victims) s.evict(v, 'reclaim', job);
            for (const [v, home] of m.movers) s.evict(v, 'consolidate', job, home);
            s.reservations.set(job.spec.id, { job: job.spec.id, nodes: new Set(m.bindings.map((b) => b.node)), until: Infinity });
            s.wait(job, { kind: 'preempting', message: `reclaim: stopping ${m.victims.length} borrowing job(s), moving ${m.movers.size} to make room` });
            addIncoming(job);
            continue;
          }
        }
        if (plan) {
          executePlan(s, job, plan, 'reclaim');
          addIncoming(job);
        } else {
          hopeless.add(shape);
          s.misses.note(missKey, 0, Infinity); // reclaim ignores the minimum runtime
        }
      }
    }
  },
};
