/**
 * The discrete-event job simulator: arrivals, completions and stops on a virtual clock; a
 * scheduling cycle after every batch of events (at most one per `cycleMs`, and periodically
 * while jobs wait); exact piecewise-constant integration of GPU use, queue shares and
 * guarantee violations between events.
 *
 * Checkpoint model (the same for every policy): a running job saves a checkpoint every
 * `checkpointMs` of progress. A stop with a grace period follows the checkpoint protocol: the
 * job saves when signalled and stops when the grace ends, keeping its progress (the grace is
 * GPU time spent saving). A stop without grace kills the job at once: it falls back to its
 * last periodic checkpoint. Every resume costs `restartMs` before progress continues. All of
 * that (lost progress, saving time, restart time) counts as GPU time lost to preemption.
 */
import type { NodeSpec } from '../../core/model/node.js';
import type { QueueSpec } from '../../core/scheduler/types.js';
import { QueueTree, RESOURCE_KEYS } from '../../core/scheduler/queues.js';
import type { Binding } from '../../core/model/cluster.js';
import { CostTally, type TallyLine, type TallyOutcome } from '../../core/cost-tally.js';
import { migComputeSlices } from '../../core/model/request.js';
import type { SimDriver, SimJob } from './driver.js';
import type { DataMetrics } from './data/data-movement.js';

export interface EngineOptions {
  readonly cycleMs: number;
  /** While jobs wait, a cycle at least this often even without events. */
  readonly idleCycleMs: number;
  readonly checkpointMs: number;
  readonly restartMs: number;
  /** Grace allowed before a queue below its guarantee counts as violated (plus one cycle). */
  readonly graceMs: number;
  /** Utilisation series bucket. */
  readonly sampleMs: number;
  /**
   * How long a queue may sit below its guarantee with fitting work waiting while other queues
   * borrow before it counts as a deficit (default: two grace periods, three cycles, a restart).
   */
  readonly deficitBoundMs?: number;
  readonly onProgress?: (done: number, total: number) => void;
  /** Data movement (data/data-movement.ts): a started job first waits for its data, GPUs held. */
  readonly data?: JobDataHooks;
  /** Prices per GPU-hour by GPU model (micro-units), as `gantry prices` sets them; absent = GPU-hours only. */
  readonly pricesMicros?: Readonly<Record<string, number>>;
  /** Called at each cycle for every leaf queue in a deficit past the bound (diagnostics). */
  readonly onDeficit?: (now: number, queue: string, since: number, waiting: readonly SimJob[]) => void;
}

export interface JobDataHooks {
  /** The job starts on these bindings: its data wait in ms. */
  start(job: SimJob, bindings: readonly Binding[], now: number): number;
  /** The job stopped or completed. */
  end(job: SimJob): void;
  metrics(): DataMetrics;
}

type Status = 'waiting' | 'running' | 'stopping' | 'done';

interface State {
  readonly job: SimJob;
  status: Status;
  progress: number;
  runStart: number;
  /** Progress when the current run started (after restart overhead). */
  overheadLeft: number;
  firstStart: number | null;
  end: number | null;
  token: number;
  preemptions: number;
  lostGpuMs: number;
  /** Progress saved when a graceful stop was signalled. */
  savedProgress: number;
  /** Jobs were stopped for this one: the room is on its way until then (victims' grace plus a cycle). */
  promisedUntil: number;
}

export interface JobsResult {
  readonly policy: string;
  readonly oracle: boolean;
  readonly jobs: number;
  readonly completed: number;
  readonly jctSeconds: { mean: number; p50: number; p99: number };
  readonly queueingDelaySeconds: { mean: number; p99: number };
  readonly makespanSeconds: number;
  /** First to last arrival; and first arrival to the last first start (the busy period). */
  readonly arrivalSeconds: number;
  readonly busySeconds: number;
  /** Mean fraction of GPUs allocated while jobs arrive (first to last arrival). */
  readonly gpuUtilization: number;
  readonly fairnessIndex: number;
  /**
   * Time a queue had demand covered by its unused guarantee (the GPUs of waiting jobs taken in
   * the order they started waiting, while they fit in what the guarantee leaves) that had been
   * covered for longer than one cycle plus the grace, oldest demand served first: demand the
   * scheduler kept waiting too long, whichever of the queue's jobs it chose to serve.
   */
  readonly guaranteeViolationSeconds: number;
  /**
   * Stricter, per queue: time a queue stayed below its guarantee with any fitting job waiting,
   * continuously for longer than one cycle plus the grace. Back-to-back arrivals chain into
   * one episode even when each is served in time.
   */
  readonly guaranteeViolationQueueSeconds: number;
  readonly preemptions: number;
  readonly gpuHoursLostToPreemption: number;
  readonly cycles: number;
  readonly wallSeconds: number;
  /** Utilisation per sample bucket (fraction of GPUs allocated), from the first arrival. */
  readonly utilizationSeries: readonly number[];
  /** The width of one utilisation sample. */
  readonly sampleSeconds: number;
  /** Per queue (leaf: jobs are charged to leaves only, so a parent's use reads 0 here). */
  readonly queues: readonly { name: string; guaranteedGpus: number; leaf: boolean; meanUsedGpus: number; meanDeservedGpus: number; shareOfGuarantee: number; shareOfGuaranteeArriving: number; violationSeconds: number; queueViolationSeconds: number; deficitSeconds: number; deficitEpisodes: number }[];
  readonly churn: ChurnMetrics;
  /** With a dataset catalogue: bytes moved, byte hit rate, data wait per start. */
  readonly data?: DataMetrics;
  /** GPU time and cost of every attempt, billed as the server bills (core/cost-tally.ts). */
  readonly cost: { readonly byQueue: readonly TallyLine[]; readonly byModel: readonly TallyLine[]; readonly total: TallyLine };
}

/** Whether preemption kept its promises (docs/preemption.md): see the engine's comments. */
export interface ChurnMetrics {
  /** Stops per job: the most, the 99th percentile, and how many jobs were stopped 3 times or more. */
  readonly preemptionsMax: number;
  readonly preemptionsP99: number;
  readonly preemptedAtLeast3: number;
  /** Pairs of jobs A, B where A was stopped for B and later B for A; the shortest time between the two. */
  readonly pingPongPairs: number;
  readonly fastestPingPongSeconds: number | null;
  /**
   * Time a queue sat below its guarantee with a waiting job that fits in what the guarantee
   * leaves, while other queues borrowed at least that much, beyond the bound (per episode).
   */
  readonly deficitBoundSeconds: number;
  readonly deficitSeconds: number;
  readonly deficitEpisodes: number;
  readonly longestDeficitSeconds: number;
  /** GPU time lost to stops (work since the last checkpoint, grace periods, restarts), and its share of the jobs' work. */
  readonly wastedGpuSeconds: number;
  readonly wastedShare: number;
  /** Starts whose bindings did not cover every member of the gang. */
  readonly partialGangs: number;
  /** Starts on a GPU another job held at the time. */
  readonly doubleBookings: number;
}

class EventQueue {
  private t: number[] = [];
  private k: number[] = [];
  private j: State[] = [];
  private tok: number[] = [];
  get size(): number {
    return this.t.length;
  }
  push(time: number, kind: number, s: State, token: number): void {
    this.t.push(time);
    this.k.push(kind);
    this.j.push(s);
    this.tok.push(token);
    let i = this.t.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(p, i)) break;
      this.swap(i, p);
      i = p;
    }
  }
  peekTime(): number {
    return this.t[0] ?? Infinity;
  }
  pop(): { time: number; kind: number; s: State; token: number } {
    const out = { time: this.t[0] as number, kind: this.k[0] as number, s: this.j[0] as State, token: this.tok[0] as number };
    const last = this.t.length - 1;
    this.swap(0, last);
    this.t.pop();
    this.k.pop();
    this.j.pop();
    this.tok.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.t.length && !this.less(m, l)) m = l;
      if (r < this.t.length && !this.less(m, r)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return out;
  }
  private less(a: number, b: number): boolean {
    const ta = this.t[a] as number;
    const tb = this.t[b] as number;
    return ta < tb || (ta === tb && (this.k[a] as number) <= (this.k[b] as number));
  }
  private swap(a: number, b: number): void {
    [this.t[a], this.t[b]] = [this.t[b] as number, this.t[a] as number];
    [this.k[a], this.k[b]] = [this.k[b] as number, this.k[a] as number];
    [this.j[a], this.j[b]] = [this.j[b] as State, this.j[a] as State];
    [this.tok[a], this.tok[b]] = [this.tok[b] as number, this.tok[a] as number];
  }
}

// Event kinds, in processing order at equal times: completions and stops free GPUs before arrivals.
const COMPLETE = 0;
const STOP = 1;
const ARRIVE = 2;

function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

export function simulate(driver: SimDriver, nodes: readonly NodeSpec[], queues: readonly QueueSpec[], jobs: readonly SimJob[], o: EngineOptions, clock: () => number): JobsResult {
  const wall0 = clock();
  driver.init(nodes, queues);
  const capacityGpus = nodes.reduce((a, n) => a + (n.gpus?.length ?? 0), 0);
  const tree = new QueueTree(queues);
  const states = jobs.map((job) => ({ job, status: 'waiting', progress: 0, runStart: 0, overheadLeft: 0, firstStart: null, end: null, token: 0, preemptions: 0, lostGpuMs: 0, savedProgress: 0, promisedUntil: -Infinity }) as State);
  const byJob = new Map(states.map((s) => [s.job.id, s]));
  const ev = new EventQueue();
  for (const s of states) ev.push(s.job.submit, ARRIVE, s, 0);
  const t0 = jobs.reduce((a, j) => Math.min(a, j.submit), Infinity);
  const queueNames = queues.map((q) => q.name);
  const qIndex = new Map(queueNames.map((n, i) => [n, i]));
  const used = new Float64Array(queueNames.length); // GPUs held (running + stopping)
  const waitingByQueue: Set<State>[] = queueNames.map(() => new Set());
  const usedInt = new Float64Array(queueNames.length);
  const deservedInt = new Float64Array(queueNames.length);
  /** Each queue's usage integrated over the arrival period (the charts' and the busy view). */
  const usedIntArrivals = new Float64Array(queueNames.length);
  const violStart = new Float64Array(queueNames.length).fill(NaN);
  const violation = new Float64Array(queueNames.length);
  const guaranteed = queues.map((q) => (q.guaranteed?.gpu ?? 0) / 1000);
  const deserved = new Float64Array(queueNames.length);
  const series: number[] = [];
  const seriesAcc = { bucket: 0, sum: 0 };
  let allocated = 0;
  let allocInt = 0;
  /** Allocation integrated over the arrival period [first, last arrival]. */
  let allocIntArrivals = 0;
  const lastArrival = jobs.reduce((a, j) => Math.max(a, j.submit), -Infinity);
  let lastT = t0;
  let lastCycle = -Infinity;
  let dirty = true;
  let cycles = 0;
  let done = 0;
  let active = 0; // submitted and not done
  const running = new Set<State>();
  /** When each running job's attained service was last reported to the driver. */
  const attainedAt = new Map<State, number>();
  const reportAttained = (now: number): void => {
    for (const s of running) {
      if (s.status !== 'running') continue;
      const since = Math.max(attainedAt.get(s) ?? s.runStart, s.runStart);
      if (now > since) driver.attained(s.job, s.job.gpus * (now - since));
      attainedAt.set(s, now);
    }
  };

  const violLimit = o.cycleMs + o.graceMs;
  const checkViolation = (i: number, t: number): void => {
    const g = guaranteed[i] as number;
    const u = used[i] as number;
    let want = false;
    if (u < g) for (const w of waitingByQueue[i] as Set<State>) if (w.job.gpus <= g - u) { want = true; break; }
    const since = violStart[i] as number;
    if (want && Number.isNaN(since)) violStart[i] = t;
    if (!want && !Number.isNaN(since)) {
      violation[i] = (violation[i] as number) + Math.max(0, t - since - violLimit);
      violStart[i] = NaN;
    }
  };

  // Guarantee deficits (ChurnMetrics): a leaf queue below its guarantee, a waiting job of it
  // that fits in what the guarantee leaves, and at least that many GPUs borrowed by other
  // leaves (held beyond their guarantees, stopping jobs included): reclaim could serve it.
  const deficitBound = o.deficitBoundMs ?? 2 * o.graceMs + 3 * o.cycleMs + o.restartMs;
  const parents = new Set(queues.map((q) => q.parent).filter((p): p is string => p !== undefined));
  const leaf = queueNames.map((n) => !parents.has(n));
  const deficitStart = new Float64Array(queueNames.length).fill(NaN);
  const deficit = new Float64Array(queueNames.length);
  const deficitEpisodes = new Float64Array(queueNames.length);
  let longestDeficit = 0;
  const borrowedBesides = (i: number): number => {
    let b = 0;
    for (let k = 0; k < queueNames.length; k++) if (k !== i && leaf[k]) b += Math.max(0, (used[k] as number) - (guaranteed[k] as number));
    return b;
  };
  // Room already on its way (jobs stopping for a waiting job of the queue) counts as the
  // queue's, as the scheduler counts it: the queue is served, not short.
  const checkDeficit = (i: number, t: number): void => {
    if (!leaf[i]) return;
    let room = (guaranteed[i] as number) - (used[i] as number);
    const waiting = waitingByQueue[i] as Set<State>;
    for (const w of waiting) if (w.promisedUntil >= t) room -= w.job.gpus;
    let want = false;
    if (room >= 1 - 1e-9) {
      const lent = Math.min(room, borrowedBesides(i));
      if (lent >= 1 - 1e-9) for (const w of waiting) if (w.promisedUntil < t && w.job.gpus <= lent + 1e-9) { want = true; break; }
    }
    const since = deficitStart[i] as number;
    if (want && Number.isNaN(since)) deficitStart[i] = t;
    if (!want && !Number.isNaN(since)) {
      const over = t - since - deficitBound;
      if (over > 0) {
        deficit[i] = (deficit[i] as number) + over;
        deficitEpisodes[i] = (deficitEpisodes[i] as number) + 1;
        longestDeficit = Math.max(longestDeficit, t - since);
      }
      deficitStart[i] = NaN;
    }
  };

  // Ping-pong: who was stopped for whom, and when (victim -> winner -> time).
  const stoppedFor = new Map<string, Map<string, number>>();
  const pingPong = new Set<string>();
  let fastestPingPong = Infinity;
  const noteStop = (victim: string, winner: string | undefined, t: number): void => {
    if (winner === undefined) return;
    const back = stoppedFor.get(winner)?.get(victim);
    if (back !== undefined) {
      pingPong.add(victim < winner ? `${victim} ${winner}` : `${winner} ${victim}`);
      fastestPingPong = Math.min(fastestPingPong, t - back);
    }
    let m = stoppedFor.get(victim);
    if (!m) stoppedFor.set(victim, (m = new Map()));
    m.set(winner, t);
  };

  // Gangs started whole, and no GPU given to two jobs at once (node -> GPU -> milli-GPU held).
  let partialGangs = 0;
  let doubleBookings = 0;
  const held = new Map<string, Map<number, number>>();
  const bindingsOf = new Map<State, readonly Binding[]>();
  // Cost: each attempt's GPUs per model, from its start to its release.
  const tally = new CostTally(o.pricesMicros);
  const modelOf = new Map(nodes.map((n) => [n.name, (n.gpus ?? []).map((g) => g.model)]));
  const attemptStart = new Map<State, number>();
  const closeAttempt = (s: State, at: number, outcome: TallyOutcome): void => {
    const since = attemptStart.get(s);
    const b = bindingsOf.get(s);
    attemptStart.delete(s);
    if (since === undefined || !b) return;
    const byModel = new Map<string, number>();
    for (const x of b) for (const g of x.gpus) {
      const model = modelOf.get(x.node)?.[g.gpu] ?? 'unknown';
      byModel.set(model, (byModel.get(model) ?? 0) + (g.mig ? migComputeSlices(g.mig.profile) / 7 : g.milli / 1000));
    }
    for (const [model, gpus] of byModel) tally.add({ queue: s.job.queue, model, gpus, ms: at - since, outcome });
  };
  const holdBindings = (s: State, bindings: readonly Binding[], sign: 1 | -1): void => {
    for (const b of bindings) {
      let m = held.get(b.node);
      if (!m) held.set(b.node, (m = new Map()));
      for (const g of b.gpus) {
        const now = (m.get(g.gpu) ?? 0) + sign * g.milli;
        if (sign > 0 && now > 1000 + 1e-6) doubleBookings++;
        m.set(g.gpu, now);
      }
    }
    if (sign > 0) bindingsOf.set(s, bindings);
    else bindingsOf.delete(s);
  };
  const releaseBindings = (s: State, at: number, outcome: TallyOutcome): void => {
    closeAttempt(s, at, outcome);
    o.data?.end(s.job);
    const b = bindingsOf.get(s);
    if (b) holdBindings(s, b, -1);
  };

  // Per-demand guarantee check (see guaranteeViolationSeconds). The covered demand of a queue
  // = the GPUs of its waiting jobs that fit in its unused guarantee, taken in the order they
  // started waiting. Its growth is stamped (a FIFO of GPU amounts and since when); when it
  // shrinks, the oldest amounts are the ones served. The queue is overdue while its oldest
  // amount is older than one cycle plus the grace. State changes only at events of the queue
  // and at cycles, so each queue is re-checked then and time accrues in between.
  const demandViolation = new Float64Array(queueNames.length);
  const overdueFrom = new Float64Array(queueNames.length).fill(Infinity);
  const lastCheck = new Float64Array(queueNames.length);
  const coveredGpus = new Float64Array(queueNames.length);
  const batches: { gpus: number; since: number }[][] = queueNames.map(() => []);
  const checkDemand = (i: number, t: number): void => {
    const from = overdueFrom[i] as number;
    if (from < t) demandViolation[i] = (demandViolation[i] as number) + t - Math.max(lastCheck[i] as number, from);
    lastCheck[i] = t;
    let room = (guaranteed[i] as number) - (used[i] as number);
    let covered = 0;
    if (room >= 1 - 1e-9) {
      for (const w of waitingByQueue[i] as Set<State>) {
        if (w.job.gpus > room + 1e-9) continue;
        covered += w.job.gpus;
        room -= w.job.gpus;
        if (room < 1 - 1e-9) break;
      }
    }
    const fifo = batches[i] as { gpus: number; since: number }[];
    const before = coveredGpus[i] as number;
    if (covered > before) fifo.push({ gpus: covered - before, since: t });
    let served = before - covered;
    while (served > 1e-9 && fifo.length > 0) {
      const b = fifo[0] as { gpus: number; since: number };
      const take = Math.min(b.gpus, served);
      b.gpus -= take;
      served -= take;
      if (b.gpus <= 1e-9) fifo.shift();
    }
    coveredGpus[i] = covered;
    overdueFrom[i] = fifo.length > 0 ? (fifo[0] as { since: number }).since + violLimit : Infinity;
  };

  const integrate = (t: number): void => {
    if (t <= lastT) return;
    const dt = t - lastT;
    allocInt += allocated * dt;
    if (lastT < lastArrival) {
      const inArrivals = Math.min(t, lastArrival) - lastT;
      allocIntArrivals += allocated * inArrivals;
      for (let i = 0; i < queueNames.length; i++) usedIntArrivals[i] = (usedIntArrivals[i] as number) + (used[i] as number) * inArrivals;
    }
    for (let i = 0; i < queueNames.length; i++) {
      usedInt[i] = (usedInt[i] as number) + (used[i] as number) * dt;
      deservedInt[i] = (deservedInt[i] as number) + (deserved[i] as number) * dt;
    }
    // Utilisation series in buckets of sampleMs.
    let from = lastT;
    while (from < t) {
      const bucketEnd = t0 + (seriesAcc.bucket + 1) * o.sampleMs;
      const to = Math.min(t, bucketEnd);
      seriesAcc.sum += (allocated / capacityGpus) * (to - from);
      if (to === bucketEnd) {
        series.push(seriesAcc.sum / o.sampleMs);
        seriesAcc.bucket++;
        seriesAcc.sum = 0;
      }
      from = to;
    }
    lastT = t;
  };

  const holdGpus = (s: State, sign: 1 | -1): void => {
    const i = qIndex.get(s.job.queue) as number;
    used[i] = (used[i] as number) + sign * s.job.gpus;
    allocated += sign * s.job.gpus;
  };

  /** Progress a running job has made by time t. */
  const progressAt = (s: State, t: number): number => s.progress + Math.max(0, t - s.runStart - s.overheadLeft);

  const recomputeDeserved = (): void => {
    for (const q of tree.all()) {
      for (const k of RESOURCE_KEYS) {
        q.usage[k] = 0;
        q.demand[k] = 0;
      }
    }
    for (let i = 0; i < queueNames.length; i++) {
      const q = tree.get(queueNames[i] as string);
      if (!q) continue;
      let demand = 0;
      for (const w of waitingByQueue[i] as Set<State>) demand += w.job.gpus;
      for (const n of q.chain()) {
        n.usage.gpu += (used[i] as number) * 1000;
        n.demand.gpu += demand * 1000;
      }
    }
    tree.computeDeserved({ gpu: capacityGpus * 1000, cpu: 0, memory: 0 });
    for (let i = 0; i < queueNames.length; i++) deserved[i] = (tree.get(queueNames[i] as string)?.deserved.gpu ?? 0) / 1000;
  };

  const total = states.length;
  let lastReport = 0;
  while (done < total) {
    const nextEvent = ev.peekTime();
    const pendingWork = active > running.size;
    const cycleDue = dirty ? Math.max(lastCycle + o.cycleMs, lastT) : pendingWork ? lastCycle + o.idleCycleMs : Infinity;
    if (nextEvent === Infinity && cycleDue === Infinity) break; // nothing can happen any more
    if (nextEvent <= cycleDue) {
      const e = ev.pop();
      integrate(e.time);
      const s = e.s;
      if (e.kind === ARRIVE) {
        driver.submit(s.job, e.time);
        waitingByQueue[qIndex.get(s.job.queue) as number]?.add(s);
        active++;
        dirty = true;
      } else if (e.kind === COMPLETE) {
        if (e.token !== s.token || (s.status !== 'running' && s.status !== 'stopping')) continue;
        if (s.status === 'running') {
          const since = Math.max(attainedAt.get(s) ?? s.runStart, s.runStart);
          if (e.time > since) driver.attained(s.job, s.job.gpus * (e.time - since));
        }
        attainedAt.delete(s);
        s.status = 'done';
        s.end = e.time;
        s.progress = s.job.duration;
        running.delete(s);
        holdGpus(s, -1);
        releaseBindings(s, e.time, 'succeeded');
        driver.complete(s.job, e.time);
        done++;
        active--;
        dirty = true;
      } else if (e.kind === STOP) {
        if (e.token !== s.token || s.status !== 'stopping') continue;
        s.status = 'waiting';
        s.progress = s.savedProgress;
        running.delete(s);
        holdGpus(s, -1);
        releaseBindings(s, e.time, 'preempted');
        waitingByQueue[qIndex.get(s.job.queue) as number]?.add(s);
        driver.stopped(s.job, e.time);
        dirty = true;
      }
      // An event changes only its job's queue: the others' checks would find what they found.
      const qi = qIndex.get(s.job.queue) as number;
      checkViolation(qi, e.time);
      checkDemand(qi, e.time);
      checkDeficit(qi, e.time);
      if (o.onProgress && done - lastReport >= 200) {
        lastReport = done;
        o.onProgress(done, total);
      }
      continue;
    }
    // A scheduling cycle.
    const now = cycleDue;
    integrate(now);
    lastCycle = now;
    dirty = false;
    cycles++;
    reportAttained(now);
    const out = driver.cycle(now);
    for (const { job, graceMs, forJob } of out.stop) {
      const s = stateOf(job);
      if (!s || s.status !== 'running') continue;
      noteStop(job.id, forJob, now);
      const winner = forJob !== undefined ? byJob.get(forJob) : undefined;
      if (winner && winner.status === 'waiting') winner.promisedUntil = Math.max(winner.promisedUntil, now + graceMs + o.cycleMs);
      const worked = progressAt(s, now);
      s.preemptions++;
      s.token++;
      if (graceMs > 0) {
        // Checkpoint protocol: saves on the signal, stops when the grace ends.
        s.savedProgress = worked;
        s.status = 'stopping';
        s.lostGpuMs += graceMs * s.job.gpus;
        ev.push(now + graceMs, STOP, s, s.token);
      } else {
        const every = s.job.checkpoint === undefined ? o.checkpointMs : (s.job.checkpoint?.intervalMs ?? 0);
        const saved = every > 0 ? Math.floor(worked / every) * every : 0;
        s.lostGpuMs += (worked - saved) * s.job.gpus;
        s.progress = saved;
        s.status = 'waiting';
        running.delete(s);
        holdGpus(s, -1);
        releaseBindings(s, now, 'preempted');
        waitingByQueue[qIndex.get(s.job.queue) as number]?.add(s);
        driver.stopped(s.job, now);
      }
      dirty = true;
    }
    for (const { job, bindings } of out.start) {
      const s = stateOf(job);
      if (!s || s.status !== 'waiting') continue;
      if (new Set(bindings.map((b) => b.podId)).size !== job.members.length) partialGangs++;
      holdBindings(s, bindings, 1);
      attemptStart.set(s, now);
      s.status = 'running';
      s.runStart = now;
      // Waiting for data holds the GPUs without progress, like a restart.
      const dataWait = o.data ? o.data.start(job, bindings, now) : 0;
      s.overheadLeft = (s.firstStart === null ? 0 : o.restartMs) + dataWait;
      if (s.firstStart !== null) s.lostGpuMs += o.restartMs * s.job.gpus;
      if (s.firstStart === null) s.firstStart = now;
      s.token++;
      running.add(s);
      holdGpus(s, 1);
      waitingByQueue[qIndex.get(s.job.queue) as number]?.delete(s);
      ev.push(now + s.overheadLeft + (s.job.duration - s.progress), COMPLETE, s, s.token);
    }
    if (out.start.length > 0 || out.stop.length > 0) dirty = true;
    recomputeDeserved();
    for (let i = 0; i < queueNames.length; i++) {
      checkViolation(i, now);
      checkDemand(i, now);
      checkDeficit(i, now);
      const since = deficitStart[i] as number;
      if (o.onDeficit && !Number.isNaN(since) && now - since > deficitBound) o.onDeficit(now, queueNames[i] as string, since, [...(waitingByQueue[i] as Set<State>)].filter((w) => w.promisedUntil < now).map((w) => w.job));
    }
  }
  for (let i = 0; i < queueNames.length; i++) {
    const since = violStart[i] as number;
    if (!Number.isNaN(since)) violation[i] = (violation[i] as number) + Math.max(0, lastT - since - violLimit);
    checkDemand(i, lastT);
    const d = deficitStart[i] as number;
    if (!Number.isNaN(d) && lastT - d > deficitBound) {
      deficit[i] = (deficit[i] as number) + lastT - d - deficitBound;
      deficitEpisodes[i] = (deficitEpisodes[i] as number) + 1;
      longestDeficit = Math.max(longestDeficit, lastT - d);
    }
  }
  if (seriesAcc.sum > 0) series.push(seriesAcc.sum / o.sampleMs);

  function stateOf(job: SimJob): State | undefined {
    return byJob.get(job.id);
  }

  const finished = states.filter((s) => s.end !== null);
  const jct = finished.map((s) => ((s.end as number) - s.job.submit) / 1000).sort((a, b) => a - b);
  const qd = states.filter((s) => s.firstStart !== null).map((s) => ((s.firstStart as number) - s.job.submit) / 1000).sort((a, b) => a - b);
  const span = lastT - t0;
  const arrivalSpan = lastArrival - t0;
  // The busy period: until the last job started (after it, only the tail of running jobs).
  const lastStart = states.reduce((a, s) => (s.firstStart !== null && s.firstStart > a ? s.firstStart : a), t0);
  const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  // Jain's index over queues that had anything deserved: x = received / deserved (time-integrated).
  const xs: number[] = [];
  for (let i = 0; i < queueNames.length; i++) if ((deservedInt[i] as number) > 0) xs.push(Math.min(1, (usedInt[i] as number) / (deservedInt[i] as number)));
  const jain = xs.length ? xs.reduce((a, b) => a + b, 0) ** 2 / (xs.length * xs.reduce((a, b) => a + b * b, 0)) : 1;
  const stops = states.map((s) => s.preemptions).sort((a, b) => a - b);
  const work = states.reduce((a, s) => a + s.job.gpus * s.job.duration, 0);
  const wasted = states.reduce((a, s) => a + s.lostGpuMs, 0);
  const churn: ChurnMetrics = {
    preemptionsMax: stops.length ? (stops[stops.length - 1] as number) : 0,
    preemptionsP99: stops.length ? pct(stops, 0.99) : 0,
    preemptedAtLeast3: stops.filter((n) => n >= 3).length,
    pingPongPairs: pingPong.size,
    fastestPingPongSeconds: fastestPingPong === Infinity ? null : fastestPingPong / 1000,
    deficitBoundSeconds: deficitBound / 1000,
    deficitSeconds: deficit.reduce((a, b) => a + b, 0) / 1000,
    deficitEpisodes: deficitEpisodes.reduce((a, b) => a + b, 0),
    longestDeficitSeconds: longestDeficit / 1000,
    wastedGpuSeconds: wasted / 1000,
    wastedShare: work > 0 ? wasted / work : 0,
    partialGangs,
    doubleBookings,
  };
  // Attempts still holding GPUs when the simulation ends are billed up to its last event.
  for (const s of [...attemptStart.keys()]) closeAttempt(s, lastT, 'interrupted');
  return {
    churn,
    cost: { byQueue: tally.lines('queue'), byModel: tally.lines('model'), total: tally.total() },
    ...(o.data ? { data: o.data.metrics() } : {}),
    policy: driver.name,
    oracle: driver.oracle,
    jobs: total,
    completed: finished.length,
    jctSeconds: { mean: mean(jct), p50: pct(jct, 0.5), p99: pct(jct, 0.99) },
    queueingDelaySeconds: { mean: mean(qd), p99: pct(qd, 0.99) },
    makespanSeconds: span / 1000,
    arrivalSeconds: Math.max(0, arrivalSpan) / 1000,
    busySeconds: Math.max(lastStart, lastArrival, t0) / 1000 - t0 / 1000,
    gpuUtilization: lastArrival > t0 ? allocIntArrivals / (capacityGpus * (lastArrival - t0)) : span > 0 ? allocInt / (capacityGpus * span) : 0,
    fairnessIndex: jain,
    guaranteeViolationSeconds: demandViolation.reduce((a, b) => a + b, 0) / 1000,
    guaranteeViolationQueueSeconds: violation.reduce((a, b) => a + b, 0) / 1000,
    preemptions: states.reduce((a, s) => a + s.preemptions, 0),
    gpuHoursLostToPreemption: states.reduce((a, s) => a + s.lostGpuMs, 0) / 3_600_000,
    cycles,
    wallSeconds: (clock() - wall0) / 1000,
    utilizationSeries: series,
    sampleSeconds: o.sampleMs / 1000,
    queues: queueNames.map((name, i) => ({
      name,
      guaranteedGpus: guaranteed[i] as number,
      leaf: leaf[i] as boolean,
      meanUsedGpus: span > 0 ? (usedInt[i] as number) / span : 0,
      meanDeservedGpus: span > 0 ? (deservedInt[i] as number) / span : 0,
      shareOfGuarantee: (guaranteed[i] as number) > 0 && span > 0 ? (usedInt[i] as number) / span / (guaranteed[i] as number) : 0,
      shareOfGuaranteeArriving: (guaranteed[i] as number) > 0 && arrivalSpan > 0 ? (usedIntArrivals[i] as number) / arrivalSpan / (guaranteed[i] as number) : 0,
      violationSeconds: (demandViolation[i] as number) / 1000,
      queueViolationSeconds: (violation[i] as number) / 1000,
      deficitSeconds: (deficit[i] as number) / 1000,
      deficitEpisodes: deficitEpisodes[i] as number,
    })),
  };
}
