/**
 * The standby's mirror of the apiserver (src/adapters/k8s/scheduler.ts), event by event, without
 * an apiserver: pod events are fed to a replica that never leads, and its core's bookings are
 * compared with what the events record. The interleavings are those of issue 17's failover
 * analysis; test/k8s/failover-repro.test.ts replays the first one on a real apiserver.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { KubeScheduler } from '../../src/adapters/k8s/scheduler.js';
import type { ClusterWrites } from '../../src/adapters/k8s/api.js';
import { fakeNode, fakePod } from '../k8s/cluster.js';

/** The replica's watch handlers and takeover list, as the watches call them. */
interface Feed {
  onNode(n: unknown): void;
  onPod(p: V1Pod): void;
  onPodDeleted(p: V1Pod): void;
  onGroup(g: unknown): void;
  initialSync(): void;
  applyPodList(items: readonly V1Pod[], rv: string): void;
}

const refuse = (): Promise<never> => Promise.reject(new Error('a standby writes nothing'));
const writes: ClusterWrites = {
  bindPod: refuse, evictPod: refuse, upsertConfigMap: refuse, recordEvent: refuse, patchPodGroupStatus: refuse, patchQueueStatus: refuse, getLease: refuse, writeLease: refuse,
};

function standby(): { s: KubeScheduler; feed: Feed; logs: string[] } {
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
  const logs: string[] = [];
  const s = new KubeScheduler({ kubeConfig: kc, writes, namespace: 'gantry-system', identity: 'mirror', leaderElection: false, log: (m) => void logs.push(m) });
  const feed = s as unknown as Feed;
  feed.onNode(fakeNode('n0', { gpus: 8 }));
  feed.onGroup({ metadata: { name: 'train', namespace: 'ns' }, spec: { minMember: 2 } });
  feed.initialSync();
  return { s, feed, logs };
}

let rv = 100;
function pod(name: string, o: { gpus: number; group?: string; uid?: string; rv?: number; bound?: { gpus: number[]; plan?: Record<string, [string, number[][]]> } }): V1Pod {
  const p = fakePod('ns', name, { gpus: o.gpus, ...(o.group ? { group: o.group } : {}) });
  p.metadata = { ...p.metadata, uid: o.uid ?? `uid-${name}`, resourceVersion: String(o.rv ?? ++rv), creationTimestamp: new Date(0) };
  if (o.bound) {
    p.spec = { ...p.spec, containers: p.spec?.containers ?? [], nodeName: 'n0' };
    p.metadata.annotations = {
      ...p.metadata.annotations,
      'gantry.dev/gpu-assignment': JSON.stringify({ node: 'n0', gpus: o.bound.gpus.map((index) => ({ index, uuid: '', milli: 1000, memoryMiB: 81559 })) }),
      ...(o.bound.plan ? { 'gantry.dev/gang-plan': JSON.stringify(o.bound.plan) } : {}),
    };
  }
  return p;
}

const gpusOf = (s: KubeScheduler, name: string): number[] | undefined => s.core.cluster.binding(`ns/${name}`)?.gpus.map((g) => g.gpu);
const grants = (from: number): number[][] => [0, 1, 2, 3].map((i) => [from + i, 1000, 81559]);
const plan = { w0: ['n0', grants(0)] as [string, number[][]], w1: ['n0', grants(4)] as [string, number[][]] };

test('a gang plan whose bound members are gone books nothing; the pod bound there next is booked', () => {
  const { s, feed } = standby();
  feed.onPod(pod('w0', { gpus: 4, group: 'train' }));
  feed.onPod(pod('w1', { gpus: 4, group: 'train' }));
  feed.onPod(pod('w0', { gpus: 4, group: 'train', bound: { gpus: [0, 1, 2, 3], plan } }));
  assert.deepEqual(gpusOf(s, 'w1'), [4, 5, 6, 7], 'the unbound member is booked at its plan while w0 runs');
  feed.onPodDeleted(pod('w0', { gpus: 4, group: 'train' }));
  assert.equal(gpusOf(s, 'w1'), undefined, 'no bound member carries the plan any more');
  feed.onPod(pod('q', { gpus: 4 }));
  feed.onPod(pod('q', { gpus: 4, bound: { gpus: [4, 5, 6, 7] } }));
  assert.deepEqual(gpusOf(s, 'q'), [4, 5, 6, 7]);
});

test('a bound pod refused because a phantom held its GPUs is booked once the phantom goes', () => {
  const { s, feed } = standby();
  // A pod bound elsewhere holds GPUs 4-7 in this replica's view; the record then shows them
  // given to another pod first (the list order is not the events' order).
  feed.onPod(pod('old', { gpus: 4, bound: { gpus: [4, 5, 6, 7] } }));
  feed.onPod(pod('q', { gpus: 4, bound: { gpus: [4, 5, 6, 7] } }));
  assert.equal(gpusOf(s, 'q'), undefined, 'refused while old holds the GPUs');
  feed.onPod({ ...pod('old', { gpus: 4, bound: { gpus: [4, 5, 6, 7] } }), status: { phase: 'Succeeded' } });
  assert.deepEqual(gpusOf(s, 'q'), [4, 5, 6, 7], 'booked as soon as old ended');
});

test('a takeover list applies what ended before it books what is bound', () => {
  const { s, feed } = standby();
  feed.onPod(pod('w1', { gpus: 4, group: 'train' }));
  feed.onPod(pod('w0', { gpus: 4, group: 'train', bound: { gpus: [0, 1, 2, 3], plan } }));
  assert.deepEqual(gpusOf(s, 'w1'), [4, 5, 6, 7]);
  // The list: w0 gone, q bound to w1's planned GPUs (listed first), w1 still waiting.
  feed.applyPodList([pod('q', { gpus: 4, bound: { gpus: [4, 5, 6, 7] } }), pod('w1', { gpus: 4, group: 'train', uid: 'uid-w1', rv: 90 })], String(++rv));
  assert.deepEqual(gpusOf(s, 'q'), [4, 5, 6, 7]);
  assert.equal(gpusOf(s, 'w1'), undefined);
  assert.equal(gpusOf(s, 'w0'), undefined);
});

test('events older than the takeover list do not bring back a pod it showed gone', () => {
  const { s, feed } = standby();
  const listRv = ++rv;
  feed.applyPodList([], String(listRv));
  feed.onPod(pod('z', { gpus: 8, rv: listRv - 1, bound: { gpus: [0, 1, 2, 3, 4, 5, 6, 7] } }));
  assert.equal(gpusOf(s, 'z'), undefined);
  feed.onPod(pod('y', { gpus: 8, rv: listRv + 1, bound: { gpus: [0, 1, 2, 3, 4, 5, 6, 7] } }));
  assert.deepEqual(gpusOf(s, 'y'), [0, 1, 2, 3, 4, 5, 6, 7], 'a pod newer than the list is booked');
});

test('a pod re-created under the same name replaces the old one; the old one\'s late deletion is ignored', () => {
  const { s, feed } = standby();
  feed.onPod(pod('p', { gpus: 4, uid: 'a', bound: { gpus: [0, 1, 2, 3] } }));
  assert.deepEqual(gpusOf(s, 'p'), [0, 1, 2, 3]);
  // The new p is bound to other GPUs before the old one's deletion is seen.
  feed.onPod(pod('p', { gpus: 4, uid: 'b', bound: { gpus: [4, 5, 6, 7] } }));
  assert.deepEqual(gpusOf(s, 'p'), [4, 5, 6, 7]);
  feed.onPodDeleted(pod('p', { gpus: 4, uid: 'a' }));
  assert.deepEqual(gpusOf(s, 'p'), [4, 5, 6, 7], 'the running p keeps its GPUs');
  feed.onPodDeleted(pod('p', { gpus: 4, uid: 'b' }));
  assert.equal(gpusOf(s, 'p'), undefined);
});
