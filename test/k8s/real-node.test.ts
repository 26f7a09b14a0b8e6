/**
 * Gantry's Kubernetes mode with pods that really run: a real kubelet and containerd on this
 * machine (test/k8s/real-node.ts) registered with the test apiserver, Gantry's device plugin
 * advertising 4 simulated H100s on it, Gantry's scheduler and webhook. Each container writes what
 * it sees to a hostPath folder the test reads.
 *
 * Needs root and scripts/k8s/ensure-kubelet.sh; skipped otherwise, mandatory with
 * GANTRY_REQUIRE_KUBELET=1 (npm run test:all).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { AdmissionregistrationV1Api, CoreV1Api, SchedulingV1Api, type KubeConfig, type V1MutatingWebhookConfiguration, type V1Pod } from '@kubernetes/client-node';
import { ControlPlane } from './harness.js';
import { applyObjects, createNamespace, createPodGroup, listPods, manifest, sleep, waitEstablished, waitFor } from './cluster.js';
import { BUSYBOX_IMAGE, RealNode, realNodeTestOptions } from './real-node.js';
import { KubeScheduler } from '../../src/adapters/k8s/scheduler.js';
import { startWebhookServer } from '../../src/adapters/k8s/webhook.js';

const opts = realNodeTestOptions();

interface RunPod {
  readonly gpus?: number;
  readonly fraction?: string;
  readonly group?: string;
  readonly priorityClassName?: string;
  /** Shell script run by the container; /data is the test's host folder. */
  readonly script: string;
  readonly graceSeconds?: number;
}

describe('kubernetes mode on a real node (kubelet + containerd + gantry device plugin)', opts, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let node: RealNode;
  let scheduler: KubeScheduler | null = null;
  let webhookClose: (() => void) | null = null;
  const logs: string[] = [];

  function pod(namespace: string, name: string, data: string, o: RunPod): V1Pod {
    const limits: Record<string, string> = o.gpus ? { 'nvidia.com/gpu': String(o.gpus) } : {};
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace,
        labels: o.group ? { 'scheduling.x-k8s.io/pod-group': o.group } : {},
        annotations: o.fraction ? { 'gantry.dev/gpu-fraction': o.fraction } : {},
      },
      spec: {
        schedulerName: 'gantry',
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: o.graceSeconds ?? 0,
        ...(o.priorityClassName ? { priorityClassName: o.priorityClassName } : {}),
        containers: [{
          name: 'main',
          image: BUSYBOX_IMAGE,
          imagePullPolicy: 'Never',
          command: ['/bin/sh', '-c', o.script],
          resources: { requests: { cpu: '10m', memory: '16Mi', ...limits }, limits },
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        }],
        volumes: [{ name: 'data', hostPath: { path: data, type: 'Directory' } }],
      },
    };
  }

  async function create(p: V1Pod): Promise<void> {
    await kc.makeApiClient(CoreV1Api).createNamespacedPod({ namespace: p.metadata?.namespace ?? '', body: p });
  }

  async function readPod(namespace: string, name: string): Promise<V1Pod> {
    return kc.makeApiClient(CoreV1Api).readNamespacedPod({ namespace, name });
  }

  async function waitPhase(namespace: string, name: string, phases: readonly string[], timeoutMs = 60_000): Promise<V1Pod> {
    return waitFor(`${namespace}/${name} ${phases.join(' or ')}`, async () => {
      const p = await readPod(namespace, name);
      if (p.status?.phase === 'Failed' && !phases.includes('Failed')) throw new Error(`${name} failed: ${JSON.stringify(p.status?.containerStatuses?.[0]?.state)}`);
      return phases.includes(p.status?.phase ?? '') ? p : null;
    }, timeoutMs, 200);
  }

  async function waitGone(namespace: string, name: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(`${namespace}/${name} gone`, async () => !(await listPods(kc, namespace)).some((p) => p.metadata?.name === name), timeoutMs, 200);
  }

  async function deletePods(namespace: string): Promise<void> {
    const core = kc.makeApiClient(CoreV1Api);
    for (const p of await listPods(kc, namespace)) await core.deleteNamespacedPod({ namespace, name: p.metadata?.name ?? '', gracePeriodSeconds: 0 }).catch(() => undefined);
    await waitFor(`pods of ${namespace} gone`, async () => (await listPods(kc, namespace)).length === 0, 60_000, 200);
  }

  /** Runs a case in its own namespace; its pods go afterwards, passed or failed. */
  async function inNamespace(ns: string, f: () => Promise<void>): Promise<void> {
    await createNamespace(kc, ns);
    try {
      await f();
    } finally {
      await deletePods(ns);
    }
  }

  /** KEY=VALUE lines the container wrote. */
  function envFile(file: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
    }
    return out;
  }

  before(async () => {
    cp = await ControlPlane.start();
    kc = cp.kubeConfig();
    await applyObjects(kc, [...manifest('namespace.yaml'), ...manifest('crds/queues.scheduling.gantry.dev.yaml'), ...manifest('crds/podgroups.scheduling.x-k8s.io.yaml')]);
    await waitEstablished(kc, ['queues.scheduling.gantry.dev', 'podgroups.scheduling.x-k8s.io']);
    // The mutating webhook (GPU shares), reached on loopback.
    const pems = await generate([{ name: 'commonName', value: 'gantry-webhook.gantry-system.svc' }], {
      keySize: 2048,
      extensions: [{ name: 'basicConstraints', cA: true }, { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    const wh = await startWebhookServer({ cert: pems.cert, key: pems.private, port: 0, host: '127.0.0.1', log: (m) => logs.push(m) });
    webhookClose = () => wh.server.close();
    for (const o of manifest('webhook.yaml')) {
      if (o.kind !== 'MutatingWebhookConfiguration') continue;
      const cfg = o as V1MutatingWebhookConfiguration;
      for (const w of cfg.webhooks ?? []) w.clientConfig = { url: `https://127.0.0.1:${wh.port}/mutate`, caBundle: Buffer.from(pems.cert).toString('base64') };
      await kc.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({ body: cfg });
    }
    // The device plugin runs with deploy/device-plugin.yaml's service account: its RBAC is what it may do.
    await applyObjects(kc, manifest('device-plugin.yaml'));
    const token = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
      name: 'gantry-device-plugin',
      namespace: 'gantry-system',
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    node = await RealNode.start(cp, { gpus: '4xH100-80GB', pluginToken: token.status?.token ?? '' });
    scheduler = new KubeScheduler({ kubeConfig: kc, namespace: 'gantry-system', identity: 'real-node-test', leaderElection: false, core: { minRuntimeMs: 0 }, log: (m) => logs.push(m) });
    await scheduler.start();
  });

  after(async () => {
    if (process.env['GANTRY_K8S_LOGS'] === '1') {
      process.stderr.write(`${logs.join('\n')}\n--- device plugin:\n${node?.log('device-plugin') ?? ''}\n--- kubelet:\n${node?.logTail('kubelet', 80) ?? ''}\n`);
    }
    await scheduler?.stop();
    // Pods go while the kubelet runs, so that it stops their containers itself.
    for (const ns of ['whole', 'share', 'gang', 'preempt', 'restart']) await deletePods(ns).catch(() => undefined);
    await node?.stop();
    webhookClose?.();
    await cp?.stop();
  });

  it('registers the node Ready with 4 simulated GPUs from the device plugin, UUIDs published', async (t) => {
    const { containerdMs, readyMs, gpusMs } = node.timings;
    t.diagnostic(`real node: containerd up ${containerdMs} ms, node Ready ${readyMs} ms, GPUs advertised ${gpusMs} ms after the start`);
    const n = await node.readNode(kc);
    assert.equal(n.status?.capacity?.['nvidia.com/gpu'], '4');
    const gpus = JSON.parse(n.metadata?.annotations?.['gantry.dev/gpus'] ?? '[]') as { uuid: string; model: string }[];
    assert.deepEqual(gpus.map((g) => g.uuid), [0, 1, 2, 3].map((i) => `GPU-sim-${node.name}-${i}`));
    assert.equal(n.metadata?.labels?.['nvidia.com/gpu.product'], 'H100-80GB');
  });

  it('runs a fractional pod whose container sees the environment the webhook injected', async () => {
    await createNamespace(kc, 'share');
    const data = node.hostDir('share');
    await create(pod('share', 'half', data, { fraction: '0.5', script: 'env > /data/half.env; exec sleep 3600' }));
    const p = await waitPhase('share', 'half', ['Running']);
    await waitFor('half.env written', async () => existsSync(join(data, 'half.env')));
    const env = envFile(join(data, 'half.env'));
    const uuid = p.metadata?.annotations?.['gantry.dev/gpu-uuids'] ?? '';
    assert.match(uuid, /^GPU-sim-/);
    assert.equal(env['CUDA_VISIBLE_DEVICES'], uuid);
    assert.equal(env['NVIDIA_VISIBLE_DEVICES'], uuid);
    assert.equal(env['CUDA_MPS_ACTIVE_THREAD_PERCENTAGE'], '50');
    assert.equal(env['GANTRY_NODE'], node.name);
  });

  it('runs a whole-GPU pod whose container sees exactly the GPUs Gantry chose, not the shared one', async () => {
    // The half-GPU pod above keeps running: the kubelet counts 4 free devices (shares do not go
    // through the device plugin), Gantry has 3 whole GPUs left. The container must get those 3.
    await createNamespace(kc, 'whole');
    try {
      const data = node.hostDir('whole');
      await create(pod('whole', 'three', data, { gpus: 3, script: 'env > /data/three.env' }));
      const p = await waitPhase('whole', 'three', ['Succeeded']);
      const chosen = (p.metadata?.annotations?.['gantry.dev/gpu-uuids'] ?? '').split(',');
      const shared = (await readPod('share', 'half')).metadata?.annotations?.['gantry.dev/gpu-uuids'];
      assert.equal(chosen.length, 3);
      assert.ok(shared && !chosen.includes(shared), `Gantry kept the shared GPU ${shared} out of ${chosen.join(',')}`);
      const env = envFile(join(data, 'three.env'));
      assert.deepEqual(env['NVIDIA_VISIBLE_DEVICES']?.split(','), chosen);
      assert.deepEqual(env['CUDA_VISIBLE_DEVICES']?.split(','), chosen);
      assert.equal(env['GANTRY_SIMULATED'], '1');
      // The device plugin recorded what it handed out on the pod.
      assert.equal(p.metadata?.annotations?.['gantry.dev/gpu-allocated'], `main=${chosen.join(',')}`);
    } finally {
      await deletePods('whole');
      await deletePods('share');
    }
  });

  it('starts a gang only when all its members can run, then all together on their own GPUs', async () => {
    await inNamespace('gang', async () => {
      const data = node.hostDir('gang');
      await createPodGroup(kc, 'gang', 'train', 3);
      const member = (i: number): V1Pod =>
        pod('gang', `w${i}`, data, { gpus: 1, group: 'train', script: `cut -d' ' -f1 /proc/uptime > /data/w${i}.start; env > /data/w${i}.env; exec sleep 3600` });
      await create(member(0));
      await create(member(1));
      await sleep(3000);
      const early = await listPods(kc, 'gang');
      assert.deepEqual(early.filter((p) => p.spec?.nodeName).map((p) => p.metadata?.name), [], 'no member is bound while the gang is incomplete');
      assert.ok(![0, 1].some((i) => existsSync(join(data, `w${i}.start`))), 'no member container started');
      await create(member(2));
      const pods = await Promise.all([0, 1, 2].map((i) => waitPhase('gang', `w${i}`, ['Running'])));
      await waitFor('all members wrote their start', async () => [0, 1, 2].every((i) => existsSync(join(data, `w${i}.env`))));
      // Seconds since boot (the host's clock: containers share the kernel), to 10 ms.
      const starts = [0, 1, 2].map((i) => Math.round(Number(readFileSync(join(data, `w${i}.start`), 'utf8').trim()) * 1000));
      assert.ok(Math.max(...starts) - Math.min(...starts) < 10_000, `members started within 10 s of each other (${starts.join(', ')})`);
      // Each member sees one GPU, the one Gantry recorded for it (the three were bound at once: the
      // plugin tells them apart by the kubelet's pod-resources list).
      const seen = [0, 1, 2].map((i) => envFile(join(data, `w${i}.env`))['CUDA_VISIBLE_DEVICES'] ?? '');
      const recorded = pods.map((p) => p.metadata?.annotations?.['gantry.dev/gpu-uuids'] ?? '');
      assert.equal(new Set(seen).size, 3, `three distinct GPUs: ${seen.join(' ')}`);
      assert.deepEqual(seen, recorded);
    });
  });

  it('preempts through the checkpoint protocol: SIGTERM reaches the container, it saves, and resumes later', async () => {
    await inNamespace('preempt', async () => {
      const data = node.hostDir('preempt');
      const scheduling = kc.makeApiClient(SchedulingV1Api);
      await scheduling.createPriorityClass({ body: { metadata: { name: 'real-low' }, value: 0 } });
      await scheduling.createPriorityClass({ body: { metadata: { name: 'real-high' }, value: 1000 } });
      // A training loop that counts steps, saves its step on SIGTERM and starts from the saved one.
      const trainer = [
        'n=0',
        'if [ -f /data/ckpt ]; then n=$(cat /data/ckpt); echo "resumed from $n" >> /data/log; fi',
        `trap 'echo $n > /data/ckpt; echo "checkpointed at $n" >> /data/log; exit 0' TERM`,
        'while true; do n=$((n+1)); echo $n > /data/step; sleep 0.1 & wait $!; done',
      ].join('\n');
      const low = (): V1Pod => pod('preempt', 'trainer', data, { gpus: 4, priorityClassName: 'real-low', graceSeconds: 20, script: trainer });
      await create(low());
      await waitPhase('preempt', 'trainer', ['Running']);
      await waitFor('the trainer makes progress', async () => existsSync(join(data, 'step')) && Number(readFileSync(join(data, 'step'), 'utf8')) >= 5);
      await create(pod('preempt', 'urgent', data, { gpus: 4, priorityClassName: 'real-high', script: 'env > /data/urgent.env' }));
      await waitGone('preempt', 'trainer');
      const log = readFileSync(join(data, 'log'), 'utf8');
      const saved = /checkpointed at (\d+)/.exec(log);
      assert.ok(saved, `the container saved on SIGTERM (log: ${log})`);
      assert.ok(Number(saved[1]) >= 5);
      assert.equal(readFileSync(join(data, 'ckpt'), 'utf8').trim(), saved[1]);
      await waitPhase('preempt', 'urgent', ['Succeeded']);
      assert.equal(envFile(join(data, 'urgent.env'))['NVIDIA_VISIBLE_DEVICES']?.split(',').length, 4);
      // Requeued (as its Job controller would): it starts from its checkpoint.
      await create(low());
      await waitFor('the trainer resumed from its checkpoint', async () => readFileSync(join(data, 'log'), 'utf8').includes(`resumed from ${saved[1]}`));
    });
  });

  it('registers again after a kubelet restart, and the next pod still gets the GPUs Gantry chose', async () => {
    await inNamespace('restart', async () => {
      const data = node.hostDir('restart');
      await node.restartKubelet();
      await waitFor('the device plugin registered again', async () => node.log('device-plugin').includes('the kubelet restarted; registering again'), 30_000, 200);
      await node.waitGpus();
      await create(pod('restart', 'after', data, { gpus: 2, script: 'env > /data/after.env' }));
      const p = await waitPhase('restart', 'after', ['Succeeded']);
      const chosen = p.metadata?.annotations?.['gantry.dev/gpu-uuids'] ?? '';
      assert.equal(chosen.split(',').length, 2);
      assert.equal(envFile(join(data, 'after.env'))['CUDA_VISIBLE_DEVICES'], chosen);
    });
  });
});
