import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../../src/core/model/cluster.js';
import { predictDataNode } from '../../src/core/placement/predict-data-node.js';
import { node, pod } from '../helpers/builders.js';

const GB = 1e9;

function fleet(): Cluster {
  return new Cluster([node('a').gpus(8).obj(), node('b').gpus(8).obj(), node('c').gpus(2).obj(), node('d').gpus(8).labels({ pool: 'other' }).obj()]);
}

/** Takes `n` whole GPUs on `on`. */
function take(c: Cluster, on: string, n: number, id: string): void {
  const free = (c.node(on)?.gpus ?? []).filter((g) => g.wholeFree).slice(0, n);
  c.bind({ podId: id, node: on, cpuMilli: 0, memoryMiB: 0, gpus: free.map((g) => ({ gpu: g.index, milli: 1000, memoryMiB: g.memoryMiB })) });
}

test('predictDataNode: the node closest to fitting among those the pod could run on; then the one holding more of its data; then by name', () => {
  const c = fleet();
  take(c, 'a', 8, 'x');
  take(c, 'b', 6, 'y');
  take(c, 'd', 8, 'w');
  const req = pod('p').gpus(4).reads({ ds: 100 * GB }).obj();
  assert.equal(predictDataNode(c, req), 'b', 'b misses 2 GPUs, a and d 4; c (2 GPUs) cannot run it');
  take(c, 'b', 2, 'z');
  assert.equal(predictDataNode(c, req), 'a', 'a, b and d full: by name');
  c.setNodeCache('b', { ds: 40 * GB });
  assert.equal(predictDataNode(c, req), 'b', 'a tie goes to the node holding more of its data');
  assert.equal(predictDataNode(c, req, new Set(['b'])), 'a', 'another member of the gang has b');
  assert.equal(predictDataNode(c, pod('q').gpus(4).selector({ pool: 'other' }).reads({ ds: 100 * GB }).obj()), 'd', 'labels count');
});

test('predictDataNode: nothing to stage for a pod without datasets or whose data a node it could run on holds', () => {
  const c = fleet();
  assert.equal(predictDataNode(c, pod('p').gpus(1).obj()), null);
  c.setNodeCache('c', { ds: 100 * GB });
  assert.equal(predictDataNode(c, pod('p').gpus(1).reads({ ds: 100 * GB }).obj()), null);
  assert.equal(predictDataNode(c, pod('p').gpus(4).reads({ ds: 100 * GB }).obj()), 'a', 'c holds it but cannot run 4 GPUs');
});
