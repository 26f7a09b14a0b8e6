/**
 * Which pod and which GPUs an Allocate is for (src/adapters/k8s/device-allocation.ts), without a
 * kubelet: table cases over pods bound to one node. test/k8s/real-node.test.ts does the same
 * through a real kubelet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { allocatedAnnotation, decideAllocation, deviceEnvironment, type PluginDevice } from '../../src/adapters/k8s/device-allocation.js';

const NODE = 'n1';
const devices: PluginDevice[] = [0, 1, 2, 3].map((i) => ({ id: `GPU-${i}`, index: i, healthy: true }));

function pod(name: string, o: { gpus?: number[]; uuids?: string[]; created?: string; node?: string; phase?: string; scheduler?: string; allocated?: string; init?: number }): V1Pod {
  const uuids = o.uuids ?? [];
  const annotations: Record<string, string> = {
    'gantry.dev/gpu-assignment': JSON.stringify({ node: o.node ?? NODE, gpus: uuids.map((u) => ({ index: Number(u.slice(4)), uuid: u, milli: 1000, memoryMiB: 81559 })) }),
  };
  if (o.allocated) annotations['gantry.dev/gpu-allocated'] = o.allocated;
  const c = (n: string, g: number): { name: string; image: string; resources: { limits: Record<string, string> } } => ({ name: n, image: 'x', resources: { limits: g > 0 ? { 'nvidia.com/gpu': String(g) } : {} } });
  return {
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, creationTimestamp: new Date(o.created ?? '2026-01-01T00:00:00Z'), annotations },
    spec: {
      schedulerName: o.scheduler ?? 'gantry',
      nodeName: o.node ?? NODE,
      ...(o.init ? { initContainers: [c('init', o.init)] } : {}),
      containers: (o.gpus ?? [uuids.length]).map((g, i) => c(`c${i}`, g)),
    },
    status: { phase: o.phase ?? 'Pending' },
  };
}

test('hands the GPUs Gantry recorded for the pod, not the count-matching first devices', () => {
  const d = decideAllocation([pod('a', { uuids: ['GPU-2', 'GPU-3'] })], NODE, 2, devices, new Map());
  assert.equal(d.kind, 'gantry');
  assert.deepEqual(d.kind === 'gantry' ? d.grant.uuids : [], ['GPU-2', 'GPU-3']);
});

test('picks the pod whose next container asks for that many GPUs, oldest first', () => {
  const pods = [
    pod('young', { uuids: ['GPU-0'], created: '2026-01-01T00:00:05Z' }),
    pod('old', { uuids: ['GPU-1'], created: '2026-01-01T00:00:01Z' }),
    pod('pair', { uuids: ['GPU-2', 'GPU-3'] }),
  ];
  const one = decideAllocation(pods, NODE, 1, devices, new Map());
  assert.deepEqual(one.kind === 'gantry' ? [one.grant.pod, one.grant.uuids] : one, ['ns/old', ['GPU-1']]);
  // Once "old" was served, the next single-GPU Allocate is for "young".
  const next = decideAllocation(pods, NODE, 1, devices, new Map([['uid-old', 1]]));
  assert.deepEqual(next.kind === 'gantry' ? next.grant.uuids : next, ['GPU-0']);
  const two = decideAllocation(pods, NODE, 2, devices, new Map());
  assert.deepEqual(two.kind === 'gantry' ? two.grant.pod : two, 'ns/pair');
});

test('among pods that match alike, takes the one the kubelet knows (it is being admitted)', () => {
  const pods = [pod('old', { uuids: ['GPU-1'], created: '2026-01-01T00:00:01Z' }), pod('young', { uuids: ['GPU-0'], created: '2026-01-01T00:00:05Z' })];
  const d = decideAllocation(pods, NODE, 1, devices, new Map(), new Set(['ns/young', 'ns/other']));
  assert.deepEqual(d.kind === 'gantry' ? [d.grant.pod, d.grant.uuids] : d, ['ns/young', ['GPU-0']]);
  // The kubelet's list naming none of them leaves the oldest first.
  const none = decideAllocation(pods, NODE, 1, devices, new Map(), new Set(['ns/other']));
  assert.deepEqual(none.kind === 'gantry' ? none.grant.pod : none, 'ns/old');
});

test('splits a pod\'s GPUs over its containers in the kubelet\'s order, init containers first', () => {
  const p = pod('multi', { uuids: ['GPU-0', 'GPU-1', 'GPU-2'], gpus: [0, 2], init: 1 });
  const first = decideAllocation([p], NODE, 1, devices, new Map());
  assert.deepEqual(first.kind === 'gantry' ? [first.grant.container, first.grant.uuids] : first, ['init', ['GPU-0']]);
  const second = decideAllocation([p], NODE, 2, devices, new Map([['uid-multi', 1]]));
  assert.deepEqual(second.kind === 'gantry' ? [second.grant.container, second.grant.uuids] : second, ['c1', ['GPU-1', 'GPU-2']]);
});

test('a restarted plugin reads what was handed from the pod annotation', () => {
  const p = pod('a', { uuids: ['GPU-0'], allocated: 'c0=GPU-0' });
  assert.equal(decideAllocation([p], NODE, 1, devices, new Map()).kind, 'kubelet');
  assert.equal(allocatedAnnotation([{ pod: 'ns/a', uid: 'u', container: 'c0', ordinal: 0, uuids: ['GPU-0', 'GPU-1'] }]), 'c0=GPU-0,GPU-1');
});

test('leaves pods of other schedulers, other nodes, running or ended pods to the kubelet\'s pick', () => {
  for (const p of [pod('other', { uuids: ['GPU-0'], scheduler: 'default-scheduler' }), pod('far', { uuids: ['GPU-0'], node: 'n2' }), pod('run', { uuids: ['GPU-0'], phase: 'Running' })]) {
    const d = decideAllocation([p], NODE, 1, devices, new Map());
    assert.equal(d.kind, 'kubelet', p.metadata?.name);
  }
});

test('refuses rather than hand GPUs that disagree with the record', () => {
  const unknown = decideAllocation([pod('a', { uuids: ['GPU-9'] })], NODE, 1, devices, new Map());
  assert.equal(unknown.kind, 'error');
  assert.match(unknown.kind === 'error' ? unknown.message : '', /GPU GPU-9 recorded by gantry is not a device of node n1/);
  const short = decideAllocation([pod('b', { uuids: ['GPU-0'], gpus: [2] })], NODE, 2, devices, new Map());
  assert.match(short.kind === 'error' ? short.message : '', /asks for 2 GPUs but gantry recorded 1 whole GPUs/);
});

test('the environment names the GPUs for the NVIDIA runtime and CUDA, and says when they are simulated', () => {
  assert.deepEqual(deviceEnvironment(['GPU-1', 'GPU-3'], true), { NVIDIA_VISIBLE_DEVICES: 'GPU-1,GPU-3', CUDA_VISIBLE_DEVICES: 'GPU-1,GPU-3', GANTRY_SIMULATED: '1' });
  assert.equal(deviceEnvironment(['GPU-1'], false)['GANTRY_SIMULATED'], undefined);
});
