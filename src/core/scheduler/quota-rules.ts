/**
 * The quota rules one cycle applies: a job's queue limits and guarantees along its chain, the
 * budget holds, per-GPU-model limits once its GPUs are known, and what a queue keeps once the
 * jobs already being stopped are gone (a victim may not take a queue below its guarantee for a
 * borrower).
 */
import type { Binding, Cluster } from '../model/cluster.js';
import type { BudgetHolds, WaitReason } from './types.js';
import type { QueueNode, QueueTree } from './queues.js';
import type { JobRecord } from './job.js';
import { bindingResources, exceeded, requestResources } from './resources.js';

/** No team or queue held by a budget (compared by identity: the common case costs nothing). */
export const NO_HOLDS: BudgetHolds = { teams: new Map(), queues: new Map() };

export class QuotaRules {
  /** milli-GPU of each queue (and its ancestors) held by jobs already being stopped. */
  private leaving: Map<QueueNode, number> | null = null;

  constructor(
    private readonly queues: QueueTree,
    private readonly cluster: Cluster,
    /** The jobs being stopped (the table's live set: their room is on its way out). */
    private readonly evicting: ReadonlySet<JobRecord>,
    private readonly budgetHolds: BudgetHolds = NO_HOLDS,
  ) {}

  /** Quota check: limits along the chain; non-preemptible work only within guarantees. */
  quotaReason(job: JobRecord): WaitReason | null {
    const q = this.queues.get(job.queue);
    if (!q) return { kind: 'quota', message: `queue ${job.queue} does not exist` };
    if (this.budgetHolds !== NO_HOLDS) {
      const held = (job.spec.team !== undefined ? this.budgetHolds.teams.get(job.spec.team) : undefined) ?? q.chain().map((n) => this.budgetHolds.queues.get(n.name)).find((m) => m !== undefined);
      if (held !== undefined) return { kind: 'budget', message: held };
    }
    const ask = job.state === 'pending' ? job.resources : requestResources(job.spec.members);
    for (const n of q.chain()) {
      const over = n.spec.limit === undefined ? null : exceeded(n.usage, ask, n.spec.limit);
      if (over) return { kind: 'quota', message: `queue ${n.name} limit reached: ${over}` };
      if (!job.preemptible) {
        const g = { gpu: n.guaranteed('gpu'), cpu: n.spec.guaranteed?.cpu ?? Infinity, memory: n.spec.guaranteed?.memory ?? Infinity, ...(n.spec.guaranteed?.gpuByModel ? { gpuByModel: n.spec.guaranteed.gpuByModel } : {}) };
        const o = exceeded(n.fixedUsage, ask, g);
        if (o) return { kind: 'quota', message: `non-preemptible work must fit in queue ${n.name}'s guarantee: ${o}` };
      }
    }
    return null;
  }

  /**
   * May `victim` be stopped to make room for `job` without taking what the victim's queue is
   * guaranteed for a job that would borrow? Work that runs within its queue's guarantee is
   * never moved or stopped for a borrower: its queue would reclaim the room right back.
   * `chosen`: the victims already picked for the same plan.
   */
  keepsGuarantees(victim: JobRecord, job: JobRecord, chosen: readonly JobRecord[]): boolean {
    if (victim.queue === job.queue || this.entitled(job)) return true;
    const mine = this.queues.get(job.queue)?.chain() ?? [];
    for (const n of this.queues.get(victim.queue)?.chain() ?? []) {
      if (mine.includes(n)) break;
      let planned = 0;
      for (const c of chosen) if (this.queues.get(c.queue)?.chain().includes(n)) planned += c.resources.gpu;
      if (this.settledGpu(n) - planned - victim.resources.gpu < n.guaranteed('gpu') - 1e-6) return false;
    }
    return true;
  }

  /**
   * The job's queue stays within its GPU guarantee with the job running: the room is owed to
   * it. A job that is not entitled borrows (its queue would be over its guarantee).
   */
  entitled(job: JobRecord): boolean {
    const q = this.queues.get(job.queue);
    // A running job being re-placed (a mover) is in its queue's usage already: counted once.
    const own = job.charged ? job.resources.gpu : 0;
    return q !== undefined && q.usage.gpu - own + job.requestGpu <= q.guaranteed('gpu') + 1e-6;
  }

  /**
   * GPU models the job may not use: those whose per-model limit, on its queue or an ancestor,
   * its GPUs (as placed in `bindings`) would break if they were of that model.
   */
  modelsOverLimit(job: JobRecord, bindings: readonly Binding[]): Set<string> {
    const out = new Set<string>();
    const q = this.queues.get(job.spec.queue);
    if (!q) return out;
    const got = bindingResources(this.cluster, bindings);
    for (const n of q.chain()) {
      const lim = n.spec.limit?.gpuByModel;
      if (!lim) continue;
      for (const [model, v] of Object.entries(lim)) if ((n.usage.gpuByModel?.[model] ?? 0) + got.gpu > v) out.add(model);
    }
    return out;
  }

  /** Checks per-model limits once the GPUs are known; null when fine. */
  modelQuotaReason(job: JobRecord, bindings: readonly Binding[]): string | null {
    const q = this.queues.get(job.spec.queue);
    if (!q) return null;
    let got: ReturnType<typeof bindingResources> | null = null;
    for (const n of q.chain()) {
      const lim = n.spec.limit?.gpuByModel;
      if (lim) {
        got ??= bindingResources(this.cluster, bindings);
        const o = exceeded(n.usage, got, { gpuByModel: lim });
        if (o) return `queue ${n.name} limit reached: ${o}`;
      }
    }
    return null;
  }

  /** GPUs a queue keeps once the jobs already being stopped (or planned to be) are gone. */
  settledGpu(q: QueueNode): number {
    if (this.leaving === null) {
      this.leaving = new Map();
      for (const j of this.evicting) if (j.charged) this.noteLeaving(j);
    }
    return q.usage.gpu - (this.leaving.get(q) ?? 0);
  }

  /** `j` is about to be stopped (call before it leaves the running set). */
  stopping(j: JobRecord): void {
    if (this.leaving !== null && j.charged) this.noteLeaving(j);
  }

  private noteLeaving(j: JobRecord): void {
    const q = this.queues.get(j.spec.queue);
    if (!q || this.leaving === null) return;
    for (const n of q.chain()) this.leaving.set(n, (this.leaving.get(n) ?? 0) + j.resources.gpu);
  }
}
