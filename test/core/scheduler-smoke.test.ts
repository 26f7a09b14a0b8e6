import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler } from '../../src/core/scheduler/scheduler.js';
import { createRng } from '../../src/core/rng.js';
import { node, job } from '../helpers/builders.js';

test('allocate binds a gang whole and leaves a too-big job pending with reasons', () => {
  const s = new Scheduler({ rng: createRng(1) });
  s.addNode(node('n1').gpus(8).obj());
  s.addNode(node('n2').gpus(8).obj());
  s.submit(job('gang').gpus(4, 3).obj());
  s.submit(job('huge').gpus(16).at(1).obj());
  const r = s.cycle(0);
  const binds = r.decisions.filter((d) => d.kind === 'bind');
  assert.equal(binds.length, 1);
  assert.equal(binds[0]?.job, 'gang');
  assert.equal(binds[0]?.kind === 'bind' ? binds[0].bindings.length : 0, 3);
  const why = s.explain('huge', 0);
  assert.equal(why.state, 'pending');
  assert.match(why.reasons[0]?.message ?? '', /0\/2 nodes: 2 too few whole free GPUs/);
});
