/**
 * Idle reserved GPUs in Kubernetes mode (src/adapters/k8s/gpu-use-metrics.ts) against a real
 * kube-apiserver: two pods of two namespaces bound by the scheduler to a node whose GPUs have
 * UUIDs; GPU readings in the shape of Prometheus's query API over DCGM exporter series (one
 * GPU at 0 %, the other at 85 %). After two measurements 10 s apart, /metrics has the GPU-seconds
 * each namespace held (10), the idle part (10 for the pod on the idle GPU, none for the other),
 * the GPUs held idle now per queue, and the readings count; a standby counts nothing; the text
 * passes `promtool check metrics` when built, and the Kubernetes Grafana dashboard
 * (deploy/grafana/gantry-k8s-dashboard.json) queries only metrics it declares. The readings
 * come from a local HTTP server: a DCGM exporter needs real GPUs.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { ControlPlane, k8sTestOptions } from './harness.js';
import { assertDeclared, assertWellFormed, dashboardMetrics, readDashboard } from '../helpers/grafana.js';
import { createNamespace, createNode, createPods, fakeNode, fakePod, listPods, TEST_SCHEDULER_TIMING, waitFor, installGantryCrds } from './cluster.js';
import { KubeScheduler } from '../../src/adapters/k8s/scheduler.js';
import { createSchedulerMetrics, startSchedulerHealthServer } from '../../src/adapters/k8s/scheduler-metrics.js';
import { KubeGpuUse } from '../../src/adapters/k8s/gpu-use-metrics.js';
import { PrometheusGpuReadings } from '../../src/adapters/gpu/prometheus-readings.js';
import { ANN_NODE_GPUS } from '../../src/adapters/k8s/names.js';

const found = spawnSync('bash', ['scripts/promtool/ensure-promtool.sh', '--check'], { encoding: 'utf8' });
const promtool = found.status === 0 ? found.stdout.trim() : null;

/** The value of the sample named `name` whose labels include every one of `labels`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const line = text.split('\n').find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Prometheus's /api/v1/query answer for DCGM series, from `values` (UUID -> [util %, memory MiB]). */
function prometheusFixture(values: Map<string, [number, number]>): Server {
  return createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams.get('query');
    const field = q === 'DCGM_FI_DEV_GPU_UTIL' ? 0 : q === 'DCGM_FI_DEV_FB_USED' ? 1 : null;
    if (!req.url?.startsWith('/api/v1/query') || field === null) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'error', error: `unexpected ${req.url ?? ''}` }));
      return;
    }
    const result = [...values].map(([uuid, v], i) => ({ metric: { __name__: q, gpu: String(i), UUID: uuid, Hostname: 'use-0' }, value: [Date.now() / 1000, String(v[field])] }));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
  });
}

describe('k8s idle reserved GPUs on /metrics (real kube-apiserver)', k8sTestOptions(), () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let scheduler: KubeScheduler | null = null;
  let prom: Server | null = null;
  let closeHealth: (() => void) | null = null;
  const metrics = createSchedulerMetrics();

  before(async () => {
    cp = await ControlPlane.start();
    kc = cp.kubeConfig();
    await installGantryCrds(kc);
    scheduler = new KubeScheduler({ kubeConfig: kc, namespace: 'gantry-system', identity: 'use-test', ...TEST_SCHEDULER_TIMING, observer: metrics.observer, log: () => undefined });
    metrics.attach(scheduler);
  });

  after(async () => {
    await scheduler?.stop();
    closeHealth?.();
    prom?.close();
    await cp?.stop();
  });

  it('bills GPU time held and held idle per namespace, queue and model; GPUs idle now per queue', async () => {
    const uuids = ['GPU-11111111-aaaa', 'GPU-22222222-bbbb'];
    await createNode(kc, fakeNode('use-0', { gpus: 2, labels: { 'gantry.dev/test': 'use' }, annotations: { [ANN_NODE_GPUS]: JSON.stringify(uuids.map((uuid) => ({ model: 'H100-80GB', uuid }))) } }));
    for (const ns of ['use-a', 'use-b']) await createNamespace(kc, ns);
    await scheduler!.start();
    await waitFor('leader', async () => scheduler?.isLeader);
    await createPods(kc, ['use-a', 'use-b'].map((ns) => fakePod(ns, 'train', { gpus: 1, nodeSelector: { 'gantry.dev/test': 'use' } })));
    await waitFor('both bound', async () => (await listPods(kc, 'use-a')).concat(await listPods(kc, 'use-b')).filter((p) => p.spec?.nodeName).length === 2);
    const core = scheduler!.coreState;
    const held = () => [...core.allJobs()].filter((j) => j.bindings.length > 0);
    await waitFor(`both holding GPUs in the core (${[...core.allJobs()].map((j) => `${j.id}:${j.state}`).join(', ')})`, async () => held().length === 2);
    const a = held().find((j) => j.id === 'pod:use-a/train')!;
    const gpuOfA = a.bindings[0]!.gpus[0]!.gpu;
    const queue = a.queue;
    // The GPU pod A holds reads 0 %: held idle. The other reads 85 %.
    const values = new Map<string, [number, number]>(uuids.map((u, i) => [u, i === gpuOfA ? [0, 500] : [85, 40_000]]));
    prom = prometheusFixture(values);
    await new Promise<void>((r) => prom!.listen(0, '127.0.0.1', r));
    const readings = new PrometheusGpuReadings(`http://127.0.0.1:${(prom.address() as AddressInfo).port}`);
    let now = Date.now() + 60_000; // after the pods started (idle time is not billed before an attempt starts)
    const use = new KubeGpuUse(() => scheduler, { readings, registry: metrics.registry, intervalMs: 60_000, clock: () => now });
    const h = await startSchedulerHealthServer({ port: 0, host: '127.0.0.1', registry: metrics.registry, health: () => scheduler });
    closeHealth = () => h.server.close();
    const scrape = async () => (await fetch(`http://127.0.0.1:${h.port}/metrics`)).text();

    await use.sampleOnce();
    now += 10_000;
    await use.sampleOnce();
    const text = await scrape();
    const model = 'H100-80GB';
    assert.equal(sample(text, 'gantry_gpu_reserved_seconds_total', { team: 'use-a', queue, model }), 10);
    assert.equal(sample(text, 'gantry_gpu_reserved_seconds_total', { team: 'use-b', queue, model }), 10);
    assert.equal(sample(text, 'gantry_gpu_idle_reserved_seconds_total', { team: 'use-a', queue, model }), 10);
    assert.equal(sample(text, 'gantry_gpu_idle_reserved_seconds_total', { team: 'use-b' }), undefined, 'the busy GPU is not idle');
    assert.equal(sample(text, 'gantry_gpus_idle_reserved', { queue }), 1);
    assert.equal(sample(text, 'gantry_gpu_readings'), 2);
    // The Kubernetes Grafana dashboard reads only what this /metrics declares, and DCGM's own series.
    const dashboard = readDashboard('deploy/grafana/gantry-k8s-dashboard.json');
    assertWellFormed(dashboard);
    const names = dashboardMetrics(dashboard);
    for (const n of ['gantry_gpus_idle_reserved', 'gantry_gpu_reserved_seconds_total', 'scheduler_pod_scheduling_sli_duration_seconds_bucket', 'gantry_evictions_total', 'gantry_queue_spend_micros', 'gantry_queue_budget_exhausted']) assert.ok(names.has(n), n);
    assertDeclared([...names].filter((n) => !n.startsWith('DCGM_')), text);

    // The busy GPU goes idle too; a stall of 5 minutes bills at most 30 s.
    values.set(uuids[1 - gpuOfA]!, [1, 40_000]);
    now += 300_000;
    await use.sampleOnce();
    const later = await scrape();
    assert.equal(sample(later, 'gantry_gpu_reserved_seconds_total', { team: 'use-a', queue, model }), 40);
    assert.equal(sample(later, 'gantry_gpu_idle_reserved_seconds_total', { team: 'use-b', queue, model }), 30);
    assert.equal(sample(later, 'gantry_gpus_idle_reserved', { queue }), 2);

    // A standby measures nothing and shows no idle GPUs; its counters stay where they were.
    const standbyRegistry = createSchedulerMetrics().registry;
    const standby = new KubeGpuUse(() => ({ isLeader: false, coreState: core }), { readings, registry: standbyRegistry, intervalMs: 60_000, clock: () => now });
    await standby.sampleOnce();
    now += 10_000;
    await standby.sampleOnce();
    const standbyText = await standbyRegistry.metrics();
    assert.equal(sample(standbyText, 'gantry_gpu_reserved_seconds_total', { team: 'use-a' }), undefined);
    assert.equal(sample(standbyText, 'gantry_gpus_idle_reserved', { queue }), undefined);
    if (promtool) {
      const out = spawnSync(promtool, ['check', 'metrics'], { input: later, encoding: 'utf8' });
      assert.equal(`${out.stdout}${out.stderr}`.trim(), '', 'promtool check metrics found problems');
      assert.equal(out.status, 0);
    } else assert.notEqual(process.env['GANTRY_REQUIRE_PROMTOOL'], '1', 'GANTRY_REQUIRE_PROMTOOL=1 but promtool is not built');
  });
});
