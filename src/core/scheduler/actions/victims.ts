/**
 * Victim search shared by reclaim, preempt and consolidate. A plan is tried on a statement:
 * release candidate victims, cheapest first, until the job fits; then drop the victims the
 * plan turns out not to need; then roll everything back and return the plan. Cheapest =
 * least GPU time lost since the victim's last checkpoint, then lowest priority, then the most
 * recently started. Victims are whole jobs: a gang is released whole or not at all.
 */
import type { Binding } from '../../model/cluster.js';
import type { Session } from '../session.js';
import { workAtRisk, type JobRecord } from '../job.js';
import { requestResources } from '../resources.js';

export interface VictimPlan {
  readonly victims: readonly JobRecord[];
  readonly bindings: readonly Binding[];
  readonly lost: number;
}

/** Sorts victims cheapest first, in the order Session.victimsByCost uses. */
export function sortByVictimCost(s: Session, victims: readonly JobRecord[]): JobRecord[] {
  return s.orderByVictimCost(victims);
}

/** Most victim candidates one plan considers (cheapest first). */
const MAX_POOL = 768;

/** Nodes on which the job's members could run if some victims left (model and size prefilter). */
function usefulNodes(s: Session, job: JobRecord): Set<string> {
  const out = new Set<string>();
  const ask = job.spec.members;
  for (const n of s.cluster.nodes()) {
    if (n.unschedulable) continue;
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
  const useful = s.memo(`useful|${s.gangShape(job)}`, () => usefulNodes(s, job));
  // The cheapest candidates on useful nodes, up to a bound: enough to clear many nodes, and the
  // cost of a plan stays independent of how many jobs run in the cluster.
  const pool: JobRecord[] = [];
  for (const v of candidates) {
    if (pool.length >= MAX_POOL) break;
    if (v.state !== 'running' || s.touched.has(v.spec.id) || !s.mayDisplace(v, job)) continue;
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
  const biggest = Math.max(0, ...s.prepared(job).map((p) => p.milliGpu));
  // Group the pool by node (a gang victim appears under each of its nodes), cheapest first.
  const byNode = new Map<string, JobRecord[]>();
  for (const v of pool) {
    for (const name of v.bindings.length === 1 ? [(v.bindings[0] as { node: string }).node] : new Set(v.bindings.map((b) => b.node))) {
      if (!useful.has(name)) continue;
      const list = byNode.get(name);
      if (list) list.push(v);
      else byNode.set(name, [v]);
    }
  }
  // Node order: nodes where the biggest member can fit after evicting the cheapest few come
  // first (least work lost, then fewest victims); nodes that cannot reach it after.
  const risk = new Map<JobRecord, number>();
  for (const v of pool) risk.set(v, workAtRisk(v, s.now));
  const nodeOrder = [...byNode.entries()].map(([name, victims]) => {
    let free = s.cluster.node(name)?.gpuMilliFreeTotal ?? 0;
    let cost = 0;
    let count = 0;
    for (const v of victims) {
      if (free >= biggest) break;
      free += v.resources.gpu;
      cost += risk.get(v) ?? 0;
      count++;
    }
    return { name, victims, reach: free >= biggest, cost, count };
  });
  nodeOrder.sort((a, b) => Number(b.reach) - Number(a.reach) || a.cost - b.cost || a.count - b.count || (a.name < b.name ? -1 : 1));
  const stmt = s.cluster.begin();
  const chosen: JobRecord[] = [];
  const chosenSet = new Set<JobRecord>();
  let attempts = 0;
  let plan: VictimPlan | null = null;
  let freeGpu = 0;
  for (const n of s.cluster.nodes()) if (useful.has(n.name) && !n.unschedulable) freeGpu += n.gpuMilliFreeTotal;
  let freedGpu = 0;
  const cap = s.config.maxEvictionsPerCycle;
  outer: for (const entry of nodeOrder.slice(0, 64)) {
    let released = false;
    for (const v of entry.victims) {
      if (chosenSet.has(v)) continue;
      if (!allowed(chosen, v)) continue;
      for (const b of v.bindings) if (s.cluster.binding(b.podId)) stmt.release(b.podId);
      chosen.push(v);
      chosenSet.add(v);
      freedGpu += v.resources.gpu;
      released = true;
      if (chosen.length > cap) break outer;
      const node = s.cluster.node(entry.name);
      // Try as soon as this node could hold the biggest member and the freed total could hold all.
      if ((node?.gpuMilliFreeTotal ?? 0) < biggest || freeGpu + freedGpu < need.gpu) continue;
      if (attempts++ >= maxAttempts) break outer;
      const mark = stmt.checkpoint();
      const r = s.tryPlace(job, stmt);
      if (r.ok) {
        stmt.rollback(mark);
        plan = { victims: [...chosen], bindings: r.bindings, lost: 0 };
        break outer;
      }
    }
    if (released && freeGpu + freedGpu >= need.gpu && plan === null && attempts < maxAttempts) {
      // The whole node is free of candidates now; a gang may fit across the nodes cleared so far.
      attempts++;
      const mark = stmt.checkpoint();
      const r = s.tryPlace(job, stmt);
      if (r.ok) {
        stmt.rollback(mark);
        plan = { victims: [...chosen], bindings: r.bindings, lost: 0 };
        break;
      }
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

/** After a plan: evict the victims and reserve their nodes for the job. */
export function executePlan(s: Session, job: JobRecord, plan: VictimPlan, reason: 'preempt' | 'reclaim'): void {
  for (const v of plan.victims) s.evict(v, reason, job);
  const nodes = new Set(plan.bindings.map((b) => b.node));
  s.reservations.set(job.spec.id, { job: job.spec.id, nodes, until: Infinity });
  s.wait(job, { kind: 'preempting', message: `${reason}: stopping ${plan.victims.length} job(s) to make room` });
}
