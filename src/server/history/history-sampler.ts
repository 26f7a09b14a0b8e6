/**
 * `gantry up`'s history and idle reserved GPU time: each telemetry sample is measured by
 * core/fleet-use.ts (the same measure `gantry k8s scheduler` uses) over the controller's view,
 * its series go to the history store and its idle time to the cost ledger. The idle interval
 * is the time since the last sample, at most 30 s (a stall is not billed as idle).
 */
import { Gauge, type Registry } from 'prom-client';
import type { GpuSample } from '../../adapters/gpu/inventory.js';
import type { CostLedger } from '../../adapters/store/cost-ledger.js';
import type { HistoryStore } from '../../adapters/store/history-store.js';
import { IDLE_UTILIZATION_PERCENT, MAX_USE_INTERVAL_MS, measureFleetUse, type FleetUseView, type GpuReading } from '../../core/fleet-use.js';
import type { Controller } from '../controller.js';

export { IDLE_UTILIZATION_PERCENT };
/** Simulated GPUs only: a job's environment may state the utilisation its GPUs show (0-100). */
export const SIMULATED_UTIL_ENV = 'GANTRY_SIMULATED_GPU_UTIL';

type Holder = { job: string; milli: number; memoryMiB: number; mig?: string };

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
    const dt = this.last === null ? 0 : Math.min(MAX_USE_INTERVAL_MS, Math.max(0, now - this.last));
    this.last = now;
    const readings = new Map<string, GpuReading>(samples.map((x) => [x.uuid, { utilization: x.utilization, memoryUsedMiB: x.memoryUsedMiB }]));
    const use = measureFleetUse(controllerView(this.controller, now), readings, now, dt);
    this.idleByQueue = use.idleByQueue;
    this.history.record(now, use.samples);
    const idleTime = use.idle.flatMap((i) => {
      const row = this.controller.activeJob(i.job);
      return row ? [{ jobSeq: row.seq, model: i.model, gpuMs: i.gpuMs }] : [];
    });
    if (idleTime.length > 0) this.ledger.addIdle(idleTime, now);
  }
}

/** The controller as the measurement sees it: its nodes' GPUs, their holders, running jobs, queues. */
function controllerView(controller: Controller, now: number): FleetUseView {
  return {
    *gpus() {
      for (const node of controller.scheduler.cluster.nodes()) for (const g of node.gpus) yield { key: `${node.name}/${g.index}`, model: g.model, uuid: g.uuid || null, healthy: g.healthy };
    },
    holders: () => controller.gpuHolders(),
    job(id) {
      const row = controller.activeJob(id);
      return row ? { team: row.team, queue: row.queue, startedAt: row.startedAt ?? now } : undefined;
    },
    queues: () => controller.queueStatus(),
  };
}
