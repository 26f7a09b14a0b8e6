/**
 * The chaos checker's pod record (test/k8s/pod-record.ts), without an apiserver. A run of the
 * failover chaos test reported GPUs on two live pods right after a kube-apiserver restart: while
 * the checker's watch was down, a pod ended and the new leader bound another pod to its GPUs;
 * the checker's re-list then brought the new pod in before the old one's end (a list comes in
 * name order, not event order), and the record was judged half-way through the list.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { fakePod } from './cluster.js';
import { safetyProblems } from './replicas.js';
import { PodRecord } from './pod-record.js';

let rv = 100;
function pod(name: string, gpus: number[], phase: 'Running' | 'Succeeded'): V1Pod {
  const p = fakePod('chaos', name, { gpus: gpus.length });
  p.metadata = {
    ...p.metadata,
    resourceVersion: String(++rv),
    annotations: { 'gantry.dev/gpu-assignment': JSON.stringify({ node: 'n0', gpus: gpus.map((index) => ({ index, uuid: '', milli: 1000, memoryMiB: 81559 })) }) },
  };
  return { ...p, spec: { ...p.spec, containers: p.spec?.containers ?? [], nodeName: 'n0' }, status: { phase } };
}

function judged(): { record: PodRecord; problems: string[]; settledAfterList: boolean[] } {
  const problems: string[] = [];
  const settledAfterList: boolean[] = [];
  const record: PodRecord = new PodRecord({
    seen: () => undefined,
    settled: (afterList) => {
      settledAfterList.push(afterList);
      const { doubleBooked, overCapacity } = safetyProblems([...record.pods.values()], new Map([['n0', 8]]));
      problems.push(...doubleBooked, ...overCapacity);
    },
  });
  return { record, problems, settledAfterList };
}

const all = [0, 1, 2, 3, 4, 5, 6, 7];

test('a re-list is judged whole: a pod that ended while the watch was down does not clash with the pod bound after it', () => {
  const { record, problems, settledAfterList } = judged();
  record.event('ADDED', pod('p9', all, 'Running'));
  // The record now: p9 ended, g12-0 bound to its GPUs since; "g12-0" comes first in the list.
  record.list([pod('g12-0', all, 'Running'), pod('p9', all, 'Succeeded')]);
  assert.deepEqual(problems, [], 'the apiserver never had both live on the same GPUs');
  assert.deepEqual(settledAfterList, [false, true], 'judged after the event and once after the whole list');
  assert.deepEqual([...record.pods.keys()].sort(), ['g12-0', 'p9']);
});

test('a re-list drops the pods it lacks (deleted while the watch was down)', () => {
  const { record, problems } = judged();
  record.event('ADDED', pod('p9', all, 'Running'));
  record.list([pod('g12-0', all, 'Running')]);
  assert.deepEqual(problems, []);
  assert.deepEqual([...record.pods.keys()], ['g12-0']);
});

test('a real double-booking is still reported, from events and from a list', () => {
  const fromEvents = judged();
  fromEvents.record.event('ADDED', pod('a', [0, 1, 2, 3], 'Running'));
  fromEvents.record.event('MODIFIED', pod('b', [3, 4], 'Running'));
  assert.deepEqual(fromEvents.problems, ['n0/3: 2000 milli-GPU booked by a, b']);
  const fromList = judged();
  fromList.record.list([pod('a', [0, 1, 2, 3], 'Running'), pod('b', [3, 4], 'Running')]);
  assert.deepEqual(fromList.problems, ['n0/3: 2000 milli-GPU booked by a, b']);
});
