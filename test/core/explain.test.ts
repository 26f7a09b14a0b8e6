/** The scheduler's explanation of a pending job: what its start estimate rests on, or why there is none. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { node, job } from '../helpers/builders.js';
import { setup, evictions, HOUR } from '../helpers/scenario.js';

const G = 1000;

test('a preemption under way for the job is named, with when it should start', () => {
  const s = setup({
    nodes: [node('n1').gpus(8).obj()],
    queues: [{ name: 'a', guaranteed: { gpu: 8 * G } }, { name: 'b' }],
    running: [job('b1').queue('b').gpus(8).checkpoint({ graceSeconds: 20 }).obj()],
  });
  s.submit(job('a1').queue('a').gpus(8).at(HOUR).obj());
  assert.equal(evictions(s.cycle(HOUR)).length, 1);
  const e = s.explain('a1', HOUR);
  assert.deepEqual(e.preemptingFor, ['b1']);
  assert.equal(e.estimatedStart, HOUR + 20_000);
  assert.equal(e.estimateNote, '1 job(s) are being preempted to make room for it (b1); it starts when they have stopped');
});

test('a blocker that declared its duration gives an estimate; undeclared ones are not blamed', () => {
  const s = setup({ nodes: [node('n1').gpus(8).obj()], running: [job('r1').gpus(8).duration(HOUR).obj()] });
  s.submit(job('w').gpus(8).at(60_000).obj());
  s.cycle(60_000);
  const e = s.explain('w', 60_000);
  assert.equal(e.estimatedStart, HOUR);
  assert.equal(e.estimateNote, 'from the declared durations of running jobs');
});

test('a blocker without a declared duration is named', () => {
  const s = setup({ nodes: [node('n1').gpus(8).obj()], running: [job('r1').gpus(8).obj()] });
  s.submit(job('w').gpus(4).at(60_000).obj());
  s.cycle(60_000);
  const e = s.explain('w', 60_000);
  assert.equal(e.estimatedStart, undefined);
  assert.equal(e.estimateNote, 'running job(s) r1 do not declare expectedDurationSeconds, so when their GPUs free up is unknown');
});

test('with nothing running, durations are never blamed', () => {
  const s = setup({ nodes: [node('n1').gpus(8).obj()] });
  s.cordon('n1', true);
  s.submit(job('w').gpus(8).obj());
  s.cycle(0);
  const e = s.explain('w', 0);
  assert.equal(e.estimatedStart, undefined);
  assert.doesNotMatch(e.estimateNote ?? '', /expectedDuration/);
  assert.equal(e.estimateNote, 'no running job holds GPUs; the GPUs it needs are cordoned or unhealthy');
});

test('free capacity in total: the wait is fit, quota or order, not time', () => {
  const s = setup({ nodes: [node('n1').gpus(4).obj(), node('n2').gpus(4).obj()], running: [job('r1').gpus(3).obj(), job('r2').gpus(3).obj()] });
  s.submit(job('w').gpus(2).at(60_000).obj());
  s.cycle(60_000);
  const e = s.explain('w', 60_000);
  assert.match(e.estimateNote ?? '', /^enough GPUs are free in total/);
});
