import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PendingList } from '../../src/core/scheduler/pending-list.js';
import { pendingFields, type JobRecord } from '../../src/core/scheduler/job.js';
import { createRng } from '../../src/core/rng.js';

test('the pending list behaves as a set in insertion order through thousands of adds and deletes (holes compacted)', () => {
  const rng = createRng(5);
  const list = new PendingList();
  const set = new Set<JobRecord>();
  const all = Array.from({ length: 500 }, (_, i) => ({ spec: { id: `j${i}` }, pending: pendingFields(0) }) as unknown as JobRecord);
  for (let step = 0; step < 8000; step++) {
    const j = all[rng.int(all.length)] as JobRecord;
    if (rng.next() < 0.5) {
      assert.equal(list.delete(j), set.delete(j), `step ${step}: delete answers as a set does`);
    } else {
      list.add(j);
      set.add(j);
    }
    assert.equal(list.size, set.size);
    assert.equal(list.has(j), set.has(j));
    if (step % 100 === 0) {
      assert.deepEqual(list.toArray(), [...set], `step ${step}: same jobs, same order`);
      assert.deepEqual([...list], [...set]);
    }
  }
});

test('the pending list can be changed while it is iterated (the iteration sees a snapshot)', () => {
  const list = new PendingList();
  const jobs = Array.from({ length: 3 }, (_, i) => ({ spec: { id: `j${i}` }, pending: pendingFields(0) }) as unknown as JobRecord);
  for (const j of jobs) list.add(j);
  const seen: JobRecord[] = [];
  for (const j of list) {
    seen.push(j);
    list.delete(j);
  }
  assert.deepEqual(seen, jobs);
  assert.equal(list.size, 0);
});
