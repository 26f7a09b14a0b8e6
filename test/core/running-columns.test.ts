import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunningColumns } from '../../src/core/scheduler/running-columns.js';
import type { JobRecord } from '../../src/core/scheduler/job.js';
import { createRng } from '../../src/core/rng.js';

/** The fields RunningColumns copies, on an otherwise empty record. */
function record(i: number): JobRecord {
  return {
    spec: { id: `j${i}` },
    startedAt: i * 10,
    lastCheckpointAt: i % 3 === 0 ? null : i * 10 + 5,
    resources: { gpu: 1000 * (1 + (i % 4)), cpu: 0, memory: 0, gpuByModel: {} },
    attainedGpuMs: i * 7,
    priority: i % 5,
    graceMs: i % 2 === 0 ? 30_000 : 0,
    checkpointIntervalMs: 600_000,
    touchedIn: i,
    preemptible: i % 7 !== 0,
    // One binding (most jobs), two (a gang), or one on a node that is gone.
    bindings: Array.from({ length: i % 5 === 0 ? 2 : 1 }, (_, k) => ({
      podId: `j${i}-${k}`,
      node: i % 11 === 0 ? 'gone' : `n${(i + k) % 10}`,
      cpuMilli: 1000 * (1 + (i % 3)),
      memoryMiB: 512 * (1 + (i % 2)),
      gpus: i % 4 === 0 ? [] : [{ gpu: 0, milli: 1000, memoryMiB: 0 }, { gpu: 1, milli: 250 * (i % 4), memoryMiB: 0 }],
    })),
    queueIndex: -1,
    allIndex: -1,
  } as unknown as JobRecord;
}

/** Node `nK` is at slot K; `gone` does not exist. */
const slotOf = (name: string): number => (name === 'gone' ? -1 : Number(name.slice(1)));

/** What the columns should say of a job's placement: its one binding's slot, freed GPU room, CPU and memory, or slot -1. */
function placement(j: JobRecord): number[] {
  const b = j.bindings.length === 1 ? j.bindings[0] : undefined;
  if (!b || slotOf(b.node) < 0) return [-1];
  const whole = b.gpus.reduce((a, g) => a + (g.milli >= 1000 ? 1000 : 0), 0);
  const milli = b.gpus.reduce((a, g) => a + g.milli, 0);
  return [slotOf(b.node), whole, milli, b.cpuMilli, b.memoryMiB];
}

test('running columns keep set order through thousands of adds and removes (holes compacted), each field as its record has it', () => {
  const rng = createRng(3);
  const cols = new RunningColumns(false, slotOf, 4);
  const set = new Set<JobRecord>();
  const all = Array.from({ length: 600 }, (_, i) => record(i));
  for (let step = 0; step < 6000; step++) {
    const j = all[rng.int(all.length)] as JobRecord;
    if (set.has(j)) {
      set.delete(j);
      cols.remove(j);
      assert.equal(cols.indexOf(j), undefined);
    } else {
      set.add(j);
      cols.add(j);
    }
    if (step % 50 !== 0) continue;
    const live: JobRecord[] = [];
    for (let i = 0; i < cols.size; i++) {
      const x = cols.jobs[i];
      if (!x) continue;
      live.push(x);
      assert.equal(cols.indexOf(x), i);
      assert.deepEqual(
        [cols.startedAt[i], cols.lastCheckpointAt[i], cols.gpu[i], cols.attainedGpuMs[i], cols.priority[i], cols.graceMs[i], cols.touchedIn[i], cols.preemptible[i]],
        [x.startedAt, x.lastCheckpointAt ?? NaN, x.resources.gpu, x.attainedGpuMs, x.priority, x.graceMs, x.touchedIn, x.preemptible ? 1 : 0],
      );
      const where = placement(x);
      assert.deepEqual(where[0] === -1 ? [cols.slot[i]] : [cols.slot[i], cols.wholeFreed[i], cols.milliFreed[i], cols.cpu[i], cols.memory[i]], where, `${x.spec.id}: placement`);
    }
    assert.deepEqual(live, [...set], `step ${step}: same jobs, same order`);
    assert.equal(cols.count, set.size);
    assert.ok(cols.size <= Math.max(2 * set.size, set.size + 33), `step ${step}: holes are compacted (${cols.size} entries for ${set.size} jobs)`);
  }
});

test('running columns: update copies a changed field; a job not in the list is left alone', () => {
  const cols = new RunningColumns(false, slotOf);
  const a = record(1);
  const b = record(2);
  cols.add(a);
  a.lastCheckpointAt = 99;
  a.attainedGpuMs = 1234;
  assert.equal(cols.lastCheckpointAt[0], 15, 'not before update');
  cols.update(a);
  assert.equal(cols.lastCheckpointAt[0], 99);
  assert.equal(cols.attainedGpuMs[0], 1234);
  cols.update(b); // not running: nothing happens
  cols.remove(b);
  assert.equal(cols.count, 1);
});
