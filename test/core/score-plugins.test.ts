import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, type Binding } from '../../src/core/model/cluster.js';
import { Placer } from '../../src/core/placement/placer.js';
import { createProfile, type PolicyName } from '../../src/core/policies.js';
import { CompiledWorkload, targetWorkload } from '../../src/core/plugins/score/fragmentation.js';
import { createRng } from '../../src/core/rng.js';
import { node, pod } from '../helpers/builders.js';
import type { PodRequest } from '../../src/core/model/request.js';

/** Node "a" half full with shares on GPU 0, "b" empty; cluster with two 2-GPU nodes. */
function twoNodes(): Cluster {
  const c = new Cluster([node('a').gpus(2).cpu(32).obj(), node('b').gpus(2).cpu(32).obj()]);
  const used: Binding = { podId: 'used', node: 'a', cpuMilli: 4000, memoryMiB: 0, gpus: [{ gpu: 0, milli: 500, memoryMiB: 0 }] };
  c.bind(used);
  return c;
}

const workload = (pods: PodRequest[]) => targetWorkload(pods);

const cases: { policy: PolicyName; req: PodRequest; want: { node: string; gpus?: number[] }; why: string }[] = [
  { policy: 'bestfit', req: pod('p').share(500).obj(), want: { node: 'a', gpus: [0] }, why: 'least leftover: the half-used GPU' },
  { policy: 'packing', req: pod('p').share(300).obj(), want: { node: 'a', gpus: [0] }, why: 'case 1: a shared GPU beats a free one' },
  { policy: 'packing', req: pod('p').gpus(1).obj(), want: { node: 'a', gpus: [1] }, why: 'case 2: a used node beats a free node' },
  { policy: 'dotprod', req: pod('p').share(400).obj(), want: { node: 'a', gpus: [0] }, why: 'smaller free vector, smaller product, higher score' },
  { policy: 'fgd', req: pod('p').share(500).obj(), want: { node: 'a', gpus: [0] }, why: 'filling the half GPU removes its fragment for 1000m tasks' },
  { policy: 'gantry', req: pod('p').share(500).obj(), want: { node: 'a', gpus: [0] }, why: 'as fgd: the share closes a fragment' },
];

for (const c of cases) {
  test(`score ${c.policy}: ${c.why}`, () => {
    const cluster = twoNodes();
    const target = workload([pod('w1').gpus(1).obj(), pod('w2').share(500).obj()]);
    const p = new Placer(cluster, createProfile(c.policy, { workload: target }), createRng(1));
    const r = p.place(c.req);
    assert.ok(r.ok);
    assert.equal(r.binding.node, c.want.node);
    if (c.want.gpus) assert.deepEqual(r.binding.gpus.map((g) => g.gpu), c.want.gpus);
  });
}

test('score fgd: equal fragmentation changes tie, and ties go to the node first in name order', () => {
  // Node a: GPU0 has 500m free (a share runs there), GPU1 free. Node b: both free.
  // Target workload: only whole-GPU tasks. Putting a whole GPU on a leaves 500m nobody can use
  // (fragment unchanged) whereas on b it turns a usable GPU into used: FGD compares deltas.
  const cluster = twoNodes();
  const target = workload([pod('w').gpus(1).obj()]);
  const p = new Placer(cluster, createProfile('fgd', { workload: target }), createRng(1));
  const r = p.place(pod('x').gpus(1).obj());
  assert.ok(r.ok);
  // On a: F before = 500 (GPU0 fragment), after = 500 -> delta 0. On b: delta 0 too -> tie -> name order.
  assert.equal(r.binding.node, 'a');
});

test('fragmentation: F counts all free GPU for classes that cannot run, and the small GPUs for those that can', () => {
  const w = new CompiledWorkload(workload([pod('a').share(600).obj(), pod('b').gpus(2).obj()]));
  // Free: [1000, 300]; class share 600: fits on GPU0 -> fragment = 300; class 2 whole: 1 free -> all 1300.
  const f = w.fragmentation(64_000, Float64Array.from([1000, 300]), 2, 'A100-80GB');
  assert.equal(f, 0.5 * 300 + 0.5 * 1300);
  // Without CPU, every class sees all free GPU as fragmented.
  assert.equal(w.fragmentation(0, Float64Array.from([1000, 300]), 2, 'A100-80GB'), 1300);
});

test('target workload: most frequent classes until 95 % coverage, renormalised', () => {
  const pods = [...Array(60)].map((_, i) => pod(`a${i}`).share(500).obj())
    .concat([...Array(38)].map((_, i) => pod(`b${i}`).gpus(1).obj()))
    .concat([pod('c').gpus(8).obj(), pod('d').gpus(4).obj()]);
  const w = targetWorkload(pods);
  assert.equal(w.length, 2);
  assert.equal(w[0]?.gpuMilli, 500);
  assert.ok(Math.abs((w[0]?.popularity ?? 0) - 60 / 98) < 1e-12);
});

test('score random: reproducible for a seed, different across seeds', () => {
  const pick = (seed: number): string[] => {
    const c = new Cluster([...Array(20)].map((_, i) => node(`n${String(i).padStart(2, '0')}`).gpus(8).obj()));
    const p = new Placer(c, createProfile('random'), createRng(seed));
    return [...Array(10)].map((_, i) => {
      const r = p.place(pod(`p${i}`).gpus(1).obj());
      assert.ok(r.ok);
      return r.binding.node;
    });
  };
  assert.deepEqual(pick(5), pick(5));
  assert.notDeepEqual(pick(5), pick(6));
});

test('score clustering: keeps equal shapes together', () => {
  const c = new Cluster([node('a').gpus(4).obj(), node('b').gpus(4).obj(), node('c').gpus(4).obj()]);
  const prof = createProfile('clustering');
  const p = new Placer(c, prof, createRng(1));
  const place = (req: PodRequest): string => {
    const r = p.place(req);
    assert.ok(r.ok);
    c.bind(r.binding);
    for (const rs of prof.reservers ?? []) rs.reserve(r.binding);
    return r.binding.node;
  };
  const first = place(pod('w1').gpus(2).obj());
  const share = place(pod('s1').share(300).obj());
  assert.notEqual(share, first, 'a share avoids the node that holds 2-GPU tasks');
  assert.equal(place(pod('w2').gpus(2).obj()), first, 'the second 2-GPU task joins the first');
});
