/**
 * Reclaim by moving: a job its queue's guarantee covers finds no plan among borrowed work alone
 * when the borrowed GPUs are spread over nodes that also run guaranteed work (a job needing a
 * whole node, say). Then one node is freed by stopping the borrowers on it and moving its
 * movable jobs (preemptible, checkpointing, any queue; a gang moves whole) elsewhere, into room that
 * is free or that stopping more borrowers frees. Movers keep running (with their grace and a
 * restart), so no queue loses what it is guaranteed; only borrowers are stopped. Tried on a
 * statement, rolled back; the caller evicts.
 */
import type { Binding } from '../../model/cluster.js';
import type { Session } from '../session.js';
import type { JobRecord } from '../job.js';

export interface MovePlan {
  readonly victims: readonly JobRecord[];
  readonly movers: ReadonlyMap<JobRecord, readonly Binding[]>;
  readonly bindings: readonly Binding[];
}

/** Nodes tried per plan (most borrowed or free room first). */
const MAX_NODES = 8;
/** Further borrowers stopped to make homes for the movers, per plan. */
const MAX_EXTRA = 16;

export function planWithMoves(
  s: Session,
  job: JobRecord,
  borrowers: readonly JobRecord[],
  allowed: (chosen: readonly JobRecord[], v: JobRecord) => boolean,
): MovePlan | null {
  const movable = (v: JobRecord): boolean =>
    s.isVictimCandidate(v) && v.spec.checkpoint !== undefined && s.mayDisplace(v, job);
  // Running jobs by node (a job with members on several nodes is listed on each).
  const onNode = s.memo('jobsByNode', () => {
    const m = new Map<string, JobRecord[]>();
    for (const v of s.byState.running) {
      for (const b of v.bindings) {
        let l = m.get(b.node);
        if (!l) m.set(b.node, (l = []));
        if (l[l.length - 1] !== v) l.push(v);
      }
    }
    return m;
  });
  const borrower = new Set(borrowers);
  const blocked = new Set(s.blockedNodes(job));
  // Nodes where stopping borrowers and moving movers frees the most GPU room.
  const scored: { node: string; room: number }[] = [];
  for (const n of s.cluster.nodes()) {
    if (n.unschedulable || blocked.has(n.name)) continue;
    let room = n.gpuMilliFreeTotal;
    for (const v of onNode.get(n.name) ?? []) if (borrower.has(v) || movable(v)) for (const b of v.bindings) if (b.node === n.name) room += b.gpus.reduce((a, g) => a + g.milli, 0);
    if (room >= job.requestGpu / Math.max(1, job.spec.members.length)) scored.push({ node: n.name, room });
  }
  scored.sort((a, b) => b.room - a.room || (a.node < b.node ? -1 : 1));
  for (const { node } of scored.slice(0, MAX_NODES)) {
    const stmt = s.cluster.begin();
    const victims: JobRecord[] = [];
    const movers: JobRecord[] = [];
    for (const v of onNode.get(node) ?? []) {
      if (v.state !== 'running' || s.isTouched(v)) continue;
      if (borrower.has(v) && allowed(victims, v)) victims.push(v);
      else if (movable(v)) movers.push(v);
      else continue;
      for (const b of v.bindings) stmt.release(b.podId);
    }
    const target = s.tryPlace(job, stmt); // (binds in stmt on success: the movers go elsewhere)
    if (!target.ok) {
      stmt.rollback();
      continue;
    }
    const homes = new Map<JobRecord, readonly Binding[]>();
    let extra = 0;
    let ok = true;
    for (const m of movers) {
      let r = s.tryPlace(m, stmt);
      while (!r.ok && extra < MAX_EXTRA) {
        const more = borrowers.find((v) => v.state === 'running' && !s.isTouched(v) && !victims.includes(v) && allowed(victims, v));
        if (!more) break;
        extra++;
        victims.push(more);
        for (const b of more.bindings) stmt.release(b.podId);
        r = s.tryPlace(m, stmt);
      }
      if (!r.ok) {
        ok = false;
        break;
      }
      homes.set(m, r.bindings);
    }
    stmt.rollback();
    if (ok) return { victims, movers: homes, bindings: target.bindings };
  }
  return null;
}
