import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../../src/core/model/cluster.js';
import { Placer } from '../../src/core/placement/placer.js';
import { placeGang } from '../../src/core/placement/gang.js';
import { createProfile } from '../../src/core/policies.js';
import { createRng } from '../../src/core/rng.js';
import { node, pod } from '../helpers/builders.js';

function place(nodes: ReturnType<ReturnType<typeof node>['obj']>[], req: ReturnType<ReturnType<typeof pod>['obj']>): string {
  const c = new Cluster(nodes);
  const r = new Placer(c, createProfile('gantry'), createRng(1)).place(req);
  assert.ok(r.ok);
  return r.binding.node;
}

test('data locality: a job goes where its dataset is cached', () => {
  const nodes = [node('a').gpus(8).obj(), node('b').gpus(8).datasets('imagenet').obj(), node('c').gpus(8).obj()];
  assert.equal(place(nodes, pod('p').gpus(2).datasets('imagenet').obj()), 'b');
});

test('data locality: more of the datasets cached wins', () => {
  const nodes = [node('a').gpus(8).datasets('x').obj(), node('b').gpus(8).datasets('x', 'y').obj()];
  assert.equal(place(nodes, pod('p').gpus(1).datasets('x', 'y').obj()), 'b');
});

test('data locality: without datasets, or where none is cached, the policy decides as usual', () => {
  const nodes = [node('a').gpus(8).obj(), node('b').gpus(8).datasets('imagenet').obj()];
  assert.equal(place(nodes, pod('p').gpus(1).obj()), 'a');
  assert.equal(place(nodes, pod('p').gpus(1).datasets('coco').obj()), 'a');
});

test('data locality never overrides feasibility', () => {
  const nodes = [node('a').gpus(8).obj(), node('b').gpus(1).datasets('imagenet').obj()];
  assert.equal(place(nodes, pod('p').gpus(4).datasets('imagenet').obj()), 'a');
});

function placeWith(nodes: ReturnType<ReturnType<typeof node>['obj']>[], req: ReturnType<ReturnType<typeof pod>['obj']>, locality?: { weight?: number; rackCredit?: number }, prep?: (c: Cluster) => void): string {
  const c = new Cluster(nodes);
  prep?.(c);
  const r = new Placer(c, createProfile('gantry', locality ? { locality } : {}), createRng(1)).place(req);
  assert.ok(r.ok);
  return r.binding.node;
}

test('data locality counts bytes: the node holding most of the bytes wins, not most of the datasets', () => {
  const nodes = [node('a').gpus(8).holds({ big: 900, tiny: 10 }).obj(), node('b').gpus(8).holds({ small: 100, tiny: 10 }).obj(), node('c').gpus(8).holds({ big: 900 }).obj()];
  // b holds 2 of 3 datasets but 110 of 1,010 bytes; a holds 910.
  assert.equal(placeWith(nodes, pod('p').gpus(1).reads({ big: 900, small: 100, tiny: 10 }).obj()), 'a');
});

test('data locality: a partial copy counts what it holds', () => {
  const nodes = [node('a').gpus(8).obj(), node('b').gpus(8).holds({ ds: 300 }).obj(), node('c').gpus(8).holds({ ds: 700 }).obj()];
  assert.equal(placeWith(nodes, pod('p').gpus(1).reads({ ds: 1000 }).obj()), 'c');
  assert.equal(placeWith(nodes.slice(0, 2), pod('p').gpus(1).reads({ ds: 1000 }).obj()), 'b');
});

test('data locality: partial credit within the rack when the holder is full', () => {
  // z1 holds the copy but cannot take 4 GPUs: z2 (same rack) beats b1, which name order would pick.
  const flipped = [node('z1').gpus(2).rack('r1').holds({ ds: 1000 }).obj(), node('z2').gpus(8).rack('r1').obj(), node('b1').gpus(8).rack('r2').obj()];
  assert.equal(placeWith(flipped, pod('p').gpus(4).reads({ ds: 1000 }).obj()), 'z2');
  assert.equal(placeWith(flipped, pod('p').gpus(4).reads({ ds: 1000 }).obj(), { rackCredit: 0 }), 'b1', 'no rack credit: the tie goes to name order');
});

test('data locality: a neighbour filling its cache changes the rack credit of the others', () => {
  const nodes = [node('b1').gpus(8).rack('r2').obj(), node('z1').gpus(2).rack('r1').obj(), node('z2').gpus(8).rack('r1').obj()];
  const c = new Cluster(nodes);
  const placer = new Placer(c, createProfile('gantry'), createRng(1));
  const req = pod('p').gpus(4).reads({ ds: 1000 }).obj();
  const first = placer.place(req);
  assert.ok(first.ok && first.binding.node === 'b1');
  c.setNodeMeta('z1', {}, [], [], { ds: 1000 });
  const second = placer.place(req);
  assert.ok(second.ok);
  assert.equal(second.binding.node, 'z2', 'the cached score of z2 was redone when its rack changed');
});

test('data locality weight: a small weight lets packing win, the default lets locality lead', () => {
  const used = (c: Cluster): void => {
    for (let g = 0; g < 6; g++) c.bind({ podId: `u${g}`, node: 'b', cpuMilli: 0, memoryMiB: 0, gpus: [{ gpu: g, milli: 1000, memoryMiB: 81920 }] });
  };
  const nodes = [node('a').gpus(8).holds({ ds: 1000 }).obj(), node('b').gpus(8).obj()];
  const req = pod('p').gpus(2).reads({ ds: 1000 }).obj();
  assert.equal(placeWith(nodes, req, undefined, used), 'a', 'default: locality leads');
  assert.equal(placeWith(nodes, req, { weight: 0 }, used), 'b', 'weight 0: best fit packs onto b');
  assert.equal(placeWith(nodes, req, { weight: 1 }, used), 'b', 'a weight below the packing gain: b');
  assert.equal(placeWith(nodes, req, { weight: 1e6 }, used), 'a', 'a weight above it: a');
});

test('data locality per gang member: each member goes where its own data is', () => {
  const nodes = [node('a').gpus(8).obj(), node('b').gpus(8).obj(), node('c').gpus(8).holds({ shard0: 500 }).obj(), node('d').gpus(8).holds({ shard1: 500 }).obj()];
  const c = new Cluster(nodes);
  const p = new Placer(c, createProfile('gantry'), createRng(1));
  const st = c.begin();
  const r = placeGang(p, { id: 'g', members: [pod('g-0').gpus(8).reads({ shard0: 500 }).obj(), pod('g-1').gpus(8).reads({ shard1: 500 }).obj()] }, st);
  assert.ok(r.ok);
  const where = Object.fromEntries(r.bindings.map((b) => [b.podId, b.node]));
  assert.deepEqual(where, { 'g-0': 'c', 'g-1': 'd' });
});
