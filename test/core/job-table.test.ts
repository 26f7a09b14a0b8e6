/**
 * The job table (src/core/scheduler/job-table.ts): each named transition leaves every index in
 * step with the records, and checkInvariants catches an index that is not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { node, job } from '../helpers/builders.js';
import { setup, binds, evictions, HOUR } from '../helpers/scenario.js';
import { Scheduler } from '../../src/core/scheduler/scheduler.js';
import { createRng } from '../../src/core/rng.js';

const stateOf = (s: Scheduler, id: string) => s.job(id)?.state;

test('submit, bind, evict, requeue and remove each keep the indices in step', () => {
  const s = setup({ nodes: [node('n1').gpus(8).obj()], config: { minRuntimeMs: 0 } });
  s.submit(job('low').gpus(8).priority(0).at(0).obj());
  s.checkInvariants();
  assert.equal(stateOf(s, 'low'), 'pending');
  assert.deepEqual(binds(s.cycle(0)), ['low']); // (setup's cycle checks the invariants too)
  assert.equal(stateOf(s, 'low'), 'running');
  s.addAttainedService('low', 1000);
  s.reportCheckpoint('low', 1);
  s.checkInvariants();
  s.submit(job('high').gpus(8).priority(10).at(HOUR).obj());
  assert.deepEqual(evictions(s.cycle(HOUR)).map((e) => e.job), ['low']);
  assert.equal(stateOf(s, 'low'), 'evicting');
  s.requeue('low', HOUR + 1);
  s.checkInvariants();
  assert.equal(stateOf(s, 'low'), 'pending');
  assert.deepEqual(binds(s.cycle(HOUR + 2)), ['high']);
  s.bindFailed('high', HOUR + 3);
  s.checkInvariants();
  assert.equal(stateOf(s, 'high'), 'pending');
  s.remove('low');
  s.remove('high', true);
  s.checkInvariants();
  assert.equal(s.job('low'), undefined);
  assert.equal([...s.allJobs()].length, 0);
});

test('re-adopting a running job and losing its node keep the indices in step', () => {
  // Bindings as a first life of the scheduler made them (the adapter remembers them).
  const first = setup({ nodes: [node('n1').gpus(8).obj()] });
  first.submit(job('a').gpus(2).at(0).obj());
  first.submit(job('b').gpus(6).at(0).obj());
  first.cycle(0);
  const bindingsOf = (id: string) => first.job(id)?.bindings ?? [];
  const s = new Scheduler({ policy: 'bestfit', rng: createRng(1) });
  s.addNode(node('n1').gpus(8).obj());
  s.adoptRunning(job('a').gpus(2).at(0).obj(), bindingsOf('a'), 0);
  s.checkInvariants();
  assert.equal(stateOf(s, 'a'), 'running');
  assert.throws(() => s.adoptRunning(job('c').gpus(2).at(0).obj(), bindingsOf('a'), 0), /cannot be re-adopted/);
  s.checkInvariants();
  assert.equal(s.job('c'), undefined, 'a failed re-adoption leaves no record behind');
  assert.deepEqual(s.removeNode('n1'), ['a']);
  s.requeue('a', 1);
  s.checkInvariants();
});

test('checkInvariants names a record its indices disagree with', () => {
  const s = setup({ nodes: [node('n1').gpus(8).obj()] });
  s.submit(job('x').gpus(1).at(0).obj());
  s.cycle(0);
  (s.job('x') as { state: string }).state = 'pending'; // behind the table's back
  assert.throws(() => s.checkInvariants(), /job table: x is pending but not in the pending list/);
});

test('the table charges queues itself: start charges, requeue and finish give back', () => {
  const s = setup({ nodes: [node('n1').gpus(8).obj()], config: { minRuntimeMs: 0 } });
  const used = () => s.queueStatus().find((q) => q.name === 'default')?.usedGpu;
  s.submit(job('a').gpus(2).at(0).obj());
  s.submit(job('b').gpus(4).at(0).obj());
  s.cycle(0);
  assert.equal(used(), 6000);
  s.requeue('a', 1);
  assert.equal(used(), 4000);
  s.remove('b', true);
  assert.equal(used(), 0);
  s.checkInvariants();
});

test('checkInvariants names a queue whose usage its charged jobs do not explain', () => {
  const s = setup({ nodes: [node('n1').gpus(8).obj()] });
  s.submit(job('x').gpus(1).at(0).obj());
  s.cycle(0);
  const queues = (s as unknown as { queues: { get(n: string): { usage: { gpu: number } } } }).queues;
  queues.get('default').usage.gpu += 1000; // a charge kept by hand, behind the table's back
  assert.throws(() => s.checkInvariants(), /job table: queue default uses 2000 gpu, its charged jobs hold 1000/);
});
