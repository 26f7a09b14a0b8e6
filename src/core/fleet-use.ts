/**
 * One measurement of the fleet's use from a view of who holds which GPU and a reading of each
 * GPU's utilisation and memory: the history series (per GPU, running job, queue and for the
 * fleet) and the idle reserved GPU time, by job and GPU model. Both `gantry up` (the
 * controller's view, telemetry from nvidia-smi) and `gantry k8s scheduler` (the core's mirror
 * of the apiserver, telemetry from DCGM) measure through this, so idle means the same in both.
 *
 * Idle: a job holds a GPU idle when the GPU's utilisation is below 5 % of the compute its
 * holders hold (5 % for a whole GPU, 2.5 % for a GPU half held). A GPU without a reading (a
 * MIG GPU, a lost GPU) is never called idle. Pure: no I/O, the time is passed in.
 */
import { migComputeSlices } from './model/request.js';
import type { QueueStatus } from './scheduler/queue-status.js';
import type { Binding } from './model/cluster.js';

/** One point of one history series (the history store's row): a GPU's, job's, queue's or the fleet's. */
export interface UseSample {
  readonly kind: 'gpu' | 'job' | 'queue' | 'fleet';
  readonly key: string;
  readonly metric: string;
  /** The team that owns the series (a job's), or null for a series anyone may read. */
  readonly team: string | null;
  readonly value: number;
}

export const IDLE_UTILIZATION_PERCENT = 5;
/** The longest interval one measurement bills: a stall (a slow or missed reading) is not billed as idle. */
export const MAX_USE_INTERVAL_MS = 30_000;

export interface UseHolder {
  readonly job: string;
  readonly milli: number;
  readonly memoryMiB: number;
  readonly mig?: string;
}

export interface UseGpu {
  /** `node/index`, the key of the history's GPU series and of `holders`. */
  readonly key: string;
  readonly model: string;
  readonly uuid: string | null;
  readonly healthy: boolean;
}

/** What a mode shows the measurement: its GPUs, their holders, the holders' jobs and the queues. */
export interface FleetUseView {
  gpus(): Iterable<UseGpu>;
  holders(): ReadonlyMap<string, readonly UseHolder[]>;
  /** A running job's team and queue, and when its attempt started (ms); undefined: not running. */
  job(id: string): { readonly team: string; readonly queue: string; readonly startedAt: number } | undefined;
  queues(): Iterable<Pick<QueueStatus, 'name' | 'usedGpu' | 'guaranteedGpu' | 'pending' | 'pendingGpu'>>;
}

/** GPU key (`node/index`) -> the jobs holding it, from the jobs' bindings. */
export function gpuHoldersOf(jobs: Iterable<Readonly<{ id: string; bindings: readonly Binding[] }>>): Map<string, UseHolder[]> {
  const out = new Map<string, UseHolder[]>();
  for (const j of jobs) {
    for (const b of j.bindings) {
      for (const g of b.gpus) {
        const key = `${b.node}/${g.gpu}`;
        const list = out.get(key) ?? [];
        list.push({ job: j.id, milli: g.milli, memoryMiB: g.memoryMiB, ...(g.mig ? { mig: g.mig.profile } : {}) });
        out.set(key, list);
      }
    }
  }
  return out;
}

/** A GPU's reading, by UUID; null fields: not measured. */
export interface GpuReading {
  readonly utilization: number | null;
  readonly memoryUsedMiB: number | null;
}

export interface IdleTime {
  readonly job: string;
  readonly team: string;
  readonly queue: string;
  readonly model: string;
  /** GPUs held idle x ms (a share by its fraction). */
  readonly gpuMs: number;
}

export interface FleetUse {
  readonly samples: UseSample[];
  /** GPU time held over the interval, by job and GPU model (idle or not). */
  readonly held: IdleTime[];
  /** The part of it held idle. */
  readonly idle: IdleTime[];
  /** GPUs held idle now, by the queue of the jobs holding them. */
  readonly idleByQueue: Map<string, number>;
}

const shareOf = (h: UseHolder): number => (h.mig ? migComputeSlices(h.mig) / 7 : h.milli / 1000);

interface JobUse {
  team: string;
  queue: string;
  startedAt: number;
  gpus: number;
  utilWeighted: number;
  utilShare: number;
  memoryMiB: number;
  idle: number;
  idleByModel: Map<string, number>;
  byModel: Map<string, number>;
}

/** The fleet's use at `now`; `intervalMs` is the time since the last measurement (idle time is billed over it). */
export function measureFleetUse(view: FleetUseView, readings: ReadonlyMap<string, GpuReading>, now: number, intervalMs: number): FleetUse {
  const out: UseSample[] = [];
  const put = (kind: UseSample['kind'], key: string, metric: string, value: number, team: string | null = null): void => {
    out.push({ kind, key, metric, value, team });
  };
  const holders = view.holders();
  const jobs = new Map<string, JobUse>();
  let fleetGpus = 0;
  let fleetAllocated = 0;
  let fleetIdle = 0;
  const utils: number[] = [];
  for (const g of view.gpus()) {
    const s = g.uuid ? readings.get(g.uuid) : undefined;
    const held = holders.get(g.key) ?? [];
    const heldShare = held.reduce((a, h) => a + shareOf(h), 0);
    if (g.healthy) fleetGpus++;
    fleetAllocated += heldShare;
    put('gpu', g.key, 'allocated', heldShare);
    const util = s?.utilization ?? null;
    if (util !== null) {
      utils.push(util);
      put('gpu', g.key, 'util', util);
    }
    if (s?.memoryUsedMiB != null) put('gpu', g.key, 'memory', s.memoryUsedMiB);
    const idle = util !== null && heldShare > 0 && util < IDLE_UTILIZATION_PERCENT * heldShare;
    const totalMilli = held.reduce((a, x) => a + x.milli, 0);
    for (const h of held) {
      const row = view.job(h.job);
      if (!row) continue;
      const share = shareOf(h);
      const u = jobs.get(h.job) ?? { team: row.team, queue: row.queue, startedAt: row.startedAt, gpus: 0, utilWeighted: 0, utilShare: 0, memoryMiB: 0, idle: 0, idleByModel: new Map(), byModel: new Map() };
      u.gpus += share;
      u.byModel.set(g.model, (u.byModel.get(g.model) ?? 0) + share);
      if (util !== null) {
        u.utilWeighted += util * share;
        u.utilShare += share;
      }
      if (s?.memoryUsedMiB != null && totalMilli > 0) u.memoryMiB += (s.memoryUsedMiB * h.milli) / totalMilli;
      if (idle) {
        u.idle += share;
        fleetIdle += share;
        u.idleByModel.set(g.model, (u.idleByModel.get(g.model) ?? 0) + share);
      }
      jobs.set(h.job, u);
    }
  }
  const idleByQueue = new Map<string, number>();
  const idle: IdleTime[] = [];
  const heldTime: IdleTime[] = [];
  for (const [id, u] of jobs) {
    put('job', id, 'gpus', u.gpus, u.team);
    if (u.utilShare > 0) put('job', id, 'util', u.utilWeighted / u.utilShare, u.team);
    put('job', id, 'memory', u.memoryMiB, u.team);
    put('job', id, 'idle', u.idle, u.team);
    idleByQueue.set(u.queue, (idleByQueue.get(u.queue) ?? 0) + u.idle);
    // Not before the attempt started: the interval may begin before it.
    const held = Math.min(intervalMs, Math.max(0, now - u.startedAt));
    if (held > 0) {
      for (const [model, share] of u.idleByModel) idle.push({ job: id, team: u.team, queue: u.queue, model, gpuMs: share * held });
      for (const [model, share] of u.byModel) heldTime.push({ job: id, team: u.team, queue: u.queue, model, gpuMs: share * held });
    }
  }
  for (const q of view.queues()) {
    const used = q.usedGpu / 1000;
    const guaranteed = q.guaranteedGpu / 1000;
    put('queue', q.name, 'used', used);
    put('queue', q.name, 'guaranteed', guaranteed);
    put('queue', q.name, 'borrowed', Math.max(0, used - guaranteed));
    put('queue', q.name, 'pending', q.pending);
    put('queue', q.name, 'pendingGpus', q.pendingGpu / 1000);
    put('queue', q.name, 'idle', idleByQueue.get(q.name) ?? 0);
  }
  put('fleet', 'all', 'gpus', fleetGpus);
  put('fleet', 'all', 'allocated', fleetAllocated);
  put('fleet', 'all', 'idle', fleetIdle);
  if (utils.length > 0) put('fleet', 'all', 'util', utils.reduce((a, b) => a + b, 0) / utils.length);
  return { samples: out, held: heldTime, idle, idleByQueue };
}
