/**
 * Gantry's Kubernetes mode against a real kube-apiserver + etcd (test/k8s/harness.ts).
 * One control plane for the file; each test has its own namespace and its own fake GPU nodes
 * (labelled gantry.dev/test=<id>, and its pods select them). The first tests run the scheduler
 * in-process; the last ones run `gantry k8s scheduler` processes with the deployed service
 * account's token (so the RBAC in deploy/ is what they are allowed), kill them, and restart them.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import {
  AdmissionregistrationV1Api, ApiException, CoordinationV1Api, CoreV1Api, KubernetesObjectApi, RbacAuthorizationV1Api, SchedulingV1Api,
  PatchStrategy, setHeaderOptions, type KubeConfig, type KubernetesObject, type V1MutatingWebhookConfiguration, type V1Pod, type V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { ControlPlane, freePort, k8sTestOptions } from './harness.js';
import {
  applyObjects, createNamespace, createNode, createPodGroup, createPods, createQueue, deleteQueue, events, getQueue, FakeKubelet, fakeNode, fakePod, getPodGroup, gpuUses,
  listPods, manifest, overbooked, REPO, sleep, TEST_SCHEDULER_TIMING, waitEstablished, waitFor,
} from './cluster.js';
import { KubeScheduler } from '../../src/adapters/k8s/scheduler.js';
import { startWebhookServer } from '../../src/adapters/k8s/webhook.js';
import { KubeClusterWrites } from '../../src/adapters/k8s/api.js';

const opts = k8sTestOptions();

describe('kubernetes mode (real kube-apiserver)', opts, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let scheduler: KubeScheduler | null = null;
  let webhookClose: (() => void) | null = null;
  const kubelets: FakeKubelet[] = [];
  const procs: ChildProcess[] = [];
  const logs: string[] = [];

  const sel = (id: string): Record<string, string> => ({ 'gantry.dev/test': id });
  async function nodes(id: string, n: number, o: Parameters<typeof fakeNode>[1] = {}): Promise<void> {
    for (let i = 0; i < n; i++) await createNode(kc, fakeNode(`${id}-${i}`, { ...o, labels: { ...sel(id), ...o.labels } }));
  }
  async function ns(id: string): Promise<string> {
    await createNamespace(kc, id);
    kubelets.push(new FakeKubelet(kc, id));
    return id;
  }
  const bound = (pods: readonly V1Pod[]): V1Pod[] => pods.filter((p) => p.spec?.nodeName);
  async function waitBound(namespace: string, names: readonly string[], timeoutMs = 20_000): Promise<V1Pod[]> {
    return waitFor(`${names.join(', ')} bound`, async () => {
      const pods = await listPods(kc, namespace);
      const ok = names.every((n) => pods.find((p) => p.metadata?.name === n)?.spec?.nodeName);
      return ok ? pods : null;
    }, timeoutMs);
  }

  before(async () => {
    cp = await ControlPlane.start();
    kc = cp.kubeConfig();
    // The manifests in deploy/ must be accepted by a real apiserver as they are.
    await applyObjects(kc, [...manifest('namespace.yaml'), ...manifest('crds/queues.scheduling.gantry.dev.yaml'), ...manifest('crds/podgroups.scheduling.x-k8s.io.yaml'), ...manifest('rbac.yaml')]);
    await waitEstablished(kc, ['queues.scheduling.gantry.dev', 'podgroups.scheduling.x-k8s.io']);
    // The webhook as deployed, except that the apiserver reaches it on loopback (no Service network here).
    const pems = await generate([{ name: 'commonName', value: 'gantry-webhook.gantry-system.svc' }], {
      keySize: 2048,
      extensions: [
        { name: 'basicConstraints', cA: true },
        { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'gantry-webhook.gantry-system.svc' }] },
      ],
    });
    const leases = new KubeClusterWrites(kc, 'test-webhook');
    const wh = await startWebhookServer({
      cert: pems.cert, key: pems.private, port: 0, host: '127.0.0.1', log: (m) => logs.push(m), readLease: () => leases.getLease('gantry-system', 'gantry-scheduler'),
    });
    webhookClose = () => wh.server.close();
    const admission = kc.makeApiClient(AdmissionregistrationV1Api);
    const caBundle = Buffer.from(pems.cert).toString('base64');
    for (const o of manifest('webhook.yaml')) {
      if (o.kind === 'MutatingWebhookConfiguration') {
        const cfg = o as V1MutatingWebhookConfiguration;
        for (const w of cfg.webhooks ?? []) w.clientConfig = { url: `https://127.0.0.1:${wh.port}/mutate`, caBundle };
        await admission.createMutatingWebhookConfiguration({ body: cfg });
      } else if (o.kind === 'ValidatingWebhookConfiguration') {
        const cfg = o as V1ValidatingWebhookConfiguration;
        for (const w of cfg.webhooks ?? []) w.clientConfig = { url: `https://127.0.0.1:${wh.port}/validate`, caBundle };
        await admission.createValidatingWebhookConfiguration({ body: cfg });
      }
    }
    // The in-process scheduler runs as the deployed service account: every write it makes must
    // be allowed by deploy/rbac.yaml (see the check for "forbidden" at the end).
    const saToken = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
      name: 'gantry-scheduler',
      namespace: 'gantry-system',
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    scheduler = new KubeScheduler({
      kubeConfig: cp.kubeConfig(saToken.status?.token ?? '', 'gantry-scheduler'),
      namespace: 'gantry-system',
      identity: 'in-process',
      ...TEST_SCHEDULER_TIMING,
      log: (m) => logs.push(m),
    });
    await scheduler.start();
    await waitFor('in-process scheduler leads', async () => scheduler?.isLeader);
  });

  after(async () => {
    if (process.env['GANTRY_K8S_LOGS'] === '1') process.stderr.write(logs.join('\n') + '\n');
    await scheduler?.stop();
    for (const p of procs) p.kill('SIGKILL');
    for (const k of kubelets) await k.stop();
    webhookClose?.();
    await cp?.stop();
  });

  it('accepts the deploy/ manifests: CRDs served, RBAC created, Deployments and webhook valid', async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const role = await rbac.readClusterRole({ name: 'gantry-scheduler' });
    assert.ok(role.rules?.some((r) => r.resources?.includes('pods/binding')));
    // Server-side validation of the workloads without running them (there are no kubelets).
    const client = KubernetesObjectApi.makeApiClient(kc);
    // (The webhook configuration as shipped, with its Service reference, under another name: the
    // one in force for the tests points at loopback.)
    const shipped = manifest('webhook.yaml').map((o) => (o.kind?.endsWith('WebhookConfiguration') ? { ...o, metadata: { ...o.metadata, name: `${o.metadata?.name ?? ''}-as-shipped` } } : o));
    for (const o of [...manifest('scheduler.yaml'), ...shipped]) {
      await client.create(o as KubernetesObject, undefined, 'All');
    }
    // A Queue that breaks the schema is refused by the apiserver itself.
    await assert.rejects(createQueue(kc, 'bad', { weight: -1 }), (e: unknown) => e instanceof ApiException && e.code === 422);
  });

  // First, while the test nodes are the only capacity: fair shares depend on the whole cluster.
  it('lets a queue borrow idle quota and reclaims it by eviction when its owner needs it', async () => {
    const id = await ns('quota');
    await nodes(id, 1, { gpus: 8 });
    await createQueue(kc, 'team-a', { quota: { gpu: 4 } });
    await createQueue(kc, 'team-b', { quota: { gpu: 4 } });
    await sleep(300);
    await createPods(kc, Array.from({ length: 8 }, (_, i) => fakePod(id, `a${i}`, { gpus: 1, queue: 'team-a', nodeSelector: sel(id) })));
    await waitBound(id, Array.from({ length: 8 }, (_, i) => `a${i}`));
    await createPods(kc, Array.from({ length: 4 }, (_, i) => fakePod(id, `b${i}`, { gpus: 1, queue: 'team-b', nodeSelector: sel(id) })));
    const pods = await waitBound(id, ['b0', 'b1', 'b2', 'b3'], 30_000);
    const teamA = pods.filter((p) => p.metadata?.name?.startsWith('a'));
    assert.equal(teamA.length, 4, 'four borrowed GPUs of team-a were reclaimed (its pods evicted)');
    assert.deepEqual(overbooked(gpuUses(pods)), []);
    // Queue status shows the usage (written every few seconds).
    await waitFor('team-b status', async () => (await getQueue(kc, 'team-b')).status?.['usedGpu'] === 4, 10_000);
  });

  it('binds whole-GPU pods packed, annotates their GPUs, and explains a pod that cannot fit', async () => {
    const id = await ns('whole');
    await nodes(id, 2, { gpus: 8 });
    await createPods(kc, [
      fakePod(id, 'a', { gpus: 4, nodeSelector: sel(id) }),
      fakePod(id, 'b', { gpus: 4, nodeSelector: sel(id) }),
      fakePod(id, 'c', { gpus: 8, nodeSelector: sel(id) }),
      fakePod(id, 'huge', { gpus: 16, nodeSelector: sel(id) }),
    ]);
    const pods = await waitBound(id, ['a', 'b', 'c']);
    assert.deepEqual(overbooked(gpuUses(pods)), []);
    const node = (n: string): string => pods.find((p) => p.metadata?.name === n)?.spec?.nodeName ?? '';
    assert.equal(node('a'), node('b'), 'the two 4-GPU pods share a node');
    assert.notEqual(node('a'), node('c'));
    const a = pods.find((p) => p.metadata?.name === 'a');
    assert.match(a?.metadata?.annotations?.['gantry.dev/gpu-uuids'] ?? '', /^GPU-[^,]+(,GPU-[^,]+){3}$/);
    assert.equal(pods.find((p) => p.metadata?.name === 'huge')?.spec?.nodeName, undefined);
    const ev = await waitFor('FailedScheduling event on huge', async () => (await events(kc, id, 'huge')).find((e) => e.reason === 'FailedScheduling'));
    assert.match(ev.message, /^gantry: fit: .*whole free GPUs/);
  });

  it('shares a GPU: the webhook points the pod at its ConfigMap, which holds its GPU and limits', async () => {
    const id = await ns('frac');
    const uuids = ['GPU-11111111-aaaa', 'GPU-22222222-bbbb'];
    await nodes(id, 1, { gpus: 2, annotations: { 'gantry.dev/gpus': JSON.stringify(uuids.map((uuid) => ({ uuid, model: 'H100-80GB' }))) } });
    // A bad request is refused at admission with the reason, and nothing is created.
    await assert.rejects(createPods(kc, [fakePod(id, 'bad', { fraction: '1.5', nodeSelector: sel(id) })]), (e: unknown) => {
      const message = e instanceof ApiException ? (JSON.parse(String(e.body)) as { message: string }).message : '';
      return message.includes('admission webhook "pods.gantry.dev" denied the request: gantry: gantry.dev/gpu-fraction="1.5" must be a number between 0 and 1');
    });
    await createPods(kc, [
      fakePod(id, 's1', { fraction: '0.5', nodeSelector: sel(id) }),
      fakePod(id, 's2', { fraction: '0.5', nodeSelector: sel(id) }),
      fakePod(id, 's3', { fraction: '0.5', gpuMemory: '20Gi', nodeSelector: sel(id) }),
    ]);
    await waitBound(id, ['s1', 's2', 's3']);
    // A pod with generateName has no name at admission: the ConfigMap name does not depend on it.
    const gen = fakePod(id, 'unused', { fraction: '0.25', nodeSelector: sel(id) });
    if (gen.metadata) {
      delete gen.metadata.name;
      gen.metadata.generateName = 'gen-';
    }
    const [created] = await createPods(kc, [gen]);
    const pods = await waitBound(id, ['s1', 's2', 's3', created?.metadata?.name ?? '']);
    assert.deepEqual(overbooked(gpuUses(pods)), []);
    const core = kc.makeApiClient(CoreV1Api);
    for (const p of pods) {
      const cmName = p.metadata?.annotations?.['gantry.dev/gpu-env-configmap'] ?? '';
      assert.match(cmName, /^gantry-gpu-/);
      assert.deepEqual(JSON.parse(JSON.stringify(p.spec?.containers[0]?.envFrom)), [{ configMapRef: { name: cmName, optional: false } }]);
      const cm = await core.readNamespacedConfigMap({ namespace: id, name: cmName });
      assert.equal(cm.data?.['NVIDIA_VISIBLE_DEVICES'], p.metadata?.annotations?.['gantry.dev/gpu-uuids']);
      assert.ok(uuids.includes(cm.data?.['NVIDIA_VISIBLE_DEVICES'] ?? ''));
      assert.equal(cm.data?.['CUDA_MPS_ACTIVE_THREAD_PERCENTAGE'], p.metadata?.name?.startsWith('gen-') ? '25' : '50');
      assert.equal(cm.metadata?.ownerReferences?.[0]?.uid, p.metadata?.uid);
    }
    const s3 = await core.readNamespacedConfigMap({ namespace: id, name: pods.find((p) => p.metadata?.name === 's3')?.metadata?.annotations?.['gantry.dev/gpu-env-configmap'] ?? '' });
    assert.equal(s3.data?.['CUDA_MPS_PINNED_DEVICE_MEM_LIMIT'], '0=20480M');
    const perGpu = new Set(gpuUses(pods).map((u) => u.gpu));
    assert.equal(perGpu.size, 2, 'three half-GPU pods and a quarter need both GPUs');
  });

  it('places MIG slices by the real start-slot rules', async () => {
    const id = await ns('mig');
    await nodes(id, 1, { gpus: 0, count: 1, product: 'NVIDIA-A100-SXM4-80GB', memoryMiB: 81920, mig: { '3g.40gb': 2 } });
    await createPods(kc, [0, 1, 2].map((i) => fakePod(id, `m${i}`, { mig: '3g.40gb', nodeSelector: sel(id) })));
    const pods = await waitFor('two MIG pods bound', async () => {
      const ps = await listPods(kc, id);
      return bound(ps).length === 2 ? ps : null;
    });
    await sleep(500);
    assert.equal(bound(await listPods(kc, id)).length, 2, 'a third 3g slice does not fit one A100');
    const uses = gpuUses(pods);
    assert.deepEqual(uses.map((u) => u.mig?.start).sort(), [0, 4]);
    assert.deepEqual(overbooked(uses), []);
    const waiting = pods.find((p) => !p.spec?.nodeName)?.metadata?.name ?? '';
    await waitFor('FailedScheduling on the third MIG pod', async () => (await events(kc, id, waiting)).some((e) => e.reason === 'FailedScheduling'));
  });

  it('binds a gang all or nothing and keeps its PodGroup status', async () => {
    const id = await ns('gang');
    await nodes(id, 1, { gpus: 4 });
    await createPodGroup(kc, id, 'train', 3);
    await createPods(kc, [0, 1, 2].map((i) => fakePod(id, `w${i}`, { gpus: 4, group: 'train', nodeSelector: sel(id) })));
    // Wait for the core's own explanation (after the gang was formed), not the "1 of 3 pods exist" note.
    const why = await waitFor('gang explained', async () => (await events(kc, id, 'w0')).find((e) => e.reason === 'FailedScheduling' && e.message.includes('[position')));
    assert.match(why.message, /^gantry: /);
    assert.equal(bound(await listPods(kc, id)).length, 0, 'one node fits one worker: none is bound');
    assert.equal((await getPodGroup(kc, id, 'train')).status?.['phase'], 'Pending');
    await createNode(kc, fakeNode(`${id}-1`, { gpus: 4, labels: sel(id) }));
    await createNode(kc, fakeNode(`${id}-2`, { gpus: 4, labels: sel(id) }));
    const pods = await waitBound(id, ['w0', 'w1', 'w2']);
    assert.equal(new Set(pods.map((p) => p.spec?.nodeName)).size, 3);
    await waitFor('PodGroup Running', async () => (await getPodGroup(kc, id, 'train')).status?.['phase'] === 'Running');
  });

  it('runs the pods of a group beyond its minMember too', async () => {
    const id = await ns('elastic');
    await nodes(id, 1, { gpus: 8 });
    await createPodGroup(kc, id, 'elastic', 2);
    await createPods(kc, [0, 1, 2, 3].map((i) => fakePod(id, `e${i}`, { gpus: 1, group: 'elastic', nodeSelector: sel(id) })));
    await waitBound(id, ['e0', 'e1', 'e2', 'e3']);
  });

  it('preempts lower-priority pods through the Eviction API', async () => {
    const id = await ns('preempt');
    await nodes(id, 1, { gpus: 4 });
    const scheduling = kc.makeApiClient(SchedulingV1Api);
    await scheduling.createPriorityClass({ body: { metadata: { name: 'low' }, value: 0 } });
    await scheduling.createPriorityClass({ body: { metadata: { name: 'high' }, value: 1000 } });
    await createPods(kc, Array.from({ length: 4 }, (_, i) => fakePod(id, `low${i}`, { gpus: 1, priorityClassName: 'low', nodeSelector: sel(id) })));
    await waitBound(id, ['low0', 'low1', 'low2', 'low3']);
    await createPods(kc, [fakePod(id, 'high', { gpus: 2, priorityClassName: 'high', nodeSelector: sel(id) })]);
    const pods = await waitBound(id, ['high'], 30_000);
    assert.equal(pods.filter((p) => p.metadata?.name?.startsWith('low')).length, 2, 'two low-priority pods were evicted');
    assert.deepEqual(overbooked(gpuUses(pods)), []);
  });

  it('frees the GPUs of a pod that finished for the next one', async () => {
    const id = await ns('finish');
    await nodes(id, 1, { gpus: 1 });
    await createPods(kc, [fakePod(id, 'one', { gpus: 1, nodeSelector: sel(id) }), fakePod(id, 'two', { gpus: 1, nodeSelector: sel(id) })]);
    const first = await waitFor('one pod bound', async () => bound(await listPods(kc, id))[0]);
    const other = first.metadata?.name === 'one' ? 'two' : 'one';
    await sleep(300);
    assert.equal(bound(await listPods(kc, id)).length, 1);
    kubelets[kubelets.length - 1]?.succeed.add(first.metadata?.name ?? '');
    await waitBound(id, [other]);
  });

  it('follows node updates: a cordoned node takes no pods until it is uncordoned', async () => {
    const id = await ns('cordon');
    await nodes(id, 2, { gpus: 8 });
    const core = kc.makeApiClient(CoreV1Api);
    const cordon = (on: boolean): Promise<unknown> =>
      core.patchNode({ name: `${id}-0`, body: { spec: { unschedulable: on } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await cordon(true);
    await sleep(500);
    await createPods(kc, [fakePod(id, 'first', { gpus: 8, nodeSelector: sel(id) })]);
    const pods = await waitBound(id, ['first']);
    assert.equal(pods.find((p) => p.metadata?.name === 'first')?.spec?.nodeName, `${id}-1`);
    await createPods(kc, [fakePod(id, 'second', { gpus: 8, nodeSelector: sel(id) })]);
    await waitFor('second explained', async () => (await events(kc, id, 'second')).some((e) => e.reason === 'FailedScheduling'));
    await cordon(false);
    const after = await waitBound(id, ['second']);
    assert.equal(after.find((p) => p.metadata?.name === 'second')?.spec?.nodeName, `${id}-0`);
  });

  it('refuses an invalid queue tree as a whole and says why', async () => {
    await createQueue(kc, 'orphan', { parent: 'no-such-queue', quota: { gpu: 1 } });
    const ev = await waitFor('InvalidQueue event', async () => {
      const list = await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: 'default' });
      return list.items.find((e) => e.reason === 'InvalidQueue');
    });
    assert.match(ev.message ?? '', /queues not changed: queue orphan: parent no-such-queue does not exist/);
    // The previous tree stays in force: team-a still schedules.
    const id = await ns('queues-kept');
    await nodes(id, 1, { gpus: 1 });
    await createPods(kc, [fakePod(id, 'still', { gpus: 1, queue: 'team-a', nodeSelector: sel(id) })]);
    await waitBound(id, ['still']);
    await deleteQueue(kc, 'orphan');
  });

  it('holds a pod over its queue\'s per-GPU-model limit, naming the model, while another model runs', async () => {
    // The schema refuses a quota above its limit; Gantry refuses an unknown model (an event).
    await assert.rejects(createQueue(kc, 'bad-model-quota', { gpuModels: { L4: { quota: 3, limit: 2 } } }), (e: unknown) => e instanceof ApiException && e.code === 422 && /quota must not exceed limit/.test(String(e.body)));
    await assert.rejects(createQueue(kc, 'bad-model-quota', { gpuModels: { L4: { limit: -1 } } }), (e: unknown) => e instanceof ApiException && e.code === 422);
    const id = await ns('models');
    await createNode(kc, fakeNode(`${id}-h100`, { gpus: 2, labels: sel(id) }));
    await createNode(kc, fakeNode(`${id}-l4`, { gpus: 2, product: 'NVIDIA-L4', memoryMiB: 23034, labels: sel(id) }));
    await createQueue(kc, 'per-model', { gpuModels: { 'NVIDIA-H100-80GB-HBM3': { limit: 1 } } });
    await sleep(300);
    const pod = (name: string, model: string) => fakePod(id, name, { gpus: 1, queue: 'per-model', nodeSelector: sel(id), annotations: { 'gantry.dev/gpu-models': model } });
    await createPods(kc, [pod('h100-a', 'H100-80GB')]);
    await waitBound(id, ['h100-a']);
    await createPods(kc, [pod('h100-b', 'H100-80GB'), pod('l4', 'L4')]);
    await waitBound(id, ['l4']);
    const ev = await waitFor('FailedScheduling on h100-b', async () => (await events(kc, id, 'h100-b')).find((e) => e.reason === 'FailedScheduling'));
    assert.match(ev.message, /queue per-model limit reached: H100-80GB GPU 1 used \+ 1 asked > 1/);
    assert.equal((await listPods(kc, id)).find((p) => p.metadata?.name === 'h100-b')?.spec?.nodeName, undefined);
    await waitFor('per-model status by model', async () => {
      const by = (await getQueue(kc, 'per-model')).status?.['usedGpuByModel'] as Record<string, number> | undefined;
      return by?.['H100-80GB'] === 1 && by['L4'] === 1;
    }, 10_000);
  });

  it('refuses a bind made in a past leader term (the webhook fence)', async () => {
    const id = await ns('fence');
    await nodes(id, 1, { gpus: 1 });
    // Waits: no node has this label, so the scheduler leaves it alone.
    await createPods(kc, [fakePod(id, 'late', { gpus: 1, nodeSelector: { 'gantry.dev/test': 'nowhere' } })]);
    const bind = (epoch: string): Promise<unknown> =>
      kc.makeApiClient(CoreV1Api).createNamespacedPodBinding({
        name: 'late',
        namespace: id,
        body: { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'late', namespace: id, annotations: { 'gantry.dev/leader-epoch': epoch } }, target: { apiVersion: 'v1', kind: 'Node', name: `${id}-0` } },
      });
    await assert.rejects(bind('0:a-leader-long-gone'), (e: unknown) => {
      const message = e instanceof ApiException ? (JSON.parse(String(e.body)) as { message: string }).message : '';
      return /denied the request: gantry: stale binding refused: made by a-leader-long-gone in term 0, but the Lease is held by in-process in term \d+/.test(message);
    });
    assert.equal((await listPods(kc, id)).find((p) => p.metadata?.name === 'late')?.spec?.nodeName, undefined);
  });

  it('needed no permission beyond deploy/rbac.yaml', () => {
    const denied = logs.filter((l) => /forbidden|403/i.test(l));
    assert.deepEqual(denied, []);
  });

  // ---- scheduler processes with the deployed service account ---------------------------------

  async function saKubeconfig(): Promise<string> {
    const tr = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
      name: 'gantry-scheduler',
      namespace: 'gantry-system',
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    return cp.writeKubeconfig(join(cp.dir, 'sa.kubeconfig'), tr.status?.token ?? '', 'gantry-scheduler');
  }

  function startProcess(identity: string, kubeconfig: string, metricsPort = 0): ChildProcess {
    const p = spawn(process.execPath, [join(REPO, 'bin/gantry.js'), 'k8s', 'scheduler', `--kubeconfig=${kubeconfig}`, '--namespace=gantry-system', `--identity=${identity}`,
      '--lease-duration=3s', '--renew-deadline=2s', '--retry-period=500ms', '--min-runtime=0s', `--metrics-port=${metricsPort}`, '--metrics-host=127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr?.on('data', (d: Buffer) => logs.push(`[${identity}] ${d.toString().trimEnd()}`));
    procs.push(p);
    return p;
  }

  async function leaseHolder(): Promise<string> {
    const l = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: 'gantry-system', name: 'gantry-scheduler' });
    return l.spec?.holderIdentity ?? '';
  }

  it('restarts without booking a GPU twice (scheduler process with the deployed RBAC)', async () => {
    await scheduler?.stop();
    scheduler = null;
    const kcFile = await saKubeconfig();
    const id = await ns('restart');
    await nodes(id, 2, { gpus: 4 });
    const first = startProcess('first', kcFile);
    await waitFor('first leads', async () => (await leaseHolder()) === 'first', 20_000);
    await createPods(kc, [0, 1, 2].map((i) => fakePod(id, `r${i}`, { gpus: 2, nodeSelector: sel(id) })));
    await waitBound(id, ['r0', 'r1', 'r2']);
    first.kill('SIGKILL');
    startProcess('second', kcFile);
    await waitFor('second leads', async () => (await leaseHolder()) === 'second', 20_000);
    await createPods(kc, [3, 4, 5].map((i) => fakePod(id, `r${i}`, { gpus: 2, nodeSelector: sel(id) })));
    const pods = await waitFor('one more pod bound', async () => {
      const ps = await listPods(kc, id);
      return bound(ps).length >= 4 ? ps : null;
    });
    await sleep(1000);
    const after = await listPods(kc, id);
    assert.equal(bound(after).length, 4, '8 GPUs hold four 2-GPU pods, no more');
    assert.deepEqual(overbooked(gpuUses(after)), []);
    assert.ok(pods.length === 6);
  });

  it('fails over to the standby replica when the leader dies', async () => {
    const kcFile = await saKubeconfig();
    const port = await freePort();
    const standby = startProcess('third', kcFile, port);
    const leaderGauge = async (): Promise<string | undefined> => (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).split('\n').find((l) => l.startsWith('gantry_leader '));
    const id = await ns('failover');
    await nodes(id, 1, { gpus: 8 });
    assert.equal(await leaseHolder(), 'second');
    await waitFor('standby synced', async () => logs.some((l) => l.startsWith('[third]') && l.includes('synced:')), 20_000);
    await sleep(1500);
    assert.ok(!logs.some((l) => l.startsWith('[third]') && l.includes('became the leader')), 'the standby does not lead while the leader renews');
    // The standby mirrors the apiserver: ready, not leading (the CLI's --metrics-port).
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', reason: 'standby, mirroring the apiserver' });
    assert.equal(await leaderGauge(), 'gantry_leader 0');
    const second = procs.find((p) => p !== standby && p.exitCode === null && p.signalCode === null);
    second?.kill('SIGKILL');
    await waitFor('standby takes the lease', async () => (await leaseHolder()) === 'third', 20_000);
    await createPods(kc, [fakePod(id, 'after-failover', { gpus: 1, nodeSelector: sel(id) })]);
    await waitBound(id, ['after-failover']);
    assert.equal(standby.exitCode, null);
    assert.equal(await leaderGauge(), 'gantry_leader 1');
  });
});
