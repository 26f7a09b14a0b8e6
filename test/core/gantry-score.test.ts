/**
 * The `gantry` placement policy (src/core/plugins/score/gantry.ts): behaviour on small
 * clusters, one scenario per row. Node names are chosen so that the name-order tie-break
 * would pick the wrong node: the score has to make the difference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, type Binding } from '../../src/core/model/cluster.js';
import { LINK, type NodeSpec } from '../../src/core/model/node.js';
import type { PodRequest } from '../../src/core/model/request.js';
import { Placer } from '../../src/core/placement/placer.js';
import { createProfile, type PolicyName } from '../../src/core/policies.js';
import { targetWorkload } from '../../src/core/plugins/score/fragmentation.js';
import { createRng } from '../../src/core/rng.js';
import { node, pod } from '../helpers/builders.js';

interface Scenario {
  readonly name: string;
  readonly nodes: readonly NodeSpec[];
  /** Pods already running: [node, pod, GPU indices (shares: one)]. */
  readonly running?: readonly (readonly [string, PodRequest, readonly number[]])[];
  /** The target workload is derived from these pods (none = empty workload). */
  readonly workload: readonly PodRequest[];
  readonly request: PodRequest;
  readonly expectNode: string;
  /** Expected GPU indices on that node, when it matters. */
  readonly expectGpus?: readonly number[];
}

function grantsFor(c: Cluster, nodeName: string, p: PodRequest, gpus: readonly number[]): Binding['gpus'] {
  const n = c.node(nodeName);
  assert.ok(n, `no node ${nodeName}`);
  const g = p.gpu;
  switch (g.kind) {
    case 'none':
      return [];
    case 'whole':
      return gpus.map((i) => ({ gpu: i, milli: 1000, memoryMiB: n.gpus[i]?.memoryMiB ?? 0 }));
    case 'share':
      return [{ gpu: gpus[0] ?? 0, milli: g.milli, memoryMiB: g.memoryMiB }];
    case 'mig':
      return [{ gpu: gpus[0] ?? 0, milli: 0, memoryMiB: 0, mig: { profile: g.profile, start: gpus[1] ?? 0 } }];
  }
}

function place(s: Scenario, policy: PolicyName = 'gantry'): Binding {
  const cluster = new Cluster(s.nodes);
  for (const [nodeName, p, gpus] of s.running ?? []) {
    cluster.bind({ podId: p.id, node: nodeName, cpuMilli: p.cpuMilli, memoryMiB: p.memoryMiB, gpus: grantsFor(cluster, nodeName, p, gpus) });
  }
  const placer = new Placer(cluster, createProfile(policy, { workload: targetWorkload(s.workload) }), createRng(7));
  const r = placer.place(s.request);
  assert.ok(r.ok, r.ok ? '' : r.message);
  return r.binding;
}

/** n copies of a pod shape, for target workloads. */
function many(n: number, make: (i: number) => PodRequest): PodRequest[] {
  return Array.from({ length: n }, (_, i) => make(i));
}

const mixed = [...many(6, (i) => pod(`w${i}`).cpu(8000).gpus(1).obj()), ...many(4, (i) => pod(`s${i}`).cpu(4000).share(500).obj())];

const nvlinkPairs = [
  [0, LINK.NVLINK, LINK.SYS, LINK.SYS],
  [LINK.NVLINK, 0, LINK.SYS, LINK.SYS],
  [LINK.SYS, LINK.SYS, 0, LINK.NVLINK],
  [LINK.SYS, LINK.SYS, LINK.NVLINK, 0],
];
const pcieOnly = nvlinkPairs.map((row) => row.map((l) => (l === 0 ? 0 : LINK.SYS)));

const scenarios: Scenario[] = [
  {
    name: 'a share joins a partially used GPU rather than breaking a whole one on another node',
    nodes: [node('a').gpus(2).obj(), node('b').gpus(2).obj()],
    running: [['b', pod('r1').cpu(4000).share(500).obj(), [1]]],
    workload: mixed,
    request: pod('x').cpu(4000).share(500).obj(),
    expectNode: 'b',
    expectGpus: [1],
  },
  {
    name: 'within a node, a share goes to the GPU it fills best',
    nodes: [node('a').gpus(4).obj()],
    running: [
      ['a', pod('r1').cpu(1000).share(300).obj(), [0]],
      ['a', pod('r2').cpu(1000).share(500).obj(), [2]],
    ],
    workload: mixed,
    request: pod('x').cpu(1000).share(500).obj(),
    expectNode: 'a',
    expectGpus: [2],
  },
  {
    name: 'a CPU-heavy GPU pod goes where it leaves no GPU stranded by missing CPU',
    // On "a" the pod would leave 1 GPU with 6 cores: too few for the whole-GPU class (8 cores).
    nodes: [node('a').cpu(20).gpus(2).obj(), node('b').cpu(64).gpus(2).obj()],
    workload: mixed,
    request: pod('x').cpu(14000).gpus(1).obj(),
    expectNode: 'b',
  },
  {
    name: 'a CPU-only pod goes where CPU is plentiful relative to the free GPUs',
    nodes: [node('a').cpu(40).gpus(4).obj(), node('b').cpu(96).gpus(2).obj()],
    workload: [...mixed, pod('c').cpu(16000).obj()],
    request: pod('x').cpu(16000).obj(),
    expectNode: 'b',
  },
  {
    name: 'a CPU-only pod that strands no GPU anywhere prefers a node without free GPUs',
    nodes: [node('a').cpu(64).gpus(2).obj(), node('b').cpu(32).obj()],
    workload: [...mixed, pod('c').cpu(4000).obj()],
    request: pod('x').cpu(4000).obj(),
    expectNode: 'b',
  },
  {
    name: 'a memory share packs onto a GPU that is already shared',
    nodes: [node('a').gpus(2, 'A100-40GB').obj(), node('b').gpus(2, 'A100-40GB').obj()],
    running: [['b', pod('r1').share(0, 10_000).obj(), [0]]],
    workload: [...many(4, (i) => pod(`m${i}`).share(0, 10_000).obj()), ...many(4, (i) => pod(`w${i}`).gpus(1).obj())],
    request: pod('x').share(0, 10_000).obj(),
    expectNode: 'b',
    expectGpus: [0],
  },
  {
    name: 'a share is never assigned a GPU whose memory is taken, however well its compute fits',
    nodes: [node('a').gpus(2, 'A100-40GB').obj()],
    running: [
      ['a', pod('r1').share(200, 35_000).obj(), [0]],
      ['a', pod('r2').share(600, 0).obj(), [1]],
    ],
    workload: many(4, (i) => pod(`m${i}`).share(300, 10_000).obj()),
    request: pod('x').share(300, 10_000).obj(),
    expectNode: 'a',
    expectGpus: [1],
  },
  {
    name: 'a multi-GPU pod prefers the node where its GPUs share NVLink',
    nodes: [node('a').gpus(4).links(pcieOnly).obj(), node('b').gpus(4).links(nvlinkPairs).obj()],
    workload: mixed,
    request: pod('x').gpus(2).obj(),
    expectNode: 'b',
  },
  {
    name: 'on a node, a multi-GPU pod gets an NVLink pair',
    nodes: [node('a').gpus(4).links(nvlinkPairs).obj()],
    running: [['a', pod('r1').gpus(1).obj(), [0]]],
    workload: mixed,
    request: pod('x').gpus(2).obj(),
    expectNode: 'a',
    expectGpus: [2, 3],
  },
  {
    name: 'a MIG slice goes to a GPU that is already partitioned',
    nodes: [node('a').migGpus(1).obj(), node('b').migGpus(1).obj()],
    running: [['b', pod('r1').mig('1g.10gb').obj(), [0, 0]]],
    workload: mixed,
    request: pod('x').mig('1g.10gb').obj(),
    expectNode: 'b',
  },
  {
    name: 'with no target workload, a GPU pod falls back to best fit',
    nodes: [node('a').gpus(8).obj(), node('b').gpus(8).obj()],
    running: [['b', pod('r1').gpus(6).obj(), [0, 1, 2, 3, 4, 5]]],
    workload: [],
    request: pod('x').gpus(1).obj(),
    expectNode: 'b',
  },
  {
    name: 'with no target workload, a share falls back to the fullest GPU that fits',
    nodes: [node('a').gpus(2).obj(), node('b').gpus(2).obj()],
    running: [['b', pod('r1').share(700).obj(), [1]]],
    workload: [],
    request: pod('x').share(300).obj(),
    expectNode: 'b',
    expectGpus: [1],
  },
  {
    name: 'with no target workload, a CPU-only pod stays off free GPUs',
    nodes: [node('a').gpus(4).obj(), node('b').cpu(32).obj()],
    workload: [],
    request: pod('x').cpu(4000).obj(),
    expectNode: 'b',
  },
];

for (const s of scenarios) {
  test(`gantry: ${s.name}`, () => {
    const b = place(s);
    assert.equal(b.node, s.expectNode);
    if (s.expectGpus) {
      assert.deepEqual(
        b.gpus.map((g) => g.gpu).sort((x, y) => x - y),
        [...s.expectGpus],
      );
    }
  });
}

test('gantry: cached scores give the same placements as a fresh placer', () => {
  // Replays a stream of mixed pods; after every bind, a fresh placer (empty caches) must agree.
  const nodes = [
    node('n1').cpu(32).gpus(4).obj(),
    node('n2').cpu(96).gpus(8).obj(),
    node('n3').cpu(16).gpus(2).obj(),
    node('n4').cpu(64).gpus(2).obj(),
  ];
  const shapes = [pod('w').cpu(8000).gpus(1).obj(), pod('s').cpu(3000).share(450).obj(), pod('c').cpu(12000).obj(), pod('d').cpu(20000).gpus(2).obj(), pod('t').cpu(2000).share(800).obj()];
  const workload = targetWorkload([...many(5, () => shapes[0] as PodRequest), ...many(4, () => shapes[1] as PodRequest), ...many(2, () => shapes[2] as PodRequest), shapes[3] as PodRequest, shapes[4] as PodRequest]);
  const cluster = new Cluster(nodes);
  const cached = new Placer(cluster, createProfile('gantry', { workload }), createRng(1));
  const rng = createRng(3);
  for (let i = 0; i < 40; i++) {
    const shape = shapes[rng.int(shapes.length)] as PodRequest;
    const req = { ...shape, id: `p${i}` };
    const a = cached.place(req);
    const b = new Placer(cluster, createProfile('gantry', { workload }), createRng(1)).place(req);
    assert.equal(a.ok, b.ok);
    if (a.ok && b.ok) {
      assert.equal(a.binding.node, b.binding.node);
      assert.deepEqual(a.binding.gpus, b.binding.gpus);
      cluster.bind(a.binding);
    }
  }
});
