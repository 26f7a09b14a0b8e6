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
import { workAtRisk, type JobRecord } from '../job.js';
import { largestNodeGpu } from './victims.js';

export interface MovePlan {
  readonly victims: readonly JobRecord[];
  readonly movers: ReadonlyMap<JobRecord, readonly Binding[]>;
  readonly bindings: readonly Binding[];
}

function freeGpu(s: Session): number {
  let free = 0;
  for (const n of s.cluster.nodes()) if (!n.unschedulable) free += n.gpuMilliFreeTotal;
  return free;
}

/** Nodes tried per plan (most borrowed or free room first). */
const MAX_NODES = 8;
/** Further borrowers stopped to make homes for the movers, per plan. */
const MAX_EXTRA = 16;

/**
 * `borrowers`: the candidate victims (cheapest first), `isBorrower` whether a job is one of them
 * (its queue is outside the reclaiming queue's chain); `allowed` the reclaim quota rule.
 */
export function planWithMoves(
  s: Session,
  job: JobRecord,
  borrowers: readonly JobRecord[],
  isBorrower: (v: JobRecord) => boolean,
  allowed: (chosen: readonly JobRecord[], v: JobRecord) => boolean,
): MovePlan | null {
  // Worth it only for whole GPUs that one node can hold, when other queues borrow enough in
  // all: then what is missing is one node's worth in one place, not capacity.
  if (!job.spec.members.every((m) => m.gpu.kind === 'whole') || job.requestGpu > s.memo('largestNodeGpu', () => largestNodeGpu(s.cluster))) return null;
  let lendable = 0;
  for (const q of s.queues.leaves()) if (q.name !== job.queue) lendable += Math.max(0, s.quota.settledGpu(q) - q.guaranteed('gpu'));
  if (lendable + s.memo('freeGpu', () => freeGpu(s)) < job.requestGpu) return null;
  // Only work that checkpoints, not the job's own displacer, not a job stopped within the
  // cooldown (a job moved is not moved again soon: no job goes back and forth).
  const cooldown = s.config.moveCooldownMs;
  const movable = (v: JobRecord): boolean =>
    s.victims.isCandidate(v) && v.spec.checkpoint !== undefined && s.mayMove(v, job) && !(v.lastEviction !== null && s.now - v.lastEviction.at < cooldown);
  // What the movers of one plan may lose in all (milli-GPU x ms, as workAtRisk counts).
  const moveBudget = s.config.maxMoveGpuSecondsPerCycle * 1e6;
  // Running jobs by node (a job with members on several nodes is listed on each).
  const onNode = s.victims.byNode();
  const blocked = new Set(s.blockedNodes(job));
  // Nodes by the GPU room that stopping other queues' work and moving checkpointing work could
  // free, most first (per cycle and reclaiming queue: the quota rule is applied when chosen).
  const scored = s.memo(`movesRoom|${job.queue}|${s.bound}|${s.evicted}`, () => {
    const out: { node: string; room: number }[] = [];
    for (const n of s.cluster.nodes()) {
      if (n.unschedulable) continue;
      let room = n.gpuMilliFreeTotal;
      for (const v of onNode.get(n.name) ?? []) {
        if (!v.preemptible || s.isTouched(v) || (v.spec.checkpoint === undefined && !isBorrower(v))) continue;
        for (const b of v.bindings) if (b.node === n.name) for (const g of b.gpus) room += g.milli;
      }
      out.push({ node: n.name, room });
    }
    return out.sort((a, b) => b.room - a.room || (a.node < b.node ? -1 : 1));
  });
  const perMember = job.requestGpu / Math.max(1, job.spec.members.length);
  let tried = 0;
  for (const { node, room } of scored) {
    if (room < perMember || tried >= MAX_NODES) break;
    if (blocked.has(node)) continue;
    tried++;
    const stmt = s.cluster.begin();
    const victims: JobRecord[] = [];
    const movers: JobRecord[] = [];
    for (const v of onNode.get(node) ?? []) {
      if (v.state !== 'running' || s.isTouched(v)) continue;
      if (isBorrower(v) && allowed(victims, v)) victims.push(v);
      else if (movable(v)) movers.push(v);
      else continue;
      for (const b of v.bindings) stmt.release(b.podId);
    }
    const target = s.tryPlace(job, stmt); // (binds in stmt on success: the movers go elsewhere)
    if (!target.ok) {
      stmt.rollback();
      continue;
    }
    let moveCost = 0;
    for (const m of movers) moveCost += workAtRisk(m, s.now);
    if (moveCost > moveBudget) {
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
