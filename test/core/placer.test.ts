import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../../src/core/model/cluster.js';
import { Placer } from '../../src/core/placement/placer.js';
import { createProfile, POLICY_NAMES, type PolicyName } from '../../src/core/policies.js';
import { targetWorkload } from '../../src/core/plugins/score/fragmentation.js';
import { createRng } from '../../src/core/rng.js';
import { LINK } from '../../src/core/model/node.js';
import { node, pod } from '../helpers/builders.js';
import { sampleRequest, syntheticFleet, mixAsPods } from '../../src/bench/fleet.js';

function placer(cluster: Cluster, policy: PolicyName = 'bestfit', workload = targetWorkload(mixAsPods())): Placer {
  return new Placer(cluster, createProfile(policy, { workload }), createRng(7));
}

test('placer: a request that fits nowhere says why, counted per reason', () => {
  const c = new Cluster([node('a').gpus(2).obj(), node('b').gpus(8, 'L4').obj(), node('c').gpus(4).obj(), node('d').cordoned().gpus(8).obj()]);
  const r = placer(c).place(pod('p').gpus(8).models('A100-80GB').obj());
  assert.equal(r.ok, false);
  assert.equal(r.ok ? '' : r.message, '0/4 nodes: 2 too few whole free GPUs, 1 GPU model not allowed, 1 node cordoned');
  assert.deepEqual(r.ok ? [] : r.reasons.map((x) => [x.code, x.nodes]), [['InsufficientWholeGpu', 2], ['GpuModelNotAllowed', 1], ['NodeUnschedulable', 1]]);
});

test('placer: equal scores go to the node first in name order', () => {
  const c = new Cluster([node('n-c').gpus(8).obj(), node('n-a').gpus(8).obj(), node('n-b').gpus(8).obj()]);
  const r = placer(c, 'bestfit').place(pod('p').gpus(1).obj());
  assert.ok(r.ok);
  assert.equal(r.binding.node, 'n-a');
});

test('placer: bestfit prefers the fuller node', () => {
  const c = new Cluster([node('a').gpus(8).obj(), node('b').gpus(8).obj()]);
  const p = placer(c, 'bestfit');
  const first = p.place(pod('p1').gpus(4).obj());
  assert.ok(first.ok);
  c.bind(first.binding);
  const second = p.place(pod('p2').gpus(2).obj());
  assert.ok(second.ok);
  assert.equal(second.binding.node, first.binding.node);
});

test('placer: a share goes to the partly used GPU that fits most tightly (bestfit)', () => {
  const c = new Cluster([node('a').gpus(4).obj()]);
  const p = placer(c, 'bestfit');
  for (const [id, milli] of [['x', 300], ['y', 600]] as const) {
    const r = p.place(pod(id).share(milli).obj());
    assert.ok(r.ok);
    c.bind(r.binding);
  }
  const r = p.place(pod('z').share(300).obj());
  assert.ok(r.ok);
  // GPU 0 has 700 free (x), GPU 1 has 400 free (y): 400 is the tighter fit.
  assert.deepEqual(r.binding.gpus.map((g) => g.gpu), [1]);
});

test('placer: a multi-GPU request gets the best-connected free set', () => {
  const L = LINK;
  // GPUs 0-3 on one NVLink island, 4-7 on another; GPU 0 and 5 are taken.
  const m = Array.from({ length: 8 }, (_, i) => Array.from({ length: 8 }, (_, j) => (i === j ? 0 : Math.floor(i / 4) === Math.floor(j / 4) ? L.NVLINK : L.SYS)));
  const c = new Cluster([node('a').gpus(8, 'H100-80GB').links(m).obj()]);
  const p = placer(c, 'bestfit');
  c.bind({ podId: 'u0', node: 'a', cpuMilli: 0, memoryMiB: 0, gpus: [{ gpu: 0, milli: 1000, memoryMiB: 81559 }] });
  c.bind({ podId: 'u5', node: 'a', cpuMilli: 0, memoryMiB: 0, gpus: [{ gpu: 5, milli: 1000, memoryMiB: 81559 }] });
  const r = p.place(pod('p').gpus(3).obj());
  assert.ok(r.ok);
  const set = r.binding.gpus.map((g) => g.gpu).sort();
  assert.ok(set.every((g) => g < 4) || set.every((g) => g >= 4), `same island, got ${set.join(',')}`);
  assert.deepEqual(set, [1, 2, 3]);
});

test('placer: MIG requests get a slot by the start-slot rules, packing onto used GPUs', () => {
  const c = new Cluster([node('a').migGpus(2, 'H100-80GB').obj()]);
  const p = placer(c, 'bestfit');
  const got: string[] = [];
  for (const [id, prof] of [['m1', '1g.10gb'], ['m2', '3g.40gb'], ['m3', '3g.40gb']] as const) {
    const r = p.place(pod(id).mig(prof).obj());
    assert.ok(r.ok, id);
    c.bind(r.binding);
    got.push(r.binding.gpus.map((g) => `${g.gpu}:${g.mig?.profile}@${g.mig?.start}`).join());
  }
  // 1g goes to slot 6 of GPU 0 and the first 3g next to it at 0. The second 3g needs GPU 1,
  // where it starts at 4: that keeps 4g@0 possible (4g@0 + 3g@4 is the full pairing).
  assert.deepEqual(got, ['0:1g.10gb@6', '0:3g.40gb@0', '1:3g.40gb@4']);
});

test('placer: cached scores give exactly the decisions of a fresh full rescan, for every policy', () => {
  for (const policy of POLICY_NAMES.filter((x) => x !== 'random' && x !== 'clustering')) {
    const specs = syntheticFleet(40, 8);
    const c1 = new Cluster(specs);
    const c2 = new Cluster(specs);
    const cached = placer(c1, policy);
    const rng = createRng(99);
    const live: string[] = [];
    for (let i = 0; i < 600; i++) {
      if (i % 5 === 4 && live.length > 0) {
        const id = live.splice(rng.int(live.length), 1)[0] as string;
        c1.release(id);
        c2.release(id);
      }
      const req = sampleRequest(rng, `p${i}`);
      const a = cached.place(req);
      const b = placer(c2, policy).place(req); // a new placer: no cache
      assert.deepEqual(a.ok && a.binding, b.ok && b.binding, `${policy} decision ${i}`);
      if (a.ok) {
        c1.bind(a.binding);
        c2.bind(a.binding);
        live.push(req.id);
      }
    }
  }
});

test('cluster: a failed bind changes nothing; a statement rolls back in reverse', () => {
  const c = new Cluster([node('a').gpus(2).obj()]);
  const before = JSON.stringify(c.nodes().map((n) => [n.cpuFree, n.gpus.map((g) => g.milliFree)]));
  assert.throws(() => c.bind({ podId: 'x', node: 'a', cpuMilli: 1, memoryMiB: 1, gpus: [{ gpu: 0, milli: 1000, memoryMiB: 0 }, { gpu: 7, milli: 1000, memoryMiB: 0 }] }), /no GPU 7/);
  assert.equal(JSON.stringify(c.nodes().map((n) => [n.cpuFree, n.gpus.map((g) => g.milliFree)])), before);
  const st = c.begin();
  st.bind({ podId: 'y', node: 'a', cpuMilli: 1000, memoryMiB: 1, gpus: [{ gpu: 0, milli: 500, memoryMiB: 0 }] });
  st.release('y');
  st.bind({ podId: 'z', node: 'a', cpuMilli: 1000, memoryMiB: 1, gpus: [{ gpu: 1, milli: 1000, memoryMiB: 0 }] });
  st.rollback();
  assert.equal(JSON.stringify(c.nodes().map((n) => [n.cpuFree, n.gpus.map((g) => g.milliFree)])), before);
  assert.equal(c.boundCount, 0);
});
