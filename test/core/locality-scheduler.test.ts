import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler } from '../../src/core/scheduler/scheduler.js';
import type { SchedulerConfig } from '../../src/core/scheduler/config.js';
import type { Decision } from '../../src/core/scheduler/types.js';
import { createRng } from '../../src/core/rng.js';
import { job, node, pod } from '../helpers/builders.js';

const GB = 1e9;

function cluster(config: Partial<SchedulerConfig> = {}): Scheduler {
  const s = new Scheduler({ rng: createRng(1), ...config });
  for (const r of ['r1', 'r2']) for (const k of [1, 2, 3]) s.addNode(node(`${r}-n${k}`).gpus(8).rack(r).obj());
  return s;
}

function placed(d: readonly Decision[], id: string): string[] {
  const b = d.find((x) => x.kind === 'bind' && x.job === id);
  return b && b.kind === 'bind' ? b.bindings.map((x) => x.node) : [];
}

test('node cache reports: a job goes to the node holding most of its bytes', () => {
  const s = cluster();
  s.updateNodeCaches([
    { node: 'r2-n3', held: { 'imagenet@1': 1000 * GB } },
    { node: 'r1-n2', held: { 'imagenet@1': 200 * GB } },
  ]);
  s.submit(job('j').members([pod('j-0').gpus(2).reads({ 'imagenet@1': 1000 * GB }).obj()]).obj());
  assert.deepEqual(placed(s.cycle(0).decisions, 'j'), ['r2-n3']);
});

test('node cache reports: a new report replaces the old one, and unknown nodes are skipped', () => {
  const s = cluster();
  s.updateNodeCaches([{ node: 'r2-n3', held: { ds: 10 * GB } }, { node: 'gone', held: { ds: 10 * GB } }]);
  s.updateNodeCaches([{ node: 'r2-n3', held: {} }, { node: 'r2-n1', held: { ds: 10 * GB } }]);
  s.submit(job('j').members([pod('j-0').gpus(1).reads({ ds: 10 * GB }).obj()]).obj());
  assert.deepEqual(placed(s.cycle(0).decisions, 'j'), ['r2-n1']);
});

test('locality weight from the scheduler config: 0 turns it off, a small one lets packing win', () => {
  const setup = (weight?: number): { s: Scheduler; packed: string } => {
    const s = cluster(weight === undefined ? {} : { locality: { weight } });
    // A node 6/8 busy: with 8-GPU jobs in the learned workload, a 2-GPU job packs there (on
    // an empty node it would strand 6 GPUs for them); r2-n3, empty, holds its data.
    s.submit(job('busy').gpus(6).obj());
    s.submit(job('big').gpus(8).obj());
    const first = s.cycle(0).decisions;
    const packed = placed(first, 'busy')[0] as string;
    assert.ok(!['r2-n3', ...placed(first, 'big')].includes(packed));
    s.updateNodeCaches([{ node: 'r2-n3', held: { ds: 500 * GB } }]);
    s.submit(job('j').at(1).members([pod('j-0').gpus(2).reads({ ds: 500 * GB }).obj()]).obj());
    return { s, packed };
  };
  const where = (weight?: number): [string, string] => {
    const { s, packed } = setup(weight);
    return [placed(s.cycle(30_000).decisions, 'j')[0] as string, packed];
  };
  assert.equal(where()[0], 'r2-n3', 'default: locality leads');
  const [w0, packed] = where(0);
  assert.equal(w0, packed, 'weight 0: packing');
  // The learned-workload score moves in whole buckets of fragmentation: half a bucket is below any gain.
  assert.equal(where(0.5)[0], packed, 'a weight below the packing gain');
  assert.equal(where(1e6)[0], 'r2-n3', 'a weight above it');
});

test('gang: each member is scored on its own shard within the closest domain', () => {
  const s = cluster();
  s.updateNodeCaches([
    { node: 'r1-n3', held: { 'ds/0': 100 * GB } },
    { node: 'r1-n2', held: { 'ds/1': 100 * GB } },
  ]);
  s.submit(job('g').members([pod('g-0').gpus(8).reads({ 'ds/0': 100 * GB }).obj(), pod('g-1').gpus(8).reads({ 'ds/1': 100 * GB }).obj()]).obj());
  // Closeness first (one rack: r1, the first), locality within it: name order would take r1-n1.
  assert.deepEqual(placed(s.cycle(0).decisions, 'g').sort(), ['r1-n2', 'r1-n3']);
});

test('rack credit: when the holder is full, a node of its rack beats one elsewhere', () => {
  const s = cluster();
  s.submit(job('full').gpus(8).obj());
  assert.deepEqual(placed(s.cycle(0).decisions, 'full'), ['r1-n1']);
  s.updateNodeCaches([{ node: 'r2-n3', held: {} }, { node: 'r1-n1', held: { ds: 300 * GB } }]);
  s.submit(job('j').at(1).members([pod('j-0').gpus(4).reads({ ds: 300 * GB }).obj()]).obj());
  const where = placed(s.cycle(30_000).decisions, 'j');
  assert.ok(where[0]?.startsWith('r1-'), `a node of rack r1, got ${where.join()}`);
});

test('inference: nodes ranked by the expected time to load model weights', () => {
  const s = cluster();
  s.updateNodeCaches([
    { node: 'r2-n1', held: { 'llama-70b@3': 140 * GB } },
    { node: 'r1-n2', held: { 'llama-70b@3': 70 * GB } },
  ]);
  const ranked = s.rankNodesByDataTime({ datasets: ['llama-70b@3'], datasetBytes: [140 * GB] }, { rackBytesPerSec: 2 * GB, remoteBytesPerSec: 0.5 * GB });
  assert.deepEqual(
    ranked.map((r) => [r.node, Math.round(r.seconds)]),
    [
      ['r2-n1', 0],
      ['r2-n2', 70],
      ['r2-n3', 70],
      ['r1-n2', 140],
      ['r1-n1', 175],
      ['r1-n3', 175],
    ],
  );
});

test('without datasets, decisions are the same whatever the caches hold and the weight says', () => {
  const run = (config: Partial<SchedulerConfig>, caches: boolean): string => {
    const s = cluster({ minRuntimeMs: 0, ...config });
    const rng = createRng(5);
    const log: string[] = [];
    for (let step = 0; step < 60; step++) {
      const now = step * 30_000;
      if (caches && step % 7 === 0) s.updateNodeCaches([{ node: `r${1 + rng.int(2)}-n${1 + rng.int(3)}`, held: { [`ds${rng.int(4)}`]: (1 + rng.int(9)) * GB } }]);
      s.submit(job(`j${step}`).gpus(1 + (step % 8)).priority(step % 3).at(now).obj());
      for (const d of s.cycle(now).decisions) {
        log.push(d.kind === 'bind' ? `${d.job}>${d.bindings.map((b) => `${b.node}:${b.gpus.map((g) => g.gpu).join('.')}`).join(',')}` : `${d.kind} ${d.job}`);
        if (d.kind === 'bind' && step % 3 === 0) s.remove(d.job, true);
      }
    }
    return log.join('\n');
  };
  const plain = run({}, false);
  assert.ok(plain.length > 0);
  assert.equal(run({}, true), plain);
  assert.equal(run({ locality: { weight: 5, rackCredit: 1 } }, true), plain);
});

test('locality.holdMs: a job waits a while for the busy node that holds its data, then goes elsewhere', () => {
  const setup = (holdMs?: number): Scheduler => {
    const s = cluster({ minRuntimeMs: 0, ...(holdMs === undefined ? {} : { locality: { holdMs } }) });
    s.submit(job('busy').gpus(8).obj());
    assert.deepEqual(placed(s.cycle(0).decisions, 'busy'), ['r1-n1']);
    s.updateNodeCaches([{ node: 'r1-n1', held: { ds: 100 * GB } }]);
    s.submit(job('j').at(1000).members([pod('j-0').gpus(4).reads({ ds: 100 * GB }).obj()]).obj());
    return s;
  };
  const now = setup();
  assert.equal(placed(now.cycle(30_000).decisions, 'j').length, 1, 'no hold: placed at once, elsewhere');

  const held = setup(120_000);
  assert.deepEqual(placed(held.cycle(30_000).decisions, 'j'), [], 'held for its data');
  assert.equal(held.explain('j', 30_000).reasons[0]?.kind, 'data');
  held.remove('busy', true);
  assert.deepEqual(placed(held.cycle(60_000).decisions, 'j'), ['r1-n1'], 'the data node freed within the hold');

  const late = setup(120_000);
  assert.deepEqual(placed(late.cycle(60_000).decisions, 'j'), []);
  const after = placed(late.cycle(121_000).decisions, 'j');
  assert.equal(after.length, 1, 'the hold ran out: placed where it fits');
  assert.notEqual(after[0], 'r1-n1');

  const noData = setup(120_000);
  noData.submit(job('plain').gpus(2).at(2000).obj());
  assert.equal(placed(noData.cycle(30_000).decisions, 'plain').length, 1, 'a job without datasets is never held');
});

test('locality.holdCopyBytesPerSec: the hold lasts at most as long as copying the missing bytes would', () => {
  const setup = (bytes: number): Scheduler => {
    const s = cluster({ minRuntimeMs: 0, locality: { holdMs: 3_600_000, holdCopyBytesPerSec: 1 * GB } });
    s.submit(job('busy').gpus(8).obj());
    s.cycle(0);
    s.updateNodeCaches([{ node: 'r1-n1', held: { ds: bytes } }]);
    s.submit(job('j').at(1000).members([pod('j-0').gpus(4).reads({ ds: bytes }).obj()]).obj());
    return s;
  };
  const big = setup(100 * GB);
  assert.deepEqual(placed(big.cycle(30_000).decisions, 'j'), [], '100 GB at 1 GB/s: held while less than 100 s have passed');
  const after = placed(big.cycle(102_000).decisions, 'j');
  assert.equal(after.length, 1, 'after the copy time: placed where it fits');
  assert.notEqual(after[0], 'r1-n1');
  assert.equal(placed(setup(10 * GB).cycle(30_000).decisions, 'j').length, 1, '10 GB (10 s to copy): copied, not waited for');
});

test('locality.reserve: a job with two holders of its data leaves the one another pending job needs', () => {
  // One GPU per node. n1 holds `small` and the only copy of `big`, n2 holds `small`. `a`
  // (reads small) comes first in the queue, `b` (reads big) after it in the same cycle.
  const setup = (reserve?: number): Scheduler => {
    const s = new Scheduler({ rng: createRng(1), ...(reserve === undefined ? {} : { locality: { reserve } }) });
    for (const k of [1, 2, 3]) s.addNode(node(`n${k}`).gpus(1).rack('r1').obj());
    s.updateNodeCaches([
      { node: 'n1', held: { small: 50 * GB, big: 2000 * GB } },
      { node: 'n2', held: { small: 50 * GB } },
    ]);
    s.submit(job('a').at(0).members([pod('a-0').gpus(1).reads({ small: 50 * GB }).obj()]).obj());
    s.submit(job('b').at(1).members([pod('b-0').gpus(1).reads({ big: 2000 * GB }).obj()]).obj());
    return s;
  };
  const blind = setup(0).cycle(0).decisions;
  assert.deepEqual([placed(blind, 'a'), placed(blind, 'b')], [['n1'], ['n2']], 'reserve 0: a takes the first holder, b copies 2 TB');
  const kept = setup().cycle(0).decisions;
  assert.deepEqual([placed(kept, 'a'), placed(kept, 'b')], [['n2'], ['n1']], 'the default reserve: both read a local copy');
});

test('locality.reserve: jobs without datasets place as without it', () => {
  const run = (reserve?: number): string[] => {
    const s = new Scheduler({ rng: createRng(1), ...(reserve === undefined ? {} : { locality: { reserve } }) });
    for (const k of [1, 2, 3]) s.addNode(node(`n${k}`).gpus(2).rack('r1').obj());
    s.updateNodeCaches([{ node: 'n1', held: { big: 2000 * GB } }]);
    s.submit(job('plain').at(0).gpus(1).obj());
    s.submit(job('b').at(1).members([pod('b-0').gpus(2).reads({ big: 2000 * GB }).obj()]).obj());
    const d = s.cycle(0).decisions;
    return [...placed(d, 'plain'), ...placed(d, 'b')];
  };
  assert.deepEqual(run(), run(0));
});
