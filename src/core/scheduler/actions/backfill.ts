/**
 * Backfill with reservations (no job waits forever). A job that has waited longer than
 * `reserveAfterMs` for capacity gets a reservation: the nodes it will run on once enough
 * running jobs end, and when that is expected (from their declared durations; unknown when
 * any of them has none). Reserved nodes are closed to other jobs, except jobs whose declared
 * duration ends before the reservation starts: those backfill into the holes, shortest first,
 * without delaying the reserved job.
 */
import type { Action } from './action.js';
import type { Session } from '../session.js';
import type { JobRecord } from '../job.js';
import { tryAllocate } from './allocate.js';

function expectedEnd(j: JobRecord): number {
  if (j.startedAt === null || j.spec.expectedDurationMs === undefined) return Infinity;
  return j.startedAt + j.spec.expectedDurationMs;
}

/** Where and when `job` could start if running jobs end in order of their expected end. */
export function computeReservation(s: Session, job: JobRecord): { nodes: Set<string>; until: number } | null {
  // (Sorted once per cycle and shared by every reservation computed in it.)
  const running = s.memo(`runningByEnd|${s.bound}|${s.evicted}`, () => {
    const list: JobRecord[] = [...s.byState.running, ...s.byState.evicting];
    const end = new Float64Array(list.length);
    const start = new Float64Array(list.length);
    list.forEach((j, i) => {
      end[i] = expectedEnd(j);
      start[i] = j.startedAt ?? 0;
    });
    const idx = Int32Array.from(list.keys());
    idx.sort((a, b) => (end[a] as number) - (end[b] as number) || (start[a] as number) - (start[b] as number) || a - b);
    return Array.from(idx, (i) => list[i] as JobRecord);
  });
  const stmt = s.cluster.begin();
  let until = s.now;
  let result: { nodes: Set<string>; until: number } | null = null;
  let attempts = 0;
  let nextTry = 1;
  for (let i = 0; i < running.length; i++) {
    const v = running[i] as JobRecord;
    for (const b of v.bindings) stmt.release(b.podId);
    until = Math.max(until, expectedEnd(v));
    if (i + 1 < nextTry && i + 1 < running.length) continue;
    nextTry = Math.ceil((i + 1) * 1.3) + 1;
    if (attempts++ > 40) break;
    const mark = stmt.checkpoint();
    const r = s.tryPlace(job, stmt);
    if (r.ok) {
      stmt.rollback(mark);
      result = { nodes: new Set(r.bindings.map((b) => b.node)), until };
      break;
    }
  }
  stmt.rollback();
  return result;
}

function describe(nodes: number, until: number): string {
  const when = until === Infinity ? 'when enough running jobs end' : `at about ${new Date(until).toISOString()}`;
  return `holds a reservation on ${nodes} node(s), expected to start ${when}`;
}

export const backfill: Action = {
  name: 'backfill',
  execute(s) {
    // Drop reservations of jobs that are no longer pending.
    for (const [id] of s.reservations) {
      const j = s.jobs.get(id);
      if (!j || j.state !== 'pending') s.reservations.delete(id);
    }
    const starving = s
      .pendingJobs()
      .filter((j) => j.awaiting.size === 0 && s.now - j.pendingSince >= s.config.reserveAfterMs && (s.waits.get(j.spec.id) ?? []).some((w) => w.kind === 'fit' || w.kind === 'gang'))
      .sort((a, b) => a.pendingSince - b.pendingSince);
    for (const job of starving) {
      const existing = s.reservations.get(job.spec.id);
      if (!existing && s.reservations.size >= s.config.maxReservations) break;
      if (existing && existing.until === Infinity && job.nominatedNodes.size > 0) continue; // made by preemption
      if (existing && existing.epoch === s.epoch) {
        // Nothing started or ended since it was computed: it still holds.
        if (existing.until < s.now) s.reservations.set(job.spec.id, { ...existing, until: s.now });
        s.wait(job, { kind: 'reservation', message: describe(existing.nodes.size, Math.max(existing.until, s.now)) });
        continue;
      }
      const r = computeReservation(s, job);
      if (!r) continue;
      s.reservations.set(job.spec.id, { job: job.spec.id, nodes: r.nodes, until: r.until, epoch: s.epoch });
      s.wait(job, { kind: 'reservation', message: describe(r.nodes.size, r.until) });
    }
    if (s.reservations.size === 0) return;
    // Backfill: short jobs with declared durations into reserved holes, shortest first.
    const short = s
      .pendingJobs()
      .filter((j) => j.spec.expectedDurationMs !== undefined && !s.reservations.has(j.spec.id) && !s.touched.has(j.spec.id))
      .sort((a, b) => (a.spec.expectedDurationMs ?? 0) - (b.spec.expectedDurationMs ?? 0));
    s.failedShapes.clear();
    for (const j of short) tryAllocate(s, j);
  },
};
