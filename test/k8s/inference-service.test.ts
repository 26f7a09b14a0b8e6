/**
 * InferenceServices on a real apiserver: the controller (as `gantry k8s scheduler` runs it, on
 * the leader) makes replica pods that Gantry binds; `gantry k8s router` as its own process
 * routes streamed completions to them (real servers on the pods' IPs) and scales them on load
 * through the status; a replica surges onto GPUs held by preemptible training; bad specs are
 * refused by the CRD schema and the webhook, each field named. The scheduler and the controller
 * run with the token of deploy/rbac.yaml's service account.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from 'selfsigned';
import { AdmissionregistrationV1Api, ApiException, CoreV1Api, CustomObjectsApi, PatchStrategy, SchedulingV1Api, setHeaderOptions, type KubeConfig, type V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import { ControlPlane, k8sTestOptions } from './harness.js';
import { applyObjects, createNamespace, createNode, createQueue, createPods, events, fakeNode, fakePod, FakeKubelet, installGantryCrds, listPods, manifest, waitFor } from './cluster.js';
import { freePortAnyAddress, ReplicaKubelet } from './replica-kubelet.js';
import { applyIsvc, ISVC, isvcObject, isvcStatus, removeIsvc, replicasOf, startRouterProcess, startServing, streamCompletion, streamLoad, type RouterProcess } from './inference-cluster.js';
import { startWebhookServer } from '../../src/adapters/k8s/webhook.js';
import type { InferenceServiceStatus } from '../../src/adapters/k8s/inference-spec.js';

const debug = (m: string): void => void (process.env['GANTRY_TEST_DEBUG'] ? console.error(m) : undefined);
const NS = 'serve';
const TRAIN = 'train';
const apply = (kc: KubeConfig, name: string, spec: Record<string, unknown>): Promise<void> => applyIsvc(kc, NS, name, spec);
const statusOf = (kc: KubeConfig, name: string): Promise<InferenceServiceStatus> => isvcStatus(kc, NS, name);
const remove = (kc: KubeConfig, name: string): Promise<void> => removeIsvc(kc, NS, name);

/** The apiserver's refusal of a create, or null when it was accepted. */
async function refusal(kc: KubeConfig, name: string, spec: Record<string, unknown>): Promise<{ code: number; message: string } | null> {
  try {
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...ISVC, namespace: NS, body: isvcObject(NS, name, spec), dryRun: 'All' });
    return null;
  } catch (e) {
    if (!(e instanceof ApiException)) throw e;
    return { code: e.code, message: String((JSON.parse(String(e.body)) as { message?: string }).message ?? e.body) };
  }
}

describe('InferenceService (real apiserver)', k8sTestOptions(), () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let serving: Awaited<ReturnType<typeof startServing>>;
  let kubelet: ReplicaKubelet;
  let training: FakeKubelet;
  let port: number;
  let router: RouterProcess | undefined;
  const forbidden: string[] = [];
  const closers: Array<() => void> = [];

  before(async () => {
    cp = await ControlPlane.start();
    kc = cp.kubeConfig();
    await installGantryCrds(kc);
    await createNamespace(kc, NS);
    await createNamespace(kc, TRAIN);
    const priorities = kc.makeApiClient(SchedulingV1Api);
    await priorities.createPriorityClass({ body: { metadata: { name: 'inference' }, value: 1000 } });
    await priorities.createPriorityClass({ body: { metadata: { name: 'training' }, value: 0 } });
    for (const n of ['gpu-a', 'gpu-b']) await createNode(kc, fakeNode(n, { gpus: 4 }));
    // Replicas are not preemptible: they run within their queue's guarantee (lent to training while idle).
    await createQueue(kc, 'serving', { quota: { gpu: 6 } });
    // The scheduler and the controller run as the deployed service account: deploy/rbac.yaml must allow every write.
    await applyObjects(kc, manifest('rbac.yaml'));
    const token = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({ name: 'gantry-scheduler', namespace: 'gantry-system', body: { spec: { audiences: [], expirationSeconds: 3600 } } });
    serving = await startServing(cp.kubeConfig(token.status?.token ?? '', 'gantry-scheduler'), (m) => {
      if (/forbidden/i.test(m)) forbidden.push(m);
      debug(m);
    });
    kubelet = new ReplicaKubelet(kc, NS, 0.5);
    training = new FakeKubelet(kc, TRAIN);
    port = await freePortAnyAddress();
  });

  after(async () => {
    if (router?.child.exitCode === null) router.child.kill('SIGKILL');
    for (const c of closers) c();
    await kubelet?.stop();
    await training?.stop();
    await serving?.stop();
    await cp?.stop();
  });

  it('makes the replica pods, owned and labelled, and Gantry binds them', async () => {
    const t0 = Date.now();
    await apply(kc, 'chat', { port, priorityClassName: 'inference', replicas: { min: 2, max: 3 }, resources: { gpu: 1, cpu: '2', memory: '8Gi' }, env: [{ name: 'MODEL', value: 'tiny' }], drainSeconds: 20, autoscaler: { policy: 'kpa', targetInFlight: 2, stableSeconds: 8, panicSeconds: 4 } });
    const pods = await waitFor('two replicas bound', async () => {
      const got = replicasOf(await listPods(kc, NS), 'chat');
      return got.length === 2 && got.every((p) => p.spec?.nodeName) ? got : null;
    }, 30_000, 20).catch(async (e: unknown) => {
      debug(JSON.stringify(await events(kc, NS, 'chat-r1')));
      debug(JSON.stringify((await listPods(kc, NS)).map((p) => [p.metadata?.name, p.spec?.nodeName, p.status])));
      throw e;
    });
    const boundSeconds = (Date.now() - t0) / 1000;
    assert.deepEqual(pods.map((p) => p.metadata?.name).sort(), ['chat-r1', 'chat-r2']);
    for (const p of pods) {
      assert.equal(p.spec?.schedulerName, 'gantry');
      assert.equal(p.spec?.priority, 1000, 'the PriorityClass resolved');
      assert.equal(p.spec?.terminationGracePeriodSeconds, 20, 'drainSeconds is the grace');
      assert.equal(p.metadata?.ownerReferences?.[0]?.kind, 'InferenceService');
      assert.equal(p.metadata?.ownerReferences?.[0]?.controller, true);
      assert.equal(p.metadata?.annotations?.['gantry.dev/preemptible'], 'false');
      assert.ok(p.metadata?.annotations?.['gantry.dev/gpu-assignment'], 'bound with its GPU assignment');
      const env = Object.fromEntries((p.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
      assert.equal(env['PORT'], String(port));
      assert.equal(env['MODEL'], 'tiny');
      assert.equal(env['GANTRY_SERVICE'], 'chat');
      assert.equal(p.spec?.containers[0]?.resources?.limits?.['nvidia.com/gpu'], '1');
    }
    const st = await waitFor('status: 2 Ready', async () => {
      const s = await statusOf(kc, 'chat');
      return s.readyReplicas === 2 ? s : null;
    });
    assert.equal(st.desiredReplicas, 2);
    assert.equal(st.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    console.log(`[figures] InferenceService applied -> 2 replicas bound: ${boundSeconds.toFixed(2)} s; -> Ready (servers up): ${((Date.now() - t0) / 1000).toFixed(2)} s`);
  });

  it('gantry k8s router streams to Ready replicas, scales out on a load step and back in without cutting a stream', async () => {
    router = await startRouterProcess(cp, NS);
    const base = router.base;
    const first = await waitFor('a streamed answer through the router', async () => {
      const r = await streamCompletion(base, 'chat', 4);
      return r.status === 200 ? r : null;
    });
    assert.ok(first.done, 'the stream ended with [DONE]');
    assert.match(first.replica, /^chat-r[12]$/);
    const unknown = await fetch(`${base}/nope/v1/models`);
    assert.equal(unknown.status, 404);
    assert.match(await unknown.text(), /SERVICE_NOT_FOUND.*\/NAME\.NAMESPACE\/PATH/);
    assert.equal((await statusOf(kc, 'chat')).url, 'http://router.test/chat.serve/');

    // A load step: 10 clients streaming back to back (targetInFlight 2 per replica -> 3 wanted).
    const step = Date.now();
    const load = streamLoad(base, 'chat', 10, 48);
    const results = load.results;
    const scaled = await waitFor('the autoscaler scales out', async () => {
      const s = await statusOf(kc, 'chat');
      return (s.desiredReplicas ?? 0) > 2 ? s : null;
    }, 30_000, 50);
    const decisionSeconds = (Date.parse(scaled.lastScale?.time ?? '') - step) / 1000;
    assert.equal(scaled.lastScale?.from, 2);
    assert.equal(scaled.lastScale?.to, 3);
    assert.match(scaled.lastScale?.reason ?? '', /in flight/);
    await waitFor('the third replica takes requests', async () => results.some((r) => r.replica === 'chat-r3'), 30_000, 50);
    const servedAfter = (Date.now() - step) / 1000;
    const scaleEvents = await events(kc, NS, 'chat');
    assert.ok(scaleEvents.some((e) => e.reason === 'ScaledUp' && e.message.startsWith('2 -> 3 replicas')), JSON.stringify(scaleEvents));
    await load.stop();

    // Idle: the stable window (8 s) passes and the count falls back to min; draining replicas finish their streams.
    const down = await waitFor('the autoscaler scales in', async () => {
      const s = await statusOf(kc, 'chat');
      return s.desiredReplicas === 2 ? s : null;
    }, 60_000, 200);
    assert.equal(down.lastScale?.to, 2);
    await waitFor('one replica removed', async () => replicasOf(await listPods(kc, NS), 'chat').length === 2, 30_000);
    const bad = results.filter((r) => r.status !== 200 || !r.done);
    assert.equal(bad.length, 0, `${bad.length} of ${results.length} streams failed or were cut: ${JSON.stringify(bad.slice(0, 3))}`);
    assert.deepEqual([...new Set(results.map((r) => r.replica))].sort(), ['chat-r1', 'chat-r2', 'chat-r3']);
    const text = await (await fetch(`http://127.0.0.1:${router.metricsPort}/metrics`)).text();
    assert.match(text, /gantry_service_num_requests_waiting\{service="chat\.serve"\} 0/);
    assert.match(text, /gantry_service_scale_decisions_total\{service="chat\.serve",direction="up"\} [1-9]/);
    console.log(`[figures] load step -> scale-out decided: ${decisionSeconds.toFixed(2)} s (${scaled.lastScale?.panic ? 'panic window' : 'stable window'}); -> new replica serving: ${servedAfter.toFixed(2)} s; ${results.length} streams, 0 failed`);
  });

  it('a new template replaces the replicas once the new ones are Ready, with no stream cut', async () => {
    const base = router?.base ?? assert.fail('the router runs');
    const before = replicasOf(await listPods(kc, NS), 'chat').map((p) => p.metadata?.name ?? '').sort();
    const revision = (await statusOf(kc, 'chat')).revision;
    const load = streamLoad(base, 'chat', 3, 24);
    await kc.makeApiClient(CustomObjectsApi).patchNamespacedCustomObject(
      { ...ISVC, namespace: NS, name: 'chat', body: { spec: { env: [{ name: 'MODEL', value: 'tiny-v2' }] } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const after = await waitFor('only new-revision replicas, Ready', async () => {
      const st = await statusOf(kc, 'chat');
      const pods = replicasOf(await listPods(kc, NS), 'chat');
      return st.revision !== revision && st.readyReplicas === 2 && pods.length === 2 && pods.every((p) => p.metadata?.labels?.['gantry.dev/inference-revision'] === st.revision) ? pods : null;
    }, 60_000, 100);
    await waitFor('requests reach the new replicas', async () => load.results.some((r) => !before.includes(r.replica) && r.status === 200), 30_000, 50);
    await load.stop();
    assert.ok(after.every((p) => !before.includes(p.metadata?.name ?? '')), `new pods ${after.map((p) => p.metadata?.name).join(', ')} replaced ${before.join(', ')}`);
    assert.ok(after.every((p) => p.spec?.containers[0]?.env?.some((e) => e.name === 'MODEL' && e.value === 'tiny-v2')));
    const bad = load.results.filter((r) => r.status !== 200 || !r.done);
    assert.equal(bad.length, 0, `${bad.length} of ${load.results.length} streams failed or were cut during the replacement`);
  });

  it('a service at zero starts a replica for a held request, which is then answered', async () => {
    const base = router?.base ?? assert.fail('the router runs');
    await apply(kc, 'idle', { port, replicas: { min: 0, max: 1 }, resources: { gpu: 1 } });
    await waitFor('the router knows it', async () => (await statusOf(kc, 'idle')).url !== undefined);
    assert.equal(replicasOf(await listPods(kc, NS), 'idle').length, 0, 'no replica at zero');
    const t0 = Date.now();
    const answer = await streamCompletion(base, 'idle', 4);
    assert.equal(answer.status, 200);
    assert.ok(answer.done);
    assert.equal(answer.replica, 'idle-r1');
    const st = await statusOf(kc, 'idle');
    assert.equal(st.lastScale?.from, 0);
    assert.equal(st.lastScale?.to, 1);
    assert.match(st.lastScale?.reason ?? '', /a request arrived while scaled to zero/);
    console.log(`[figures] scale from zero: held request answered after ${((Date.now() - t0) / 1000).toFixed(2)} s`);
    await remove(kc, 'idle');
    await waitFor('idle gone', async () => replicasOf(await listPods(kc, NS), 'idle').length === 0, 30_000);
  });

  it('a GPU-share replica carries the share annotations the webhook and the scheduler read', async () => {
    await apply(kc, 'small', { port, replicas: { min: 1, max: 1 }, resources: { gpuFraction: '0.5', gpuMemory: '20Gi' } });
    const [pod] = await waitFor('the share replica bound', async () => {
      const got = replicasOf(await listPods(kc, NS), 'small');
      return got.length === 1 && got[0]?.spec?.nodeName ? got : null;
    });
    assert.equal(pod?.metadata?.annotations?.['gantry.dev/gpu-fraction'], '0.5');
    assert.equal(pod?.metadata?.annotations?.['gantry.dev/gpu-memory'], '20Gi');
    assert.equal(pod?.spec?.containers[0]?.resources?.limits?.['nvidia.com/gpu'], undefined);
    const grant = JSON.parse(pod?.metadata?.annotations?.['gantry.dev/gpu-assignment'] ?? '{}') as { gpus: Array<{ milli: number; memoryMiB: number }> };
    assert.deepEqual(grant.gpus.map((g) => [g.milli, g.memoryMiB]), [[500, 20 * 1024]]);
    await remove(kc, 'small');
    await waitFor('its replica removed with it', async () => replicasOf(await listPods(kc, NS), 'small').length === 0);
  });

  it('a replica that does not fit takes GPUs from preemptible training (surge)', async () => {
    await remove(kc, 'chat');
    await waitFor('chat gone', async () => replicasOf(await listPods(kc, NS), 'chat').length === 0, 60_000);
    await createPods(kc, Array.from({ length: 8 }, (_, i) => fakePod(TRAIN, `train-${i}`, { gpus: 1, priorityClassName: 'training', annotations: { 'gantry.dev/checkpoint': 'true' } })));
    await waitFor('training fills the fleet', async () => (await listPods(kc, TRAIN)).filter((p) => p.status?.phase === 'Running').length === 8);
    const t0 = Date.now();
    await apply(kc, 'burst', { port, priorityClassName: 'inference', replicas: { min: 1, max: 2 }, resources: { gpu: 1 } });
    await waitFor('the replica bound', async () => replicasOf(await listPods(kc, NS), 'burst').some((p) => p.spec?.nodeName), 60_000, 50);
    const seconds = (Date.now() - t0) / 1000;
    const left = (await listPods(kc, TRAIN)).filter((p) => !p.metadata?.deletionTimestamp);
    assert.equal(left.length, 7, 'one training pod evicted');
    console.log(`[figures] surge: InferenceService applied on a full fleet -> replica bound: ${seconds.toFixed(2)} s`);
  });

  it('refuses bad specs: the CRD schema, then the webhook, each naming the field', async () => {
    // The schema (and its CEL rules) alone.
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ replicas: { min: 3, max: 2 } }, /replicas.min must be at most replicas.max/],
      [{ resources: { gpu: 1, gpuFraction: '0.5' } }, /whole GPUs \(gpu\) exclude a share/],
      [{ resources: { gpuFraction: '1.5' } }, /spec\.resources\.gpuFraction/],
      [{ routing: { policy: 'random' } }, /spec\.routing\.policy/],
      [{ port: 70000 }, /spec\.port/],
      [{ env: [{ name: 'PORT', value: '1' }] }, /set by Gantry/],
    ];
    for (const [spec, message] of cases) {
      const r = await refusal(kc, 'bad', { port, ...spec });
      assert.equal(r?.code, 422, `${JSON.stringify(spec)}: ${JSON.stringify(r)}`);
      assert.match(r?.message ?? '', message);
    }
    const noImage = await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...ISVC, namespace: NS, body: { apiVersion: 'scheduling.gantry.dev/v1alpha1', kind: 'InferenceService', metadata: { name: 'noimage' }, spec: {} }, dryRun: 'All' }).catch((e: ApiException<string>) => e);
    assert.ok(noImage instanceof ApiException && /spec\.image/.test(String(noImage.body)));

    // What the schema accepts but Gantry cannot run: without the webhook the controller says so in the status and an Event, and makes no pod.
    await apply(kc, 'zero-memory', { port, resources: { gpuMemory: '0' } });
    const st = await waitFor('Valid=False', async () => (await statusOf(kc, 'zero-memory')).conditions?.find((c) => c.type === 'Valid' && c.status === 'False'));
    assert.match(st.message ?? '', /spec\.resources: gantry\.dev\/gpu-memory="0" must be a memory size/);
    assert.ok((await events(kc, NS, 'zero-memory')).some((e) => e.reason === 'InvalidSpec'));
    assert.equal(replicasOf(await listPods(kc, NS), 'zero-memory').length, 0);

    // With the webhook (deploy/webhook.yaml's gantry-inferenceservices), the same spec is refused at apply.
    const pems = await generate([{ name: 'commonName', value: 'gantry-webhook.gantry-system.svc' }], { keySize: 2048, extensions: [{ name: 'basicConstraints', cA: true }, { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }] });
    const wh = await startWebhookServer({ cert: pems.cert, key: pems.private, port: 0, host: '127.0.0.1', log: () => undefined });
    closers.push(() => wh.server.close());
    const cfg = manifest('webhook.yaml').find((o) => o.kind === 'ValidatingWebhookConfiguration' && o.metadata?.name === 'gantry-inferenceservices') as V1ValidatingWebhookConfiguration;
    assert.ok(cfg, 'deploy/webhook.yaml registers the InferenceService webhook');
    for (const w of cfg.webhooks ?? []) w.clientConfig = { url: `https://127.0.0.1:${wh.port}/validate-inferenceservice`, caBundle: Buffer.from(pems.cert).toString('base64') };
    await kc.makeApiClient(AdmissionregistrationV1Api).createValidatingWebhookConfiguration({ body: cfg });
    const denied = await waitFor('the webhook refuses it', async () => {
      const r = await refusal(kc, 'zero-memory-2', { port, resources: { gpuMemory: '0' } });
      return r && r.message.includes('inferenceservices.gantry.dev') ? r : null;
    }, 20_000, 100);
    assert.match(denied.message, /InferenceService zero-memory-2: spec\.resources: gantry\.dev\/gpu-memory="0" must be a memory size/);
    assert.equal(await refusal(kc, 'fine', { port, resources: { gpuFraction: '0.25' } }), null, 'a good spec passes');
  });

  it('needed no permission beyond deploy/rbac.yaml (scheduler and controller)', () => {
    assert.deepEqual(forbidden, []);
  });
});
