/**
 * The Kubernetes scheduler's /metrics, /healthz and /readyz (src/adapters/k8s/scheduler-metrics.ts)
 * against a real kube-apiserver: /readyz is 503 until the scheduler synced and led its first
 * cycle, then 200; after pods are bound and others wait, the counters, histogram counts and
 * gauges match what the apiserver shows; the text passes `promtool check metrics` when built.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { SchedulingV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ControlPlane, k8sTestOptions } from './harness.js';
import { createNamespace, FakeKubelet, createNode, createPods, fakeNode, fakePod, listPods, TEST_SCHEDULER_TIMING, waitFor, installGantryCrds } from './cluster.js';
import { KubeScheduler } from '../../src/adapters/k8s/scheduler.js';
import { createSchedulerMetrics, startSchedulerHealthServer } from '../../src/adapters/k8s/scheduler-metrics.js';

const found = spawnSync('bash', ['scripts/promtool/ensure-promtool.sh', '--check'], { encoding: 'utf8' });
const promtool = found.status === 0 ? found.stdout.trim() : null;

/** The value of the one sample whose name and labels are exactly `series`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('k8s scheduler /metrics, /healthz, /readyz (real kube-apiserver)', k8sTestOptions(), () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let scheduler: KubeScheduler | null = null;
  let close: (() => void) | null = null;
  let base = '';
  let kubelet: FakeKubelet | null = null;
  const logs: string[] = [];
  const metrics = createSchedulerMetrics();

  before(async () => {
    cp = await ControlPlane.start();
    kc = cp.kubeConfig();
    await installGantryCrds(kc);
    scheduler = new KubeScheduler({
      kubeConfig: kc, namespace: 'gantry-system', identity: 'metrics-test', ...TEST_SCHEDULER_TIMING, observer: metrics.observer, log: (m) => logs.push(m),
    });
    metrics.attach(scheduler);
    const h = await startSchedulerHealthServer({ port: 0, host: '127.0.0.1', registry: metrics.registry, health: () => scheduler });
    close = () => h.server.close();
    base = `http://127.0.0.1:${h.port}`;
  });

  after(async () => {
    if (process.env['GANTRY_K8S_LOGS'] === '1') process.stderr.write(logs.join('\n') + '\n');
    await scheduler?.stop();
    await kubelet?.stop();
    close?.();
    await cp?.stop();
  });

  it('/readyz goes 503 -> 200 once synced and leading; /healthz is 200 throughout', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const before = await fetch(`${base}/readyz`);
    assert.equal(before.status, 503);
    assert.match(((await before.json()) as { reason: string }).reason, /not synced/);
    await scheduler?.start();
    await waitFor('leader', async () => scheduler?.isLeader);
    const ready = await waitFor('/readyz 200', async () => {
      const r = await fetch(`${base}/readyz`);
      return r.status === 200 ? ((await r.json()) as { status: string; reason: string }) : null;
    }, 10_000);
    assert.deepEqual(ready, { status: 'ready', reason: 'leading' });
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  });

  it('counts attempts, binds and pending pods as the apiserver shows them; GPUs per node', async () => {
    const id = 'metrics';
    await createNamespace(kc, id);
    await createNode(kc, fakeNode(`${id}-0`, { labels: { 'gantry.dev/test': id } }));
    const gpus = 8;
    // One more pod than the node has GPUs: that one waits (unschedulable), the others bind.
    await createPods(kc, Array.from({ length: gpus + 1 }, (_, i) => fakePod(id, `p${i}`, { gpus: 1, nodeSelector: { 'gantry.dev/test': id } })));
    await waitFor('8 bound', async () => (await listPods(kc, id)).filter((p) => p.spec?.nodeName).length === gpus);
    const text = await waitFor('metrics settle', async () => {
      const t = await (await fetch(`${base}/metrics`)).text();
      return sample(t, 'scheduler_schedule_attempts_total{result="scheduled"}') === gpus && (sample(t, 'scheduler_schedule_attempts_total{result="unschedulable"}') ?? 0) >= 1 ? t : null;
    }, 10_000);
    assert.equal(sample(text, 'scheduler_scheduling_attempt_duration_seconds_count{result="scheduled"}'), gpus);
    assert.equal(sample(text, 'scheduler_scheduling_attempt_duration_seconds_count{result="unschedulable"}'), sample(text, 'scheduler_schedule_attempts_total{result="unschedulable"}'));
    assert.equal(sample(text, 'scheduler_schedule_attempts_total{result="error"}'), 0);
    assert.equal(sample(text, 'scheduler_pod_scheduling_sli_duration_seconds_count'), gpus);
    const pending = text.split('\n').filter((l) => l.startsWith('scheduler_pending_pods{'));
    assert.equal(pending.reduce((s, l) => s + Number(l.split(' ')[1]), 0), 1, pending.join('\n'));
    assert.equal(sample(text, `gantry_gpus{node="${id}-0",state="allocated"}`), gpus);
    assert.equal(sample(text, `gantry_gpus{node="${id}-0",state="free"}`), 0);
    assert.equal(sample(text, 'gantry_leader'), 1);
    assert.ok((sample(text, 'scheduler_scheduling_attempt_duration_seconds_sum{result="scheduled"}') ?? -1) > 0);
    if (promtool) {
      const out = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(`${out.stdout}${out.stderr}`.trim(), '', 'promtool check metrics found problems');
      assert.equal(out.status, 0);
    } else assert.notEqual(process.env['GANTRY_REQUIRE_PROMTOOL'], '1', 'GANTRY_REQUIRE_PROMTOOL=1 but promtool is not built');
  });

  it('counts preemptions: two 1-GPU pods evicted for a 2-GPU pod of higher priority', async () => {
    const id = 'preempt';
    await createNamespace(kc, id);
    kubelet = new FakeKubelet(kc, id);
    await createNode(kc, fakeNode(`${id}-0`, { gpus: 4, labels: { 'gantry.dev/test': id } }));
    const scheduling = kc.makeApiClient(SchedulingV1Api);
    await scheduling.createPriorityClass({ body: { metadata: { name: 'low' }, value: 0 } });
    await scheduling.createPriorityClass({ body: { metadata: { name: 'high' }, value: 1000 } });
    const sel = { 'gantry.dev/test': id };
    await createPods(kc, Array.from({ length: 4 }, (_, i) => fakePod(id, `low${i}`, { gpus: 1, priorityClassName: 'low', nodeSelector: sel })));
    await waitFor('4 low bound', async () => (await listPods(kc, id)).filter((p) => p.spec?.nodeName).length === 4);
    await createPods(kc, [fakePod(id, 'high', { gpus: 2, priorityClassName: 'high', nodeSelector: sel })]);
    await waitFor('high bound', async () => (await listPods(kc, id)).find((p) => p.metadata?.name === 'high')?.spec?.nodeName, 30_000);
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.equal(sample(text, 'gantry_evictions_total{reason="preempt"}'), 2);
    assert.equal(sample(text, `gantry_gpus{node="${id}-0",state="allocated"}`), 4);
  });
});
