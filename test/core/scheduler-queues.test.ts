/**
 * Scenario tests in the style of KAI's: declare nodes, queues, running and pending jobs; run
 * one cycle; assert the binds and evictions it produces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler } from '../../src/core/scheduler/scheduler.js';
import type { SchedulerConfig } from '../../src/core/scheduler/config.js';
import type { Decision, QueueSpec } from '../../src/core/scheduler/types.js';
import { ServiceModel } from '../../src/core/scheduler/service.js';
import { createRng } from '../../src/core/rng.js';
import { node, job } from '../helpers/builders.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const CKPT = { graceSeconds: 30 };

function cluster(config: Omit<SchedulerConfig, 'rng'>, queues: QueueSpec[], nodes: { name: string; gpus: number }[]): Scheduler {
  const s = new Scheduler({ rng: createRng(1), ...config }, queues);
  for (const n of nodes) s.addNode(node(n.name).gpus(n.gpus).obj());
  return s;
}

const evictions = (ds: readonly Decision[]): Extract<Decision, { kind: 'evict' }>[] => ds.filter((d): d is Extract<Decision, { kind: 'evict' }> => d.kind === 'evict');
const binds = (ds: readonly Decision[]): string[] => ds.filter((d) => d.kind === 'bind').map((d) => d.job);

/** Submits `n` one-GPU jobs to `queue` at time `at`, binds them with one cycle, then credits `served` GPU-ms each. */
function runJobs(s: Scheduler, queue: string, prefix: string, n: number, at: number, served = 0): void {
  for (let i = 0; i < n; i++) s.submit(job(`${prefix}${i}`).queue(queue).gpus(1).at(at).checkpoint(CKPT).obj());
  const r = s.cycle(at);
  assert.equal(binds(r.decisions).filter((j) => j.startsWith(prefix)).length, n, `all ${prefix}* jobs bind`);
  for (let i = 0; i < n; i++) if (served > 0) s.addAttainedService(`${prefix}${i}`, served);
}

const priorityAcross: Omit<SchedulerConfig, 'rng'> = { withinQueueOrder: 'las', acrossQueues: 'priority', preemptAcrossQueues: true, minRuntimeMs: 0, actions: ['allocate', 'preempt'] };

test('cross-queue preemption: a fresh job takes a GPU from what another queue runs beyond its guarantee', () => {
  const s = cluster(priorityAcross, [{ name: 'a' }, { name: 'b', guaranteed: { gpu: 2000 } }], [{ name: 'n1', gpus: 4 }]);
  runJobs(s, 'b', 'b', 4, 0, 5 * HOUR); // b: 4 GPUs, 2 beyond its guarantee, all with much service
  s.submit(job('fresh').queue('a').gpus(1).at(MIN).checkpoint(CKPT).obj());
  const ev = evictions(s.cycle(20 * MIN).decisions);
  assert.equal(ev.length, 1);
  assert.equal(ev[0]?.reason, 'preempt');
  assert.equal(ev[0]?.for, 'fresh');
  assert.equal(ev[0]?.graceMs, 30_000, 'the victim gets its checkpoint grace');
});

test('cross-queue preemption never takes a queue below its guarantee', () => {
  const s = cluster(priorityAcross, [{ name: 'a' }, { name: 'b', guaranteed: { gpu: 4000 } }], [{ name: 'n1', gpus: 4 }]);
  runJobs(s, 'b', 'b', 4, 0, 5 * HOUR); // b uses exactly its guarantee
  s.submit(job('fresh').queue('a').gpus(1).at(MIN).checkpoint(CKPT).obj());
  const r = s.cycle(20 * MIN);
  assert.equal(evictions(r.decisions).length, 0);
  assert.equal(s.explain('fresh', 20 * MIN).state, 'pending');
});

test('preemption stays within the queue unless preemptAcrossQueues is set', () => {
  const s = cluster({ ...priorityAcross, preemptAcrossQueues: false }, [{ name: 'a' }, { name: 'b' }], [{ name: 'n1', gpus: 2 }]);
  runJobs(s, 'b', 'b', 2, 0, 5 * HOUR);
  s.submit(job('fresh').queue('a').gpus(1).at(MIN).obj());
  assert.equal(evictions(s.cycle(20 * MIN).decisions).length, 0);
});

test('allocate under priority order still serves a job within its queue guarantee first', () => {
  const s = cluster({ withinQueueOrder: 'las', acrossQueues: 'priority', actions: ['allocate'] }, [{ name: 'a', guaranteed: { gpu: 1000 } }, { name: 'b' }], [{ name: 'n1', gpus: 1 }]);
  // a's job has much service (low priority), b's is fresh (high priority): the guarantee wins.
  s.submit(job('a0').queue('a').gpus(1).at(0).obj());
  s.addAttainedService('a0', 20 * HOUR);
  s.submit(job('b0').queue('b').gpus(1).at(0).obj());
  assert.deepEqual(binds(s.cycle(0).decisions), ['a0']);
});

test('reclaim frees one whole node for an 8-GPU job instead of scattered GPUs', () => {
  const s = cluster({ minRuntimeMs: HOUR, actions: ['allocate', 'reclaim'] }, [{ name: 'a', guaranteed: { gpu: 8000 } }, { name: 'b' }], [
    { name: 'n1', gpus: 8 },
    { name: 'n2', gpus: 8 },
  ]);
  runJobs(s, 'b', 'b', 16, 0);
  s.submit(job('big').queue('a').gpus(8).at(MIN).checkpoint(CKPT).obj());
  const ev = evictions(s.cycle(2 * MIN).decisions);
  assert.equal(ev.length, 8, 'exactly the 8 jobs of one node');
  assert.ok(ev.every((e) => e.reason === 'reclaim' && e.for === 'big'));
  const nodes = new Set(ev.map((e) => s.job(e.job)?.bindings[0]?.node));
  assert.equal(nodes.size, 1);
});

test('reclaim takes no more than the guarantee, counting capacity already on its way', () => {
  const s = cluster({ actions: ['allocate', 'reclaim'] }, [{ name: 'a', guaranteed: { gpu: 2000 } }, { name: 'b' }], [{ name: 'n1', gpus: 8 }]);
  runJobs(s, 'b', 'b', 8, 0);
  s.submit(job('a0').queue('a').gpus(2).at(MIN).checkpoint(CKPT).obj());
  s.submit(job('a1').queue('a').gpus(2).at(MIN).checkpoint(CKPT).obj());
  const ev = evictions(s.cycle(2 * MIN).decisions);
  assert.equal(ev.length, 2);
  assert.ok(ev.every((e) => e.for === 'a0'));
  // Next cycle, while the victims are still saving: still nothing more for a1.
  assert.equal(evictions(s.cycle(2 * MIN + 30_000).decisions).length, 0);
});

test('no ping-pong: a preempted job never evicts the job it was evicted for', () => {
  const s = cluster({ withinQueueOrder: 'las', lasThresholdsGpuMs: [HOUR, 10 * HOUR], minRuntimeMs: 0, actions: ['allocate', 'preempt'] }, [{ name: 'q' }], [{ name: 'n1', gpus: 1 }]);
  runJobs(s, 'q', 'v', 1, 0, 2 * HOUR); // v0: band 1
  s.submit(job('j').queue('q').gpus(1).at(MIN).checkpoint(CKPT).obj()); // band 0
  const ev = evictions(s.cycle(2 * MIN).decisions);
  assert.deepEqual(ev.map((e) => [e.job, e.for]), [['v0', 'j']]);
  s.requeue('v0', 2 * MIN + 30_000);
  assert.deepEqual(binds(s.cycle(2 * MIN + 30_000).decisions), ['j']);
  // j runs into band 2, below v0 (band 1): v0 may not take its place back.
  s.addAttainedService('j', 20 * HOUR);
  for (let t = 1; t <= 20; t++) assert.equal(evictions(s.cycle(t * HOUR).decisions).length, 0, `cycle ${t}`);
  // A third job may still preempt j.
  s.submit(job('k').queue('q').gpus(1).at(21 * HOUR).obj());
  assert.deepEqual(evictions(s.cycle(21 * HOUR).decisions).map((e) => e.job), ['j']);
});

test('service model: the Gittins index favours nearly-done jobs when run times are alike, new jobs when they are heavy-tailed', () => {
  const alike = new ServiceModel({ minSamples: 10, maxSamples: 1000 });
  for (let i = 0; i < 200; i++) alike.record(['q'], 40 * MIN + (i % 20) * MIN); // 40..59 min
  alike.refresh([], true);
  assert.ok(alike.index(['q'], 35 * MIN, 1) > 2 * alike.index(['q'], 0, 1), 'a job 35 min in ranks above a new one');

  const tailed = new ServiceModel({ minSamples: 10, maxSamples: 1000 });
  for (let i = 0; i < 200; i++) tailed.record(['q'], i % 10 === 0 ? 20 * HOUR : MIN);
  tailed.refresh([], true);
  assert.ok(tailed.index(['q'], 0, 1) > 10 * tailed.index(['q'], 10 * MIN, 1), 'a new job ranks above one past the short mode');
  // Per GPU: the same run time on 8 GPUs ranks 8 times lower.
  assert.ok(Math.abs(tailed.index(['q'], 0, 8) * 8 - tailed.index(['q'], 0, 1)) < 1e-15);
});

test('service model: too few samples fall back to all classes, then to least attained service', () => {
  const m = new ServiceModel({ minSamples: 10, maxSamples: 1000 });
  m.refresh([], true);
  assert.ok(m.index(['x'], 0, 1) > m.index(['x'], HOUR, 1), 'no history: least attained service');
  for (let i = 0; i < 50; i++) m.record(['other'], 40 * MIN + (i % 10) * MIN);
  m.record(['x'], MIN);
  m.refresh([], true);
  assert.ok(m.index(['x'], 35 * MIN, 1) > m.index(['x'], 0, 1), 'x borrows the pooled distribution');
});

test('service model: a class with enough samples is used before the broader one', () => {
  const m = new ServiceModel({ minSamples: 10, maxSamples: 1000 });
  // Queue q: its 1-GPU jobs run 1 minute, its 8-GPU jobs 40..59 minutes.
  for (let i = 0; i < 100; i++) m.record(['q|1', 'q'], MIN);
  for (let i = 0; i < 100; i++) m.record(['q|5-8', 'q'], 40 * MIN + (i % 20) * MIN);
  m.refresh([], true);
  // An 8-GPU job 35 minutes in is close to done by its size class...
  assert.ok(m.index(['q|5-8', 'q'], 35 * MIN, 8) > 2 * m.index(['q|5-8', 'q'], 0, 8));
  // ...while by the queue alone (mostly 1-minute jobs) it looks like a long runner.
  assert.ok(m.index(['q'], 35 * MIN, 8) < m.index(['q'], 0, 8));
  // A class without samples falls back to the next one.
  assert.equal(m.index(['q|9-32', 'q'], 35 * MIN, 8), m.index(['q'], 35 * MIN, 8));
});

test('gittins order: a fresh job does not preempt a job close to the typical run time', () => {
  const config: Omit<SchedulerConfig, 'rng'> = { withinQueueOrder: 'gittins', serviceMinSamples: 10, serviceRefreshMs: 0, preemptMinGap: 4, minRuntimeMs: 0, actions: ['allocate', 'preempt'] };
  const s = cluster(config, [{ name: 'q' }], [{ name: 'n1', gpus: 1 }]);
  // History: jobs of q ran 40..59 min.
  for (let i = 0; i < 40; i++) {
    s.submit(job(`h${i}`).queue('q').gpus(1).at(0).obj());
    s.addAttainedService(`h${i}`, 40 * MIN + (i % 20) * MIN);
    s.remove(`h${i}`, true);
  }
  runJobs(s, 'q', 'r', 1, 0, 35 * MIN);
  s.submit(job('new').queue('q').gpus(1).at(MIN).checkpoint(CKPT).obj());
  assert.equal(evictions(s.cycle(36 * MIN).decisions).length, 0);
  // Under least attained service the same state preempts.
  const las = cluster({ ...config, withinQueueOrder: 'las', lasThresholdsGpuMs: [30 * MIN], preemptMinGap: 1 }, [{ name: 'q' }], [{ name: 'n1', gpus: 1 }]);
  runJobs(las, 'q', 'r', 1, 0, 35 * MIN);
  las.submit(job('new').queue('q').gpus(1).at(MIN).checkpoint(CKPT).obj());
  assert.equal(evictions(las.cycle(36 * MIN).decisions).length, 1);
});

test('service model: a waiting job is ranked over horizons of at least the committed service', () => {
  // Class mixed: 20 % of its jobs end within a minute, the rest run 100 minutes. Class steady:
  // every job runs 30 minutes.
  const m = new ServiceModel({ minSamples: 10, maxSamples: 1000, commitMs: 10 * MIN });
  for (let i = 0; i < 100; i++) m.record(['mixed'], i % 5 === 0 ? MIN : 100 * MIN);
  for (let i = 0; i < 100; i++) m.record(['steady'], 30 * MIN);
  m.refresh([], true);
  // Free to stop it after a minute, a new mixed job is worth trying first...
  assert.ok(m.index(['mixed'], 0, 1) > 3 * m.index(['steady'], 0, 1));
  // ...but a start gives it at least 10 minutes, and then the steady job ends sooner per GPU-minute.
  assert.ok(m.index(['mixed'], 0, 1, true) < m.index(['steady'], 0, 1, true));
  // Past the commitment (or without one) both rankings agree.
  assert.equal(m.index(['mixed'], 20 * MIN, 1, true).toFixed(12), m.index(['mixed'], 20 * MIN, 1).toFixed(12));
  const free = new ServiceModel({ minSamples: 10, maxSamples: 1000 });
  for (let i = 0; i < 100; i++) free.record(['mixed'], i % 5 === 0 ? MIN : 100 * MIN);
  free.refresh([], true);
  assert.equal(free.index(['mixed'], 0, 1, true), free.index(['mixed'], 0, 1));
});

test('gittins order with gittinsCommitted: the job that ends sooner within the minimum runtime starts first', () => {
  const config: Omit<SchedulerConfig, 'rng'> = { withinQueueOrder: 'gittins', acrossQueues: 'priority', serviceMinSamples: 10, serviceRefreshMs: 0, minRuntimeMs: 10 * MIN, actions: ['allocate'] };
  const first = (committed: boolean): string | undefined => {
    const s = cluster({ ...config, gittinsCommitted: committed }, [{ name: 'mixed' }, { name: 'steady' }], [{ name: 'n1', gpus: 1 }]);
    for (let i = 0; i < 40; i++) {
      const q = i % 2 === 0 ? 'mixed' : 'steady';
      s.submit(job(`h${i}`).queue(q).gpus(1).at(0).obj());
      s.addAttainedService(`h${i}`, q === 'steady' ? 30 * MIN : i % 10 === 0 ? MIN : 100 * MIN);
      s.remove(`h${i}`, true);
    }
    s.submit(job('s').queue('steady').gpus(1).at(MIN).obj());
    s.submit(job('m').queue('mixed').gpus(1).at(2 * MIN).obj());
    return binds(s.cycle(3 * MIN).decisions)[0];
  };
  assert.equal(first(false), 'm');
  assert.equal(first(true), 's');
});
