/** The Kubernetes benchmark's checks: GPUs booked twice and overfull nodes, replayed in apiserver order. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { overbooking, type PodTrace } from '../../bench/k8s/measure.js';
import { fitLine } from '../../bench/k8s/memory.js';

function trace(node: string, uuids: string[], boundRv: number, endRv?: number): PodTrace {
  return { node, gpus: uuids.length, uuids, boundAt: 0, boundRv, ...(endRv !== undefined ? { endRv } : {}) };
}

describe('bench k8s overbooking', () => {
  it('a GPU freed before it is booked again is no double booking', () => {
    const t = new Map([
      ['a', trace('n1', ['g0', 'g1'], 10, 20)],
      ['b', trace('n1', ['g1'], 21)],
    ]);
    assert.deepEqual(overbooking(t, 8), { gpusBookedTwice: 0, nodesOverfull: 0, wrongSize: 0 });
  });

  it('a GPU booked while its first pod still holds it is counted', () => {
    const t = new Map([
      ['a', trace('n1', ['g0', 'g1'], 10, 30)],
      ['b', trace('n1', ['g1'], 21)],
      ['c', trace('n2', ['g1'], 22)],
    ]);
    assert.equal(overbooking(t, 8).gpusBookedTwice, 1);
  });

  it('counts nodes asked for more GPUs than they have, and assignments of the wrong size', () => {
    const t = new Map([
      ['a', trace('n1', ['g0', 'g1'], 1)],
      ['b', trace('n1', ['g2', 'g3'], 2)],
      ['c', { ...trace('n2', ['g0'], 3), gpus: 2 }],
    ]);
    const r = overbooking(t, 3);
    assert.equal(r.nodesOverfull, 1);
    assert.equal(r.wrongSize, 1);
  });

  it('without GPU ids (another scheduler) only counts overfull nodes', () => {
    const t = new Map([
      ['a', { ...trace('n1', [], 1), gpus: 6 }],
      ['b', { ...trace('n1', [], 2), gpus: 4 }],
    ]);
    assert.deepEqual(overbooking(t, 8, false), { gpusBookedTwice: 0, nodesOverfull: 1, wrongSize: 0 });
  });
});

describe('bench memory fit', () => {
  it('fits a line through the samples', () => {
    const f = fitLine([1000, 5000, 10000], [3e7, 4.6e7, 6.6e7]);
    assert.ok(Math.abs(f.slope - 4000) < 1e-6);
    assert.ok(Math.abs(f.intercept - 2.6e7) < 1e-3);
  });
});
