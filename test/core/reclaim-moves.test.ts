/**
 * Reclaim by moving (actions/reclaim-moves.ts, issue 17): a queue below its guarantee whose job
 * needs a whole node moves another team's checkpointing work aside when that is the only way
 * to make the hole, and only then; a mover is never moved again within the cooldown.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { node, job } from '../helpers/builders.js';
import { setup, binds, evictions, stopVictims, HOUR, MIN, CHURN_TREE, pinnedPod } from '../helpers/scenario.js';
import type { JobSpec } from '../../src/core/scheduler/types.js';
import type { SchedulerConfig } from '../../src/core/scheduler/config.js';

const TREE = CHURN_TREE;

const pinned = pinnedPod;
const CKPT = { graceSeconds: 20 };

/**
 * n1: scratch s1 (4) + team-a a1 (4, checkpoints); n2: scratch s2 (2) + team-a a2 (2, no
 * checkpoint) + 4 free. team-b, empty, asks for a whole node: stopping every borrower frees 4
 * on n1 and 6 on n2, never 8 in one place. `a1` is submitted once the others run, while n2 is
 * full (so it lands on n1); `n1Extra` also runs on n1, in s1's place.
 */
function spread(a1: JobSpec, n1Extra: JobSpec[] = [], config: Omit<SchedulerConfig, 'rng'> = {}) {
  const s1 = n1Extra.length === 0 ? [job('s1').queue('scratch').members([pinned('s1-0', 4, 'n1')]).checkpoint(CKPT).obj()] : n1Extra;
  const s = setup({
    nodes: [node('n1').gpus(8).labels({ slot: 'n1' }).obj(), node('n2').gpus(8).labels({ slot: 'n2' }).obj()],
    queues: TREE,
    config,
    running: [
      ...s1,
      job('s2').queue('scratch').members([pinned('s2-0', 2, 'n2')]).duration(2 * HOUR).obj(),
      job('a2').queue('team-a').members([pinned('a2-0', 2, 'n2')]).obj(),
      job('f').queue('team-b').members([pinned('f-0', 4, 'n2')]).obj(),
    ],
  });
  s.submit({ ...a1, submittedAt: 1 });
  assert.deepEqual(binds(s.cycle(1)), [a1.id]);
  assert.equal(s.job(a1.id)?.bindings[0]?.node, 'n1', 'a1 went where there was room');
  s.remove('f');
  return s;
}

const a1 = (): JobSpec => job('a1').queue('team-a').gpus(4).checkpoint(CKPT).obj();
const b = (id: string, at: number): JobSpec => job(id).queue('team-b').gpus(8).at(at).obj();

test('reclaim moves another team\'s checkpointing job when only that makes a whole node free', () => {
  const s = spread(a1());
  s.submit(b('b1', HOUR));
  const r = s.cycle(HOUR);
  const ev = evictions(r);
  assert.deepEqual(ev.map((e) => [e.job, e.reason, e.for]).sort(), [['a1', 'consolidate', 'b1'], ['s1', 'reclaim', 'b1']]);
  const move = ev.find((e) => e.job === 'a1');
  assert.equal(move?.moveTo?.[0]?.node, 'n2', 'a1 stays within team-a\'s guarantee: it has a home on n2');
  assert.ok((move?.graceMs ?? 0) > 0, 'a1 is stopped with its grace (it checkpoints)');
  // Once the two stop, b1 runs on n1 and a1 restarts on n2: team-a keeps its guarantee.
  stopVictims(s, r, HOUR + MIN);
  assert.deepEqual(binds(s.cycle(HOUR + MIN)), ['a1', 'b1']);
  assert.equal(s.job('b1')?.bindings[0]?.node, 'n1');
  assert.equal(s.job('a1')?.bindings[0]?.node, 'n2');
});

test('a mover whose home a borrower has reserved still moves: the guarantee comes first', () => {
  const s = spread(a1());
  // A scratch job waiting past reserveAfterMs reserves n2 (s2 there is expected to end first).
  s.submit(job('s3').queue('scratch').gpus(6).at(2).obj());
  s.cycle(HOUR - MIN);
  s.submit(b('b1', HOUR));
  const ev = evictions(s.cycle(HOUR));
  assert.deepEqual(ev.map((e) => [e.job, e.for]).sort(), [['a1', 'b1'], ['s1', 'b1']], JSON.stringify(s.explain('b1', HOUR).reasons));
  assert.equal(ev.find((e) => e.job === 'a1')?.moveTo?.[0]?.node, 'n2');
});

test('no move when moving would not make the hole: nothing is stopped for nothing', () => {
  // n1 also runs team-a's a3, without a checkpoint: no set of moves frees all of n1.
  const n1 = [job('s1').queue('scratch').members([pinned('s1-0', 2, 'n1')]).checkpoint(CKPT).obj(), job('a3').queue('team-a').members([pinned('a3-0', 2, 'n1')]).obj()];
  const s = spread(job('a1').queue('team-a').gpus(4).checkpoint(CKPT).obj(), n1);
  s.submit(b('b1', HOUR));
  assert.deepEqual(evictions(s.cycle(HOUR)), []);
  assert.equal(s.job('a1')?.state, 'running');
  // Nor work that does not checkpoint: it would lose its work.
  const t = spread(job('a1').queue('team-a').gpus(4).obj());
  t.submit(b('b1', HOUR));
  assert.deepEqual(evictions(t.cycle(HOUR)), [], 'a1 has no checkpoint: not moved');
});

test('a job stopped within the cooldown is not moved again', () => {
  const run = (cooldownMs: number): string[] => {
    const s = spread(a1(), [], { moveCooldownMs: cooldownMs });
    // b1 has a1 moved, then is cancelled before it starts; team-a's g takes 2 GPUs of n2
    // meanwhile (it goes first), so a1 and s1 restart on n1.
    s.submit(b('b1', HOUR));
    const r = s.cycle(HOUR);
    assert.equal(evictions(r).length, 2);
    s.remove('b1');
    stopVictims(s, r, HOUR + MIN);
    s.submit(job('g').queue('team-a').priority(1).members([pinned('g-0', 2, 'n2')]).at(HOUR + MIN).obj());
    s.cycle(HOUR + MIN);
    assert.equal(s.job('a1')?.bindings[0]?.node, 'n1', 'a1 restarted on n1');
    s.submit(b('b2', HOUR + 20 * MIN));
    return evictions(s.cycle(HOUR + 20 * MIN)).map((e) => e.job).sort();
  };
  assert.deepEqual(run(0), ['a1', 's1', 's2'], 'without a cooldown a1 moves again (to n2, where s2 stops for it)');
  assert.deepEqual(run(30 * MIN), [], 'a1 was stopped 20 minutes ago: it stays');
});
