/**
 * Scheduler.setBudgetHolds: a held team's or queue's (or a parent queue's) pending work waits
 * with a `budget` reason and is not bound, other work is, running work is not evicted, and
 * clearing the holds lets the work start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler } from '../../src/core/scheduler/scheduler.js';
import { createRng } from '../../src/core/rng.js';
import { node, job } from '../helpers/builders.js';

const NONE = { teams: new Map<string, string>(), queues: new Map<string, string>() };

test('held teams and queues wait with a budget reason; running work stays; clearing lets them start', () => {
  const s = new Scheduler({ rng: createRng(1), minRuntimeMs: 0 }, [{ name: 'org' }, { name: 'ml', parent: 'org' }, { name: 'other' }]);
  s.addNode(node('n1').gpus(8).obj());
  s.submit({ ...job('running').gpus(1).obj(), queue: 'ml', team: 'a' });
  assert.equal(s.cycle(0).decisions.filter((d) => d.kind === 'bind').length, 1);

  s.setBudgetHolds({ teams: new Map([['a', 'BUDGET_EXHAUSTED: team a']]), queues: new Map([['org', 'BUDGET_EXHAUSTED: queue org']]) });
  s.submit({ ...job('team-held').gpus(1).at(1).obj(), queue: 'other', team: 'a' });
  s.submit({ ...job('queue-held').gpus(1).at(2).obj(), queue: 'ml', team: 'b' });
  s.submit({ ...job('free').gpus(1).at(3).obj(), queue: 'other', team: 'b' });
  const r = s.cycle(10);
  assert.deepEqual(r.decisions.map((d) => `${d.kind} ${d.job}`), ['bind free']);
  assert.deepEqual(s.explain('team-held', 10).reasons, [{ kind: 'budget', message: 'BUDGET_EXHAUSTED: team a' }]);
  assert.deepEqual(s.explain('queue-held', 10).reasons, [{ kind: 'budget', message: 'BUDGET_EXHAUSTED: queue org' }], 'a parent queue\'s hold covers its children');
  assert.equal(s.explain('running', 10).state, 'running');

  s.setBudgetHolds(NONE);
  assert.deepEqual(s.cycle(20).decisions.map((d) => `${d.kind} ${d.job}`).sort(), ['bind queue-held', 'bind team-held']);
});
