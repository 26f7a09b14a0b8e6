/**
 * Test helpers on a real apiserver: apply deploy/ manifests, create fake GPU nodes and pods,
 * play the kubelet (mark bound pods Running, finalise deleted pods), and wait for conditions.
 */
import { readFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, KubernetesObjectApi, loadAllYaml, PatchStrategy, setHeaderOptions,
  type KubeConfig, type KubernetesObject, type V1Node, type V1Pod,
} from '@kubernetes/client-node';

/** Leader election as the e2e tests run it (lease 3 s, renew 2 s, retry 0.5 s), and no minimum runtime. */
export const TEST_SCHEDULER_TIMING = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500, core: { minRuntimeMs: 0 } } as const;

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor<T>(what: string, f: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(everyMs);
  }
}

/** Objects of a manifest file under deploy/, optionally changed before they are applied. */
export function manifest(file: string): KubernetesObject[] {
  return loadAllYaml(readFileSync(join(REPO, 'deploy', file), 'utf8')) as KubernetesObject[];
}

export async function applyObjects(kc: KubeConfig, objs: readonly KubernetesObject[]): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  for (const o of objs) await client.create(o);
}

/** Waits until every CRD in the objects is Established (its API is served). */
export async function waitEstablished(kc: KubeConfig, names: readonly string[]): Promise<void> {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  for (const name of names) {
    await waitFor(`CRD ${name} established`, async () => {
      const crd = await ext.readCustomResourceDefinition({ name });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    });
  }
}

/** Gantry's namespace and the Queue, PodGroup and InferenceService CRDs from deploy/, applied and Established. */
export async function installGantryCrds(kc: KubeConfig): Promise<void> {
  const crds = ['queues.scheduling.gantry.dev', 'podgroups.scheduling.x-k8s.io', 'inferenceservices.scheduling.gantry.dev'];
  await applyObjects(kc, [...manifest('namespace.yaml'), ...crds.flatMap((c) => manifest(`crds/${c}.yaml`))]);
  await waitEstablished(kc, crds);
}

export interface FakeNodeOptions {
  readonly gpus?: number;
  readonly product?: string;
  readonly memoryMiB?: number;
  /** Device plugin MIG resources, e.g. { '3g.40gb': 2 }. */
  readonly mig?: Readonly<Record<string, number>>;
  /** GFD's physical GPU count (with MIG). */
  readonly count?: number;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly cpu?: string;
  readonly memory?: string;
}

export function fakeNode(name: string, o: FakeNodeOptions = {}): V1Node {
  const gpus = o.gpus ?? 8;
  const product = o.product ?? 'NVIDIA-H100-80GB-HBM3';
  const resources: Record<string, string> = { cpu: o.cpu ?? '128', memory: o.memory ?? '1024Gi', pods: '256', 'nvidia.com/gpu': String(gpus) };
  for (const [p, n] of Object.entries(o.mig ?? {})) resources[`nvidia.com/mig-${p}`] = String(n);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'nvidia.com/gpu.product': product,
        'nvidia.com/gpu.memory': String(o.memoryMiB ?? 81559),
        'nvidia.com/gpu.count': String(o.count ?? gpus),
        ...o.labels,
      },
      ...(o.annotations ? { annotations: { ...o.annotations } } : {}),
    },
    status: { capacity: resources, allocatable: resources, conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'fake node' }] },
  };
}

export async function createNode(kc: KubeConfig, node: V1Node): Promise<void> {
  await kc.makeApiClient(CoreV1Api).createNode({ body: node });
}

export interface FakePodOptions {
  readonly gpus?: number;
  readonly fraction?: string;
  readonly gpuMemory?: string;
  readonly mig?: string;
  readonly group?: string;
  readonly queue?: string;
  readonly priorityClassName?: string;
  readonly nodeSelector?: Readonly<Record<string, string>>;
  readonly schedulerName?: string;
  readonly cpu?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export function fakePod(namespace: string, name: string, o: FakePodOptions = {}): V1Pod {
  const limits: Record<string, string> = {};
  if (o.gpus) limits['nvidia.com/gpu'] = String(o.gpus);
  if (o.mig) limits[`nvidia.com/mig-${o.mig}`] = '1';
  const annotations: Record<string, string> = { ...o.annotations };
  if (o.fraction) annotations['gantry.dev/gpu-fraction'] = o.fraction;
  if (o.gpuMemory) annotations['gantry.dev/gpu-memory'] = o.gpuMemory;
  const labels: Record<string, string> = {};
  if (o.group) labels['scheduling.x-k8s.io/pod-group'] = o.group;
  if (o.queue) labels['gantry.dev/queue'] = o.queue;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels, annotations },
    spec: {
      schedulerName: o.schedulerName ?? 'gantry',
      ...(o.priorityClassName !== undefined ? { priorityClassName: o.priorityClassName } : {}),
      ...(o.nodeSelector ? { nodeSelector: { ...o.nodeSelector } } : {}),
      containers: [{ name: 'main', image: 'busybox', resources: { requests: { cpu: o.cpu ?? '1', memory: '1Gi', ...limits }, limits: { ...limits } } }],
    },
  };
}

export async function createPods(kc: KubeConfig, pods: readonly V1Pod[]): Promise<V1Pod[]> {
  const core = kc.makeApiClient(CoreV1Api);
  return Promise.all(pods.map((p) => core.createNamespacedPod({ namespace: p.metadata?.namespace ?? 'default', body: p })));
}

export async function createNamespace(kc: KubeConfig, name: string): Promise<void> {
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
}

export async function listPods(kc: KubeConfig, namespace: string): Promise<V1Pod[]> {
  return (await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace })).items;
}

export async function createPodGroup(kc: KubeConfig, namespace: string, name: string, minMember: number, labels: Record<string, string> = {}): Promise<void> {
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: 'scheduling.x-k8s.io',
    version: 'v1alpha1',
    plural: 'podgroups',
    namespace,
    body: { apiVersion: 'scheduling.x-k8s.io/v1alpha1', kind: 'PodGroup', metadata: { name, namespace, labels }, spec: { minMember } },
  });
}

export async function getPodGroup(kc: KubeConfig, namespace: string, name: string): Promise<{ status?: Record<string, unknown> }> {
  return (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: 'scheduling.x-k8s.io', version: 'v1alpha1', plural: 'podgroups', namespace, name })) as {
    status?: Record<string, unknown>;
  };
}

export async function createQueue(kc: KubeConfig, name: string, spec: Record<string, unknown>): Promise<void> {
  await kc.makeApiClient(CustomObjectsApi).createClusterCustomObject({
    group: 'scheduling.gantry.dev',
    version: 'v1alpha1',
    plural: 'queues',
    body: { apiVersion: 'scheduling.gantry.dev/v1alpha1', kind: 'Queue', metadata: { name }, spec },
  });
}

export async function getQueue(kc: KubeConfig, name: string): Promise<{ status?: Record<string, unknown> }> {
  return (await kc.makeApiClient(CustomObjectsApi).getClusterCustomObject({ group: 'scheduling.gantry.dev', version: 'v1alpha1', plural: 'queues', name })) as {
    status?: Record<string, unknown>;
  };
}

export async function deleteQueue(kc: KubeConfig, name: string): Promise<void> {
  await kc.makeApiClient(CustomObjectsApi).deleteClusterCustomObject({ group: 'scheduling.gantry.dev', version: 'v1alpha1', plural: 'queues', name });
}

export async function events(kc: KubeConfig, namespace: string, pod: string): Promise<{ reason: string; message: string }[]> {
  const list = await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${pod}` });
  return list.items.map((e) => ({ reason: e.reason ?? '', message: e.message ?? '' }));
}

/**
 * The kubelet's part, for pods in one namespace: bound pods become Running, deleted (evicted)
 * pods are finalised, and pods listed in `succeed` finish. Runs until stopped.
 */
export class FakeKubelet {
  private stopped = false;
  private readonly loop: Promise<void>;
  readonly succeed = new Set<string>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    while (!this.stopped) {
      try {
        for (const p of await listPods(this.kc, this.namespace)) {
          const name = p.metadata?.name ?? '';
          if (p.metadata?.deletionTimestamp) {
            await core.deleteNamespacedPod({ name, namespace: this.namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
          } else if (p.spec?.nodeName && (p.status?.phase === 'Pending' || p.status?.phase === undefined || (this.succeed.has(name) && p.status?.phase === 'Running'))) {
            const phase = this.succeed.has(name) ? 'Succeeded' : 'Running';
            await core
              .patchNamespacedPodStatus({ name, namespace: this.namespace, body: { status: { phase, startTime: new Date().toISOString() } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
              .catch(() => undefined);
          }
        }
      } catch {
        // the apiserver is going away at the end of a run
      }
      await sleep(150);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

export interface GpuUse {
  readonly pod: string;
  readonly node: string;
  readonly gpu: number;
  readonly milli: number;
  readonly memoryMiB: number;
  readonly mig?: { profile: string; start: number };
}

/** Every GPU grant written on bound pods (from the gantry.dev/gpu-assignment annotation). */
export function gpuUses(pods: readonly V1Pod[]): GpuUse[] {
  const out: GpuUse[] = [];
  for (const p of pods) {
    if (!p.spec?.nodeName) continue;
    const raw = p.metadata?.annotations?.['gantry.dev/gpu-assignment'];
    if (!raw) continue;
    const a = JSON.parse(raw) as { node: string; gpus: { index: number; milli: number; memoryMiB: number; mig?: { profile: string; start: number } }[] };
    for (const g of a.gpus) out.push({ pod: p.metadata?.name ?? '', node: a.node, gpu: g.index, milli: g.milli, memoryMiB: g.memoryMiB, ...(g.mig ? { mig: g.mig } : {}) });
  }
  return out;
}

/** Asserts no GPU is over-booked: whole GPUs once, shares within 1000 milli, MIG slices disjoint. */
export function overbooked(uses: readonly GpuUse[]): string[] {
  const byGpu = new Map<string, GpuUse[]>();
  for (const u of uses) byGpu.set(`${u.node}/${u.gpu}`, [...(byGpu.get(`${u.node}/${u.gpu}`) ?? []), u]);
  const problems: string[] = [];
  for (const [gpu, list] of byGpu) {
    const mig = list.filter((u) => u.mig);
    if (mig.length > 0) {
      const slots = new Set<string>();
      for (const u of mig) {
        const size = u.mig?.profile.startsWith('3g') || u.mig?.profile.startsWith('4g') ? 4 : u.mig?.profile.startsWith('7g') ? 8 : u.mig?.profile.startsWith('2g') ? 2 : 1;
        for (let s = u.mig?.start ?? 0; s < (u.mig?.start ?? 0) + size; s++) {
          if (slots.has(String(s))) problems.push(`${gpu}: MIG slice ${s} booked twice`);
          slots.add(String(s));
        }
      }
      continue;
    }
    const milli = list.reduce((a, u) => a + u.milli, 0);
    if (milli > 1000) problems.push(`${gpu}: ${milli} milli-GPU booked by ${list.map((u) => u.pod).join(', ')}`);
  }
  return problems;
}
