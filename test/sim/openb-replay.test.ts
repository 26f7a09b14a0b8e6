import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadOpenbNodes, loadOpenbPods } from '../../src/sim/openb/trace.js';
import { arrivals, nodesForSeed, replay, type NodeOrder } from '../../src/sim/openb/replay.js';
import { OPENB, sliceCsv, tempDir } from '../helpers/traces.js';

// A small slice of the public trace (60 nodes, 500 pods), cut at test time into a temp dir.
const dir = tempDir();
const nodes = loadOpenbNodes(sliceCsv(join(OPENB, 'openb_node_list_gpu_node.csv'), 60, dir));
const pods = loadOpenbPods(sliceCsv(join(OPENB, 'openb_pod_list_default.csv'), 500, dir));
const run = (policy: 'fgd' | 'bestfit' | 'random', seed = 42, nodeOrder?: NodeOrder) =>
  replay({ nodes, pods, policy, seed, inflate: 1.3, ...(nodeOrder ? { nodeOrder } : {}), now: () => 0 });

test('openb golden: fgd and bestfit on a fixed slice with seed 42 give the recorded results', () => {
  // Recorded from this implementation; a change here means placement behaviour changed.
  // Default node order: shuffled per seed, as the reference simulator names its nodes.
  const fgd = run('fgd');
  assert.deepEqual([fgd.placed, fgd.failed, +(fgd.curve[100] as number).toFixed(4), +(fgd.curve[130] as number).toFixed(4)], [414, 117, 97.3774, 97.4277]);
  const bf = run('bestfit');
  assert.deepEqual([bf.placed, bf.failed, +(bf.curve[100] as number).toFixed(4)], [413, 118, 97.0629]);
});

test('openb golden, node order "name": ties by the original node names give the results recorded before the shuffled order existed', () => {
  const fgd = run('fgd', 42, 'name');
  assert.deepEqual([fgd.placed, fgd.failed, +(fgd.curve[100] as number).toFixed(4), +(fgd.curve[130] as number).toFixed(4)], [416, 115, 97.522, 97.5723]);
  const bf = run('bestfit', 42, 'name');
  assert.deepEqual([bf.placed, bf.failed, +(bf.curve[100] as number).toFixed(4)], [414, 117, 97.1352]);
});

test('openb node order: shuffled renames every node with a per-seed permutation prefix; name keeps the nodes', () => {
  assert.equal(nodesForSeed(nodes, 42, 'name'), nodes);
  const a = nodesForSeed(nodes, 42);
  assert.equal(a.length, nodes.length);
  // Each node keeps its spec; its name gains a zero-padded prefix, and the prefixes are 0..n-1.
  const byOld = new Map(nodes.map((n) => [n.name, n]));
  const prefixes = a.map((n) => {
    const m = /^(\d{4})-(.+)$/.exec(n.name);
    assert.ok(m, n.name);
    const old = byOld.get(m[2] as string);
    assert.ok(old, `${n.name} renames a node of the list`);
    assert.deepEqual({ ...n, name: old.name }, old);
    return Number(m[1]);
  });
  assert.deepEqual([...prefixes].sort((x, y) => x - y), nodes.map((_, i) => i));
  // Deterministic per seed, different across seeds, and not simply the name order.
  assert.deepEqual(nodesForSeed(nodes, 42).map((n) => n.name), a.map((n) => n.name));
  assert.notDeepEqual(nodesForSeed(nodes, 43).map((n) => n.name), a.map((n) => n.name));
  assert.notDeepEqual(prefixes, nodes.map((_, i) => i));
});

test('openb replay: deterministic per seed, and fgd packs better than random', () => {
  assert.deepEqual(Array.from(run('fgd', 7).curve), Array.from(run('fgd', 7).curve));
  const fgd = run('fgd', 7).curve[100] as number;
  const rnd = run('random', 7).curve[100] as number;
  assert.ok(fgd > rnd, `fgd ${fgd} should allocate more than random ${rnd}`);
});

test('openb arrivals: the shuffled trace, then samples until the requested GPU reaches the inflation', () => {
  const capacity = nodes.reduce((a, n) => a + n.gpuCount, 0) * 1000;
  const seq = arrivals(pods, 42, 1.3, capacity);
  assert.deepEqual(seq.slice(0, pods.length).map((p) => p.id).sort(), pods.map((p) => p.id).sort());
  const total = seq.reduce((a, p) => a + p.totalMilliGpu, 0);
  assert.ok(total >= 1.3 * capacity);
  assert.ok(total - (seq.at(-1)?.totalMilliGpu ?? 0) < 1.3 * capacity, 'stops as soon as the target is reached');
  assert.notDeepEqual(arrivals(pods, 43, 1.3, capacity).map((p) => p.id), seq.map((p) => p.id));
});

test('openb loader: a pod list with only name,cpu_milli,memory_mib,num_gpu,gpu_milli loads, gpu_spec taking its default (any model)', () => {
  const file = join(dir, 'five-columns.csv');
  writeFileSync(file, 'name,cpu_milli,memory_mib,num_gpu,gpu_milli\np1,1000,100,1,500\np2,2000,200,2,1000\np3,500,50,0,0\n');
  const five = loadOpenbPods(file);
  assert.deepEqual(
    five.map((p) => [p.id, p.cpuMilli, p.memoryMiB, p.gpu.kind, p.allowedModels?.length ?? 0, p.totalMilliGpu]),
    [
      ['p1', 1000, 100, 'share', 0, 500],
      ['p2', 2000, 200, 'whole', 0, 2000],
      ['p3', 500, 50, 'none', 0, 0],
    ],
  );
  // The same rows with the full header give the same pods.
  const full = join(dir, 'full-columns.csv');
  writeFileSync(full, 'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos\np1,1000,100,1,500,,LS\np2,2000,200,2,1000,,LS\np3,500,50,0,0,,BE\n');
  assert.deepEqual(loadOpenbPods(full), five);
  // A node list without the model column loads CPU-only nodes; a GPU node still needs a model.
  const nodesFile = join(dir, 'nodes-no-model.csv');
  writeFileSync(nodesFile, 'sn,cpu_milli,memory_mib,gpu\nn1,32000,262144,0\n');
  assert.equal(loadOpenbNodes(nodesFile)[0]?.gpuCount, 0);
  writeFileSync(nodesFile, 'sn,cpu_milli,memory_mib,gpu\nn1,32000,262144,2\n');
  assert.throws(() => loadOpenbNodes(nodesFile), /field "model": a node with GPUs needs a model/);
});
