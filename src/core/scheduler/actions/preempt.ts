/**
 * Preempt: a pending job evicts running preemptible jobs of strictly lower (effective)
 * priority when that lets it fit. By default only within its own queue; with
 * `preemptAcrossQueues`, also jobs of other queues that run beyond their guarantee (the
 * capacity over guarantees is one pool ordered by priority), never taking a victim's queue
 * below its guarantee. Strict priority makes the order acyclic (no ping-pong); under
 * least-attained-service order a victim only ever gains service while it runs, and a job
 * that ran less than the minimum runtime is never a victim.
 */
import type { Action } from './action.js';
import type { JobRecord } from '../job.js';
import type { QueueNode } from '../queues.js';
import { executePlan, findVictims, plannedFrom } from './victims.js';
import type { LazyOrder } from '../victim-order.js';
import type { QueueCandidates } from '../victim-pool.js';
import { findLimitVictims, limitShortfall } from './limit-victims.js';
import { awaitingCount, workAtRisk } from '../job.js';

export const preempt: Action = {
  name: 'preempt',
  execute(s) {
    const across = s.config.preemptAcrossQueues;
    // A blocked job matters only if it outranks some candidate victim (of its queue, or of any
    // queue when preempting across queues): checked before anything is sorted.
    // Per queue: its candidate victims (sorted cheapest first only when a plan for that queue is
    // searched: sorting every running job each cycle would cost more than the plans), their
    // lowest priority, and when its next job passes the minimum runtime (a remembered miss ends
    // then).
    const byQueue = new Map<string, QueueCandidates>();
    // Effective priorities of the candidates (kept only when they are not simply spec.priority).
    const plain = s.order.allByPriority;
    const prioOf = new Map<JobRecord, number>();
    const prioOfVictim = (v: JobRecord): number => (plain ? v.priority : (prioOf.get(v) ?? Infinity));
    let globalMin = Infinity;
    let nextJoin = Infinity;
    // With plain priorities and victims only in the job's own queue, a queue's running jobs are
    // read only when one of its jobs gets to search for victims; before that, the lowest
    // priority of any running preemptible job (kept by the job table) screens the pending jobs.
    // Otherwise (effective priorities that move, or victims across queues) all are read now.
    const lazy = plain && !across;
    // One queue's candidate victims (their cost keys within a queue only: across queues,
    // victims.byCost orders them).
    const scanQueue = (q: string): QueueCandidates => {
      const info = s.victims.inQueue(q, !across);
      if (!plain) for (let k = 0; k < info.list.length; k++) prioOf.set(info.list[k] as JobRecord, info.prio[k] as number);
      if (info.join < nextJoin) nextJoin = info.join;
      if (info.min < globalMin) globalMin = info.min;
      return info;
    };
    const queueInfo = (q: string): QueueCandidates | undefined => {
      if (lazy && !byQueue.has(q)) byQueue.set(q, scanQueue(q));
      return byQueue.get(q);
    };
    let screen: number;
    if (lazy) screen = s.victims.lowestPreemptiblePriority();
    else {
      for (const q of s.victims.queuesSeen()) byQueue.set(q, scanQueue(q));
      screen = globalMin;
    }
    if (screen === Infinity) return;
    const blocked = s
      .pendingJobs()
      .filter((j) => {
        if (awaitingCount(j) > 0 || s.isTouched(j)) return false;
        const floor = across || lazy ? screen : (byQueue.get(j.spec.queue)?.min ?? Infinity);
        if (floor > s.order.priorityOf(j) - s.config.preemptMinGap) return false;
        // (Waiting for room, or for its queue's limit: a limit is no reason to give up on priority.)
        return s.waitsForRoom(j) || s.waitsForQuota(j);
      })
      .sort((a, b) => s.order.compareWithinQueue(a, b));
    if (blocked.length === 0) return;
    const sortedByQueue = new Map<string, LazyOrder>();
    const victimsOf = (q: string): LazyOrder => {
      let list = sortedByQueue.get(q);
      if (!list) {
        const info = queueInfo(q);
        list = info ? s.victims.cheapestFirstByKeys(info.list, info.keys, info.columns) : s.victims.cheapestFirst([]);
        sortedByQueue.set(q, list);
      }
      return list;
    };
    const maxLoss = s.config.maxPreemptLossGpuSeconds * 1e6; // milli-GPU x ms, as workAtRisk counts
    const plans = new Map<string, number>();
    // A shape that found no victims at some priority finds none at a lower one either.
    const hopeless = new Map<string, number>();
    for (const job of blocked) {
      if (!s.disruptionBudgetLeft) return;
      const q = job.spec.queue;
      if ((plans.get(q) ?? 0) >= s.config.maxPreemptPlansPerQueue) continue;
      const prio = s.order.priorityOf(job);
      const key = `${q}|${s.gangShape(job)}`;
      const h = hopeless.get(key);
      if (h !== undefined && prio <= h) continue; // found no victims at a priority at least as high
      // A limit on the job's chain: the victims must come from under it (see limit-victims.ts).
      const quota = s.quota.quotaReason(job);
      const shortfall = quota ? limitShortfall(s, job) : null;
      if (quota && (shortfall === null || shortfall.size === 0)) continue;
      const missKey = `preempt|${key}`;
      if (s.misses.recent(missKey, prio, false)) continue; // nothing changed since a search for this shape found nothing
      const mine = s.queues.get(q) as QueueNode;
      const ours = new Set(mine.chain());
      // A clear priority gap, and never the job this one was evicted for (no ping-pong).
      const below = prio - s.config.preemptMinGap;
      const floor = across ? globalMin : (queueInfo(q)?.min ?? Infinity);
      if (floor > below) {
        hopeless.set(key, Math.max(prio, h ?? -Infinity));
        continue;
      }
      plans.set(q, (plans.get(q) ?? 0) + 1);
      // Candidates were filtered by victims.isCandidate when listed; only this cycle's changes
      // remain. A victim of another queue only from what that queue runs beyond its guarantee
      // (counting the victims already chosen for this plan).
      const allowed = (chosen: readonly JobRecord[], v: JobRecord): boolean => {
        if (prioOfVictim(v) > below || v.state !== 'running' || s.isTouched(v) || !s.mayDisplace(v, job)) return false;
        if (workAtRisk(v, s.now) > maxLoss) return false;
        if (v.queue === q) return true;
        const vq = s.queues.get(v.queue);
        if (!vq) return false;
        for (const n of vq.chain()) {
          if (ours.has(n)) break;
          if (s.quota.settledGpu(n) - plannedFrom(s, chosen, n) - v.resources.gpu < n.guaranteed('gpu') - 1e-6) return false;
        }
        return true;
      };
      const candidates = across ? s.victims.byCost() : victimsOf(q);
      const plan = shortfall ? findLimitVictims(s, job, candidates, shortfall, allowed) : findVictims(s, job, candidates, allowed);
      if (plan) executePlan(s, job, plan, 'preempt');
      else {
        hopeless.set(key, Math.max(prio, h ?? -Infinity));
        if (job.lastEviction === null) s.misses.note(missKey, prio, across ? nextJoin : (queueInfo(q)?.join ?? Infinity));
      }
    }
  },
};
