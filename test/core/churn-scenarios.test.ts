/**
 * Issue 17 (items 4-5): preemption keeps its promises under churn. Each scenario reproduces
 * one way the core broke a promise of docs/preemption.md, in a cluster small enough to read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { node, job, pod } from '../helpers/builders.js';
import { setup, binds, evictions, MIN, HOUR, CHURN_TREE, pinnedPod } from '../helpers/scenario.js';
import { Scheduler } from '../../src/core/scheduler/scheduler.js';
import { createRng } from '../../src/core/rng.js';
import type { QueueSpec } from '../../src/core/scheduler/types.js';

const G = 1000; // milli-GPU per GPU

const TREE = CHURN_TREE;

/** As `gantry k8s` runs the core: no consolidation, so reclaim's own victim search is what is tested. */
const NO_MOVES = { actions: ['allocate', 'backfill', 'reclaim', 'preempt'] } as const;

const pinned = pinnedPod;

/**
 * n1: team-b's gang member (4) + team-a's a1 (2) + 2 free; n2: team-b's other member (6) + 2
 * free. Four GPUs are free, but not on one node: moving a1 to n2 would free 4 on n1.
 */
function fragmented() {
  const s = setup({
    nodes: [node('n1').gpus(8).labels({ slot: 'n1' }).obj(), node('n2').gpus(8).labels({ slot: 'n2' }).obj()],
    queues: TREE,
    running: [job('b').queue('team-b').members([pinned('b-0', 4, 'n1'), pinned('b-1', 6, 'n2')]).obj(), job('f').queue('team-b').members([pinned('f-0', 2, 'n2')]).obj()],
  });
  s.submit(job('a1').queue('team-a').gpus(2).checkpoint({ graceSeconds: 20 }).at(1).obj());
  assert.deepEqual(binds(s.cycle(1)), ['a1']);
  assert.equal(s.job('a1')?.bindings[0]?.node, 'n1', 'a1 went where there was room');
  s.remove('f');
  return s;
}

test('consolidation never moves work its queue is guaranteed for a borrower (it would reclaim it back: ping-pong)', () => {
  const s = fragmented();
  s.submit(job('s1').queue('scratch').gpus(4).at(HOUR).obj());
  const r = s.cycle(HOUR);
  assert.deepEqual(evictions(r), [], 'a1 runs within team-a\'s guarantee: not moved for scratch, which has none');
  assert.equal(s.job('a1')?.state, 'running');
  // For a job its own queue's guarantee covers, the same move is fine.
  const t = fragmented();
  t.submit(job('a2').queue('team-a').gpus(4).at(HOUR).obj());
  const ev = evictions(t.cycle(HOUR));
  assert.deepEqual(ev.map((e) => [e.job, e.reason, e.for, e.moveTo?.[0]?.node]), [['a1', 'consolidate', 'a2', 'n2']]);
});

test('a borrower\'s reservation does not keep a queue from its guarantee', () => {
  const s = setup({
    nodes: [node('n1').gpus(8).labels({ slot: 'n1' }).obj(), node('n2').gpus(8).labels({ slot: 'n2' }).obj()],
    queues: TREE,
    running: [
      job('x1').queue('team-b').members([pinned('x1-0', 4, 'n1')]).obj(),
      job('x2').queue('team-b').members([pinned('x2-0', 4, 'n2')]).duration(2 * HOUR).obj(),
      job('y1').queue('team-a').members([pinned('y1-0', 4, 'n1')]).obj(),
    ],
  });
  // A scratch job that needs a whole node waits long enough to get a reservation: n2, where
  // the first running job is expected to end (x2).
  s.submit(job('big').queue('scratch').gpus(8).at(1).obj());
  s.cycle(1);
  s.cycle(31 * MIN);
  const reason = s.explain('big', 31 * MIN).reasons[0];
  assert.equal(reason?.kind, 'reservation', JSON.stringify(s.explain('big', 31 * MIN).reasons));
  assert.match(reason?.message ?? '', /on 1 node\(s\), expected to start at about 1970-01-01T02:00/);
  // team-a is 4 GPUs below its guarantee and n2 has 4 free: the room is owed to team-a.
  s.submit(job('a').queue('team-a').gpus(4).at(32 * MIN).obj());
  const r = s.cycle(32 * MIN);
  assert.deepEqual(binds(r), ['a'], JSON.stringify(s.explain('a', 32 * MIN).reasons));
  assert.equal(s.job('a')?.bindings[0]?.node, 'n2');
});

test('a job\'s wait reason names its own gang, not another job\'s of the same shape', () => {
  const s = setup({ nodes: [node('n1').gpus(2).obj()], queues: TREE });
  s.submit(job('g1').queue('team-a').gpus(2, 2).at(0).obj());
  s.submit(job('g2').queue('team-b').gpus(2, 2).at(1).obj());
  s.cycle(2);
  const m1 = s.explain('g1', 2).reasons.map((x) => x.message).join(' ');
  const m2 = s.explain('g2', 2).reasons.map((x) => x.message).join(' ');
  assert.match(m1, /gang g1\b/);
  assert.match(m2, /gang g2\b/, m2);
  assert.doesNotMatch(m2, /g1/, 'team-b\'s job is not told about team-a\'s gang');
});

test('a parent that declares no guarantee holds its children\'s: non-preemptible work under it runs', () => {
  const queues: QueueSpec[] = [{ name: 'org' }, { name: 'team', parent: 'org', guaranteed: { gpu: 8 * G } }, { name: 'scratch', parent: 'org' }];
  const s = setup({ nodes: [node('n1').gpus(8).obj()], queues });
  s.submit(job('np').queue('team').gpus(4).nonPreemptible().at(0).obj());
  const r = s.cycle(0);
  assert.deepEqual(binds(r), ['np'], JSON.stringify(s.explain('np', 0).reasons));
  assert.equal(s.queueStatus().find((q) => q.name === 'org')?.guaranteedGpu, 8 * G, 'org is guaranteed what team is');
  // A tree the session could not honour is refused with the reason, not accepted as 0.
  assert.throws(
    () => new Scheduler({ rng: createRng(1) }, [{ name: 'org', limit: { gpu: 4 * G } }, { name: 'team', parent: 'org', guaranteed: { gpu: 8 * G } }]),
    (e: Error & { code?: string }) => e.code === 'QUEUE_INVALID' && /queue org: its children's guarantees \(8000 gpu/.test(e.message),
  );
});

test('reclaim moves guaranteed work aside when the borrowed GPUs are spread over nodes', () => {
  // n1: scratch s1 (4) + team-a a1 (4); n2: scratch s2 (2) + team-a a2 (4) + 2 free. team-b,
  // empty, asks for a whole node: stopping only borrowers frees 4 + 4 on two nodes.
  const s = setup({
    nodes: [node('n1').gpus(8).labels({ slot: 'n1' }).obj(), node('n2').gpus(8).labels({ slot: 'n2' }).obj()],
    queues: TREE,
    running: [
      job('s1').queue('scratch').members([pinned('s1-0', 4, 'n1')]).checkpoint({ graceSeconds: 20 }).obj(),
      job('s2').queue('scratch').members([pinned('s2-0', 2, 'n2')]).checkpoint({ graceSeconds: 20 }).obj(),
      job('a2').queue('team-a').members([pinned('a2-0', 4, 'n2')]).checkpoint({ graceSeconds: 20 }).obj(),
    ],
  });
  s.submit(job('a1').queue('team-a').gpus(4).checkpoint({ graceSeconds: 20 }).at(1).obj());
  assert.deepEqual(binds(s.cycle(1)), ['a1']);
  assert.equal(s.job('a1')?.bindings[0]?.node, 'n1');
  s.submit(job('b1').queue('team-b').gpus(8).at(HOUR).obj());
  const ev = evictions(s.cycle(HOUR));
  assert.deepEqual(ev.map((e) => [e.job, e.reason, e.for]).sort(), [['a1', 'consolidate', 'b1'], ['s1', 'reclaim', 'b1'], ['s2', 'reclaim', 'b1']]);
  assert.equal(ev.find((e) => e.job === 'a1')?.moveTo?.[0]?.node, 'n2', 'team-a keeps its guarantee: a1 moves to where s2 was');
});

test('reclaim: a gang of more small members than nodes counts the places each node holds', () => {
  // Two 4-GPU nodes full of scratch work; team-a's gang of four 1-GPU pods fits on one freed node.
  const s = setup({
    nodes: [node('n1').gpus(4).labels({ slot: 'n1' }).obj(), node('n2').gpus(4).labels({ slot: 'n2' }).obj()],
    queues: [{ name: 'team-a', guaranteed: { gpu: 4 * G } }, { name: 'scratch', guaranteed: { gpu: 0 } }],
    config: NO_MOVES,
    running: [job('s1').queue('scratch').members([pinned('s1-0', 4, 'n1')]).obj(), job('s2').queue('scratch').members([pinned('s2-0', 4, 'n2')]).obj()],
  });
  s.submit(job('g').queue('team-a').gpus(1, 4).at(HOUR).obj());
  const ev = evictions(s.cycle(HOUR));
  assert.equal(ev.length, 1, JSON.stringify(s.explain('g', HOUR).reasons));
  assert.equal(ev[0]?.reason, 'reclaim');
});

test('reclaim: a gang whose victims across nodes would take too much still gets one node freed', () => {
  // team-a borrows 3 GPUs (7 of its 4); team-b (5 of 8) asks for a gang of 2 + 1 GPUs. The
  // cheapest victim x frees only 2 on n1; y alone frees the 3 on n2 that the gang needs.
  const s = setup({
    nodes: ['n1', 'n2', 'n3'].map((n) => node(n).gpus(4).labels({ slot: n }).obj()),
    queues: [{ name: 'team-a', guaranteed: { gpu: 4 * G } }, { name: 'team-b', guaranteed: { gpu: 8 * G } }],
    config: NO_MOVES,
    running: [
      job('x').queue('team-a').members([pinned('x-0', 2, 'n1')]).checkpoint({ graceSeconds: 10 }).obj(),
      job('y').queue('team-a').members([pinned('y-0', 3, 'n2')]).checkpoint({ graceSeconds: 10 }).obj(),
      job('w').queue('team-a').members([pinned('w-0', 2, 'n3')]).nonPreemptible().obj(),
      job('f1').queue('team-b').members([pinned('f1-0', 2, 'n1')]).obj(),
      job('f2').queue('team-b').members([pinned('f2-0', 1, 'n2')]).obj(),
      job('f3').queue('team-b').members([pinned('f3-0', 2, 'n3')]).obj(),
    ],
  });
  s.submit(job('g').queue('team-b').members([pod('g-0').gpus(2).obj(), pod('g-1').gpus(1).obj()]).at(HOUR).obj());
  const ev = evictions(s.cycle(HOUR));
  assert.deepEqual(ev.map((e) => [e.job, e.reason, e.for]), [['y', 'reclaim', 'g']], JSON.stringify(s.explain('g', HOUR).reasons));
});

test('borrowed GPUs held inside a larger job are reclaimed when the plan leaves the lender its guarantee in free room', () => {
  // team-a runs 10 GPUs in two 5-GPU jobs, 2 over its guarantee of 8; team-b (guaranteed 8)
  // runs 6 and asks for 2. Taking a 5-GPU job leaves team-a 5 running and 3 free: its 8.
  const flat: QueueSpec[] = [
    { name: 'team-a', guaranteed: { gpu: 8 * G } },
    { name: 'team-b', guaranteed: { gpu: 8 * G } },
  ];
  const s = setup({
    nodes: [node('n1').gpus(8).labels({ slot: 'n1' }).obj(), node('n2').gpus(8).labels({ slot: 'n2' }).obj()],
    queues: flat,
    config: NO_MOVES,
    running: [
      job('a1').queue('team-a').members([pinned('a1-0', 4, 'n1'), pinned('a1-1', 1, 'n1')]).obj(),
      job('a2').queue('team-a').members([pinned('a2-0', 4, 'n2'), pinned('a2-1', 1, 'n2')]).obj(),
      job('b1').queue('team-b').members([pinned('b1-0', 3, 'n1'), pinned('b1-1', 3, 'n2')]).obj(),
    ],
  });
  s.submit(job('b2').queue('team-b').gpus(2).at(HOUR).obj());
  const r = s.cycle(HOUR);
  assert.deepEqual(evictions(r).map((e) => [e.reason, e.for]), [['reclaim', 'b2']], JSON.stringify(s.explain('b2', HOUR).reasons));
  // The lender must borrow at least what the job asks: team-a 1 over its guarantee, team-b
  // asking 2 would leave team-a short of its own: nothing is taken.
  const t = setup({
    nodes: [node('n1').gpus(8).labels({ slot: 'n1' }).obj(), node('n2').gpus(8).labels({ slot: 'n2' }).obj()],
    queues: flat,
    config: NO_MOVES,
    running: [
      job('a1').queue('team-a').members([pinned('a1-0', 4, 'n1'), pinned('a1-1', 1, 'n1')]).obj(),
      job('a2').queue('team-a').members([pinned('a2-0', 4, 'n2')]).obj(),
      job('b1').queue('team-b').members([pinned('b1-0', 3, 'n1'), pinned('b1-1', 3, 'n2')]).obj(),
      job('x').queue('team-b').members([pinned('x-0', 1, 'n2')]).obj(),
    ],
  });
  t.remove('x');
  t.submit(job('b2').queue('team-b').gpus(2).at(HOUR).obj());
  assert.deepEqual(evictions(t.cycle(HOUR)), []);
});

test('reclaim: node groups a quota rule refuses do not use up the search before the borrower that fits', () => {
  // team-a is 1 GPU over its guarantee in 26 cheap 1-GPU jobs (one per node): only one may go.
  // scratch borrows 2 GPUs in one costlier job. team-b's gang of three 1-GPU pods needs both.
  const small = Array.from({ length: 26 }, (_, i) => node(`s${String(i).padStart(2, '0')}`).gpus(1).labels({ kind: 'small' }).obj());
  const s = setup({
    nodes: [...small, node('big').gpus(2).labels({ kind: 'big' }).obj()],
    queues: [
      { name: 'team-a', guaranteed: { gpu: 25 * G } },
      { name: 'team-b', guaranteed: { gpu: 3 * G } },
      { name: 'scratch', guaranteed: { gpu: 0 } },
    ],
    config: NO_MOVES,
    running: [
      ...Array.from({ length: 26 }, (_, i) => job(`a${i}`).queue('team-a').members([pod(`a${i}-0`).gpus(1).selector({ kind: 'small' }).obj()]).checkpoint({ graceSeconds: 20 }).obj()),
      job('sc').queue('scratch').members([pod('sc-0').gpus(2).selector({ kind: 'big' }).obj()]).obj(),
    ],
  });
  s.submit(job('b').queue('team-b').gpus(1, 3).at(HOUR).obj());
  const ev = evictions(s.cycle(HOUR));
  assert.equal(ev.length, 2, JSON.stringify(s.explain('b', HOUR).reasons));
  assert.ok(ev.some((e) => e.job === 'sc'));
  assert.equal(ev.filter((e) => e.job.startsWith('a')).length, 1, 'team-a keeps its guarantee');
});

test('priority preemption does not stop a job that would lose more than maxPreemptLossGpuSeconds', () => {
  // team-a's long job has no checkpoint: stopping it after 15 min loses 15 min x 8 GPUs.
  const run = (config: { maxPreemptLossGpuSeconds?: number }): string[] => {
    const s = setup({ nodes: [node('n1').gpus(8).obj()], queues: TREE, config, running: [job('long').queue('team-a').gpus(8).obj()] });
    s.submit(job('burst').queue('team-a').priority(10).gpus(4).at(15 * MIN).obj());
    return evictions(s.cycle(15 * MIN)).map((e) => e.job);
  };
  assert.deepEqual(run({ maxPreemptLossGpuSeconds: 1800 }), [], 'a bound of 1800 GPU-s keeps 7200 GPU-s of work: the burst waits');
  assert.deepEqual(run({ maxPreemptLossGpuSeconds: 8000 }), ['long'], 'under a higher bound it is stopped');
  assert.deepEqual(run({}), ['long'], 'no bound by default');
  // A job that saves on the signal loses only its grace: still a victim.
  const s = setup({ nodes: [node('n1').gpus(8).obj()], queues: TREE, config: { maxPreemptLossGpuSeconds: 1800 }, running: [job('ck').queue('team-a').gpus(8).checkpoint({ graceSeconds: 30 }).obj()] });
  s.submit(job('burst').queue('team-a').priority(10).gpus(4).at(15 * MIN).obj());
  assert.deepEqual(evictions(s.cycle(15 * MIN)).map((e) => e.job), ['ck']);
});
