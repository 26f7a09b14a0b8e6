import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../src/core/rng.js';
import { createRoutePolicy, type ReplicaLoad } from '../../src/serve/router/route-policies.js';
import { KpaAutoscaler } from '../../src/serve/autoscaler/kpa-autoscaler.js';
import { SloAutoscaler, replicasForWork } from '../../src/serve/autoscaler/slo-autoscaler.js';
import type { ScaleSample } from '../../src/serve/autoscaler/scale-signals.js';
import { DEFAULT_LLM_ENGINE_PROFILE } from '../../src/serve/llm-model/engine-profile.js';

const loads = (...inFlight: number[]): ReplicaLoad[] => inFlight.map((n, i) => ({ id: `r${i}`, inFlight: n }));

test('router: round-robin takes replicas in turn', () => {
  const p = createRoutePolicy('round-robin', createRng(1));
  assert.deepEqual([0, 1, 2, 3].map(() => p.choose(loads(0, 0, 0), { prefixBlocks: [] })), [0, 1, 2, 0]);
});

test('router: power of two choices never picks the more loaded of its two samples', () => {
  const p = createRoutePolicy('p2c', createRng(7));
  const counts = [0, 0];
  for (let i = 0; i < 200; i++) counts[p.choose(loads(9, 1), { prefixBlocks: [] })]!++;
  assert.deepEqual(counts, [0, 200]);
});

test('router: load-prefix keeps a prefix on one replica while its load is within the bound, then moves it', () => {
  const p = createRoutePolicy('load-prefix', createRng(3), { loadBound: 4 });
  const prefix = { prefixBlocks: [11, 12, 13] };
  const first = p.choose(loads(0, 0, 0, 0), prefix);
  for (let i = 0; i < 20; i++) {
    const l = [0, 0, 0, 0];
    l[first] = 3;
    assert.equal(p.choose(loads(...l), prefix), first, 'affinity while within the bound');
  }
  const l = [0, 0, 0, 0];
  l[first] = 9;
  assert.notEqual(p.choose(loads(...l), prefix), first, 'load first: an overloaded replica loses its prefix');
  // The deepest match wins: a longer shared prefix follows the replica that served it last.
  const other = p.choose(loads(0, 0, 0, 0), { prefixBlocks: [11, 12, 99] });
  assert.equal(p.choose(loads(0, 0, 0, 0), { prefixBlocks: [11, 12, 99, 100] }), other);
});

function sample(now: number, ready: number, inFlight: number, promptTokens: number, outputTokens: number, ttft: number[] = []): ScaleSample {
  return { now, ready, starting: 0, inFlight, arrivedPromptTokens: promptTokens, arrivedOutputTokens: outputTokens, firstTokenMs: ttft };
}

test('kpa: a step to 2x the ready capacity panics and scales within the 6 s window; no scale-down in panic', () => {
  const k = new KpaAutoscaler({ minReplicas: 1, maxReplicas: 50, targetConcurrency: 10 });
  let t = 0;
  for (; t < 60; t += 2) assert.equal(k.decide(sample(t, 2, 14, 0, 0)).desired, 2);
  const d = k.decide(sample((t += 2), 2, 60, 0, 0));
  assert.ok(d.panic);
  assert.ok(d.desired >= 4, `desired ${d.desired}`);
  const after = k.decide(sample((t += 2), d.desired, 5, 0, 0));
  assert.ok(after.desired >= d.desired, 'no scale-down while panicking');
});

test('gantry autoscaler: sizes from token work, scales up within 6 s of a 4x step, down only after its delay', () => {
  const a = new SloAutoscaler({ minReplicas: 1, maxReplicas: 64, profile: DEFAULT_LLM_ENGINE_PROFILE, ttftObjectiveMs: 1000 });
  // 5 requests/s of 1,000 prompt + 200 output tokens: 0.4 + 0.37 replica-seconds per second.
  const per2s = (x: number): [number, number] => [x * 10 * 1000, x * 10 * 200];
  let t = 0;
  let ready = 2;
  for (; t < 120; t += 2) ready = a.decide(sample(t, ready, 10, ...per2s(1))).desired;
  assert.equal(ready, 2, 'steady load at ~0.8 replicas of work, utilisation 0.6: 2 replicas');
  let decidedAt = -1;
  for (let k = 0; k < 3; k++) {
    t += 2;
    const d = a.decide(sample(t, ready, 40, ...per2s(4)));
    if (d.desired > ready && decidedAt < 0) decidedAt = t;
    ready = d.desired;
  }
  assert.ok(decidedAt > 0 && decidedAt - 120 <= 6, `scale-out decided ${decidedAt - 120} s after the step`);
  assert.ok(ready >= 4, `6 s after the 4x step: ${ready}`);
  for (let k = 0; k < 30; k++) ready = a.decide(sample((t += 2), ready, 40, ...per2s(4))).desired;
  assert.ok(ready >= 5, `60 s after the 4x step: ${ready}`);
  const peak = ready;
  // Back to 1x: nothing for the scale-down delay, then down.
  let firstDown = -1;
  const stepDown = t;
  for (; t < stepDown + 300; t += 2) {
    const d = a.decide(sample(t, ready, 10, ...per2s(1)));
    if (d.desired < ready && firstDown < 0) firstDown = t - stepDown;
    ready = d.desired;
  }
  assert.ok(firstDown >= 100, `first scale-down ${firstDown} s after the load fell`);
  assert.ok(ready < peak && ready <= 3, `settled at ${ready}`);
});

test('gantry autoscaler: a k x step asks within 6 s for k x the work at the same per-replica capacity', () => {
  // 5 requests/s of 1,000 prompt + 200 output tokens: 0.77 replicas of work, 1.28 at utilisation 0.6.
  const per2s = (x: number): [number, number] => [x * 10 * 1000, x * 10 * 200];
  for (const k of [2, 4, 8]) {
    const a = new SloAutoscaler({ minReplicas: 1, maxReplicas: 64, profile: DEFAULT_LLM_ENGINE_PROFILE, ttftObjectiveMs: 1000 });
    let t = 0;
    let ready = 2;
    for (; t < 120; t += 2) ready = a.decide(sample(t, ready, 10, ...per2s(1))).desired;
    const steady = replicasForWork(DEFAULT_LLM_ENGINE_PROFILE, 5000, 1000, a.target);
    for (const stop = t + 6; t < stop; ) ready = a.decide(sample((t += 2), ready, 10 * k, ...per2s(k))).desired;
    assert.equal(ready, Math.ceil(k * steady - 1e-9), `${k}x step: ${ready} replicas 6 s after it (steady ${steady.toFixed(2)})`);
  }
});

test('gantry autoscaler: a few long prompts in 6 s without more requests in flight are not a step', () => {
  const a = new SloAutoscaler({ minReplicas: 1, maxReplicas: 64, profile: DEFAULT_LLM_ENGINE_PROFILE, ttftObjectiveMs: 1000 });
  let t = 0;
  let ready = 2;
  for (; t < 120; t += 2) ready = a.decide(sample(t, ready, 10, 10_000, 2_000)).desired;
  // 50,000 more prompt tokens in one period: 2.4 replicas of work over 6 s at 0.6, in flight unchanged.
  const d = a.decide(sample((t += 2), ready, 10, 60_000, 2_000));
  assert.equal(d.desired, 2, d.reason);
  // The same work with 3x the requests in flight is a step.
  const b = new SloAutoscaler({ minReplicas: 1, maxReplicas: 64, profile: DEFAULT_LLM_ENGINE_PROFILE, ttftObjectiveMs: 1000 });
  for (t = 0, ready = 2; t < 120; t += 2) ready = b.decide(sample(t, ready, 10, 10_000, 2_000)).desired;
  const e = b.decide(sample((t += 2), ready, 30, 60_000, 2_000));
  assert.equal(e.desired, 3, e.reason);
  assert.ok(e.panic);
});

test('gantry autoscaler: a missed objective lowers its utilisation target (more replicas for the same work)', () => {
  const a = new SloAutoscaler({ minReplicas: 1, maxReplicas: 64, profile: DEFAULT_LLM_ENGINE_PROFILE, ttftObjectiveMs: 500 });
  const before = a.target;
  for (let t = 2; t < 60; t += 2) a.decide(sample(t, 3, 10, 10_000, 2_000, Array.from({ length: 30 }, () => 900)));
  assert.ok(a.target < before * 0.8, `target ${before} -> ${a.target}`);
});

test('gantry autoscaler: good latency raises the target only while the fleet runs near it', () => {
  const profile = DEFAULT_LLM_ENGINE_PROFILE;
  // Work of about 1 replica at utilisation 1 (prompts only), p99 far under the objective.
  const promptsPerPeriod = Math.round((2 * 1000) / profile.prefillMsPerToken);
  const run = (ready: number): number => {
    const a = new SloAutoscaler({ minReplicas: ready, maxReplicas: ready, profile, ttftObjectiveMs: 1000 });
    for (let t = 2; t < 300; t += 2) a.decide(sample(t, ready, 4, promptsPerPeriod, 0, Array.from({ length: 30 }, () => 100)));
    return a.target;
  };
  // 4 replicas held by the minimum run at 0.25 of a replica each: no evidence for the target.
  assert.equal(run(4), 0.6);
  // 2 replicas run at 0.5 (above 0.6 x the target): the target rises.
  assert.ok(run(2) > 0.65, `target ${run(2)}`);
});
