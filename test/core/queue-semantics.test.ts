/**
 * Issue 11 (item 5): queue semantics that users of Kueue, KAI and Volcano rely on first. Each
 * scenario failed before its fix (reproduced on the core as `gantry up` runs it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { node, job } from '../helpers/builders.js';
import { setup, binds, evictions, stopVictims, MIN, HOUR } from '../helpers/scenario.js';

const G = 1000; // milli-GPU per GPU

test("a queue's guarantee holds when its parent's limit is used up by a sibling's borrowing", () => {
  // org may use 8 GPUs of the 16 the cluster has; team-a and team-b are guaranteed 4 each.
  const s = setup({
    nodes: [node('n1').gpus(8).obj(), node('n2').gpus(8).obj()],
    queues: [
      { name: 'org', limit: { gpu: 8 * G } },
      { name: 'team-a', parent: 'org', guaranteed: { gpu: 4 * G } },
      { name: 'team-b', parent: 'org', guaranteed: { gpu: 4 * G } },
    ],
    // team-b borrows team-a's idle guarantee: org is at its limit.
    running: [job('b1').queue('team-b').gpus(4).obj(), job('b2').queue('team-b').gpus(2).obj(), job('b3').queue('team-b').gpus(2).obj()],
  });
  s.submit(job('a1').queue('team-a').gpus(2).at(HOUR).obj());
  const r = s.cycle(HOUR);
  // Eight GPUs are free, but org's limit holds team-a back: reclaim stops borrowed work under org.
  const ev = evictions(r);
  assert.equal(ev.length, 1, JSON.stringify(s.explain('a1', HOUR).reasons));
  assert.equal(ev[0]?.reason, 'reclaim');
  assert.ok(['b2', 'b3'].includes(ev[0]?.job ?? ''), 'the smallest plan: one 2-GPU borrower, not the 4-GPU one');
  stopVictims(s, r, HOUR + 1);
  assert.deepEqual(binds(s.cycle(HOUR + 30_000)), ['a1']);
  // team-b keeps its own guarantee: a second team-a job beyond team-a's guarantee only waits.
  s.submit(job('a2').queue('team-a').gpus(4).at(HOUR + MIN).obj());
  const r2 = s.cycle(HOUR + 2 * MIN);
  assert.deepEqual(evictions(r2), [], 'team-a would exceed its guarantee of 4: no reclaim');
  assert.match(s.explain('a2', HOUR + 2 * MIN).reasons[0]?.message ?? '', /queue org limit reached/);
});

test('a high-priority job preempts a lower-priority job of its own queue at the queue limit', () => {
  const s = setup({
    nodes: [node('n1').gpus(8).obj(), node('n2').gpus(8).obj()],
    queues: [{ name: 'team', limit: { gpu: 8 * G } }],
    running: [job('low1').queue('team').gpus(4).obj(), job('low2').queue('team').gpus(4).priority(1).obj()],
  });
  s.submit(job('high').queue('team').gpus(4).priority(10).at(HOUR).obj());
  const r = s.cycle(HOUR);
  assert.deepEqual(
    evictions(r).map((e) => [e.job, e.reason, e.for]),
    [['low1', 'preempt', 'high']],
    JSON.stringify(s.explain('high', HOUR).reasons),
  );
  stopVictims(s, r, HOUR + 1);
  assert.deepEqual(binds(s.cycle(HOUR + 30_000)), ['high']);
  // An equal priority never preempts (no churn among peers), at the limit or not.
  s.submit(job('peer').queue('team').gpus(4).priority(1).at(HOUR + MIN).obj());
  assert.deepEqual(evictions(s.cycle(HOUR + 2 * MIN)), []);
});
