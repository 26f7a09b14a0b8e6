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
    queueIndex: -1,
    allIndex: -1,
  } as unknown as JobRecord;
}

test('running columns keep set order through thousands of adds and removes (holes compacted), each field as its record has it', () => {
  const rng = createRng(3);
  const cols = new RunningColumns(false, 4);
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
    }
    assert.deepEqual(live, [...set], `step ${step}: same jobs, same order`);
    assert.equal(cols.count, set.size);
    assert.ok(cols.size <= Math.max(2 * set.size, set.size + 33), `step ${step}: holes are compacted (${cols.size} entries for ${set.size} jobs)`);
  }
});

test('running columns: update copies a changed field; a job not in the list is left alone', () => {
  const cols = new RunningColumns();
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
