/**
 * Why a pending job waits and when it may start, for `Scheduler.explain`: its reasons from the
 * last cycle, its place in its queue, and an estimated start (the victims being stopped for it,
 * its reservation, or the declared durations of running jobs).
 */
import type { Cluster } from '../model/cluster.js';
import type { Explanation, WaitReason } from './types.js';
import type { QueueTree } from './queues.js';
import { evictingSince, NO_REASONS, type JobRecord } from './job.js';
import type { JobTable } from './job-table.js';
import type { Reservation } from './session.js';

/** What an explanation reads. */
export interface ExplainView {
  readonly jobs: JobTable;
  readonly queues: QueueTree;
  readonly cluster: Cluster;
  readonly reservations: ReadonlyMap<string, Reservation>;
  readonly lastWaits: ReadonlyMap<string, readonly WaitReason[]>;
}

/** Why a job waits, and when it may start (from the last cycle). */
export function explainJob(id: string, now: number, v: ExplainView): Explanation {
  const j = v.jobs.get(id);
  if (!j) return { job: id, state: 'unknown', reasons: [] };
  if (j.state !== 'pending') return { job: id, state: 'running', reasons: [] };
  const reasons = v.lastWaits.get(id) ?? j.pending?.lastReasons ?? NO_REASONS;
  const sameQueue = [...v.jobs.values()].filter((x) => x.state === 'pending' && x.spec.queue === j.spec.queue);
  const order = v.queues.get(j.spec.queue)?.spec.ordering ?? 'priority';
  sameQueue.sort((a, b) => (order === 'priority' && a.spec.priority !== b.spec.priority ? b.spec.priority - a.spec.priority : a.spec.submittedAt - b.spec.submittedAt));
  const position = sameQueue.findIndex((x) => x.spec.id === id) + 1;
  const victims = [...(j.claims?.awaiting ?? [])];
  if (victims.length > 0) {
    // A preemption is under way for it: it starts once the victims stop, at the latest when
    // their checkpoint grace runs out.
    let until = now;
    for (const victim of victims) {
      const vj = v.jobs.get(victim);
      const since = vj ? evictingSince(vj) : null;
      if (vj?.lastEviction && since !== null) until = Math.max(until, since + vj.lastEviction.graceMs);
    }
    return { job: id, state: 'pending', reasons, queuePosition: position, preemptingFor: victims, estimatedStart: until, estimateNote: `${victims.length} job(s) are being preempted to make room for it (${victims.slice(0, 5).join(', ')}${victims.length > 5 ? ', ...' : ''}); it starts when they have stopped` };
  }
  const r = v.reservations.get(id);
  const est = r && r.until !== Infinity ? { at: Math.max(now, r.until), note: 'GPUs are reserved for it from then (running jobs there end by their declared durations)' } : estimateStart(v, j, now);
  return {
    job: id,
    state: 'pending',
    reasons,
    queuePosition: position,
    ...(est.at !== undefined ? { estimatedStart: est.at } : {}),
    estimateNote: est.note,
  };
}

/**
 * Earliest time enough GPUs free up for the job, from running jobs' declared durations; when
 * there is none, why: capacity is free (fit or quota holds it back), nothing running could
 * free enough, or the running jobs it waits for did not declare a duration (named).
 */
function estimateStart(v: ExplainView, j: JobRecord, now: number): { at?: number; note: string } {
  const need = j.resources.gpu;
  let free = 0;
  for (const n of v.cluster.nodes()) if (!n.unschedulable) free += n.gpuMilliFreeTotal;
  if (free >= need) return { note: 'enough GPUs are free in total; it waits for a fit, its quota or its turn, not for running jobs to end' };
  const ends: { at: number; gpu: number }[] = [];
  const undeclared: string[] = [];
  let running = 0;
  for (const r of v.jobs.values()) {
    if (r.state === 'pending' || r.startedAt === null || r.resources.gpu === 0) continue;
    running += r.resources.gpu;
    if (r.spec.expectedDurationMs === undefined) undeclared.push(r.spec.id);
    else ends.push({ at: r.startedAt + r.spec.expectedDurationMs, gpu: r.resources.gpu });
  }
  if (free + running < need) return { note: running === 0 ? 'no running job holds GPUs; the GPUs it needs are cordoned or unhealthy' : 'even when every running job ends there are not enough schedulable GPUs (some are cordoned or unhealthy)' };
  ends.sort((a, b) => a.at - b.at);
  for (const e of ends) {
    free += e.gpu;
    if (free >= need) return { at: Math.max(now, e.at), note: `from the declared durations of running jobs${undeclared.length > 0 ? ' (jobs without one may end sooner)' : ''}` };
  }
  return { note: `running job(s) ${undeclared.slice(0, 3).join(', ')}${undeclared.length > 3 ? ` and ${undeclared.length - 3} more` : ''} do not declare expectedDurationSeconds, so when their GPUs free up is unknown` };
}
