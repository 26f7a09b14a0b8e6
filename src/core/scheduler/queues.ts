/**
 * The queue tree: guaranteed quota, limit and over-quota weight per queue; usage kept per
 * queue (a parent's usage includes its children's); time-decayed usage for fair share; and
 * each queue's deserved share, computed top-down by water-filling: first every queue gets its
 * guarantee (up to its demand), then what is left of the parent's share goes to queues with
 * unmet demand in proportion to their weights, capped by demand and limit.
 */
import { UserError } from '../errors.js';
import type { QueueSpec, Resources } from './types.js';
import { addInto, zero, type MutableResources } from './resources.js';

export const RESOURCE_KEYS = ['gpu', 'cpu', 'memory'] as const;
export type ResourceKey = (typeof RESOURCE_KEYS)[number];
/** The dimensions fair share splits: GPUs per class (whole-capable, MIG mode), CPU, memory. */
const DIMS = ['gpu', 'gpuMig', 'cpu', 'memory'] as const;
type Dim = (typeof DIMS)[number];

export class QueueNode {
  readonly children: QueueNode[] = [];
  usage: MutableResources = zero();
  /** Usage by non-preemptible jobs (must stay within the guarantee). */
  fixedUsage: MutableResources = zero();
  /** Pending demand (requests of pending jobs), recomputed each cycle. */
  demand: MutableResources = zero();
  deserved: MutableResources = zero();
  /** Exponentially decayed average usage (same units as usage). */
  avgUsage: MutableResources = zero();
  /** When the queue last went below its guarantee with demand (for reclaim accounting). */
  starvedSince: number | null = null;

  constructor(
    readonly spec: QueueSpec,
    readonly parent: QueueNode | null,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  get weight(): number {
    return this.spec.overQuotaWeight ?? 1;
  }

  /**
   * What the queue is guaranteed: as declared, or for a parent that declares none, the sum of
   * its children's guarantees (what it must hold for them to hold theirs), never silently 0.
   */
  guaranteed(key: ResourceKey): number {
    return this.spec.guaranteed?.[key] ?? this.derived[key];
  }

  /** The children's guarantees summed (see guaranteed; set once the tree is linked). */
  derived: Record<ResourceKey, number> = { gpu: 0, cpu: 0, memory: 0 };

  limit(key: ResourceKey): number {
    return this.spec.limit?.[key] ?? Infinity;
  }

  /** This queue and its ancestors, nearest first. */
  private chainCache: QueueNode[] | null = null;

  chain(): readonly QueueNode[] {
    if (this.chainCache === null) {
      const out: QueueNode[] = [this];
      for (let q = this.parent; q; q = q.parent) out.push(q);
      this.chainCache = out;
    }
    return this.chainCache;
  }
}

function checkAmount(q: string, field: string, v: unknown): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new UserError('QUEUE_INVALID', `queue ${q}: ${field} must be a non-negative number, got ${String(v)}`);
}

/**
 * Per-GPU-model quotas (milli-GPU per model): a model's guarantee within its limit and within
 * the queue's GPU limit, and children guaranteed no more of a model than a parent that
 * guarantees that model itself.
 */
function checkModelQuotas(q: QueueNode): void {
  const g = q.spec.guaranteed?.gpuByModel ?? {};
  const l = q.spec.limit?.gpuByModel ?? {};
  const fail = (msg: string): never => {
    throw new UserError('QUEUE_MODEL_QUOTA_INVALID', `queue ${q.name}: ${msg}`);
  };
  const gpus = (m: number): string => `${m / 1000} GPU${m === 1000 ? '' : 's'}`;
  for (const [m, v] of Object.entries(g)) {
    const lim = l[m];
    if (lim !== undefined && v > lim) fail(`guaranteed ${gpus(v)} of ${m}, more than its ${m} limit of ${gpus(lim)}`);
    if (v > q.limit('gpu')) fail(`guaranteed ${gpus(v)} of ${m}, more than its GPU limit of ${gpus(q.limit('gpu'))}`);
    if (q.children.length > 0) {
      const sum = q.children.reduce((s, c) => s + (c.spec.guaranteed?.gpuByModel?.[m] ?? 0), 0);
      if (sum > v) fail(`its children are guaranteed ${gpus(sum)} of ${m}, more than its own ${gpus(v)}`);
    }
  }
}

export class QueueTree {
  private readonly byName = new Map<string, QueueNode>();
  readonly roots: QueueNode[] = [];

  constructor(specs: readonly QueueSpec[]) {
    for (const s of specs) {
      if (!s.name || !/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/.test(s.name)) throw new UserError('QUEUE_INVALID', `queue name "${s.name}" is invalid (letters, digits, . _ -)`);
      if (this.byName.has(s.name)) throw new UserError('QUEUE_DUPLICATE', `queue ${s.name} is defined twice`);
      for (const part of ['guaranteed', 'limit'] as const) {
        const r = s[part];
        if (!r) continue;
        for (const k of RESOURCE_KEYS) checkAmount(s.name, `${part}.${k}`, r[k]);
        for (const [m, v] of Object.entries(r.gpuByModel ?? {})) checkAmount(s.name, `${part}.gpuByModel.${m}`, v);
      }
      checkAmount(s.name, 'overQuotaWeight', s.overQuotaWeight);
      this.byName.set(s.name, new QueueNode(s, null));
    }
    // Link parents (a second pass so the order of specs does not matter).
    const linked = new Map<string, QueueNode>();
    const link = (name: string, seen: Set<string>): QueueNode => {
      const done = linked.get(name);
      if (done) return done;
      const raw = this.byName.get(name) as QueueNode;
      if (seen.has(name)) throw new UserError('QUEUE_CYCLE', `queue ${name} is its own ancestor`);
      seen.add(name);
      let parent: QueueNode | null = null;
      if (raw.spec.parent !== undefined) {
        if (!this.byName.has(raw.spec.parent)) throw new UserError('QUEUE_UNKNOWN_PARENT', `queue ${name}: parent ${raw.spec.parent} does not exist`);
        parent = link(raw.spec.parent, seen);
      }
      const node = new QueueNode(raw.spec, parent);
      linked.set(name, node);
      if (parent) parent.children.push(node);
      else this.roots.push(node);
      return node;
    };
    for (const name of this.byName.keys()) link(name, new Set());
    this.byName.clear();
    for (const [k, v] of linked) this.byName.set(k, v);
    // Undeclared guarantees of parents, bottom up (a leaf without one is guaranteed nothing).
    const derive = (q: QueueNode): void => {
      for (const c of q.children) derive(c);
      for (const k of RESOURCE_KEYS) q.derived[k] = q.children.reduce((s, c) => s + c.guaranteed(k), 0);
    };
    for (const r of this.roots) derive(r);
    for (const q of this.byName.values()) {
      checkModelQuotas(q);
      for (const k of RESOURCE_KEYS) {
        if (q.guaranteed(k) > q.limit(k)) {
          const what = q.spec.guaranteed?.[k] !== undefined ? `guaranteed ${k} ${q.guaranteed(k)}` : `its children's guarantees (${q.guaranteed(k)} ${k}, which it declares none of and so must hold)`;
          throw new UserError('QUEUE_INVALID', `queue ${q.name}: ${what} exceeds its limit ${q.limit(k)}`);
        }
        if (q.children.length > 0 && q.spec.guaranteed?.[k] !== undefined) {
          const sum = q.children.reduce((s, c) => s + c.guaranteed(k), 0);
          if (sum > q.guaranteed(k)) throw new UserError('QUEUE_INVALID', `queue ${q.name}: its children are guaranteed ${sum} ${k}, more than its own ${q.guaranteed(k)}`);
        }
      }
    }
  }

  get(name: string): QueueNode | undefined {
    return this.byName.get(name);
  }

  all(): QueueNode[] {
    return [...this.byName.values()];
  }

  leaves(): QueueNode[] {
    return this.all().filter((q) => q.children.length === 0);
  }

  isLeaf(name: string): boolean {
    const q = this.byName.get(name);
    return q !== undefined && q.children.length === 0;
  }

  charge(queue: string, r: Resources, fixed: boolean, sign: 1 | -1): void {
    const q = this.byName.get(queue);
    if (!q) return;
    for (const n of q.chain()) {
      addInto(n.usage, r, sign);
      if (fixed) addInto(n.fixedUsage, r, sign);
    }
  }

  /** Advances the decayed average usage by `dtMs` with the given half-life. */
  decay(dtMs: number, halfLifeMs: number): void {
    for (const q of this.byName.values()) {
      if (halfLifeMs <= 0 || dtMs <= 0) {
        q.avgUsage = { gpu: q.usage.gpu, cpu: q.usage.cpu, memory: q.usage.memory, gpuByModel: {} };
        continue;
      }
      const keep = Math.pow(0.5, dtMs / halfLifeMs);
      for (const k of RESOURCE_KEYS) q.avgUsage[k] = q.avgUsage[k] * keep + q.usage[k] * (1 - keep);
    }
  }

  /**
   * Computes every queue's deserved share of `capacity` from guarantees, weights and demand.
   * GPUs are split per class: MIG-mode GPUs (`capacity.gpuMig`) serve only MIG requests, the
   * others whole GPUs and shares, so MIG capacity never counts toward a share of whole-GPU work
   * (nor the reverse). A queue's guarantee is spent on its whole-GPU class first.
   */
  computeDeserved(capacity: Resources): void {
    const want = new Map<QueueNode, Record<Dim, number>>();
    // Demand of a queue = its usage + pending demand (children summed), capped by its limit.
    const total = (q: QueueNode): Record<Dim, number> => {
      const w = { gpu: 0, gpuMig: 0, cpu: 0, memory: 0 };
      if (q.children.length === 0) {
        w.gpu = q.usage.gpu + q.demand.gpu;
        w.gpuMig = (q.usage.gpuMig ?? 0) + (q.demand.gpuMig ?? 0);
        w.cpu = q.usage.cpu + q.demand.cpu;
        w.memory = q.usage.memory + q.demand.memory;
      } else {
        for (const c of q.children) {
          const cw = total(c);
          for (const d of DIMS) w[d] += cw[d];
        }
      }
      for (const k of RESOURCE_KEYS) w[k] = Math.min(w[k], q.limit(k));
      w.gpuMig = Math.min(w.gpuMig, w.gpu);
      want.set(q, w);
      return w;
    };
    for (const r of this.roots) total(r);
    // (gpu below is the whole-GPU class: all GPU demand less the MIG class's.)
    const wantOf = (q: QueueNode, d: Dim): number => {
      const w = want.get(q) as Record<Dim, number>;
      return d === 'gpu' ? w.gpu - w.gpuMig : w[d];
    };
    const split = (qs: readonly QueueNode[], available: Record<Dim, number>): void => {
      const share = new Map<QueueNode, Record<Dim, number>>();
      for (const q of qs) share.set(q, { gpu: 0, gpuMig: 0, cpu: 0, memory: 0 });
      for (const d of DIMS) {
        let left = available[d];
        const give = new Map<QueueNode, number>();
        for (const q of qs) {
          const guaranteed = d === 'gpuMig' ? Math.max(0, q.guaranteed('gpu') - (share.get(q) as Record<Dim, number>).gpu) : q.guaranteed(d);
          const g = Math.min(guaranteed, wantOf(q, d));
          give.set(q, g);
          left -= g;
        }
        left = Math.max(0, left);
        // Water-filling over the remainder by weight.
        let active = qs.filter((q) => (give.get(q) as number) < wantOf(q, d) && q.weight > 0);
        while (left > 1e-9 && active.length > 0) {
          const wsum = active.reduce((s, q) => s + q.weight, 0);
          let used = 0;
          const next: QueueNode[] = [];
          for (const q of active) {
            const cap = wantOf(q, d);
            const cur = give.get(q) as number;
            const add = Math.min(cap - cur, (left * q.weight) / wsum);
            give.set(q, cur + add);
            used += add;
            if (cur + add < cap - 1e-9) next.push(q);
          }
          left -= used;
          if (next.length === active.length && used < 1e-9) break;
          active = next;
        }
        for (const q of qs) (share.get(q) as Record<Dim, number>)[d] = give.get(q) as number;
      }
      for (const q of qs) {
        const sh = share.get(q) as Record<Dim, number>;
        q.deserved.gpu = sh.gpu + sh.gpuMig;
        q.deserved.cpu = sh.cpu;
        q.deserved.memory = sh.memory;
        if (q.children.length > 0) split(q.children, sh);
      }
    };
    const mig = capacity.gpuMig ?? 0;
    split(this.roots, { gpu: capacity.gpu - mig, gpuMig: mig, cpu: capacity.cpu, memory: capacity.memory });
  }
}
