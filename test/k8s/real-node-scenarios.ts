/**
 * The real-node scenarios (pods that really run under a real kubelet, test/k8s/real-node.ts),
 * shared by the two ways Gantry is run next to that kubelet: as processes the test starts
 * (real-node.test.ts) and as the pods of `helm install` (real-node-helm.test.ts). Each case has
 * its own namespace; the containers write what they see to hostPath folders the test reads.
 */
import { it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, SchedulingV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { createPodGroup, listPods, sleep, waitFor } from './cluster.js';
import { BUSYBOX_IMAGE, type RealNode } from './real-node.js';

/** The namespaces the scenarios create (their pods go in the file's `after`, while the kubelet runs). */
export const SCENARIO_NAMESPACES = ['whole', 'share', 'gang', 'preempt', 'restart'] as const;

export interface RealNodeSetup {
  readonly kc: KubeConfig;
  readonly node: RealNode;
  /** A namespace pods may be created in at once (where admission needs its ServiceAccount: once it exists). */
  createNamespace(name: string): Promise<void>;
  /** What Gantry's device plugin has logged so far. */
  devicePluginLog(): Promise<string>;
}

interface RunPod {
  readonly gpus?: number;
  readonly fraction?: string;
  readonly group?: string;
  readonly priorityClassName?: string;
  /** Shell script run by the container; /data is the test's host folder. */
  readonly script: string;
  readonly graceSeconds?: number;
}

/** KEY=VALUE lines a container wrote. */
function envFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

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

/**
 * Creates a pod, again while the webhook has no Ready endpoint (up to 60 s): after a kubelet
 * restart its one replica is not Ready for a while, and failurePolicy Fail refuses every gantry
 * pod meanwhile, as a controller would see it and retry.
 */
export async function createPod(kc: KubeConfig, p: V1Pod): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await core.createNamespacedPod({ namespace: p.metadata?.namespace ?? '', body: p });
      return;
    } catch (e) {
      if (Date.now() > deadline || !/no endpoints available for service/.test(String((e as { body?: unknown }).body ?? e))) throw e;
      await sleep(500);
    }
  }
}

/** Deletes a namespace's pods with grace 0 and waits until they are gone. */
export async function deletePods(kc: KubeConfig, namespace: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  for (const p of await listPods(kc, namespace)) await core.deleteNamespacedPod({ namespace, name: p.metadata?.name ?? '', gracePeriodSeconds: 0 }).catch(() => undefined);
  await waitFor(`pods of ${namespace} gone`, async () => (await listPods(kc, namespace)).length === 0, 60_000, 200);
}

/**
 * Registers the scenarios as test cases of the enclosing `describe`, whose own `before` (registered
 * first) must have made what `setup` returns. `kubeletRestart: false` leaves out the restart case.
 */
export function realNodeScenarios(setup: () => RealNodeSetup, o: { kubeletRestart?: boolean } = {}): void {
  let kc: KubeConfig;
  let node: RealNode;
  let createNamespace: (name: string) => Promise<void>;
  let devicePluginLog: () => Promise<string>;
  before(() => {
    const s = setup();
    kc = s.kc;
    node = s.node;
    createNamespace = (name) => s.createNamespace(name);
    devicePluginLog = () => s.devicePluginLog();
  });

  const create = (p: V1Pod): Promise<void> => createPod(kc, p);

  async function readPod(namespace: string, name: string): Promise<V1Pod> {
    return kc.makeApiClient(CoreV1Api).readNamespacedPod({ namespace, name });
  }

  async function waitPhase(namespace: string, name: string, phases: readonly string[], timeoutMs = 60_000): Promise<V1Pod> {
    return waitFor(`${namespace}/${name} ${phases.join(' or ')}`, async () => {
      const p = await readPod(namespace, name);
      if (p.status?.phase === 'Failed' && !phases.includes('Failed')) {
        throw new Error(`${name} failed: ${p.status.reason ?? ''} ${p.status.message ?? ''} ${JSON.stringify(p.status.containerStatuses?.[0]?.state)}`);
      }
      return phases.includes(p.status?.phase ?? '') ? p : null;
    }, timeoutMs, 200).catch(async (e: unknown) => {
      // Say where the pod got stuck: bound or not, what it was given, what the kubelet and the plugin said.
      const p = await readPod(namespace, name).catch(() => null);
      const state = p ? { node: p.spec?.nodeName, phase: p.status?.phase, conditions: p.status?.conditions?.map((c) => `${c.type}=${c.status} ${c.reason ?? ''} ${c.message ?? ''}`), container: p.status?.containerStatuses?.[0]?.state, annotations: p.metadata?.annotations } : 'gone';
      const plugin = (await devicePluginLog().catch(() => '')).split('\n').slice(-30).join('\n');
      throw new Error(`${(e as Error).message}\npod: ${JSON.stringify(state)}\n--- kubelet on ${namespace}/${name}:\n${node.logLinesWith('kubelet', `${namespace}/${name}`)}\n--- kubelet:\n${node.logTail('kubelet', 30)}\n--- device plugin:\n${plugin}`);
    });
  }

  async function waitGone(namespace: string, name: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(`${namespace}/${name} gone`, async () => !(await listPods(kc, namespace)).some((p) => p.metadata?.name === name), timeoutMs, 200);
  }

  /** Runs a case in its own namespace; its pods go afterwards, passed or failed. */
  async function inNamespace(ns: string, f: () => Promise<void>): Promise<void> {
    await createNamespace(ns);
    try {
      await f();
    } finally {
      await deletePods(kc, ns);
    }
  }

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
    await createNamespace('share');
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
    await createNamespace('whole');
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
      await deletePods(kc, 'whole');
      await deletePods(kc, 'share');
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
      await waitPhase('preempt', 'trainer', ['Running']);
      await waitFor('the trainer resumed from its checkpoint', async () => readFileSync(join(data, 'log'), 'utf8').includes(`resumed from ${saved[1]}`));
    });
  });

  if (o.kubeletRestart !== false) {
    it('registers again after a kubelet restart, and the next pod still gets the GPUs Gantry chose', async () => {
      await inNamespace('restart', async () => {
        const data = node.hostDir('restart');
        await node.restartKubelet();
        await waitFor('the device plugin registered again', async () => (await devicePluginLog()).includes('the kubelet restarted; registering again'), 30_000, 200);
        await node.waitGpus(new Date());
        await create(pod('restart', 'after', data, { gpus: 2, script: 'env > /data/after.env' }));
        const p = await waitPhase('restart', 'after', ['Succeeded']);
        const chosen = p.metadata?.annotations?.['gantry.dev/gpu-uuids'] ?? '';
        assert.equal(chosen.split(',').length, 2);
        assert.equal(envFile(join(data, 'after.env'))['CUDA_VISIBLE_DEVICES'], chosen);
      });
    });
  }
}
