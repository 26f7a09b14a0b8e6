import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../../src/core/model/cluster.js';
import { Placer } from '../../src/core/placement/placer.js';
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
