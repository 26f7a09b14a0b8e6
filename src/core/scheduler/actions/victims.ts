/**
 * Victim search shared by reclaim, preempt and consolidate. A plan is tried on a statement:
 * release candidate victims, cheapest first, until the job fits; then drop the victims the
 * plan turns out not to need; then roll everything back and return the plan. Cheapest =
 * least GPU time lost since the victim's last checkpoint, then lowest priority, then the most
 * recently started. Victims are whole jobs: a gang is released whole or not at all.
 */
import type { Binding, Cluster, Statement } from '../../model/cluster.js';
import type { PodRequest } from '../../model/request.js';
import type { NodeState } from '../../model/node.js';
import type { Session } from '../session.js';
import { asCandidates, type Candidates, type ColumnsRef } from '../victim-order.js';
import type { QueueNode } from '../queues.js';
import { riskKey, workAtRisk, type JobRecord } from '../job.js';
import { bindingGpuRoom, requestResources } from '../resources.js';
import { requestMilliGpu } from '../../model/request.js';

export interface VictimPlan {
  readonly victims: readonly JobRecord[];
  readonly bindings: readonly Binding[];
  readonly lost: number;
}

/** Sorts victims cheapest first, in the order VictimPool.byCost uses. */
export function sortByVictimCost(s: Session, victims: readonly JobRecord[]): JobRecord[] {
  return s.victims.sortByCost(victims);
}

/** GPU room on a node as a plan counts it: milli-GPU free, or whole free GPUs (x1000) when the job asks only for whole GPUs. */
function roomOn(n: NodeState, whole: boolean): number {
  return whole ? n.wholeFreeCount * 1000 : n.gpuMilliFreeTotal;
}


/** Most victim candidates the cluster-wide part of one plan considers (cheapest first). */
const MAX_POOL = 768;

/**
 * Nodes on which the job's members could run if some victims left (model and size prefilter),
 * less the nodes reserved for other jobs, by node slot. The prefilter depends only on the
 * job's shape and the nodes' own facts (see usefulBase); reservations change as plans are
 * made, so they are applied on read.
 */
class UsefulNodes {
  constructor(
    /** 1 at the slot of each node the prefilter admits. */
    readonly base: Uint8Array,
    /** The slots the prefilter admits, in slot order. */
    readonly baseSlots: readonly number[],
    private readonly reserved: ReadonlySet<number>,
  ) {}

  /** The reserved slots the prefilter admits (what `base` has and this view has not). */
  *reservedUseful(): Iterable<number> {
    for (const slot of this.reserved) if (this.base[slot] === 1) yield slot;
  }

  hasSlot(slot: number): boolean {
    return this.base[slot] === 1 && !this.reserved.has(slot);
  }
}

/** A shape's prefilter: 1 at the slot of each node it admits, and those slots in order. */
interface UsefulBase {
  readonly mask: Uint8Array;
  readonly slots: readonly number[];
}

/**
 * Per cluster, the prefilter of each gang shape: it depends only on the nodes' own facts, so
 * it is kept across cycles until one of those changes (Cluster.specVersion), for the most
 * recently computed MAX_USEFUL_SHAPES shapes.
 */
const usefulCache = new WeakMap<Cluster, { version: number; byShape: Map<string, UsefulBase> }>();
const MAX_USEFUL_SHAPES = 128;

function usefulEntry(cluster: Cluster): Map<string, UsefulBase> {
  let e = usefulCache.get(cluster);
  if (!e || e.version !== cluster.specVersion) usefulCache.set(cluster, (e = { version: cluster.specVersion, byShape: new Map() }));
  return e.byShape;
}

function usefulBase(cluster: Cluster, shape: string, ask: readonly PodRequest[]): UsefulBase {
  const byShape = usefulEntry(cluster);
  const known = byShape.get(shape);
  if (known) return known;
  const mask = new Uint8Array(cluster.slotCount);
  const slots: number[] = [];
  for (const n of cluster.nodes()) {
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
    if (ok) {
      mask[n.slot] = 1;
      slots.push(n.slot);
    }
  }
  const base = { mask, slots }; // (cluster.nodes() is in slot order)
  if (byShape.size >= MAX_USEFUL_SHAPES) byShape.delete(byShape.keys().next().value as string);
  byShape.set(shape, base);
  return base;
}

/**
 * A job of a shape not seen before arrives: compute its prefilter now (one pass over the
 * nodes) rather than in the cycle whose victim search first needs it; only while the cache
 * has room, so a stream of distinct shapes costs nothing here.
 */
export function warmUsefulNodes(cluster: Cluster, shape: string, ask: readonly PodRequest[]): void {
  const byShape = usefulEntry(cluster);
  if (byShape.size < MAX_USEFUL_SHAPES && !byShape.has(shape)) usefulBase(cluster, shape, ask);
}

function usefulNodes(s: Session, job: JobRecord): UsefulNodes {
  const base = usefulBase(s.cluster, s.gangShape(job), job.spec.members);
  const reserved = new Set<number>();
  for (const name of s.blockedNodes(job)) {
    const n = s.cluster.node(name);
    if (n) reserved.add(n.slot);
  }
  return new UsefulNodes(base.mask, base.slots, reserved);
}

/**
 * Finds the cheapest set of `candidates` (given cheapest first, as VictimPool.byCost
 * orders them) whose removal lets `job` fit, or null.
 * `allowed(chosen, next)` may refuse a victim given those already chosen (quota rules).
 */
export function findVictims(
  s: Session,
  job: JobRecord,
  given: Candidates | readonly JobRecord[],
  allowed: (chosen: readonly JobRecord[], next: JobRecord) => boolean,
  maxAttempts = 24,
): VictimPlan | null {
  s.plans++;
  const candidates = asCandidates(given);
  const useful = usefulNodes(s, job);
  const { largest, members, whole } = largestMember(job);
  const single = job.spec.members.length === 1;
  // Free capacity on the useful nodes, and how many could host the largest member as they
  // are: needed for gangs (their aggregate need) and for the host check below. A single pod
  // needs neither: its candidate node's own free room is counted in its group, so the
  // aggregate test can only pass (Infinity stands for "not needed").
  // (Free capacity changes only when something binds: kept per shape until then, and the
  // nodes reserved for others are taken out on each read.)
  const precheck = largest > 1000 || (largest > 0 && !single);
  let ready: { free: number; hosts: number } | null = null;
  if (!single || precheck) {
    // How many of the largest members a node's GPU room could hold (several small ones share a node).
    const hostsLargest = (n: NodeState): number => (largest > 0 ? Math.floor(roomOn(n, whole) / largest) : 0);
    const all = s.memo(`ready|${s.gangShape(job)}|${s.bound}`, () => {
      let free = 0;
      let hosts = 0;
      for (const slot of useful.baseSlots) {
        const n = s.cluster.nodeAt(slot);
        if (!n || n.unschedulable) continue;
        free += n.gpuMilliFreeTotal;
        hosts += hostsLargest(n);
      }
      return { free, hosts };
    });
    ready = { ...all };
    for (const slot of useful.reservedUseful()) {
      const n = s.cluster.nodeAt(slot);
      if (!n || n.unschedulable) continue;
      ready.free -= n.gpuMilliFreeTotal;
      ready.hosts -= hostsLargest(n);
    }
  }
  const freeGpu = ready ? ready.free : Infinity;
  // Each of the job's largest members needs room on some node: free already, or freed by
  // candidates (all of them, an upper bound on what any plan frees); a node holds as many as
  // its room allows (small members share nodes: counting nodes instead once refused every
  // plan for a gang of eight 1-GPU pods on six nodes). Fewer places than members: no plan,
  // found without sorting candidates or trying placements.
  // (Only worth its cost for jobs that need much of a node: a small one finds nodes to free
  // among the first few candidates, or learns there are none as cheaply.)
  if (precheck && ready) {
    let hosts = ready.hosts;
    const freeable = freeableByNode(s, candidates, whole);
    for (const slot of freeable.slots) {
      const n = s.cluster.nodeAt(slot);
      if (!n || n.unschedulable || !useful.hasSlot(slot)) continue;
      const f = freeable.bySlot[slot] as number;
      const have = roomOn(n, whole);
      hosts += Math.floor((have + f) / largest) - Math.floor(have / largest);
    }
    if (hosts < members) return null;
  }
  const { order, groupEnds, grouped } = nodeFirstOrder(s, job, candidates, useful, (v) => allowed([], v), maxAttempts);
  if (order.length === 0) return null;
  const need = requestResources(job.spec.members);
  const stmt = s.cluster.begin();
  const base = stmt.checkpoint();
  let refusedLater = false;
  let chosen: JobRecord[] = [];
  const chosenSet = new Set<JobRecord>();
  let freedGpu = 0;
  let attempts = 0;
  let plan: VictimPlan | null = null;
  let nextTry = 0;
  let groupMark = stmt.checkpoint();
  let groupStart = 0;
  for (let i = 0; i < order.length; i++) {
    const v = order[i] as JobRecord;
    if (v.state !== 'running' || chosenSet.has(v) || !allowed(chosen, v)) {
      // (Refused only given the victims chosen so far: one node's victims alone may still do.)
      if (chosen.length > 0 && v.state === 'running' && !chosenSet.has(v)) refusedLater = true;
      if (!groupEnds.has(i)) continue;
    } else {
      for (const b of v.bindings) stmt.release(b.podId);
      chosen.push(v);
      chosenSet.add(v);
      freedGpu += v.resources.gpu;
    }
    const end = groupEnds.has(i);
    if (freeGpu + freedGpu < need.gpu && !end) continue;
    if (i < grouped ? !end : chosen.length < nextTry) continue;
    // (Only a placement tried counts: groups whose victims a quota rule refused, or that free
    // too little yet, cost nothing; counting them once left a gang's plan short of the
    // borrower that would have made it fit, behind two dozen refused groups.)
    const tries = freeGpu + freedGpu >= need.gpu;
    if (tries && attempts++ >= maxAttempts) break;
    if (i >= grouped) nextTry = Math.ceil(chosen.length * 1.25);
    const mark = stmt.checkpoint();
    const r = tries ? s.tryPlace(job, stmt) : null;
    if (r?.ok) {
      stmt.rollback(mark);
      plan = { victims: [...chosen], bindings: r.bindings, lost: 0 };
      break;
    }
    stmt.rollback(mark);
    if (end && single) {
      // This node's victims were not enough: put them back and try the next node.
      stmt.rollback(groupMark);
      for (const x of chosen.slice(groupStart)) {
        freedGpu -= x.resources.gpu;
        chosenSet.delete(x);
      }
      chosen = chosen.slice(0, groupStart);
    }
    if (end) {
      groupMark = stmt.checkpoint();
      groupStart = chosen.length;
    }
  }
  if (!plan && !single && grouped > 0 && refusedLater && need.gpu <= s.memo('largestNodeGpu', () => largestNodeGpu(s.cluster))) {
    stmt.rollback(base);
    plan = oneNodePlan(s, job, stmt, order, groupEnds, grouped, allowed, maxAttempts - Math.min(attempts, maxAttempts) + 8);
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

/** The most GPU room (milli) any schedulable node has. */
export function largestNodeGpu(cluster: Cluster): number {
  let most = 0;
  for (const n of cluster.nodes()) if (!n.unschedulable && n.gpus.length * 1000 > most) most = n.gpus.length * 1000;
  return most;
}

/**
 * A gang whose victims, taken together across nodes, ran into a quota rule (a victim queue
 * may lose only so much) may still fit on one node's victims alone: each group on its own, in
 * the order found, until one places the job (tried in `stmt`; a plan or null).
 */
function oneNodePlan(
  s: Session,
  job: JobRecord,
  stmt: Statement,
  order: readonly JobRecord[],
  groupEnds: ReadonlySet<number>,
  grouped: number,
  allowed: (chosen: readonly JobRecord[], next: JobRecord) => boolean,
  budget: number,
): VictimPlan | null {
  let start = 0;
  for (let i = 0; i < grouped && budget > 0; i++) {
    if (!groupEnds.has(i)) continue;
    const group = order.slice(start, i + 1);
    start = i + 1;
    const chosen: JobRecord[] = [];
    let ok = true;
    for (const v of group) {
      if (v.state !== 'running' || !allowed(chosen, v)) {
        ok = false;
        break;
      }
      chosen.push(v);
    }
    if (!ok) continue;
    budget--;
    const mark = stmt.checkpoint();
    for (const v of chosen) for (const b of v.bindings) stmt.release(b.podId);
    const placed = stmt.checkpoint();
    const r = s.tryPlace(job, stmt);
    stmt.rollback(placed);
    // (A plan leaves its victims released in `stmt`, as the caller's next step expects.)
    if (r.ok) return { victims: chosen, bindings: r.bindings, lost: 0 };
    stmt.rollback(mark);
  }
  return null;
}

/**
 * The job's largest GPU request per member (milli-GPU), how many members ask for that much,
 * whether all members ask for whole GPUs, and the CPU and memory of such a member.
 */
export function largestMember(job: JobRecord): { largest: number; members: number; whole: boolean; cpu: number; memory: number } {
  let largest = 0;
  let members = 0;
  let whole = true;
  let cpu = 0;
  let memory = 0;
  for (const m of job.spec.members) {
    const g = requestMilliGpu(m.gpu);
    if (g > largest) members = 0;
    if (g > largest || (g === largest && m.cpuMilli > cpu)) {
      largest = g;
      cpu = m.cpuMilli;
      memory = m.memoryMiB;
    }
    if (g === largest) members++;
    if (m.gpu.kind !== 'whole') whole = false;
  }
  return { largest, members, whole, cpu, memory };
}

/**
 * Where a candidate list's jobs are in their queue's RunningColumns, when it came from them and
 * the indices still hold (no compaction since): readers then take a job with one binding from
 * the columns instead of its bindings.
 */
function columnsOf(candidates: Candidates): ColumnsRef | null {
  const ref = candidates.columns;
  return ref !== null && ref.layout === ref.cols.layout ? ref : null;
}

/** GPUs the candidates hold per node slot, and the slots they touch (see freeableByNode). */
interface Freeable {
  readonly bySlot: Float64Array;
  readonly slots: readonly number[];
}

/** Per candidate list (one per queue per cycle, say): GPUs its jobs hold on each node. */
const freeableCache = new WeakMap<object, { whole?: Freeable; milli?: Freeable }>();

/**
 * GPUs (milli; whole GPUs only when `whole`) that all of `candidates` together hold on each
 * node, by node slot. Read in no particular order (a lazily sorted list is not sorted by this),
 * and kept for the list: the same candidates answer every plan of a cycle that uses them.
 */
function freeableByNode(s: Session, candidates: Candidates, whole: boolean): Freeable {
  let entry = freeableCache.get(candidates);
  if (!entry) freeableCache.set(candidates, (entry = {}));
  const cached = whole ? entry.whole : entry.milli;
  if (cached) return cached;
  const bySlot = new Float64Array(s.cluster.slotCount);
  const slots: number[] = [];
  const add = (slot: number, freed: number): void => {
    if (bySlot[slot] === 0) slots.push(slot);
    bySlot[slot] = (bySlot[slot] as number) + freed;
  };
  const fromBindings = (v: JobRecord): void => {
    for (const b of v.bindings) {
      const freed = bindingGpuRoom(b, whole);
      if (freed === 0) continue;
      const n = s.cluster.node(b.node);
      if (n) add(n.slot, freed);
    }
  };
  const ref = columnsOf(candidates);
  if (ref !== null) {
    // Read from the queue's columns: running and not bound this cycle = still in the columns
    // with another session's stamp; a job with one binding needs no look at it.
    const { cols, idx } = ref;
    const items = candidates.items;
    const session = s.id;
    const freedCol = whole ? cols.wholeFreed : cols.milliFreed;
    for (let k = 0; k < items.length; k++) {
      const v = items[k] as JobRecord;
      const i = idx[k] as number;
      if (cols.jobs[i] !== v || cols.touchedIn[i] === session) continue;
      const slot = cols.slot[i] as number;
      if (slot < 0) {
        fromBindings(v);
        continue;
      }
      const freed = freedCol[i] as number;
      if (freed !== 0) add(slot, freed);
    }
  } else {
    for (const v of candidates.items) {
      if (v.state !== 'running' || s.isTouched(v)) continue;
      fromBindings(v);
    }
  }
  const out = { bySlot, slots };
  if (whole) entry.whole = out;
  else entry.milli = out;
  return out;
}

/**
 * Candidate victims regrouped node by node: for each node where the job's largest member could
 * run, the cheapest victims whose removal frees enough there, nodes in order of the cost of
 * those victims (each victim weighs what stopping it loses, see victimWeight, plus its place in
 * the cheapest-first order as a tie-break). Freeing one node at a time instead of the cheapest victims
 * cluster-wide keeps a plan from stopping jobs scattered over many nodes. The cheapest
 * candidates follow in their own order (for gangs that need more than whole nodes).
 *
 * One pass over the candidates, cheapest first, on useful nodes only: it stops once it has
 * `maxGroups` nodes that can be freed and MAX_POOL candidates for the tail, so a plan costs
 * little where victims are plentiful, and still reaches a node whose jobs are all expensive
 * when no cheaper node can be freed. `allowed` is where the caller's own filter goes (it sees
 * only what the pass reaches).
 */
function nodeFirstOrder(
  s: Session,
  job: JobRecord,
  candidates: Candidates,
  useful: UsefulNodes,
  allowed: (v: JobRecord) => boolean,
  maxGroups: number,
): { order: JobRecord[]; groupEnds: Set<number>; grouped: number } {
  const { largest: needMilli, whole, cpu: needCpu, memory: needMemory } = largestMember(job);
  interface Acc {
    have: number;
    /** On a node of several GPU models, for whole GPUs: the room per allowed model (a worker takes one model). */
    byModel: Map<string, number> | null;
    cpu: number;
    memory: number;
    cost: number;
    victims: JobRecord[];
    done: boolean;
  }
  // (Allowed GPU models of any member; null: any model.)
  const allowedModels = job.spec.members.some((m) => !m.allowedModels || m.allowedModels.length === 0) ? null : new Set(job.spec.members.flatMap((m) => m.allowedModels ?? []));
  const perNode: (Acc | undefined)[] = new Array<Acc | undefined>(s.cluster.slotCount);
  const groups: Acc[] = [];
  const tail: JobRecord[] = [];
  // One pod runs on one node: the nodes that can be freed are all it can use, so it needs no
  // cluster-wide tail (unless it asks for no GPU, when there are no GPU groups to form).
  const maxTail = job.spec.members.length === 1 && needMilli > 0 ? 0 : MAX_POOL;
  // Per binding of the current candidate: its node's slot (-1: not a useful node), the GPU
  // room its release frees, its CPU and memory.
  const slots: number[] = [];
  const freedK: number[] = [];
  const cpuK: number[] = [];
  const memK: number[] = [];
  // Candidates from one queue's columns are read from there when they have one binding (no
  // look at the job's bindings); the indices hold while the columns keep their layout.
  const ref = columnsOf(candidates);
  const session = s.id;
  let rank = 0;
  for (let r = 0; ; r++) {
    const v = candidates.at(r);
    if (v === undefined) break;
    if (groups.length >= maxGroups && tail.length >= maxTail) break;
    if (needMilli === 0 && tail.length >= maxTail) break;
    let nb: number;
    const ci = ref !== null ? (ref.idx[candidates.origin(r)] as number) : -1;
    if (ref !== null && (ref.cols.slot[ci] as number) >= 0) {
      const cols = ref.cols;
      if (cols.jobs[ci] !== v || cols.touchedIn[ci] === session) continue; // (not running, or bound this cycle)
      const slot = cols.slot[ci] as number;
      nb = 1;
      slots[0] = useful.hasSlot(slot) ? slot : -1;
      freedK[0] = (whole ? cols.wholeFreed[ci] : cols.milliFreed[ci]) as number;
      cpuK[0] = cols.cpu[ci] as number;
      memK[0] = cols.memory[ci] as number;
    } else {
      if (v.state !== 'running' || s.isTouched(v)) continue;
      const bs = v.bindings;
      nb = bs.length;
      for (let k = 0; k < nb; k++) {
        const b = bs[k] as Binding;
        const n = s.cluster.node(b.node);
        slots[k] = n !== undefined && useful.hasSlot(n.slot) ? n.slot : -1;
        freedK[k] = bindingGpuRoom(b, whole);
        cpuK[k] = b.cpuMilli;
        memK[k] = b.memoryMiB;
      }
    }
    let onUseful = false;
    for (let k = 0; k < nb; k++) if ((slots[k] as number) >= 0) onUseful = true;
    if (!onUseful || !allowed(v)) continue;
    rank++;
    if (tail.length < maxTail) tail.push(v);
    if (needMilli === 0 || groups.length >= maxGroups) continue;
    for (let k = 0; k < nb; k++) {
      const slot = slots[k] as number;
      if (slot < 0) continue;
      let acc = perNode[slot];
      if (acc === undefined) {
        const n = s.cluster.nodeAt(slot) as NodeState;
        if (n.unschedulable) continue;
        const byModel = whole && n.gpuModels.length > 1 ? wholeRoomByModel(n, allowedModels) : null;
        acc = { have: byModel !== null ? Math.max(0, ...byModel.values()) : roomOn(n, whole), byModel, cpu: n.cpuFree, memory: n.memFree, cost: 0, victims: [], done: false };
        perNode[slot] = acc;
      }
      if (acc.done) continue;
      const freed = freedK[k] as number;
      if (freed === 0) continue;
      // (A gang may have several members on the node: one victim, all their GPUs.)
      if (acc.victims[acc.victims.length - 1] !== v) {
        acc.victims.push(v);
        acc.cost += victimWeight(v, s.now) + rank / candidates.length;
        if (acc.byModel !== null) acc.have = addWholeRoomByModel(s.cluster.nodeAt(slot) as NodeState, v, acc.byModel);
      }
      if (acc.byModel === null) acc.have += freed;
      acc.cpu += cpuK[k] as number;
      acc.memory += memK[k] as number;
      // (CPU and memory too: a node freed of GPUs but short of CPU would only fail to place.)
      if (acc.have >= needMilli && acc.cpu >= needCpu && acc.memory >= needMemory) {
        acc.done = true;
        groups.push(acc);
      }
    }
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
  for (const v of tail) if (!seen.has(v)) order.push(v);
  return { order, groupEnds, grouped };
}

/**
 * What stopping `v` weighs when nodes are compared, in GPU-minutes: 1 for the disruption, its
 * work at risk, and a restart's worth per GPU it holds (a minute each). Counting victims alone
 * chose a node with one long-running job without checkpoints (hours of GPU time lost) over a
 * node with two that save when signalled (a grace each).
 */
function victimWeight(v: JobRecord, now: number): number {
  return 1 + riskKey(workAtRisk(v, now)) + v.resources.gpu / 1000;
}

/** Whole free GPUs (x1000) per allowed model on a node of several models. */
function wholeRoomByModel(n: NodeState, allowed: ReadonlySet<string> | null): Map<string, number> {
  const m = new Map<string, number>();
  for (const g of n.gpus) {
    if (allowed !== null && !allowed.has(g.model)) continue;
    m.set(g.model, (m.get(g.model) ?? 0) + (g.wholeFree ? 1000 : 0));
  }
  return m;
}

/** Adds the whole GPUs `v` holds on node `n` to their models' room; the most room of one model. */
function addWholeRoomByModel(n: NodeState, v: JobRecord, byModel: Map<string, number>): number {
  for (const b of v.bindings) {
    if (b.node !== n.name) continue;
    for (const g of b.gpus) {
      const model = n.gpus[g.gpu]?.model;
      if (g.milli >= 1000 && model !== undefined && byModel.has(model)) byModel.set(model, (byModel.get(model) as number) + 1000);
    }
  }
  let most = 0;
  for (const r of byModel.values()) if (r > most) most = r;
  return most;
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
