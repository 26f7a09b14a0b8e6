/**
 * Victim search shared by reclaim, preempt and consolidate. A plan is tried on a statement:
 * release candidate victims, cheapest first, until the job fits; then drop the victims the
 * plan turns out not to need; then roll everything back and return the plan. Cheapest =
 * least GPU time lost since the victim's last checkpoint, then lowest priority, then the most
 * recently started. Victims are whole jobs: a gang is released whole or not at all.
 */
import type { Binding } from '../../model/cluster.js';
import type { Session } from '../session.js';
import type { QueueNode } from '../queues.js';
import { workAtRisk, type JobRecord } from '../job.js';
import { requestResources } from '../resources.js';
import { requestMilliGpu } from '../../model/request.js';

export interface VictimPlan {
  readonly victims: readonly JobRecord[];
  readonly bindings: readonly Binding[];
  readonly lost: number;
}

/** Sorts victims cheapest first, in the order Session.victimsByCost uses. */
export function sortByVictimCost(s: Session, victims: readonly JobRecord[]): JobRecord[] {
  return s.orderByVictimCost(victims);
}

/** Most victim candidates the cluster-wide part of one plan considers (cheapest first). */
const MAX_POOL = 768;

/** Nodes on which the job's members could run if some victims left (model and size prefilter; not reserved for others). */
function usefulNodes(s: Session, job: JobRecord): Set<string> {
  const out = new Set<string>();
  const ask = job.spec.members;
  const reserved = new Set(s.blockedNodes(job));
  for (const n of s.cluster.nodes()) {
    if (n.unschedulable || reserved.has(n.name)) continue;
    let ok = false;
    for (const m of ask) {
      if (m.cpuMilli > n.cpuMilli || m.memoryMiB > n.memoryMiB) continue;
      const g = m.gpu;
      if (g.kind === 'whole' && n.healthyGpus - n.migGpus < g.count) continue;
      if (g.kind !== 'none' && g.kind !== 'mig' && n.gpus.length === 0) continue;
      if (g.kind === 'mig' && n.migGpus === 0) continue;
      if (m.allowedModels && m.allowedModels.length > 0 && !n.gpuModels.some((x) => m.allowedModels?.includes(x))) continue;
      ok = true;
      break;
    }
    if (ok) out.add(n.name);
  }
  return out;
}

/**
 * Finds the cheapest set of `candidates` (given cheapest first, as Session.victimsByCost
 * orders them) whose removal lets `job` fit, or null.
 * `allowed(chosen, next)` may refuse a victim given those already chosen (quota rules).
 */
export function findVictims(
  s: Session,
  job: JobRecord,
  candidates: readonly JobRecord[],
  allowed: (chosen: readonly JobRecord[], next: JobRecord) => boolean,
  maxAttempts = 24,
): VictimPlan | null {
  s.plans++;
  const useful = s.memo(`useful|${s.gangShape(job)}|${s.blockKey(job)}`, () => usefulNodes(s, job));
  // Every candidate on a useful node: a node is freed only if all it runs can go, so the
  // node-by-node groups consider them all; the cluster-wide tail (for gangs that need more than
  // whole nodes) takes only the cheapest, so its cost stays bounded.
  const pool: JobRecord[] = [];
  for (const v of candidates) {
    if (v.state !== 'running' || s.touched.has(v.spec.id)) continue;
    let onUseful = false;
    for (const b of v.bindings) {
      if (useful.has(b.node)) {
        onUseful = true;
        break;
      }
    }
    if (onUseful) pool.push(v);
  }
  if (pool.length === 0) return null;
  const need = requestResources(job.spec.members);
  const { order, groupEnds, grouped } = nodeFirstOrder(s, job, pool.filter((v) => allowed([], v)), useful);
  const single = job.spec.members.length === 1;
  const stmt = s.cluster.begin();
  let chosen: JobRecord[] = [];
  let freedGpu = 0;
  let attempts = 0;
  let plan: VictimPlan | null = null;
  // Free capacity already there counts toward the gang's aggregate need.
  let freeGpu = 0;
  for (const n of s.cluster.nodes()) if (useful.has(n.name) && !n.unschedulable) freeGpu += n.gpuMilliFreeTotal;
  let nextTry = 0;
  let groupMark = stmt.checkpoint();
  let groupStart = 0;
  for (let i = 0; i < order.length; i++) {
    const v = order[i] as JobRecord;
    if (v.state !== 'running' || chosen.includes(v) || !allowed(chosen, v)) {
      if (!groupEnds.has(i)) continue;
    } else {
      for (const b of v.bindings) stmt.release(b.podId);
      chosen.push(v);
      freedGpu += v.resources.gpu;
    }
    const end = groupEnds.has(i);
    if (freeGpu + freedGpu < need.gpu && !end) continue;
    if (i < grouped ? !end : chosen.length < nextTry) continue;
    if (attempts++ >= maxAttempts) break;
    if (i >= grouped) nextTry = Math.ceil(chosen.length * 1.25);
    const mark = stmt.checkpoint();
    const r = freeGpu + freedGpu >= need.gpu ? s.tryPlace(job, stmt) : null;
    if (r?.ok) {
      stmt.rollback(mark);
      plan = { victims: [...chosen], bindings: r.bindings, lost: 0 };
      break;
    }
    stmt.rollback(mark);
    if (end && single) {
      // This node's victims were not enough: put them back and try the next node.
      stmt.rollback(groupMark);
      for (const x of chosen.slice(groupStart)) freedGpu -= x.resources.gpu;
      chosen = chosen.slice(0, groupStart);
    }
    if (end) {
      groupMark = stmt.checkpoint();
      groupStart = chosen.length;
    }
  }
  if (plan) {
    // Drop victims the plan does not need: re-bind each (most expensive first) and keep it
    // bound if the job still fits without it.
    const keep: JobRecord[] = [...plan.victims];
    const order = sortByVictimCost(s, plan.victims).reverse();
    let bindings = plan.bindings;
    for (const v of order) {
      if (attempts++ >= maxAttempts * 2) break;
      const mark = stmt.checkpoint();
      let rebound = true;
      for (const b of v.bindings) {
        if (s.cluster.checkBinding(b) !== null) {
          rebound = false;
          break;
        }
        stmt.bind(b);
      }
      if (!rebound) {
        stmt.rollback(mark);
        continue;
      }
      const inner = stmt.checkpoint();
      const r = s.tryPlace(job, stmt);
      if (r.ok) {
        stmt.rollback(inner);
        keep.splice(keep.indexOf(v), 1);
        bindings = r.bindings;
      } else {
        stmt.rollback(mark);
      }
    }
    plan = { victims: keep, bindings, lost: keep.reduce((a, v) => a + workAtRisk(v, s.now), 0) };
  }
  stmt.rollback();
  return plan;
}

/**
 * Candidate victims regrouped node by node: for each node where the job's largest member
 * could run, the cheapest victims whose removal frees enough there, nodes in order of the
 * cost of those victims (each victim weighs 1 plus its place in the cheapest-first order, so
 * fewer victims win, then cheaper ones). Freeing one node at a time instead of the cheapest
 * victims cluster-wide keeps a plan from stopping jobs scattered over many nodes. The
 * remaining candidates follow in their own order (for gangs that need more).
 */
function nodeFirstOrder(s: Session, job: JobRecord, pool: readonly JobRecord[], useful: ReadonlySet<string>): { order: JobRecord[]; groupEnds: Set<number>; grouped: number } {
  let needMilli = 0;
  let whole = true;
  for (const m of job.spec.members) {
    needMilli = Math.max(needMilli, requestMilliGpu(m.gpu));
    if (m.gpu.kind !== 'whole') whole = false;
  }
  if (needMilli === 0) return { order: pool.slice(0, MAX_POOL), groupEnds: new Set(), grouped: 0 };
  const rank = new Map<JobRecord, number>();
  pool.forEach((v, i) => rank.set(v, i));
  const byNode = new Map<string, JobRecord[]>();
  for (const v of pool) {
    for (const b of v.bindings) {
      if (!useful.has(b.node)) continue;
      const list = byNode.get(b.node);
      if (!list) byNode.set(b.node, [v]);
      else if (list[list.length - 1] !== v) list.push(v);
    }
  }
  const groups: { cost: number; victims: JobRecord[] }[] = [];
  for (const [name, vs] of byNode) {
    const n = s.cluster.node(name);
    if (!n || n.unschedulable) continue;
    let have = whole ? n.wholeFreeCount * 1000 : n.gpuMilliFreeTotal;
    const victims: JobRecord[] = [];
    let cost = 0;
    for (const v of vs) {
      if (have >= needMilli) break;
      let freed = 0;
      for (const b of v.bindings) if (b.node === name) for (const g of b.gpus) freed += whole ? (g.milli >= 1000 ? 1000 : 0) : g.milli;
      if (freed === 0) continue;
      victims.push(v);
      have += freed;
      cost += 1 + (rank.get(v) as number) / pool.length;
    }
    if (have >= needMilli && victims.length > 0) groups.push({ cost, victims });
  }
  groups.sort((a, b) => a.cost - b.cost);
  const order: JobRecord[] = [];
  const groupEnds = new Set<number>();
  const seen = new Set<JobRecord>();
  for (const g of groups) {
    for (const v of g.victims) order.push(v);
    for (const v of g.victims) seen.add(v);
    groupEnds.add(order.length - 1);
  }
  const grouped = order.length;
  let tail = 0;
  for (const v of pool) {
    if (tail >= MAX_POOL) break;
    if (!seen.has(v)) {
      order.push(v);
      tail++;
    }
  }
  return { order, groupEnds, grouped };
}

/** milli-GPU that the victims chosen so far take from queue `n` (or its descendants). */
export function plannedFrom(s: Session, chosen: readonly JobRecord[], n: QueueNode): number {
  let sum = 0;
  for (const v of chosen) if (s.queues.get(v.spec.queue)?.chain().includes(n)) sum += v.resources.gpu;
  return sum;
}

/** After a plan: evict the victims and reserve their nodes for the job. */
export function executePlan(s: Session, job: JobRecord, plan: VictimPlan, reason: 'preempt' | 'reclaim'): void {
  for (const v of plan.victims) s.evict(v, reason, job);
  const nodes = new Set(plan.bindings.map((b) => b.node));
  s.reservations.set(job.spec.id, { job: job.spec.id, nodes, until: Infinity });
  s.wait(job, { kind: 'preempting', message: `${reason}: stopping ${plan.victims.length} job(s) to make room` });
}
