/**
 * Issue 12: a service replica that does not fit takes GPUs from preemptible training of lower
 * priority (actions/surge.ts): in any queue, however young the job (priority preemption spares
 * jobs within the minimum runtime), with the checkpoint grace capped at `surgeGraceMs`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { node, job } from '../helpers/builders.js';
import { setup, binds, evictions, stopVictims, MIN } from '../helpers/scenario.js';
import type { JobSpec, QueueSpec } from '../../src/core/scheduler/types.js';

const G = 1000;
/** As `gantry up` lays it out: one queue guaranteed the whole machine. */
const ONE_QUEUE: QueueSpec[] = [{ name: 'default', guaranteed: { gpu: 4 * G } }];

const replica = (id: string, extra: Partial<JobSpec> = {}): JobSpec => ({ ...job(id).priority(100).nonPreemptible().gpus(1).at(MIN).obj(), surge: true, ...extra });

/** Four GPUs held by preemptible training that started a minute ago (within the 10 min minimum runtime). */
function fullOfTraining() {
  return setup({
    nodes: [node('n1').gpus(4).obj()],
    queues: ONE_QUEUE,
    running: [job('t1').gpus(2).checkpoint({ graceSeconds: 300 }).obj(), job('t2').gpus(2).checkpoint({ graceSeconds: 5 }).obj()],
  });
}

test('a replica stops young preemptible training, the cheapest to stop first', () => {
  const s = fullOfTraining();
  s.submit(replica('chat-r1'));
  const r = s.cycle(MIN);
  // t2 saves within 5 s (its own grace, under the cap); t1 would take 300 s.
  assert.deepEqual(evictions(r).map((e) => [e.job, e.reason, e.for, e.graceMs]), [['t2', 'preempt', 'chat-r1', 5_000]]);
  stopVictims(s, r, MIN + 5_000);
  assert.deepEqual(binds(s.cycle(MIN + 5_000)), ['chat-r1']);
});

test('a long checkpoint grace is cut to surgeGraceMs', () => {
  const s = setup({ nodes: [node('n1').gpus(2).obj()], queues: ONE_QUEUE, running: [job('t1').gpus(2).checkpoint({ graceSeconds: 300 }).obj()] });
  s.submit(replica('chat-r1'));
  assert.deepEqual(evictions(s.cycle(MIN)).map((e) => [e.job, e.graceMs]), [['t1', 20_000]]);
});

test('the same job without surge waits: priority preemption spares young jobs', () => {
  const s = fullOfTraining();
  s.submit(replica('plain', { surge: false }));
  assert.deepEqual(evictions(s.cycle(MIN)), []);
  assert.equal(s.job('plain')?.state, 'pending');
});

test('across queues, surge comes before reclaim and caps the grace', () => {
  const queues: QueueSpec[] = [{ name: 'serving', guaranteed: { gpu: 2 * G } }, { name: 'research', guaranteed: { gpu: 0 } }];
  const s = setup({ nodes: [node('n1').gpus(2).obj()], queues, running: [job('t1').queue('research').gpus(2).checkpoint({ graceSeconds: 300 }).obj()] });
  s.submit(replica('chat-r1', { queue: 'serving' }));
  assert.deepEqual(evictions(s.cycle(MIN)).map((e) => [e.job, e.reason, e.graceMs]), [['t1', 'preempt', 20_000]]);
});

test('surge takes only preemptible work of strictly lower priority', () => {
  const s = setup({
    nodes: [node('n1').gpus(2).obj()],
    queues: ONE_QUEUE,
    running: [job('peer').priority(100).gpus(1).obj(), job('pinned').nonPreemptible().gpus(1).obj()],
  });
  s.submit(replica('chat-r1'));
  assert.deepEqual(evictions(s.cycle(MIN)), [], 'an equal priority and a non-preemptible job are not victims');
  assert.equal(s.job('chat-r1')?.state, 'pending');
});

test('when the replica is gone the training job is placed again', () => {
  const s = setup({ nodes: [node('n1').gpus(2).obj()], queues: ONE_QUEUE, running: [job('t1').gpus(2).checkpoint({ graceSeconds: 10 }).obj()] });
  s.submit(replica('chat-r1'));
  stopVictims(s, s.cycle(MIN), MIN + 10_000);
  assert.deepEqual(binds(s.cycle(MIN + 10_000)), ['chat-r1']);
  assert.equal(s.job('t1')?.state, 'pending', 't1 needs both GPUs: it waits while the replica serves');
  s.remove('chat-r1');
  assert.deepEqual(binds(s.cycle(MIN + 60_000)), ['t1']);
});
