/**
 * Issue 11 (item 5): queue semantics that users of Kueue, KAI and Volcano rely on first. Each
 * scenario failed before its fix (reproduced on the core as `gantry up` runs it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { node, job, pod } from '../helpers/builders.js';
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

test('victims are chosen for a placement of one GPU model per worker (never an H100 and an L4 together)', () => {
  // One node with two H100s and two L4s; scratch borrows all four, one GPU per job. The two
  // cheapest victims (priority 0) hold one H100 and one L4.
  const mixed = { ...node('n1').obj(), gpus: [{ model: 'H100-80GB' }, { model: 'L4' }, { model: 'H100-80GB' }, { model: 'L4' }] };
  const one = (id: string, model: string, prio: number) => job(id).queue('scratch').priority(prio).members([pod(`${id}-0`).gpus(1).models(model).obj()]).obj();
  const s = setup({
    nodes: [mixed],
    queues: [
      { name: 'team', guaranteed: { gpu: 4 * G } },
      { name: 'scratch', guaranteed: { gpu: 0 } },
    ],
    running: [one('h1', 'H100-80GB', 0), one('l1', 'L4', 0), one('h2', 'H100-80GB', 5), one('l2', 'L4', 5)],
  });
  s.submit(job('w').queue('team').gpus(2).at(HOUR).obj());
  const r = s.cycle(HOUR);
  const victims = evictions(r).map((e) => e.job).sort();
  assert.equal(victims.length, 2, JSON.stringify(s.explain('w', HOUR).reasons));
  assert.ok(victims.join() === 'h1,h2' || victims.join() === 'l1,l2', `victims of one model, got ${victims.join()}`);
  stopVictims(s, r, HOUR + 1);
  const placed = s.cycle(HOUR + 30_000).decisions.find((d) => d.kind === 'bind');
  assert.ok(placed && placed.kind === 'bind');
  const models = new Set(placed.bindings[0]?.gpus.map((g) => mixed.gpus[g.gpu]?.model));
  assert.equal(models.size, 1, `one model per worker, got ${[...models].join(' + ')}`);
});

test('a worker never gets GPUs of two models on a mixed node, even when both are free', () => {
  const mixed = { ...node('n1').obj(), gpus: [{ model: 'H100-80GB' }, { model: 'L4' }, { model: 'L4' }] };
  const s = setup({ nodes: [mixed] });
  s.submit(job('pair').gpus(2).at(0).obj());
  const b = s.cycle(0).decisions.find((d) => d.kind === 'bind');
  assert.ok(b && b.kind === 'bind');
  assert.deepEqual(b.bindings[0]?.gpus.map((g) => mixed.gpus[g.gpu]?.model), ['L4', 'L4']);
  s.submit(job('three').gpus(2).at(1).obj());
  const r = s.cycle(1);
  assert.deepEqual(binds(r), [], 'one H100 is left: no 2-GPU worker fits');
});

test('fair share counts capacity per GPU class: MIG-mode GPUs are no capacity for whole-GPU jobs', () => {
  // Eight whole GPUs and eight in MIG mode. Two queues without guarantees want whole GPUs only:
  // their fair shares are halves of the eight whole GPUs, not of sixteen.
  const s = setup({
    nodes: [node('n1').gpus(8).obj(), node('n2').migGpus(8).obj()],
    queues: [{ name: 'a' }, { name: 'b' }],
    config: { reclaimTo: 'deserved' },
    running: Array.from({ length: 8 }, (_, i) => job(`a${i}`).queue('a').gpus(1).obj()),
  });
  s.submit(job('b1').queue('b').gpus(2).at(HOUR).obj());
  s.submit(job('b2').queue('b').gpus(2).at(HOUR).obj());
  const r = s.cycle(HOUR);
  const deserved = new Map(s.queueStatus().map((q) => [q.name, q.deservedGpu / G]));
  assert.deepEqual([deserved.get('a'), deserved.get('b')], [4, 4]);
  // b reclaims its fair half of the whole GPUs: four 1-GPU jobs of a (b2's victims once b1,
  // which holds a reservation on n1, is placed).
  let stopped = evictions(r).length;
  stopVictims(s, r, HOUR + 1);
  const r2 = s.cycle(HOUR + 30_000);
  assert.deepEqual(binds(r2), ['b1']);
  stopped += evictions(r2).length;
  assert.equal(stopped, 4);
  stopVictims(s, r2, HOUR + 30_001);
  assert.deepEqual(binds(s.cycle(HOUR + 60_000)), ['b2']);
  assert.deepEqual(evictions(s.cycle(HOUR + 90_000)), [], 'a keeps its half');
  // MIG work is served from the MIG GPUs' capacity: a MIG queue's share does not come out of
  // the whole GPUs.
  const t = setup({
    nodes: [node('n1').gpus(8).obj(), node('n2').migGpus(8).obj()],
    queues: [{ name: 'a' }, { name: 'b' }, { name: 'm' }],
    running: Array.from({ length: 8 }, (_, i) => job(`a${i}`).queue('a').gpus(1).obj()),
  });
  for (let i = 0; i < 4; i++) t.submit(job(`m${i}`).queue('m').members([pod(`m${i}-0`).mig('3g.40gb').obj()]).at(MIN).obj());
  t.submit(job('b1').queue('b').gpus(2).at(MIN).obj());
  t.cycle(MIN);
  const d = new Map(t.queueStatus().map((q) => [q.name, q.deservedGpu / G]));
  assert.deepEqual([d.get('a'), d.get('b')], [6, 2], 'a and b share the eight whole GPUs (b wants 2)');
  assert.ok((d.get('m') ?? 0) > 1.5 && (d.get('m') ?? 0) < 2, `m deserves its MIG slices (4 x 3/7 GPU), got ${d.get('m')}`);
});
