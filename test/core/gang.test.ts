import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../../src/core/model/cluster.js';
import { Placer } from '../../src/core/placement/placer.js';
import { placeGang } from '../../src/core/placement/gang.js';
import { createProfile } from '../../src/core/policies.js';
import { createRng } from '../../src/core/rng.js';
import { node, pod } from '../helpers/builders.js';

const snapshot = (c: Cluster): string => JSON.stringify(c.nodesByName().map((n) => [n.name, n.cpuFree, n.gpus.map((g) => g.milliFree)]));

function setup(nodes: ReturnType<ReturnType<typeof node>['obj']>[]): { c: Cluster; p: Placer } {
  const c = new Cluster(nodes);
  return { c, p: new Placer(c, createProfile('bestfit'), createRng(1)) };
}

test('gang: all or nothing: a gang that cannot fully fit binds nothing', () => {
  const { c, p } = setup([node('a').gpus(8).obj(), node('b').gpus(8).obj()]);
  const before = snapshot(c);
  const st = c.begin();
  const r = placeGang(p, { id: 'g', members: [0, 1, 2].map((i) => pod(`g-${i}`).gpus(6).obj()) }, st);
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.message, /gang g/);
  assert.equal(snapshot(c), before);
  assert.equal(c.boundCount, 0);
});

test('gang: members that fit on one node go to one node', () => {
  const { c, p } = setup([node('a').gpus(8).rack('r1').obj(), node('b').gpus(8).rack('r1').obj()]);
  c.bind({ podId: 'other', node: 'a', cpuMilli: 0, memoryMiB: 0, gpus: [{ gpu: 0, milli: 1000, memoryMiB: 81920 }] });
  const r = placeGang(p, { id: 'g', members: [0, 1, 2, 3].map((i) => pod(`g-${i}`).gpus(2).obj()) }, c.begin());
  assert.ok(r.ok);
  assert.equal(r.level, 'node');
  assert.deepEqual([...new Set(r.bindings.map((b) => b.node))], ['b']);
});

test('gang: spread over several nodes, it stays within one rack when a rack can hold it', () => {
  const nodes = [
    node('r1-a').gpus(4).rack('r1').obj(),
    node('r1-b').gpus(4).rack('r1').obj(),
    node('r2-a').gpus(8).rack('r2').obj(),
    node('r2-b').gpus(4).rack('r2').obj(),
  ];
  const { c, p } = setup(nodes);
  // 3 x 4 GPUs: no single node, r1 has 8 GPUs (too few), r2 has 12: the gang goes to r2.
  const r = placeGang(p, { id: 'g', members: [0, 1, 2].map((i) => pod(`g-${i}`).gpus(4).obj()) }, c.begin());
  assert.ok(r.ok);
  assert.equal(r.level, 'rack');
  assert.equal(r.domain, 'r2');
  assert.ok(r.bindings.every((b) => b.node.startsWith('r2-')));
});

test('gang: a multi-node NVLink domain beats a rack', () => {
  const nodes = [
    node('a').gpus(4).rack('r1').nvlinkDomain('nvl-1').obj(),
    node('b').gpus(4).rack('r1').nvlinkDomain('nvl-2').obj(),
    node('c').gpus(4).rack('r2').nvlinkDomain('nvl-2').obj(),
  ];
  const { c, p } = setup(nodes);
  const r = placeGang(p, { id: 'g', members: [0, 1].map((i) => pod(`g-${i}`).gpus(4).obj()) }, c.begin());
  assert.ok(r.ok);
  assert.equal(r.level, 'nvlink');
  assert.deepEqual(r.bindings.map((b) => b.node).sort(), ['b', 'c']);
});

test('gang: the tightest domain is chosen so large domains stay whole', () => {
  const nodes = [node('big-1').gpus(8).rack('big').obj(), node('big-2').gpus(8).rack('big').obj(), node('small-1').gpus(4).rack('small').obj(), node('small-2').gpus(4).rack('small').obj()];
  const { c, p } = setup(nodes);
  const r = placeGang(p, { id: 'g', members: [0, 1].map((i) => pod(`g-${i}`).gpus(4).obj()) }, c.begin());
  assert.ok(r.ok);
  // Fits on one big node (node level comes first).
  assert.equal(r.level, 'node');
  const r2 = placeGang(p, { id: 'h', members: [0, 1, 2, 3].map((i) => pod(`h-${i}`).gpus(2).obj()) }, c.begin());
  assert.ok(r2.ok);
  assert.equal(r2.level, 'node');
});
