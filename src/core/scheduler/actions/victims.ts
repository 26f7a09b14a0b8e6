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

/** Sorts victims cheapest first (costs computed once per victim, not per comparison). */
export function sortByVictimCost(s: Session, victims: readonly JobRecord[]): JobRecord[] {
  const keyed = victims.map((v) => ({ v, risk: workAtRisk(v, s.now), prio: s.priorityOf(v), served: -v.attainedGpuMs, start: -(v.startedAt ?? 0) }));
  keyed.sort((a, b) => a.risk - b.risk || a.prio - b.prio || a.served - b.served || a.start - b.start || (a.v.spec.id < b.v.spec.id ? -1 : 1));
  return keyed.map((k) => k.v);
}

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
  const useful = usefulNodes(s, job);
  const pool = candidates.filter((v) => v.state === 'running' && !s.touched.has(v.spec.id) && s.mayDisplace(v, job) && v.bindings.some((b) => useful.has(b.node)));
  if (pool.length === 0) return null;
  const need = requestResources(job.spec.members);
  const stmt = s.cluster.begin();
  const chosen: JobRecord[] = [];
  let freedGpu = 0;
  let attempts = 0;
  let plan: VictimPlan | null = null;
  // Free capacity already there counts toward the gang's aggregate need.
  let freeGpu = 0;
  for (const n of s.cluster.nodes()) if (useful.has(n.name) && !n.unschedulable) freeGpu += n.gpuMilliFreeTotal;
  let nextTry = 0;
  for (const v of pool) {
    if (!allowed(chosen, v)) continue;
    for (const b of v.bindings) stmt.release(b.podId);
    chosen.push(v);
    freedGpu += v.resources.gpu;
    if (freeGpu + freedGpu < need.gpu) continue;
    if (chosen.length < nextTry) continue;
    if (attempts++ >= maxAttempts) break;
    nextTry = Math.ceil(chosen.length * 1.25);
    const mark = stmt.checkpoint();
    const r = s.tryPlace(job, stmt);
    if (r.ok) {
      stmt.rollback(mark);
      plan = { victims: [...chosen], bindings: r.bindings, lost: 0 };
      break;
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
