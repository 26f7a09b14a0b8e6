/** What the scheduler keeps of pods and nodes: all it reads, without managedFields, status and metadata it never reads. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node, V1NodeSystemInfo, V1Pod } from '@kubernetes/client-node';
import { slimNode, slimPod } from '../../src/adapters/k8s/slim.js';
import { boundPodRequest, compactAssignment, podKey, podRequest, readAssignment } from '../../src/adapters/k8s/pods.js';
import { ANN_ASSIGNMENT, ANN_GPU_MODELS, ANN_GPU_UUIDS, POD_GROUP_LABEL, QUEUE_LABEL } from '../../src/adapters/k8s/names.js';
import { nodeInventory } from '../../src/adapters/k8s/inventory.js';
import { fakeNode, fakePod } from '../k8s/cluster.js';

/** The fields that are set (a slim object lists absent fields as undefined, to keep one shape). */
const set = (o: unknown): unknown => JSON.parse(JSON.stringify(o)) as unknown;

const managed = [{ manager: 'kubelet', operation: 'Update', fieldsV1: { 'f:status': { 'f:phase': {} } } }];

describe('k8s slim objects', () => {
  it('a pod keeps its identity, the labels and annotations read, what placement reads and its phase', () => {
    const pod: V1Pod = fakePod('ns', 'p', { gpus: 2, annotations: { a: 'b', [ANN_GPU_MODELS]: 'H100' } });
    pod.metadata = { ...pod.metadata, resourceVersion: '7', uid: 'u1', managedFields: managed, labels: { app: 'x', [QUEUE_LABEL]: 'team-a' } };
    pod.spec = { ...pod.spec!, tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoSchedule' }], nodeSelector: { zone: 'a' } };
    pod.status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False' }] };
    const s = slimPod(pod);
    assert.deepEqual(set(s.metadata), { name: 'p', namespace: 'ns', uid: 'u1', resourceVersion: '7', labels: { [QUEUE_LABEL]: 'team-a' }, annotations: { [ANN_GPU_MODELS]: 'H100' } });
    assert.deepEqual(set(s.spec), {
      schedulerName: 'gantry',
      containers: [{ name: 'main', resources: set(pod.spec.containers[0]?.resources) }],
      tolerations: set(pod.spec.tolerations),
      nodeSelector: { zone: 'a' },
    });
    assert.deepEqual(set(s.status), { phase: 'Pending' });
    assert.deepEqual(podRequest(s), podRequest(pod));
    assert.ok(pod.metadata.managedFields, 'the original is not changed');
  });

  it('a bound pod loses its placement constraints and what its kubelet wrote; its request is the same', () => {
    const pod: V1Pod = fakePod('ns', 'p', { gpus: 2 });
    pod.metadata = { ...pod.metadata, resourceVersion: '9', managedFields: managed, annotations: { [ANN_ASSIGNMENT]: '{"node":"n1","gpus":[]}', [ANN_GPU_UUIDS]: 'GPU-1,GPU-2' } };
    pod.spec = { ...pod.spec!, nodeName: 'n1', tolerations: [{ key: 'k', operator: 'Exists' }] };
    pod.status = { phase: 'Running', podIP: '10.0.0.2', containerStatuses: [{ name: 'main', image: 'x', imageID: '', ready: true, restartCount: 0 }] };
    const s = slimPod(pod);
    assert.deepEqual(s.metadata?.annotations, { [ANN_ASSIGNMENT]: '["n1",[]]' }, 'the assignment in its compact form');
    assert.deepEqual(set(s.spec), { nodeName: 'n1', schedulerName: 'gantry', containers: [{ name: 'main', resources: set(pod.spec.containers[0]?.resources) }] });
    assert.deepEqual(set(s.status), { phase: 'Running' });
    assert.deepEqual(boundPodRequest(s), boundPodRequest(pod));
  });

  it('a pod that ended keeps only which pod it was, where, its gang and its phase', () => {
    const pod: V1Pod = fakePod('ns', 'p', { gpus: 1, annotations: { [ANN_ASSIGNMENT]: '{}' } });
    pod.metadata = { ...pod.metadata, uid: 'u', resourceVersion: '11', labels: { [POD_GROUP_LABEL]: 'g' } };
    pod.spec = { ...pod.spec!, nodeName: 'n1' };
    pod.status = { phase: 'Succeeded' };
    const s = slimPod(pod);
    assert.deepEqual(set(s.metadata), { name: 'p', namespace: 'ns', uid: 'u', resourceVersion: '11', labels: { [POD_GROUP_LABEL]: 'g' } });
    assert.deepEqual(set(s.spec), { nodeName: 'n1', schedulerName: 'gantry', containers: [] });
    assert.deepEqual(set(s.status), { phase: 'Succeeded' });
  });

  it('pods alike share their tolerations, containers and namespace', () => {
    const mk = (name: string): V1Pod => {
      const p = fakePod('ns', name, { gpus: 1 });
      p.spec = { ...p.spec!, tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }] };
      return p;
    };
    const [a, b] = [slimPod(mk('a')), slimPod(mk('b'))];
    assert.equal(a.spec?.tolerations, b.spec?.tolerations);
    assert.equal(a.spec?.containers, b.spec?.containers);
    assert.equal(podRequest(a).tolerations, podRequest(b).tolerations);
    assert.deepEqual(podRequest(a).tolerations, [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' }]);
  });

  it('the compact assignment reads back as the original but for the GPU UUIDs; MIG slices included', () => {
    const a = { node: 'n1', gpus: [{ index: 3, uuid: 'GPU-3', milli: 1000, memoryMiB: 81559 }, { index: 1, uuid: 'MIG-1', milli: 0, memoryMiB: 40000, mig: { profile: '3g.40gb', start: 4 } }] };
    const full = JSON.stringify(a);
    const compact = compactAssignment(full);
    assert.ok(compact.length < full.length / 2, compact);
    const read = (raw: string): unknown => readAssignment({ metadata: { annotations: { [ANN_ASSIGNMENT]: raw } } });
    assert.deepEqual(read(compact), { node: 'n1', gpus: a.gpus.map((g) => ({ ...g, uuid: '' })) });
    assert.equal(compactAssignment(compact), compact);
    assert.equal(compactAssignment('not json'), 'not json');
    assert.equal(read('["n1",[["x"]]]'), null);
  });

  it('a node keeps what placement reads; loses managedFields, images, nodeInfo and condition details', () => {
    const node: V1Node = fakeNode('n1', { gpus: 8 });
    node.metadata = { ...node.metadata, managedFields: managed };
    node.status = { ...node.status, images: [{ names: ['busybox'], sizeBytes: 1 }], nodeInfo: { architecture: 'amd64' } as V1NodeSystemInfo };
    const s = slimNode(node);
    assert.equal(s.metadata?.managedFields, undefined);
    assert.equal(s.status?.images, undefined);
    assert.equal(s.status?.nodeInfo, undefined);
    assert.deepEqual(s.status?.capacity, node.status.capacity);
    assert.deepEqual(s.status?.conditions, [{ type: 'Ready', status: 'True' }]);
    assert.deepEqual(nodeInventory(s), nodeInventory(node));
  });

  it('objects without status pass', () => {
    assert.deepEqual(set(slimPod({ metadata: { name: 'x' } })), { key: '/x', metadata: { name: 'x' } });
    assert.equal(podKey(slimPod(fakePod('ns', 'p'))), podKey(fakePod('ns', 'p')));
    assert.deepEqual(slimNode({ metadata: { name: 'x' } }), { metadata: { name: 'x' } });
  });
});
