import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler } from '../../src/core/scheduler/scheduler.js';
import { createRng } from '../../src/core/rng.js';
import { node, job } from '../helpers/builders.js';
import type { RunningColumns } from '../../src/core/scheduler/running-columns.js';
import type { JobRecord } from '../../src/core/scheduler/job.js';
import type { Cluster } from '../../src/core/model/cluster.js';

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

test('the jobs-by-state index follows every transition (random operations)', () => {
  const rng = createRng(7);
  const s = new Scheduler({ rng: createRng(1), minRuntimeMs: 0 }, [{ name: 'a', guaranteed: { gpu: 8000 } }, { name: 'b' }]);
  for (let i = 0; i < 4; i++) s.addNode(node(`n${i}`).gpus(8).obj());
  let now = 0;
  let n = 0;
  const ids: string[] = [];
  type J = { spec: { id: string; queue: string; priority: number; preemptible: boolean; expectedDurationMs?: number }; startedAt: number | null };
  const index = (s as unknown as { jobs: { index: { pending: Set<J>; running: Set<J>; evicting: Set<J>; runningColumns: Map<string, RunningColumns>; runningAll: RunningColumns; preemptiblePriorities: Map<number, number> } } }).jobs.index;
  const cluster = (s as unknown as { cluster: Cluster }).cluster;
  for (let step = 0; step < 400; step++) {
    now += 30_000;
    const x = rng.next();
    if (x < 0.35) {
      const id = `j${n++}`;
      const b0 = job(id).queue(rng.next() < 0.5 ? 'a' : 'b').gpus(1 + rng.int(8)).priority(rng.int(3)).checkpoint({ intervalSeconds: 600 }).at(now);
      const b = rng.next() < 0.5 ? b0.duration(60_000 * (1 + rng.int(60))) : b0;
      s.submit((rng.next() < 0.2 ? b.nonPreemptible() : b).obj());
      ids.push(id);
    } else if (x < 0.6) {
      for (const d of s.cycle(now).decisions) if (d.kind === 'evict' && rng.next() < 0.7) s.requeue(d.job, now);
    } else if (x < 0.75 && ids.length > 0) {
      s.remove(ids.splice(rng.int(ids.length), 1)[0] as string, true);
    } else if (x < 0.85 && ids.length > 0) {
      s.requeue(ids[rng.int(ids.length)] as string, now);
    } else if (x < 0.9 && ids.length > 0) {
      s.reportCheckpoint(ids[rng.int(ids.length)] as string, now - rng.int(600_000));
    } else if (x < 0.95 && ids.length > 0) {
      s.addAttainedService(ids[rng.int(ids.length)] as string, rng.int(1_000_000));
    } else if (ids.length > 0) {
      s.bindFailed(ids[rng.int(ids.length)] as string, now);
    }
    s.checkInvariants();
    for (const state of ['pending', 'running', 'evicting'] as const) {
      const want = [...s.allJobs()].filter((j) => j.state === state).map((j) => j.spec.id).sort();
      assert.deepEqual([...index[state]].map((j) => j.spec.id).sort(), want, `step ${step}: ${state} index`);
    }
    const running = [...s.allJobs()].filter((j) => j.state === 'running');
    for (const q of ['a', 'b']) {
      const want = running.filter((j) => j.spec.queue === q).map((j) => j.spec.id).sort();

      // The columns hold the same jobs in the set's order, each field as the record has it.
      const c = index.runningColumns.get(q);
      const live: number[] = [];
      for (let i = 0; i < (c?.size ?? 0); i++) if (c?.jobs[i]) live.push(i);
      // The queue's columns: its running jobs, in the order they started (as the running set has them).
      assert.deepEqual(live.map((i) => c?.jobs[i]?.spec.id), [...index.running].filter((j) => j.spec.queue === q).map((j) => j.spec.id), `step ${step}: columns of ${q} in start order`);
      assert.deepEqual(live.map((i) => c?.jobs[i]?.spec.id).sort(), want, `step ${step}: running in ${q}`);
      for (const i of live) {
        const j = c?.jobs[i] as unknown as JobRecord;
        const got = [c?.startedAt[i], c?.lastCheckpointAt[i], c?.gpu[i], c?.attainedGpuMs[i], c?.priority[i], c?.touchedIn[i]];
        assert.deepEqual(got, [j.startedAt, j.lastCheckpointAt ?? NaN, j.resources.gpu, j.attainedGpuMs, j.priority, j.touchedIn], `step ${step}: fields of ${j.spec.id}`);
        const b = j.bindings.length === 1 ? j.bindings[0] : undefined;
        const where = b ? [cluster.node(b.node)?.slot, b.gpus.reduce((a, g) => a + (g.milli >= 1000 ? 1000 : 0), 0), b.gpus.reduce((a, g) => a + g.milli, 0), b.cpuMilli, b.memoryMiB] : [-1];
        assert.deepEqual(b ? [c?.slot[i], c?.wholeFreed[i], c?.milliFreed[i], c?.cpu[i], c?.memory[i]] : [c?.slot[i]], where, `step ${step}: placement of ${j.spec.id}`);
      }
    }
    // All running jobs: the same order as the running set, with their expected ends.
    const all = index.runningAll;
    const order: string[] = [];
    for (let i = 0; i < all.size; i++) {
      const j = all.jobs[i];
      if (!j) continue;
      order.push(j.spec.id);
      const want = j.spec.expectedDurationMs === undefined ? Infinity : (j.startedAt as number) + j.spec.expectedDurationMs;
      assert.equal(all.expectedEnd[i], want, `step ${step}: expected end of ${j.spec.id}`);
    }
    assert.deepEqual(order, [...index.running].map((j) => j.spec.id), `step ${step}: all running jobs in set order`);
    for (const j of s.allJobs()) {
      // Only a pending job keeps a pending job's fields; the victims it waits for are stopping.
      assert.equal(j.pending !== null, j.state === 'pending', `step ${step}: pending fields of ${j.spec.id} (${j.state})`);
      for (const v of j.claims?.awaiting ?? []) assert.equal(s.job(v)?.state, 'evicting', `step ${step}: ${j.spec.id} waits for ${v}`);
      if (j.state === 'pending') assert.deepEqual([j.requestGpu, j.requestCpu, j.requestMemory], [j.resources.gpu, j.resources.cpu, j.resources.memory], `step ${step}: request of ${j.spec.id}`);
    }
    const prios = new Map<number, number>();
    for (const j of running) if (j.spec.preemptible) prios.set(j.spec.priority, (prios.get(j.spec.priority) ?? 0) + 1);
    assert.deepEqual(new Map([...index.preemptiblePriorities].sort()), new Map([...prios].sort()), `step ${step}: priorities`);
  }
});

test('capacity follows cordons, GPU health and nodes coming and going', () => {
  const s = new Scheduler({ rng: createRng(1) });
  s.addNode(node('n1').gpus(8).obj());
  s.addNode(node('n2').gpus(4).obj());
  assert.equal(s.capacity().gpu, 12_000);
  s.cordon('n2', true);
  assert.equal(s.capacity().gpu, 8_000, 'a cordoned node does not count');
  s.cordon('n2', false);
  s.setGpuHealth('n1', 3, false);
  assert.equal(s.capacity().gpu, 11_000, 'an unhealthy GPU does not count');
  s.removeNode('n1');
  assert.equal(s.capacity().gpu, 4_000);
  s.addNode(node('n3').gpus(2).obj());
  assert.equal(s.capacity().gpu, 6_000);
});
