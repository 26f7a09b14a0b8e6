/**
 * `/metrics` in Prometheus format (prom-client). Per-GPU telemetry uses the DCGM exporter's
 * metric names and labels (gpu, UUID, pci_bus_id, device, modelName, Hostname) plus
 * `simulated`; which job holds which GPU is `gantry_gpu_allocation`. Values are read at
 * scrape time from the controller and the latest telemetry sample.
 *
 * Two views: `registry` (admins, and the loopback Prometheus listener) has per-job series,
 * for running jobs only; `aggregate` (any other user) has only counts and GPU totals per
 * queue and state, and never a job's id or name. A scrape costs O(queues + running jobs +
 * GPUs), never O(queued jobs): job counts are kept by the store, backlog sums by the
 * scheduling window. Rendered text is reused for `cacheMs`, so many scrapers share one render.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Controller } from './controller.js';
import type { GpuSample } from '../adapters/gpu/inventory.js';
import type { Store } from '../adapters/store/store.js';
import { JOB_STATES } from '../adapters/store/store.js';
import type { GpuGrant } from '../core/model/cluster.js';
import { migComputeSlices } from '../core/model/request.js';

/** The share of a GPU (1 = whole) a grant holds: a MIG slice counts its compute sevenths. */
export function grantShare(g: GpuGrant): number {
  return g.mig ? migComputeSlices(g.mig.profile) / 7 : g.milli / 1000;
}

const MIB = 1024 * 1024;

/**
 * The runtime's metrics (event-loop lag, GC, heap, CPU), without its `nodejs_active_*_total`
 * gauges: a gauge must not carry a counter's suffix, and `nodejs_active_*` (by type) has them.
 */
function processMetrics(register: Registry): void {
  collectDefaultMetrics({ register, prefix: 'gantry_' });
  for (const m of register.getMetricsAsArray()) {
    const name = (m as unknown as { name: string }).name;
    if (m instanceof Gauge && name.endsWith('_total')) register.removeSingleMetric(name);
  }
}

export interface Metrics {
  readonly registry: Registry;
  readonly aggregate: Registry;
  /** The view's text, rendered at most once per `cacheMs`. */
  render(view: 'full' | 'aggregate'): Promise<string>;
  readonly cycleSeconds: Histogram;
  readonly schedulingLatency: Histogram;
  readonly httpSeconds: Histogram;
  readonly submissions: Counter;
}

export function createMetrics(controller: Controller, store: Store, samples: () => readonly GpuSample[], cacheMs = 1000): Metrics {
  const registry = new Registry();
  const aggregate = new Registry();
  const both = [registry, aggregate];
  // Process metrics (event-loop lag, GC, heap, CPU): the API and the scheduler share one loop.
  for (const r of both) processMetrics(r);
  /** Running jobs (the scheduler also holds the windowed queued ones, which hold no GPU). */
  const running = function* () {
    for (const j of controller.scheduler.allJobs()) if (j.bindings.length > 0) yield j;
  };
  const node = controller.inventory.node;
  const host = node.name;
  const simulated = String(controller.inventory.simulated);
  const gpuLabels = ['gpu', 'UUID', 'pci_bus_id', 'device', 'modelName', 'Hostname', 'simulated'] as const;
  const labelsOf = (s: GpuSample): Record<(typeof gpuLabels)[number], string> => ({ gpu: String(s.index), UUID: s.uuid, pci_bus_id: s.pciBusId, device: `nvidia${s.index}`, modelName: s.model, Hostname: host, simulated: String(s.simulated) });
  const dcgm = (name: string, help: string, pick: (s: GpuSample) => number | null): void => {
    new Gauge({
      name,
      help,
      labelNames: gpuLabels,
      registers: both,
      collect() {
        this.reset();
        for (const s of samples()) {
          const v = pick(s);
          if (v !== null) this.set(labelsOf(s), v);
        }
      },
    });
  };
  dcgm('DCGM_FI_DEV_GPU_UTIL', 'GPU utilization (in %).', (s) => s.utilization);
  dcgm('DCGM_FI_DEV_FB_USED', 'Framebuffer memory used (in MiB).', (s) => s.memoryUsedMiB);
  dcgm('DCGM_FI_DEV_FB_FREE', 'Framebuffer memory free (in MiB).', (s) => s.memoryFreeMiB);
  dcgm('DCGM_FI_DEV_POWER_USAGE', 'Power draw (in W).', (s) => s.powerW);
  dcgm('DCGM_FI_DEV_GPU_TEMP', 'GPU temperature (in C).', (s) => s.temperatureC);

  new Gauge({
    name: 'gantry_gpus',
    help: 'GPUs in the inventory, by model and health.',
    labelNames: ['model', 'healthy', 'simulated'],
    registers: both,
    collect() {
      this.reset();
      for (const n of controller.scheduler.cluster.nodes()) for (const g of n.gpus) this.inc({ model: g.model, healthy: String(g.healthy), simulated: String(n.simulated) });
    },
  });
  new Gauge({
    name: 'gantry_gpus_allocated',
    help: 'GPUs allocated to running jobs (fractions for shares and MIG slices), by model and queue.',
    labelNames: ['model', 'queue', 'simulated'],
    registers: both,
    collect() {
      this.reset();
      for (const j of running()) {
        for (const b of j.bindings) {
          const n = controller.scheduler.cluster.node(b.node);
          for (const g of b.gpus) {
            const model = n?.gpus[g.gpu]?.model ?? 'unknown';
            this.inc({ model, queue: j.spec.queue, simulated }, grantShare(g));
          }
        }
      }
    },
  });
  new Gauge({
    name: 'gantry_gpu_allocation',
    help: 'Share of a GPU (1 = whole) held by a job.',
    labelNames: ['gpu', 'UUID', 'Hostname', 'job', 'queue'],
    registers: [registry],
    collect() {
      this.reset();
      for (const j of running()) {
        for (const b of j.bindings) {
          const n = controller.scheduler.cluster.node(b.node);
          for (const g of b.gpus) this.set({ gpu: String(g.gpu), UUID: n?.gpus[g.gpu]?.uuid ?? '', Hostname: b.node, job: j.spec.id, queue: j.spec.queue }, grantShare(g));
        }
      }
    },
  });
  new Gauge({
    name: 'gantry_queue_depth',
    help: 'Jobs waiting in each queue.',
    labelNames: ['queue'],
    registers: both,
    collect() {
      this.reset();
      for (const q of controller.queueStatus()) this.set({ queue: q.name }, q.pending);
    },
  });
  new Gauge({
    name: 'gantry_jobs',
    help: 'Jobs by state (all time).',
    labelNames: ['state'],
    registers: both,
    collect() {
      this.reset();
      const counts = store.countJobsByState();
      for (const s of JOB_STATES) this.set({ state: s }, counts.get(s) ?? 0);
    },
  });
  // Attribution: a job's share of each GPU's telemetry, in proportion to the compute it holds there;
  // `heldMilli` is what the job holds of the GPUs that have a value (the weights of an average).
  const attributed = (pick: (s: GpuSample) => number | null, perGpu: (value: number, heldMilli: number, totalMilli: number) => number) => {
    const bySample = new Map(samples().map((s) => [s.uuid, s]));
    const holders = controller.gpuHolders();
    const out = new Map<string, { queue: string; value: number; heldMilli: number }>();
    for (const j of running()) {
      for (const b of j.bindings) {
        const n = controller.scheduler.cluster.node(b.node);
        for (const g of b.gpus) {
          const sample = bySample.get(n?.gpus[g.gpu]?.uuid ?? '');
          const v = sample ? pick(sample) : null;
          if (v === null) continue;
          const total = (holders.get(`${b.node}/${g.gpu}`) ?? []).reduce((sum, h) => sum + h.milli, 0);
          const cur = out.get(j.spec.id) ?? { queue: j.spec.queue, value: 0, heldMilli: 0 };
          cur.value += perGpu(v, g.milli, total);
          cur.heldMilli += g.milli;
          out.set(j.spec.id, cur);
        }
      }
    }
    return out;
  };
  new Gauge({
    name: 'gantry_job_gpu_utilization_ratio',
    help: 'Utilisation (0-1) of the GPUs a job holds, averaged with the share it holds of each as weight.',
    labelNames: ['job', 'queue'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [job, v] of attributed((s) => s.utilization, (u, held) => (u / 100) * held)) {
        if (v.heldMilli > 0) this.set({ job, queue: v.queue }, v.value / v.heldMilli);
      }
    },
  });
  new Gauge({
    name: 'gantry_job_gpu_memory_used_bytes',
    help: 'GPU memory in use attributed to a job (bytes), split between shares in proportion to their compute.',
    labelNames: ['job', 'queue'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [job, v] of attributed((s) => s.memoryUsedMiB, (m, held, total) => (total > 0 ? (m * MIB * held) / total : 0))) this.set({ job, queue: v.queue }, v.value);
    },
  });

  const progress = (name: string, help: string, pick: (p: NonNullable<ReturnType<Controller['activeJob']>>['progress']) => number | undefined): void => {
    new Gauge({
      name,
      help,
      labelNames: ['job', 'queue'],
      registers: [registry],
      collect() {
        this.reset();
        for (const j of running()) {
          const row = controller.activeJob(j.spec.id);
          if (!row) continue;
          const v = row.progress ? pick(row.progress) : undefined;
          if (v !== undefined) this.set({ job: row.id, queue: row.queue }, v);
        }
      },
    });
  };
  progress('gantry_job_progress_step', 'Last training step a job reported.', (p) => p?.step);
  progress('gantry_job_progress_loss', 'Last loss a job reported.', (p) => p?.loss);
  progress('gantry_job_progress_samples_per_second', 'Last throughput a job reported (samples/s).', (p) => p?.samplesPerSec);
  const cycleSeconds = new Histogram({ name: 'gantry_scheduling_cycle_seconds', help: 'Duration of one scheduling cycle.', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: both });
  const schedulingLatency = new Histogram({ name: 'gantry_scheduling_latency_seconds', help: 'Time from a job becoming schedulable (submit or requeue) to its start.', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800], registers: both });
  const httpSeconds = new Histogram({ name: 'gantry_http_request_duration_seconds', help: 'API request latency.', labelNames: ['method', 'route', 'status'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5], registers: both });
  const submissions = new Counter({ name: 'gantry_job_submissions_total', help: 'Jobs accepted through the API.', registers: both });
  const rendered = new Map<string, { at: number; text: Promise<string> }>();
  const render = (view: 'full' | 'aggregate'): Promise<string> => {
    const now = Date.now();
    const hit = rendered.get(view);
    if (hit && now - hit.at < cacheMs) return hit.text;
    const text = (view === 'full' ? registry : aggregate).metrics();
    rendered.set(view, { at: now, text });
    return text;
  };
  return { registry, aggregate, render, cycleSeconds, schedulingLatency, httpSeconds, submissions };
}
