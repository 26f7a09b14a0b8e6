import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnlineWorkload } from '../../src/core/plugins/score/online-workload.js';
import { Scheduler } from '../../src/core/scheduler/scheduler.js';
import { createRng } from '../../src/core/rng.js';
import { job, node, pod } from '../helpers/builders.js';

const share = (i: number) => pod(`s${i}`).cpu(4000).share(500).obj();
const whole = (i: number) => pod(`w${i}`).cpu(8000).gpus(2).obj();
const single = (i: number) => pod(`g${i}`).cpu(8000).gpus(1).obj();

test('online workload: the classes are the shapes submitted, weighted by how often', () => {
  const w = new OnlineWorkload({ halfLife: 1e9 });
  for (let i = 0; i < 400; i++) w.observe(i % 4 === 0 ? share(i) : single(i));
  const classes = w.classes().sort((a, b) => a.popularity - b.popularity);
  assert.equal(classes.length, 2);
  assert.deepEqual([classes[0]?.gpuMilli, classes[0]?.gpuCount, classes[0]?.cpuMilli], [500, 1, 4000]);
  assert.deepEqual([classes[1]?.gpuMilli, classes[1]?.gpuCount, classes[1]?.cpuMilli], [1000, 1, 8000]);
  assert.ok(Math.abs((classes[0]?.popularity ?? 0) - 0.25) < 0.02, String(classes[0]?.popularity));
});

test('online workload: old shapes decay with the half-life, counted in submissions', () => {
  const w = new OnlineWorkload({ halfLife: 100 });
  for (let i = 0; i < 1000; i++) w.observe(share(i));
  for (let i = 0; i < 100; i++) w.observe(single(i));
  // The 1,000 old observations now weigh as much as the 100 new ones (both sums are about one half-life's worth).
  const p = new Map(w.classes().map((c) => [c.gpuCount === 1 && c.gpuMilli === 1000 ? 'whole' : 'share', c.popularity]));
  assert.ok(Math.abs((p.get('whole') ?? 0) - 0.5) < 0.05, JSON.stringify([...p]));
  for (let i = 0; i < 1000; i++) w.observe(single(i));
  assert.deepEqual(w.classes().map((c) => c.gpuMilli), [1000], 'the old shape is forgotten');
});

test('online workload: a steady stream rebuilds the compiled classes rarely (each rebuild drops cached scores)', () => {
  const w = new OnlineWorkload();
  const rng = createRng(3);
  for (let i = 0; i < 20_000; i++) w.observe(rng.next() < 0.3 ? share(i) : single(i));
  assert.ok(w.rebuilds >= 3 && w.rebuilds < 40, `rebuilds ${w.rebuilds}`);
});

test('the scheduler learns the target workload from submissions: gantry keeps CPU that GPU work needs', () => {
  // Submitted work is mostly 1-GPU, 8-core jobs. A 10-core CPU-only job fits on both nodes; on
  // n1 it would leave 6 cores, too few to feed n1's GPU. Best fit (what gantry was without a
  // target workload) picks n1; with the learned workload, n2. Then both GPUs can be used.
  const s = new Scheduler({ rng: createRng(1) });
  s.addNode(node('n1').cpu(16).gpus(1).obj());
  s.addNode(node('n2').cpu(64).gpus(1).obj());
  s.submit(job('cpu').priority(10).members([pod('cpu-0').cpu(10_000).obj()]).obj());
  for (let i = 0; i < 30; i++) s.submit(job(`g${i}`).at(i + 1).members([pod(`g${i}-0`).cpu(8000).gpus(1).obj()]).obj());
  assert.equal(s.onlineWorkload?.classes().length, 2);
  const binds = s.cycle(0).decisions.flatMap((d) => (d.kind === 'bind' ? d.bindings.map((b) => ({ job: d.job, node: b.node })) : []));
  assert.equal(binds.find((b) => b.job === 'cpu')?.node, 'n2');
  assert.equal(binds.filter((b) => b.job !== 'cpu').length, 2, 'both GPUs are used');
});

test('a scheduler given a fixed workload keeps it (no online learning)', () => {
  const s = new Scheduler({ rng: createRng(1), workload: [] });
  assert.equal(s.onlineWorkload, null);
});

test('online workload: where multi-GPU pods are common, their classes weigh by GPUs, else by pods', () => {
  const few = new OnlineWorkload({ halfLife: 1e9, checkEvery: 1, drift: 0 });
  for (let i = 0; i < 100; i++) few.observe(i < 2 ? whole(i) : share(i));
  assert.equal(few.multiGpuRegime, false);
  assert.ok(Math.abs((few.classes().find((c) => c.gpuCount === 2)?.popularity ?? 0) - 0.02) < 1e-6);
  const many = new OnlineWorkload({ halfLife: 1e9, checkEvery: 1, drift: 0 });
  for (let i = 0; i < 100; i++) many.observe(i < 20 ? whole(i) : share(i));
  assert.equal(many.multiGpuRegime, true);
  // 20 pods x 2 GPUs against 80 pods x 1: 40 / 120.
  assert.ok(Math.abs((many.classes().find((c) => c.gpuCount === 2)?.popularity ?? 0) - 40 / 120) < 1e-6);
});
