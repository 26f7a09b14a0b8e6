/** What the scheduler keeps of pods and nodes: all it reads, without managedFields and status it never reads. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node, V1NodeSystemInfo, V1Pod } from '@kubernetes/client-node';
import { slimNode, slimPod } from '../../src/adapters/k8s/slim.js';
import { podRequest } from '../../src/adapters/k8s/pods.js';
import { nodeInventory } from '../../src/adapters/k8s/inventory.js';
import { fakeNode, fakePod } from '../k8s/cluster.js';

const managed = [{ manager: 'kubelet', operation: 'Update', fieldsV1: { 'f:status': { 'f:phase': {} } } }];

describe('k8s slim objects', () => {
  it('a pod keeps metadata, what placement reads and its phase; loses managedFields, images, the rest of its status', () => {
    const pod: V1Pod = fakePod('ns', 'p', { gpus: 2, annotations: { a: 'b' } });
    pod.metadata = { ...pod.metadata, resourceVersion: '7', managedFields: managed };
    pod.spec = { ...pod.spec!, nodeName: 'n1' };
    pod.status = { phase: 'Running', podIP: '10.0.0.2', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'main', image: 'x', imageID: '', ready: true, restartCount: 0 }] };
    const s = slimPod(pod);
    assert.equal(s.metadata?.managedFields, undefined);
    assert.equal(s.status?.containerStatuses, undefined);
    assert.deepEqual({ ...s.metadata }, { name: 'p', namespace: 'ns', labels: {}, annotations: { a: 'b' }, resourceVersion: '7' });
    assert.deepEqual(s.spec, { nodeName: 'n1', schedulerName: 'gantry', containers: [{ name: 'main', resources: pod.spec.containers[0]?.resources }] });
    assert.deepEqual(s.status, { phase: 'Running' });
    assert.deepEqual(podRequest(s), podRequest(pod));
    assert.ok(pod.metadata.managedFields, 'the original is not changed');
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
    assert.deepEqual(slimPod({ metadata: { name: 'x' } }), { metadata: { name: 'x' } });
    assert.deepEqual(slimNode({ metadata: { name: 'x' } }), { metadata: { name: 'x' } });
  });
});
