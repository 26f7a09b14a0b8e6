/**
 * Turns each telemetry sample into history (history-store.ts) and idle reserved GPU time (the
 * cost ledger): per GPU its utilisation, memory used and the share held; per running job the
 * GPUs it holds, their utilisation (weighted by the share held), the memory attributed to it
 * and the GPUs it holds idle; per queue its use, guarantee, borrowing, pending work and idle
 * GPUs; for the fleet the totals.
 *
 * Idle: a job holds a GPU idle when the GPU's utilisation is below 5 % of the compute its
 * holders hold (5 % for a whole GPU, 2.5 % for a GPU half held). A GPU without a reading (a
 * MIG GPU, a lost GPU) is never called idle. The time is the interval since the last sample,
 * at most 30 s (a stall is not billed as idle).
 */
import { Gauge, type Registry } from 'prom-client';
import type { GpuSample } from '../../adapters/gpu/inventory.js';
import type { CostLedger } from '../../adapters/store/cost-ledger.js';
import type { HistorySample, HistoryStore } from '../../adapters/store/history-store.js';
import { migComputeSlices } from '../../core/model/request.js';
import type { Controller } from '../controller.js';

export const IDLE_UTILIZATION_PERCENT = 5;
const MAX_IDLE_INTERVAL_MS = 30_000;
/** Simulated GPUs only: a job's environment may state the utilisation its GPUs show (0-100). */
export const SIMULATED_UTIL_ENV = 'GANTRY_SIMULATED_GPU_UTIL';

type Holder = { job: string; milli: number; memoryMiB: number; mig?: string };
const shareOf = (h: Holder): number => (h.mig ? migComputeSlices(h.mig) / 7 : h.milli / 1000);

/**
 * The compute a simulated GPU's holders keep busy (milli-GPU): each holder's share, scaled by
 * the utilisation its job states in GANTRY_SIMULATED_GPU_UTIL (100 when it states none).
 */
export function simulatedBusyMilli(holders: readonly Holder[], statedUtil: (job: string) => number | undefined): number {
  let busy = 0;
  for (const h of holders) {
    if (h.mig) continue;
    const u = statedUtil(h.job);
    busy += (h.milli * (u === undefined ? 100 : Math.min(100, Math.max(0, u)))) / 100;
  }
  return Math.round(busy);
}

/** What a job's environment states for its simulated GPUs' utilisation, if anything. */
export function statedUtilization(env: Readonly<Record<string, string>> | undefined): number | undefined {
  const v = env?.[SIMULATED_UTIL_ENV];
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

interface JobUse {
  team: string;
  queue: string;
  seq: number;
  startedAt: number;
  gpus: number;
  utilWeighted: number;
  utilShare: number;
  memoryMiB: number;
  idle: number;
  idleByModel: Map<string, number>;
}

export class HistorySampler {
  private last: number | null = null;
  private idleByQueue = new Map<string, number>();

  constructor(
    private readonly controller: Controller,
    private readonly history: HistoryStore,
    private readonly ledger: CostLedger,
    registries: readonly Registry[],
  ) {
    const idleByQueue = (): ReadonlyMap<string, number> => this.idleByQueue;
    new Gauge({
      name: 'gantry_gpus_idle_reserved',
      help: `GPUs held by running jobs while idle (utilisation below ${IDLE_UTILIZATION_PERCENT}% of the compute held), by queue.`,
      labelNames: ['queue'],
      registers: [...registries],
      collect() {
        this.reset();
        for (const [queue, v] of idleByQueue()) this.set({ queue }, v);
      },
    });
  }

  /** One sample of every series at `now`, from the latest telemetry. */
  sample(samples: readonly GpuSample[], now: number): void {
    const dt = this.last === null ? 0 : Math.min(MAX_IDLE_INTERVAL_MS, Math.max(0, now - this.last));
    this.last = now;
    const out: HistorySample[] = [];
    const put = (kind: HistorySample['kind'], key: string, metric: string, value: number, team: string | null = null): void => {
      out.push({ kind, key, metric, value, team });
    };
    const byUuid = new Map(samples.map((s) => [s.uuid, s]));
    const holders = this.controller.gpuHolders();
    const jobs = new Map<string, JobUse>();
    let fleetGpus = 0;
    let fleetAllocated = 0;
    let fleetIdle = 0;
    const utils: number[] = [];
    for (const node of this.controller.scheduler.cluster.nodes()) {
      for (const g of node.gpus) {
        const key = `${node.name}/${g.index}`;
        const s = g.uuid ? byUuid.get(g.uuid) : undefined;
        const held = holders.get(key) ?? [];
        const heldShare = held.reduce((a, h) => a + shareOf(h), 0);
        if (g.healthy) fleetGpus++;
        fleetAllocated += heldShare;
        put('gpu', key, 'allocated', heldShare);
        const util = s?.utilization ?? null;
        if (util !== null) {
          utils.push(util);
          put('gpu', key, 'util', util);
        }
        if (s?.memoryUsedMiB != null) put('gpu', key, 'memory', s.memoryUsedMiB);
        const idle = util !== null && heldShare > 0 && util < IDLE_UTILIZATION_PERCENT * heldShare;
        for (const h of held) {
          const row = this.controller.activeJob(h.job);
          if (!row) continue;
          const share = shareOf(h);
          const u = jobs.get(h.job) ?? { team: row.team, queue: row.queue, seq: row.seq, startedAt: row.startedAt ?? now, gpus: 0, utilWeighted: 0, utilShare: 0, memoryMiB: 0, idle: 0, idleByModel: new Map() };
          u.gpus += share;
          if (util !== null) {
            u.utilWeighted += util * share;
            u.utilShare += share;
          }
          const totalMilli = held.reduce((a, x) => a + x.milli, 0);
          if (s?.memoryUsedMiB != null && totalMilli > 0) u.memoryMiB += (s.memoryUsedMiB * h.milli) / totalMilli;
          if (idle) {
            u.idle += share;
            fleetIdle += share;
            u.idleByModel.set(g.model, (u.idleByModel.get(g.model) ?? 0) + share);
          }
          jobs.set(h.job, u);
        }
      }
    }
    const idleByQueue = new Map<string, number>();
    const idleTime: { jobSeq: number; model: string; gpuMs: number }[] = [];
    for (const [id, u] of jobs) {
      put('job', id, 'gpus', u.gpus, u.team);
      if (u.utilShare > 0) put('job', id, 'util', u.utilWeighted / u.utilShare, u.team);
      put('job', id, 'memory', u.memoryMiB, u.team);
      put('job', id, 'idle', u.idle, u.team);
      idleByQueue.set(u.queue, (idleByQueue.get(u.queue) ?? 0) + u.idle);
      // Not before the attempt started: the interval may begin before it.
      const held = Math.min(dt, Math.max(0, now - u.startedAt));
      if (held > 0) for (const [model, share] of u.idleByModel) idleTime.push({ jobSeq: u.seq, model, gpuMs: share * held });
    }
    for (const q of this.controller.queueStatus()) {
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
    this.idleByQueue = idleByQueue;
    this.history.record(now, out);
    if (idleTime.length > 0) this.ledger.addIdle(idleTime, now);
  }
}
