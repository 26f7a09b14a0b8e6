/** The scheduling window: the scheduler always sees a prefix of each queue, in the queue's order. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SchedulingWindow, type WindowEntry } from '../../src/server/queue-window.js';
import { createRng } from '../../src/core/rng.js';

function entry(id: number, queue: string, priority: number, submittedAt: number): WindowEntry {
  return { id: `job-${id}`, queue, priority, submittedAt, gpuMilli: 1000 };
}

describe('scheduling window', () => {
  it('hands the first jobs of a queue to the scheduler and backlogs the rest in order', () => {
    const w = new SchedulingWindow(2, () => 'priority');
    const handed: string[] = [];
    const offer = (e: WindowEntry): void => {
      if (w.offer(e)) handed.push(e.id);
      handed.push(...w.refill().map((x) => x.id));
    };
    for (let i = 1; i <= 4; i++) offer(entry(i, 'a', 0, i));
    assert.deepEqual(handed, ['job-1', 'job-2']);
    assert.deepEqual(w.backlogged('job-3'), { queue: 'a', ahead: 2 });
    assert.deepEqual(w.backlogged('job-4'), { queue: 'a', ahead: 3 });
    assert.equal(w.backlogged('job-1'), undefined);
    assert.deepEqual(w.backlogCounts().get('a'), { jobs: 2, gpuMilli: 2000 });

    // A higher-priority arrival goes before the backlog, straight to the scheduler.
    offer(entry(5, 'a', 10, 5));
    assert.deepEqual(handed, ['job-1', 'job-2', 'job-5']);
    // Two jobs leave (they started): the backlog moves up, oldest first.
    w.leave('job-1');
    w.leave('job-2');
    // (job-5 stays: the window of 2 has room for one more, the oldest of the backlog.)
    assert.deepEqual(w.refill().map((e) => e.id), ['job-3']);
    assert.deepEqual(w.backlogged('job-4'), { queue: 'a', ahead: 2 });
  });

  it('keeps the invariant (every backlogged job after every windowed one) under random traffic', () => {
    const rng = createRng(5);
    for (const order of ['priority', 'fifo'] as const) {
      const w = new SchedulingWindow(3, () => order);
      const inScheduler = new Set<string>();
      const queued = new Map<string, WindowEntry>();
      let next = 1;
      for (let step = 0; step < 2000; step++) {
        const r = rng.next();
        if (r < 0.55 || queued.size === 0) {
          const e = { ...entry(next++, rng.next() < 0.5 ? 'a' : 'b', rng.int(3), Math.floor(rng.next() * 50)), gpuMilli: rng.int(4) * 500 };
          queued.set(e.id, e);
          if (w.offer(e)) inScheduler.add(e.id);
        } else {
          // A job leaves: one the scheduler started (from the window) or one cancelled (anywhere).
          const ids = r < 0.85 ? [...inScheduler] : [...queued.keys()];
          const id = ids[rng.int(ids.length)] ?? [...queued.keys()][0] as string;
          w.leave(id);
          queued.delete(id);
          inScheduler.delete(id);
        }
        for (const e of w.refill()) inScheduler.add(e.id);
        for (const q of ['a', 'b']) {
          const mine = [...queued.values()].filter((e) => e.queue === q);
          const win = mine.filter((e) => inScheduler.has(e.id));
          const back = mine.filter((e) => !inScheduler.has(e.id));
          assert.ok(win.length >= Math.min(3, mine.length), `step ${step}: queue ${q} window has room while jobs wait`);
          // The kept backlog sums (read by /metrics and /v1/queues) match a recount.
          const counted = w.backlogCounts().get(q) ?? { jobs: 0, gpuMilli: 0 };
          assert.deepEqual(counted, { jobs: back.length, gpuMilli: back.reduce((sum, e) => sum + e.gpuMilli, 0) }, `step ${step}: queue ${q} backlog counts`);
          for (const b of back) {
            assert.deepEqual(w.backlogged(b.id)?.queue, q);
            for (const x of win) assert.ok(w.compare(x, b) < 0, `step ${step}: ${b.id} is backlogged behind a later job ${x.id}`);
          }
        }
      }
    }
  });

  it('refuses a window of zero', () => {
    assert.throws(() => new SchedulingWindow(0, () => 'fifo'), /positive integer/);
  });
});
