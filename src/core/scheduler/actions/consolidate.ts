/**
 * Consolidate: when a job that needs a whole node, several whole GPUs or a gang is blocked by
 * fragmentation, move preemptible jobs (those that checkpoint first) elsewhere to free the
 * room. The plan is tried on a statement: release the movers, place the blocked job, re-place
 * every mover on other nodes. Only if all of that succeeds are the movers evicted (each with
 * its new place) and the freed nodes reserved for the blocked job. Nothing else is disturbed.
 */
import type { Action } from './action.js';
import type { Binding } from '../../model/cluster.js';
import { awaitingCount, pendingSince, type JobRecord } from '../job.js';

export const consolidate: Action = {
  name: 'consolidate',
  execute(s) {
    // Cheapest tests first: this runs over every pending job, in every cycle. Most cycles have
    // no candidate left after them (what waits was just placed), and then the free capacity,
    // a scan of every node (half of a cycle's time at 5,000 nodes), is not summed at all.
    const candidates = s.pendingJobs().filter((j) => {
      const big = j.spec.members.length > 1 || j.spec.members.some((m) => m.gpu.kind === 'whole' && m.gpu.count > 1);
      return big && awaitingCount(j) === 0 && !s.isTouched(j);
    });
    if (candidates.length === 0) return;
    // Consolidation helps only when the free capacity exists but is scattered.
    let freeGpu = 0;
    for (const n of s.cluster.nodes()) if (!n.unschedulable) freeGpu += n.gpuMilliFreeTotal;
    if (freeGpu === 0) return;
    const blocked = candidates
      .filter((j) => j.resources.gpu <= freeGpu && s.waitsForRoom(j) && s.quota.quotaReason(j) === null)
      .sort((a, b) => pendingSince(a) - pendingSince(b));
    if (blocked.length === 0) return;
    let attempts = 0;
    for (const job of blocked) {
      if (!s.disruptionBudgetLeft) return;
      if (job.resources.gpu > freeGpu) continue;
      if (attempts++ >= s.config.maxConsolidationAttempts) break;
      // Never move work its queue is guaranteed for a borrower, nor a job this one was stopped for.
      const movers = s.victims.byCost().filter((v) => s.victims.isCandidate(v) && v.spec.checkpoint !== undefined && v.spec.members.length === 1 && s.mayMove(v, job));
      if (movers.length === 0) continue;
      const stmt = s.cluster.begin();
      const moved: JobRecord[] = [];
      let target: readonly Binding[] | null = null;
      // Release movers one by one (cheapest first) until the blocked job fits.
      for (const v of movers.slice(0, 64)) {
        if (!s.quota.keepsGuarantees(v, job, moved)) continue;
        for (const b of v.bindings) stmt.release(b.podId);
        moved.push(v);
        const mark = stmt.checkpoint();
        const r = s.tryPlace(job, stmt);
        if (r.ok) {
          target = r.bindings;
          break;
        }
        stmt.rollback(mark);
      }
      if (!target) {
        stmt.rollback();
        continue;
      }
      // Keep the job's placement bound; every mover must find a new home elsewhere.
      const homes = new Map<string, readonly Binding[]>();
      let ok = true;
      for (const v of moved) {
        const r = s.tryPlace(v, stmt);
        if (!r.ok) {
          ok = false;
          break;
        }
        homes.set(v.spec.id, r.bindings);
      }
      stmt.rollback();
      if (!ok) continue;
      for (const v of moved) s.evict(v, 'consolidate', job, homes.get(v.spec.id));
      s.reservations.set(job.spec.id, { job: job.spec.id, nodes: new Set(target.map((b) => b.node)), until: Infinity });
      s.wait(job, { kind: 'preempting', message: `consolidating: moving ${moved.length} job(s) to free room` });
    }
  },
};
