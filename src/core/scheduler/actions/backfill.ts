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
import { awaitingCount, nominatedCount, pendingSince, type JobRecord } from '../job.js';
import { tryAllocate } from './allocate.js';
import { largestMember } from './victims.js';
import { expectedEnd } from '../victim-pool.js';

/** Where and when `job` could start if running jobs end in order of their expected end. */
export function computeReservation(s: Session, job: JobRecord): { nodes: Set<string>; until: number } | null {
  // Running jobs by expected end, then start (VictimPool.byExpectedEnd), shared by every
  // reservation computed in this cycle until a job is bound or stopped.
  const running = s.memo(`runningByEnd|${s.bound}|${s.evicted}`, () => s.victims.byExpectedEnd());
  // When every member asks for whole GPUs, a placement attempt can only succeed once enough
  // nodes could have enough whole GPUs free; an upper bound of that is kept as jobs are
  // released (GPUs their bindings touch, each counted once), and attempts that cannot succeed
  // are skipped (still counted, so the answer is the same). Releases are applied to the
  // transaction only when an attempt is made.
  const biggest = largestMember(job);
  const screen = biggest.whole && biggest.largest > 0;
  const largest = biggest.largest / 1000; // whole GPUs
  const needHosts = biggest.members;
  const bound = new Map<string, { free: number; counted: Set<number> }>();
  let hosts = 0;
  if (screen) for (const n of s.cluster.nodes()) if (!n.unschedulable && n.wholeFreeCount >= largest) hosts++;
  const stmt = s.cluster.begin();
  let until = s.now;
  let result: { nodes: Set<string>; until: number } | null = null;
  let attempts = 0;
  let nextTry = 1;
  let applied = 0;
  for (let i = 0; i < running.length; i++) {
    const v = running.at(i) as JobRecord;
    if (screen) {
      for (const b of v.bindings) {
        let e = bound.get(b.node);
        if (!e) {
          const n = s.cluster.node(b.node);
          if (!n || n.unschedulable) continue;
          bound.set(b.node, (e = { free: n.wholeFreeCount, counted: new Set() }));
        }
        const before = e.free;
        for (const g of b.gpus) {
          if (e.counted.has(g.gpu)) continue;
          e.counted.add(g.gpu);
          e.free++;
        }
        if (before < largest && e.free >= largest) hosts++;
      }
    }
    until = Math.max(until, expectedEnd(v));
    if (i + 1 < nextTry && i + 1 < running.length) continue;
    nextTry = Math.ceil((i + 1) * 1.3) + 1;
    if (attempts++ > 40) break;
    if (screen && hosts < needHosts) continue; // cannot fit yet
    for (; applied <= i; applied++) for (const b of (running.at(applied) as JobRecord).bindings) stmt.release(b.podId);
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
      .filter((j) => awaitingCount(j) === 0 && s.now - pendingSince(j) >= s.config.reserveAfterMs && s.waitsForRoom(j))
      .sort((a, b) => pendingSince(a) - pendingSince(b));
    for (const job of starving) {
      const existing = s.reservations.get(job.spec.id);
      if (!existing && s.reservations.size >= s.config.maxReservations) break;
      if (existing && existing.until === Infinity && nominatedCount(job) > 0) continue; // made by preemption
      if (existing && existing.epoch === s.epoch) {
        // Nothing started or ended since it was computed: it still holds.
        const until = Math.max(existing.until, s.now);
        if (until !== existing.until) s.reservations.set(job.spec.id, { ...existing, until });
        s.wait(job, { kind: 'reservation', message: describe(existing.nodes.size, until) });
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
      .filter((j) => j.spec.expectedDurationMs !== undefined && !s.reservations.has(j.spec.id) && !s.isTouched(j))
      .sort((a, b) => (a.spec.expectedDurationMs ?? 0) - (b.spec.expectedDurationMs ?? 0));
    s.clearFailedShapes();
    for (const j of short) tryAllocate(s, j);
  },
};
