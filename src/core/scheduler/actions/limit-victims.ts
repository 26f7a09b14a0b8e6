/**
 * Victims under a queue limit. A job that a limit on its queue's chain holds back (the cluster
 * may well have room) can only run once work under that limited queue stops: reclaim takes a
 * sibling's borrowed capacity back this way (a guarantee holds under a parent's limit, as in
 * KAI and Kueue), and preempt a lower-priority job of the job's own queue at its limit.
 *
 * A plan takes, cheapest first, victims under each limited queue until every one of them is
 * back within its limit with the job added, then more (any allowed candidate) until the job
 * can be placed, then drops those the plan turns out not to need. Tried on a statement and
 * rolled back, like findVictims; the caller evicts.
 */
import type { Session } from '../session.js';
import type { JobRecord } from '../job.js';
import type { QueueNode } from '../queues.js';
import type { Resources } from '../types.js';
import { exceeded, requestResources } from '../resources.js';
import { workAtRisk } from '../job.js';
import { sortByVictimCost, type VictimPlan } from './victims.js';

/**
 * milli-GPU each queue on the job's chain must shed so that the job fits its GPU limit, once
 * the work already being stopped is gone and `incoming` (capacity already promised to the
 * queue's pending jobs) has arrived. Empty when no GPU limit holds the job back (or it waits
 * only for jobs already stopping); null when a limit victims cannot serve holds it back (CPU,
 * memory, a per-model limit) or a non-preemptible job would exceed a guarantee.
 */
export function limitShortfall(s: Session, job: JobRecord, incoming: (n: QueueNode) => number = () => 0): Map<QueueNode, number> | null {
  const q = s.queues.get(job.queue);
  if (!q) return null;
  const ask = requestResources(job.spec.members);
  const out = new Map<QueueNode, number>();
  for (const n of q.chain()) {
    const lim = n.spec.limit;
    if (!lim) continue;
    const rest: Partial<Resources> = {
      ...(lim.cpu !== undefined ? { cpu: lim.cpu } : {}),
      ...(lim.memory !== undefined ? { memory: lim.memory } : {}),
      ...(lim.gpuByModel !== undefined ? { gpuByModel: lim.gpuByModel } : {}),
    };
    if (exceeded(n.usage, ask, rest)) return null;
    // Non-preemptible work must also fit the guarantees: stopping others would not let it run.
    if (!job.preemptible && exceeded(n.fixedUsage, ask, { gpu: n.guaranteed('gpu') })) return null;
    if (lim.gpu === undefined) continue;
    const over = s.quota.settledGpu(n) + incoming(n) + ask.gpu - lim.gpu;
    if (over > 1e-6) out.set(n, over);
  }
  return out;
}

/**
 * The cheapest victims among `candidates` (cheapest first) that bring every queue of
 * `shortfall` back within its limit and let `job` be placed, or null. `allowed(chosen, next)`
 * is the caller's rule (priority, guarantees).
 */
export function findLimitVictims(
  s: Session,
  job: JobRecord,
  candidates: Iterable<JobRecord>,
  shortfall: ReadonlyMap<QueueNode, number>,
  allowed: (chosen: readonly JobRecord[], next: JobRecord) => boolean,
  maxAttempts = 24,
): VictimPlan | null {
  s.plans++;
  const need = new Map(shortfall);
  const limited = (v: JobRecord): QueueNode[] => {
    const chain = s.queues.get(v.queue)?.chain() ?? [];
    return [...need.keys()].filter((n) => chain.includes(n));
  };
  const covered = (): boolean => [...need.values()].every((left) => left <= 1e-6);
  const stmt = s.cluster.begin();
  const chosen: JobRecord[] = [];
  const take = (v: JobRecord): void => {
    chosen.push(v);
    for (const b of v.bindings) stmt.release(b.podId);
    for (const n of limited(v)) need.set(n, (need.get(n) as number) - v.resources.gpu);
  };
  const usable = (v: JobRecord): boolean => v.state === 'running' && !s.isTouched(v) && !chosen.includes(v) && allowed(chosen, v);
  const list = [...candidates];
  // 1. Back within every limit.
  for (const v of list) {
    if (covered()) break;
    if (!limited(v).some((n) => (need.get(n) as number) > 1e-6) || !usable(v)) continue;
    take(v);
  }
  if (!covered()) {
    stmt.rollback();
    return null;
  }
  // 2. Room to place the job, freeing more (victims under a limit first) while it does not fit.
  const fits = (): ReturnType<Session['tryPlace']> => {
    const mark = stmt.checkpoint();
    const r = s.tryPlace(job, stmt);
    stmt.rollback(mark);
    return r;
  };
  let attempts = 1;
  let placed = fits();
  const more = [...list.filter((v) => limited(v).length > 0), ...list.filter((v) => limited(v).length === 0)];
  for (const v of more) {
    if (placed.ok || attempts >= maxAttempts) break;
    if (!usable(v)) continue;
    take(v);
    attempts++;
    placed = fits();
  }
  if (!placed.ok) {
    stmt.rollback();
    return null;
  }
  // 3. Drop the victims not needed, most expensive first: each is put back if the job still
  // fits and every limit still holds without it.
  const keep = [...chosen];
  let bindings = placed.bindings;
  for (const v of sortByVictimCost(s, chosen).reverse()) {
    if (attempts++ >= maxAttempts * 2) break;
    const back = limited(v);
    if (back.some((n) => (need.get(n) as number) + v.resources.gpu > 1e-6)) continue;
    const mark = stmt.checkpoint();
    if (v.bindings.some((b) => s.cluster.checkBinding(b) !== null)) continue;
    for (const b of v.bindings) stmt.bind(b);
    const r = fits();
    if (r.ok) {
      keep.splice(keep.indexOf(v), 1);
      for (const n of back) need.set(n, (need.get(n) as number) + v.resources.gpu);
      bindings = r.bindings;
    } else stmt.rollback(mark);
  }
  stmt.rollback();
  return { victims: keep, bindings, lost: keep.reduce((a, v) => a + workAtRisk(v, s.now), 0) };
}
