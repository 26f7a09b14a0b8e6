/** Kubernetes objects -> core inputs (pure parts of src/adapters/k8s), and the webhook's decision. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { nodeInventory, modelFromProduct } from '../../src/adapters/k8s/inventory.js';
import { boundPodRequest, gpuRequestOf, podRequest, PodSpecError, gpuEnvironment } from '../../src/adapters/k8s/pods.js';
import { queueTree, QueueSpecError } from '../../src/adapters/k8s/queues.js';
import { QueueTree } from '../../src/core/scheduler/queues.js';
import { UserError } from '../../src/core/errors.js';
import { admitPod, admitWrite } from '../../src/adapters/k8s/webhook.js';
import { encodePlan, readPlan } from '../../src/adapters/k8s/pods.js';
import { fakeNode, fakePod } from '../k8s/cluster.js';

test('GFD product labels map to catalog models', () => {
  assert.equal(modelFromProduct('NVIDIA-H100-80GB-HBM3'), 'H100-80GB');
  assert.equal(modelFromProduct('NVIDIA-A100-SXM4-80GB'), 'A100-80GB');
  assert.equal(modelFromProduct('NVIDIA-A100-SXM4-40GB-MIG-1g.5gb'), 'A100-40GB');
  assert.equal(modelFromProduct('Tesla-T4-SHARED'), 'T4');
  assert.equal(modelFromProduct('Some-Future-GPU'), 'Some-Future-GPU');
});

test('node inventory from capacity and labels: whole GPUs and MIG GPUs', () => {
  const whole = nodeInventory(fakeNode('n', { gpus: 8 }));
  assert.equal(whole.spec.gpus?.length, 8);
  assert.equal(whole.spec.gpus?.[0]?.model, 'H100-80GB');
  assert.equal(whole.spec.cpuMilli, 128_000);
  const mig = nodeInventory(fakeNode('m', { gpus: 1, count: 3, product: 'NVIDIA-A100-SXM4-80GB', mig: { '3g.40gb': 4 } }));
  assert.deepEqual(mig.spec.gpus?.map((g) => g.migEnabled ?? false), [false, true, true]);
  assert.equal(mig.spec.labels?.['gantry.dev/serves-mig-3g.40gb'], 'true');
  // A MIG pod selects nodes whose device plugin serves its profile.
  assert.deepEqual(podRequest(fakePod('ns', 'p', { mig: '3g.40gb' })).nodeSelector, { 'gantry.dev/serves-mig-3g.40gb': 'true' });
  // Without GFD's count, MIG GPUs are counted from the advertised slices: 4 x 3g (4 slices each) = 2 GPUs.
  const noCount = fakeNode('x', { gpus: 0, product: 'NVIDIA-A100-SXM4-80GB', mig: { '3g.40gb': 4 } });
  delete noCount.metadata?.labels?.['nvidia.com/gpu.count'];
  assert.equal(nodeInventory(noCount).spec.gpus?.length, 2);
});

test('node inventory: the per-GPU annotation wins; a bad one is reported and ignored', () => {
  const good = nodeInventory(fakeNode('g', { gpus: 2, annotations: { 'gantry.dev/gpus': '[{"uuid":"GPU-a","model":"A100-80GB","mig":true},{"uuid":"GPU-b","model":"A100-80GB"}]' } }));
  assert.deepEqual(good.spec.gpus, [{ uuid: 'GPU-a', model: 'A100-80GB', migEnabled: true }, { uuid: 'GPU-b', model: 'A100-80GB' }]);
  assert.deepEqual(good.warnings, []);
  const bad = nodeInventory(fakeNode('b', { gpus: 2, annotations: { 'gantry.dev/gpus': '[{"model":""}]' } }));
  assert.equal(bad.spec.gpus?.length, 2);
  assert.match(bad.warnings[0] ?? '', /model must be a non-empty string; using the device plugin's capacity/);
});

test('node inventory: the cache agent\'s cached-datasets annotation (JSON, or the older name list)', () => {
  const status = { capacityBytes: 100, usedBytes: 80, updatedAt: '2026-12-06T20:00:00.000Z', errors: [], datasets: [
    { name: 'imagenet', version: 2, state: 'ready', bytes: 50, bytesDone: 50, pinned: true },
    { name: 'coco', version: 1, state: 'filling', bytes: 30, bytesDone: 12, pinned: false },
  ] };
  const json = nodeInventory(fakeNode('c', { gpus: 1, annotations: { 'gantry.dev/cached-datasets': JSON.stringify(status) } }));
  assert.deepEqual(json.spec.cachedDatasets, ['imagenet'], 'only complete copies count as held');
  assert.deepEqual(json.spec.cachedBytes, { imagenet: 50, coco: 12 }, 'a fill in progress counts its verified bytes');
  const list = nodeInventory(fakeNode('l', { gpus: 1, annotations: { 'gantry.dev/cached-datasets': 'imagenet, coco' } }));
  assert.deepEqual(list.spec.cachedDatasets, ['imagenet', 'coco']);
  const bad = nodeInventory(fakeNode('b', { gpus: 1, annotations: { 'gantry.dev/cached-datasets': '{"datasets": [' } }));
  assert.equal(bad.spec.cachedDatasets, undefined);
  assert.deepEqual(bad.warnings, ['gantry.dev/cached-datasets is not valid JSON']);
});

test('pod GPU requests: whole, MIG, share, none; contradictions are errors', () => {
  assert.deepEqual(gpuRequestOf(fakePod('ns', 'p', { gpus: 2 })), { kind: 'whole', count: 2 });
  assert.deepEqual(gpuRequestOf(fakePod('ns', 'p', { mig: '1g.10gb' })), { kind: 'mig', profile: '1g.10gb' });
  assert.deepEqual(gpuRequestOf(fakePod('ns', 'p', { fraction: '0.25', gpuMemory: '10Gi' })), { kind: 'share', milli: 250, memoryMiB: 10240 });
  assert.deepEqual(gpuRequestOf(fakePod('ns', 'p', { gpuMemory: '4096' })), { kind: 'share', milli: 0, memoryMiB: 4096 });
  assert.deepEqual(gpuRequestOf(fakePod('ns', 'p')), { kind: 'none' });
  assert.throws(() => gpuRequestOf(fakePod('ns', 'p', { gpus: 1, fraction: '0.5' })), PodSpecError);
  assert.throws(() => gpuRequestOf(fakePod('ns', 'p', { fraction: '1' })), /between 0 and 1/);
  assert.throws(() => gpuRequestOf(fakePod('ns', 'p', { gpuMemory: 'lots' })), /memory size/);
  const r = podRequest(fakePod('ns', 'p', { gpus: 1, cpu: '500m', annotations: { 'gantry.dev/gpu-models': 'NVIDIA-H100-80GB-HBM3, A100-80GB' } }));
  assert.equal(r.cpuMilli, 500);
  assert.equal(r.memoryMiB, 1024);
  assert.deepEqual(r.allowedModels, ['H100-80GB', 'A100-80GB']);
});

test('required affinities: In-one-value becomes a node selector; the rest is refused, never ignored', () => {
  const pod = fakePod('ns', 'p', { gpus: 1, nodeSelector: { a: '1' } });
  if (pod.spec) pod.spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1'] }] }] } } };
  assert.deepEqual(podRequest(pod).nodeSelector, { a: '1', zone: 'z1' });
  if (pod.spec) pod.spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['z1'] }] }] } } };
  assert.throws(() => podRequest(pod), (e: unknown) => e instanceof PodSpecError && e.reason === 'UnsupportedPodSpec' && /zone NotIn \[z1\]/.test(e.message));
  if (pod.spec) pod.spec.affinity = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname' }] } };
  assert.throws(() => podRequest(pod), /required pod anti-affinity is not supported/);
  // A bound pod with such a constraint is still booked for what it holds.
  assert.deepEqual(boundPodRequest(pod), { id: 'ns/p', cpuMilli: 1000, memoryMiB: 1024, gpu: { kind: 'whole', count: 1 } });
});

test('the share environment carries the GPU and its limits', () => {
  const env = gpuEnvironment({ node: 'n', gpus: [{ index: 1, uuid: 'GPU-x', milli: 250, memoryMiB: 8192 }] }, { kind: 'share', milli: 250, memoryMiB: 8192 });
  assert.equal(env['NVIDIA_VISIBLE_DEVICES'], 'GPU-x');
  assert.equal(env['CUDA_VISIBLE_DEVICES'], 'GPU-x');
  assert.equal(env['CUDA_MPS_ACTIVE_THREAD_PERCENTAGE'], '25');
  assert.equal(env['CUDA_MPS_PINNED_DEVICE_MEM_LIMIT'], '0=8192M');
});

test('queue objects: quotas in GPUs, an implicit default queue, clear errors', () => {
  const tree = queueTree([{ metadata: { name: 'team' }, spec: { quota: { gpu: '1.5', cpu: '8', memory: '64Gi' }, limit: { gpu: 4 }, weight: 2 } }]);
  assert.deepEqual(tree, [
    { name: 'team', guaranteed: { gpu: 1500, cpu: 8000, memory: 65536 }, limit: { gpu: 4000 }, overQuotaWeight: 2 },
    { name: 'default' },
  ]);
  assert.throws(() => queueTree([{ metadata: { name: 'q' }, spec: { quota: { gpus: 1 } } }]), (e: unknown) => e instanceof QueueSpecError && /unknown resource "gpus"/.test(e.message));
  assert.throws(() => queueTree([{ metadata: { name: 'q' }, spec: { quota: { gpu: 'many' } } }]), /"many" is not a number of GPUs/);
});

test('queue objects: per-GPU-model quotas under catalog names, validated like the API', () => {
  const tree = queueTree([{ metadata: { name: 'team' }, spec: { quota: { gpu: 8 }, gpuModels: { 'H100-80GB': { quota: 4, limit: '6' }, 'NVIDIA-L4': { limit: 2 } } } }]);
  assert.deepEqual(tree[0], { name: 'team', guaranteed: { gpu: 8000, gpuByModel: { 'H100-80GB': 4000 } }, limit: { gpuByModel: { 'H100-80GB': 6000, L4: 2000 } } });
  const bad = (gpuModels: unknown, message: RegExp): void =>
    assert.throws(() => queueTree([{ metadata: { name: 'q' }, spec: { gpuModels } as never }]), (e: unknown) => e instanceof QueueSpecError && message.test(e.message));
  bad({ 'Z900-1TB': { limit: 1 } }, /spec.gpuModels: unknown GPU model "Z900-1TB"/);
  bad({ L4: { limit: -1 } }, /spec.gpuModels.L4.limit: "-1" is not a number of GPUs/);
  bad({ L4: { quota: 'lots' } }, /spec.gpuModels.L4.quota: "lots" is not a number of GPUs/);
  bad({ L4: { quota: 3, limit: 2 } }, /spec.gpuModels.L4: quota 3 is more than limit 2/);
  bad({ L4: { guarantee: 1 } }, /unknown field "guarantee"/);
  bad({ L4: { limit: 1 }, 'NVIDIA L4': { limit: 2 } }, /L4 is given twice/);
  // Children guaranteed more of a model than their parent: refused by the core's queue tree.
  const specs = queueTree([
    { metadata: { name: 'org' }, spec: { gpuModels: { L4: { quota: 1 } } } },
    { metadata: { name: 'child' }, spec: { parent: 'org', gpuModels: { L4: { quota: 2 } } } },
  ]);
  assert.throws(() => new QueueTree(specs), (e: unknown) => e instanceof UserError && e.code === 'QUEUE_MODEL_QUOTA_INVALID' && /queue org: its children are guaranteed 2 GPUs of L4, more than its own 1 GPU/.test(e.message));
});

test('webhook: shares get envFrom their ConfigMap; bad requests are denied; other pods pass untouched', () => {
  const share = fakePod('ns', 'p', { fraction: '0.5' });
  const r = admitPod({ uid: 'u1', operation: 'CREATE', object: share }, () => 'gantry-gpu-fixed');
  assert.equal(r.allowed, true);
  assert.equal(r.patchType, 'JSONPatch');
  const ops = JSON.parse(Buffer.from(r.patch ?? '', 'base64').toString()) as unknown[];
  assert.deepEqual(ops, [
    { op: 'add', path: '/metadata/annotations/gantry.dev~1gpu-env-configmap', value: 'gantry-gpu-fixed' },
    { op: 'add', path: '/spec/containers/0/envFrom', value: [{ configMapRef: { name: 'gantry-gpu-fixed', optional: false } }] },
  ]);
  const denied = admitPod({ uid: 'u2', operation: 'CREATE', object: fakePod('ns', 'p', { fraction: '2' }) });
  assert.equal(denied.allowed, false);
  assert.match(denied.status?.message ?? '', /gpu-fraction="2"/);
  const other: V1Pod = fakePod('ns', 'p', { fraction: '2', schedulerName: 'default-scheduler' });
  assert.deepEqual(admitPod({ uid: 'u3', operation: 'CREATE', object: other }), { uid: 'u3', allowed: true });
  assert.deepEqual(admitPod({ uid: 'u4', operation: 'CREATE', object: fakePod('ns', 'p', { gpus: 1 }) }), { uid: 'u4', allowed: true });
});

test('webhook fence: a write of a past leader term is refused; one without a term passes', () => {
  const lease = { holder: 'b', transitions: 4, durationSeconds: 15, renewTime: 0, acquireTime: 0, resourceVersion: '9' };
  const write = (epoch?: string): { uid: string; operation: string; subResource: string; object: V1Pod } => ({
    uid: 'u', operation: 'CREATE', subResource: 'binding', object: { metadata: { name: 'p', ...(epoch ? { annotations: { 'gantry.dev/leader-epoch': epoch } } : {}) } },
  });
  assert.equal(admitWrite(write('4:b'), lease).allowed, true);
  const stale = admitWrite(write('3:a'), lease);
  assert.equal(stale.allowed, false);
  assert.equal(stale.status?.message, 'gantry: stale binding refused: made by a in term 3, but the Lease is held by b in term 4');
  assert.equal(admitWrite(write('3:b'), lease).allowed, false, 'the same replica in an earlier term');
  assert.equal(admitWrite(write('4:b'), undefined).status?.code, 503, 'Lease unreadable: refused (fail closed)');
  assert.equal(admitWrite(write(), lease).allowed, true, 'not a gantry write');
  const event = admitWrite({ uid: 'e', operation: 'CREATE', kind: { version: 'v1', kind: 'Event' }, object: { metadata: { name: 'p.1', annotations: { 'gantry.dev/leader-epoch': '3:a' } } } }, lease);
  assert.equal(event.status?.message, 'gantry: stale event refused: made by a in term 3, but the Lease is held by b in term 4');
});

test('gang plan annotation: encoded compactly, read back exactly, MIG slices included', () => {
  const bindings = [
    { podId: 'ns/w0', node: 'n1', cpuMilli: 0, memoryMiB: 0, gpus: [{ gpu: 0, milli: 1000, memoryMiB: 81559 }, { gpu: 1, milli: 1000, memoryMiB: 81559 }] },
    { podId: 'ns/w1', node: 'n2', cpuMilli: 0, memoryMiB: 0, gpus: [{ gpu: 3, milli: 1000, memoryMiB: 40960, mig: { profile: '3g.40gb', start: 4 } }] },
  ];
  const text = encodePlan(bindings);
  assert.equal(text, '{"w0":["n1",[[0,1000,81559],[1,1000,81559]]],"w1":["n2",[[3,1000,40960,"3g.40gb",4]]]}');
  const plan = readPlan({ metadata: { annotations: { 'gantry.dev/gang-plan': text ?? '' } } });
  assert.deepEqual(plan?.get('w0'), { node: 'n1', gpus: bindings[0]?.gpus });
  assert.deepEqual(plan?.get('w1'), { node: 'n2', gpus: bindings[1]?.gpus });
  assert.equal(readPlan({ metadata: { annotations: { 'gantry.dev/gang-plan': '{"w0":["n1",[["x"]]]}' } } }), null, 'unreadable: no plan');
});
