import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnlineWorkload } from '../../src/core/plugins/score/online-workload.js';
import { Scheduler } from '../../src/core/scheduler/scheduler.js';
import { createRng } from '../../src/core/rng.js';
import { job, node, pod } from '../helpers/builders.js';

const share = (i: number) => pod(`s${i}`).cpu(4000).share(500).obj();
const whole = (i: number) => pod(`w${i}`).cpu(8000).gpus(2).obj();

test('online workload: the classes are the shapes submitted, weighted by how often', () => {
  const w = new OnlineWorkload({ halfLife: 1e9 });
  for (let i = 0; i < 400; i++) w.observe(i % 4 === 0 ? share(i) : whole(i));
  const classes = w.classes().sort((a, b) => a.popularity - b.popularity);
  assert.equal(classes.length, 2);
  assert.deepEqual([classes[0]?.gpuMilli, classes[0]?.gpuCount, classes[0]?.cpuMilli], [500, 1, 4000]);
  assert.deepEqual([classes[1]?.gpuMilli, classes[1]?.gpuCount, classes[1]?.cpuMilli], [1000, 2, 8000]);
  assert.ok(Math.abs((classes[0]?.popularity ?? 0) - 0.25) < 0.02, String(classes[0]?.popularity));
});

test('online workload: old shapes decay with the half-life, counted in submissions', () => {
  const w = new OnlineWorkload({ halfLife: 100 });
  for (let i = 0; i < 1000; i++) w.observe(share(i));
  for (let i = 0; i < 100; i++) w.observe(whole(i));
  // After one half-life of the new shape, the old one weighs half of what it did: 1/3 : 2/3 ... as decayed sums.
  const p = new Map(w.classes().map((c) => [c.gpuCount === 2 ? 'whole' : 'share', c.popularity]));
  assert.ok(Math.abs((p.get('whole') ?? 0) - 0.5) < 0.05, JSON.stringify([...p]));
  for (let i = 0; i < 1000; i++) w.observe(whole(i));
  assert.deepEqual(w.classes().map((c) => c.gpuCount), [2], 'the old shape is forgotten');
});

test('online workload: a steady stream rebuilds the compiled classes rarely (each rebuild drops cached scores)', () => {
  const w = new OnlineWorkload();
  const rng = createRng(3);
  for (let i = 0; i < 20_000; i++) w.observe(rng.next() < 0.3 ? share(i) : whole(i));
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
