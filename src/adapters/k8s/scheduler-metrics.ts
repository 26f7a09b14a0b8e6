/**
 * The Kubernetes scheduler's `/metrics` (prom-client, its own Registry), `/healthz` and
 * `/readyz` on one plain-HTTP port (`gantry k8s scheduler --metrics-port`, docs/kubernetes.md).
 * Latency and attempt metrics use kube-scheduler's names (scheduler_*), so its dashboards fit;
 * GPU and leader state are gantry_* in base units (GPUs; shares as fractions). Gauges are read
 * from the scheduler's state at scrape time; counters and histograms are fed by the
 * SchedulingObserver the scheduler calls.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { GpuGrant } from '../../core/model/cluster.js';
import { migComputeSlices } from '../../core/model/request.js';
import type { KubeScheduler, SchedulingObserver } from './scheduler.js';

/** kube-scheduler's buckets for scheduler_scheduling_attempt_duration_seconds (1 ms .. ~16 s). */
const ATTEMPT_BUCKETS = Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i);
/** kube-scheduler's buckets for scheduler_pod_scheduling_sli_duration_seconds (10 ms .. ~5 h). */
const SLI_BUCKETS = Array.from({ length: 20 }, (_, i) => 0.01 * 2 ** i);

function grantShare(g: GpuGrant): number {
  return g.mig ? migComputeSlices(g.mig.profile) / 7 : g.milli / 1000;
}

export interface SchedulerMetrics {
  readonly registry: Registry;
  readonly observer: SchedulingObserver;
  /** Ties the scrape-time gauges to the scheduler (created after the observer it is given). */
  attach(s: KubeScheduler): void;
}

export function createSchedulerMetrics(): SchedulerMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: 'gantry_' });
  // A gauge must not carry a counter's suffix (nodejs_active_*_total): promtool says so.
  for (const m of registry.getMetricsAsArray()) {
    const name = (m as unknown as { name: string }).name;
    if (m instanceof Gauge && name.endsWith('_total')) registry.removeSingleMetric(name);
  }
  let sched: KubeScheduler | null = null;
  const attempts = new Counter({ name: 'scheduler_schedule_attempts_total', help: 'Pod scheduling attempts by result (scheduled, unschedulable, error).', labelNames: ['result'], registers });
  const attemptSeconds = new Histogram({ name: 'scheduler_scheduling_attempt_duration_seconds', help: 'Pod scheduling attempt latency: cycle start to the bind answer (scheduled, error) or the cycle end (unschedulable).', labelNames: ['result'], buckets: ATTEMPT_BUCKETS, registers });
  const sliSeconds = new Histogram({ name: 'scheduler_pod_scheduling_sli_duration_seconds', help: 'Time from a pod\'s creation to its bind.', buckets: SLI_BUCKETS, registers });
  const preemptions = new Counter({ name: 'gantry_evictions_total', help: 'Pods evicted to make room for others, by reason (preempt, reclaim, ...).', labelNames: ['reason'], registers });
  for (const r of ['scheduled', 'unschedulable', 'error']) {
    attempts.inc({ result: r }, 0);
  }
  new Gauge({
    name: 'scheduler_pending_pods',
    help: 'Pods waiting for a placement, by Gantry queue.',
    labelNames: ['queue'],
    registers,
    collect() {
      this.reset();
      if (!sched) return;
      for (const j of sched.coreState.allJobs()) if (j.state === 'pending') this.inc({ queue: j.spec.queue }, j.spec.members.length);
    },
  });
  new Gauge({
    name: 'gantry_gpus',
    help: 'GPUs per node by state: allocated (fractions for shares and MIG slices), free (healthy, unallocated), unhealthy.',
    labelNames: ['node', 'state'],
    registers,
    collect() {
      this.reset();
      if (!sched) return;
      const { cluster } = sched.coreState;
      const used = new Map<string, number>();
      for (const j of sched.coreState.allJobs()) {
        for (const b of j.bindings) for (const g of b.gpus) used.set(b.node, (used.get(b.node) ?? 0) + grantShare(g));
      }
      for (const n of cluster.nodes()) {
        const healthy = n.gpus.filter((g) => g.healthy).length;
        const alloc = used.get(n.name) ?? 0;
        this.set({ node: n.name, state: 'allocated' }, alloc);
        this.set({ node: n.name, state: 'free' }, Math.max(0, healthy - alloc));
        this.set({ node: n.name, state: 'unhealthy' }, n.gpus.length - healthy);
      }
    },
  });
  new Gauge({
    name: 'gantry_queue_gpus_allocated',
    help: 'GPUs allocated to running pods (fractions for shares and MIG slices), by Gantry queue.',
    labelNames: ['queue'],
    registers,
    collect() {
      this.reset();
      if (!sched) return;
      for (const j of sched.coreState.allJobs()) {
        for (const b of j.bindings) for (const g of b.gpus) this.inc({ queue: j.spec.queue }, grantShare(g));
      }
    },
  });
  // Spend and budgets (queue-spend.ts): the leader's, of the current period of each queue (its budget's, else the month).
  new Gauge({
    name: 'gantry_queue_spend_micros',
    help: 'What the queue and the queues below it spent on GPUs in its current period (its budget\'s, else the month), in micro-units of the prices\' currency; leader only.',
    labelNames: ['queue'],
    registers,
    collect() {
      this.reset();
      for (const v of sched?.spend.view() ?? []) this.set({ queue: v.queue }, v.costMicros);
    },
  });
  new Gauge({
    name: 'gantry_queue_budget_limit_micros',
    help: 'The queue\'s budget (spec.budget.limit) per period, in micro-units, by mode (soft, hard); leader only.',
    labelNames: ['queue', 'mode'],
    registers,
    collect() {
      this.reset();
      for (const v of sched?.spend.view() ?? []) if (v.budget) this.set({ queue: v.queue, mode: v.budget.budget.mode }, v.budget.budget.limitMicros);
    },
  });
  new Gauge({
    name: 'gantry_queue_budget_exhausted',
    help: '1 while the queue\'s hard budget is spent and its new pods (and those of the queues below it) wait, else 0; leader only.',
    labelNames: ['queue'],
    registers,
    collect() {
      this.reset();
      for (const v of sched?.spend.view() ?? []) if (v.budget) this.set({ queue: v.queue }, v.budget.status === 'exhausted' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'gantry_leader',
    help: '1 while this replica holds the Lease and schedules, else 0.',
    registers,
    collect() {
      this.set(sched?.isLeader ? 1 : 0);
    },
  });
  return {
    registry,
    observer: {
      attempt(result, seconds) {
        attempts.inc({ result });
        attemptSeconds.observe({ result }, seconds);
      },
      bound(s) {
        sliSeconds.observe(s);
      },
      evicted(reason) {
        preemptions.inc({ reason });
      },
    },
    attach(s) {
      sched = s;
    },
  };
}

/** The scheduler's health: /readyz asks the scheduler, or says not yet before it exists. */
export interface HealthSource {
  readiness(): { ready: boolean; reason: string };
}

/** Serves /metrics, /healthz and /readyz over plain HTTP; resolves once listening. */
export async function startSchedulerHealthServer(opts: { port: number; host: string; registry: Registry; health: () => HealthSource | null }): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (code: number, body: object): void => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'METHOD_NOT_ALLOWED', message: `${req.method ?? ''} is not allowed; use GET` });
    if (path === '/healthz') return json(200, { status: 'ok' });
    if (path === '/readyz') {
      const r = opts.health()?.readiness() ?? { ready: false, reason: 'starting' };
      return json(r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', reason: r.reason });
    }
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': opts.registry.contentType });
          res.end(text);
        },
        (e: Error) => json(500, { error: 'METRICS', message: e.message }),
      );
      return;
    }
    json(404, { error: 'NOT_FOUND', message: `${path ?? ''} is not served here; try /metrics, /healthz or /readyz` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
