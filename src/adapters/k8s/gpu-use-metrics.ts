/**
 * Idle reserved GPUs and GPU time held in Kubernetes mode (`gantry k8s scheduler
 * --gpu-metrics-prometheus URL`): every interval the leader reads each GPU's utilisation
 * (DCGM, through Prometheus: gpu/prometheus-readings.ts) and measures the fleet with
 * core/fleet-use.ts, the measure `gantry up` uses, over the core's mirror of the apiserver.
 * The results go to the scheduler's /metrics, where Prometheus keeps their history (the
 * Kubernetes scheduler keeps no state of its own: the apiserver is its only store):
 *   gantry_gpus_idle_reserved{queue}                          GPUs held idle now
 *   gantry_gpu_reserved_seconds_total{team,queue,model}       GPU-seconds held by bound pods
 *   gantry_gpu_idle_reserved_seconds_total{team,queue,model}  the part of it held idle
 *   gantry_gpu_readings                                       GPUs with a reading, last interval
 * A team is the pod's namespace. Only the leader counts (a standby's counters stay flat), and a
 * new term starts a new interval, so no time is counted twice or across a failover gap.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { gpuHoldersOf, MAX_USE_INTERVAL_MS, measureFleetUse, type FleetUseView, type UseGpu } from '../../core/fleet-use.js';
import type { Scheduler } from '../../core/scheduler/scheduler.js';
import type { GpuReadingSource } from '../gpu/prometheus-readings.js';

export type UseState = Pick<Scheduler, 'allJobs' | 'cluster' | 'job' | 'queueStatus'>;

/** What the measurement needs of the scheduler: whether it leads, and the core's state. */
export interface UseSubject {
  readonly isLeader: boolean;
  readonly coreState: UseState;
}

export interface KubeGpuUseOptions {
  readonly readings: GpuReadingSource;
  readonly registry: Registry;
  readonly intervalMs: number;
  readonly clock?: () => number;
  readonly log?: (m: string) => void;
}

/** The tenant of a pod's (`pod:NS/NAME`) or gang's (`pg:NS/NAME`) work: its namespace, unless the spec names a team. */
export function teamOf(id: string, team: string | undefined): string {
  if (team !== undefined) return team;
  const key = id.slice(id.indexOf(':') + 1);
  const slash = key.indexOf('/');
  return slash > 0 ? key.slice(0, slash) : key;
}

type NodeOf = NonNullable<ReturnType<UseState['cluster']['node']>>;
const useGpu = (node: NodeOf, g: NodeOf['gpus'][number]): UseGpu => ({ key: `${node.name}/${g.index}`, model: g.model, uuid: g.uuid || null, healthy: g.healthy });

export function kubeUseView(state: UseState, now: number): FleetUseView {
  return {
    *gpus() {
      for (const node of state.cluster.nodes()) for (const g of node.gpus) yield useGpu(node, g);
    },
    holders: () => gpuHoldersOf(state.allJobs()),
    job(id) {
      const j = state.job(id);
      if (!j || j.state === 'pending') return undefined;
      return { team: teamOf(id, j.spec.team), queue: j.queue, startedAt: j.startedAt ?? now };
    },
    queues: () => state.queueStatus(),
  };
}

/**
 * One running job's part of kubeUseView, taken now from its own bindings (no walk over the
 * fleet), and still valid once the job has left the core; undefined when it is not running.
 */
export function kubeJobUseSnapshot(state: UseState, id: string, now: number): FleetUseView | undefined {
  const j = state.job(id);
  const row = kubeUseView(state, now).job(id);
  if (!j || !row) return undefined;
  const holders = gpuHoldersOf([j]);
  const gpus = new Map<string, UseGpu>(); // by key: two members of a gang may share a GPU
  for (const b of j.bindings) {
    const node = state.cluster.node(b.node);
    for (const g of b.gpus) {
      const gpu = node?.gpus[g.gpu];
      if (!node || !gpu) continue;
      const u = useGpu(node, gpu);
      gpus.set(u.key, u);
    }
  }
  return { gpus: () => gpus.values(), holders: () => holders, job: (x) => (x === id ? row : undefined), queues: () => [] };
}

export class KubeGpuUse {
  private last: number | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<void> | null = null;
  private readonly idleNow: Gauge;
  private readonly heldSeconds: Counter;
  private readonly idleSeconds: Counter;
  private readonly readingCount: Gauge;

  constructor(
    private readonly subject: () => UseSubject | null,
    private readonly o: KubeGpuUseOptions,
  ) {
    const registers = [o.registry];
    this.idleNow = new Gauge({ name: 'gantry_gpus_idle_reserved', help: 'GPUs held by bound pods while idle (utilisation below 5% of the compute held), by queue; leader only.', labelNames: ['queue'], registers });
    this.heldSeconds = new Counter({ name: 'gantry_gpu_reserved_seconds_total', help: 'GPU-seconds held by bound pods (shares and MIG slices by their fraction), by team (namespace), queue and GPU model; leader only.', labelNames: ['team', 'queue', 'model'], registers });
    this.idleSeconds = new Counter({ name: 'gantry_gpu_idle_reserved_seconds_total', help: 'The part of gantry_gpu_reserved_seconds_total held idle (utilisation below 5% of the compute held).', labelNames: ['team', 'queue', 'model'], registers });
    this.readingCount = new Gauge({ name: 'gantry_gpu_readings', help: 'GPUs with a utilisation reading (DCGM through Prometheus) at the last measurement; 0 means none is read and none is called idle.', registers });
  }

  /** One measurement now (the timer calls this; tests call it directly). */
  async sampleOnce(): Promise<void> {
    const s = this.subject();
    const now = (this.o.clock ?? Date.now)();
    if (!s?.isLeader) {
      this.last = null;
      this.idleNow.reset();
      return;
    }
    let readings;
    try {
      readings = await this.o.readings.read();
    } catch (e) {
      this.o.log?.(`gpu readings: ${(e as Error).message}`);
      readings = new Map();
    }
    if (!s.isLeader) return;
    const dt = this.last === null ? 0 : Math.min(MAX_USE_INTERVAL_MS, Math.max(0, now - this.last));
    this.last = now;
    const use = measureFleetUse(kubeUseView(s.coreState, now), readings, now, dt);
    this.readingCount.set(readings.size);
    this.idleNow.reset();
    for (const [queue, v] of use.idleByQueue) this.idleNow.set({ queue }, v);
    for (const h of use.held) this.heldSeconds.inc({ team: h.team, queue: h.queue, model: h.model }, h.gpuMs / 1000);
    for (const i of use.idle) this.idleSeconds.inc({ team: i.team, queue: i.queue, model: i.model }, i.gpuMs / 1000);
  }

  start(): void {
    this.timer ??= setInterval(() => {
      this.running ??= this.sampleOnce().finally(() => (this.running = null));
    }, this.o.intervalMs);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
