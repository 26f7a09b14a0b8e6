import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CanaryRollout, type RevisionFigures, type RolloutObservation, type RolloutPolicy } from '../../src/serve/rollout/canary-rollout.js';

const policy: RolloutPolicy = { strategy: 'canary', canaryPercent: 10, analysisSeconds: 60, maxErrorRate: 0.01, minRequests: 20, readyTimeoutSeconds: 600 };
const good: RevisionFigures = { requests: 100, errors5xx: 0, ttftP99Ms: 120, latencyP99Ms: 900 };
const obs = (now: number, o: Partial<RolloutObservation> = {}): RolloutObservation => ({ now, desired: 2, newReady: 1, newEnded: 0, oldReplicas: 2, figures: good, ...o });

test('rollout: a canary that holds the objective is promoted after the window, then done when the old replicas are gone', () => {
  const r = new CanaryRollout('aaa', 'bbb', policy, { ttftP99Ms: 200 }, 0);
  assert.equal(r.phase, 'canary');
  assert.equal(r.step(obs(1000, { newReady: 0, figures: { ...good, requests: 0 } })), null, 'not Ready yet');
  assert.match(r.step(obs(2000))?.reason ?? '', /canary Ready: 10% of requests/);
  assert.equal(r.weight(), 10);
  assert.equal(r.step(obs(61_000)), null, 'the window has not passed');
  const p = r.step(obs(62_000));
  assert.equal(p?.phase, 'promoting');
  assert.match(p?.reason ?? '', /held the objective for 60 s \(100 requests, 5xx 0%/);
  assert.equal(r.weight(), 100);
  assert.equal(r.step(obs(63_000, { oldReplicas: 1 })), null, 'old replicas still draining');
  assert.equal(r.step(obs(64_000, { oldReplicas: 0 }))?.phase, 'done');
  assert.equal(r.active, false);
});

test('rollout: a 5xx rate above maxErrorRate rolls back at once, without waiting for the window', () => {
  const r = new CanaryRollout('aaa', 'bbb', policy, {}, 0);
  r.step(obs(1000));
  assert.equal(r.step(obs(2000, { figures: { ...good, requests: 10, errors5xx: 10 } })), null, 'fewer than minRequests: not judged yet');
  const s = r.step(obs(3000, { figures: { ...good, requests: 40, errors5xx: 2 } }));
  assert.equal(s?.phase, 'rolled-back');
  assert.match(s?.reason ?? '', /5xx rate 5% > maxErrorRate 1%/);
  assert.equal(r.weight(), 0);
});

test('rollout: a p99 over the objective at the end of the window rolls back', () => {
  const r = new CanaryRollout('aaa', 'bbb', policy, { ttftP99Ms: 100, latencyP99Ms: 5000 }, 0);
  r.step(obs(0));
  const s = r.step(obs(60_000));
  assert.equal(s?.phase, 'rolled-back');
  assert.match(s?.reason ?? '', /p99 first byte 120 ms > objective 100 ms/);
  const l = new CanaryRollout('aaa', 'bbb', policy, { latencyP99Ms: 500 }, 0);
  l.step(obs(0));
  assert.match(l.step(obs(60_000))?.reason ?? '', /p99 latency 900 ms > objective 500 ms/);
});

test('rollout: a canary that ends or is never Ready rolls back; too few requests make it wait', () => {
  const ended = new CanaryRollout('aaa', 'bbb', policy, {}, 0);
  assert.match(ended.step(obs(1000, { newReady: 0, newEnded: 1 }))?.reason ?? '', /ended without being asked/);
  const slow = new CanaryRollout('aaa', 'bbb', policy, {}, 0);
  assert.equal(slow.step(obs(599_000, { newReady: 0 })), null);
  assert.match(slow.step(obs(600_000, { newReady: 0 }))?.reason ?? '', /not Ready within 600 s/);
  const idle = new CanaryRollout('aaa', 'bbb', policy, {}, 0);
  idle.step(obs(0));
  const few = { ...good, requests: 3 };
  assert.match(idle.step(obs(60_000, { figures: few }))?.reason ?? '', /3 of the 20 requests needed/);
  assert.equal(idle.step(obs(61_000, { figures: few })), null, 'said once');
  assert.equal(idle.phase, 'canary');
  assert.equal(idle.step(obs(62_000))?.phase, 'promoting');
});

test('rollout: replace skips the canary; abandon ends a rollout with its reason', () => {
  const r = new CanaryRollout('aaa', 'bbb', { ...policy, strategy: 'replace' }, {}, 0);
  assert.equal(r.phase, 'promoting');
  assert.equal(r.step(obs(1000, { newReady: 0, oldReplicas: 0 })), null, 'done only once a new replica is Ready');
  assert.equal(r.step(obs(2000, { oldReplicas: 0 }))?.phase, 'done');
  const a = new CanaryRollout('aaa', 'bbb', policy, {}, 0);
  assert.deepEqual(a.abandon('superseded'), { phase: 'rolled-back', reason: 'superseded' });
});

test('rollout: a replica of the new revision that ends while promoting rolls back', () => {
  const r = new CanaryRollout('aaa', 'bbb', { ...policy, strategy: 'replace' }, {}, 0);
  assert.equal(r.step(obs(1000, { newReady: 1, oldReplicas: 1 })), null);
  const s = r.step(obs(2000, { newReady: 1, oldReplicas: 1, newEnded: 1 }));
  assert.equal(s?.phase, 'rolled-back');
  assert.match(s?.reason ?? '', /ended without being asked to while promoting/);
});

test('rollout: a machine restored from its state (JSON, as stored) goes on where it stood', () => {
  const r = new CanaryRollout('aaa', 'bbb', policy, { ttftP99Ms: 200 }, 0);
  r.step(obs(2000));
  r.step(obs(63_000, { figures: { ...good, requests: 5 } })); // the window passed with too few requests: noted once
  const back = CanaryRollout.restore(JSON.parse(JSON.stringify(r.state())));
  assert.deepEqual(back.state(), r.state());
  assert.equal(back.weight(), 10);
  assert.equal(back.step(obs(64_000, { figures: { ...good, requests: 6 } })), null, 'the wait is not noted again');
  assert.equal(back.step(obs(65_000))?.phase, 'promoting', 'the Ready time is kept: no new analysis window');
});
