/**
 * The history store on a real SQLite file: samples fold into every tier's buckets, a range
 * query reads the finest tier that covers it and merges buckets into at most `points` steps,
 * old buckets are pruned per tier, a member's query leaves other teams' series out. And the
 * cost ledger's later step: idle reserved GPU time and cost by service, adding up to the
 * micro-unit whatever the grouping.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../../src/adapters/store/sqlite-store.js';
import { HistoryStore, HISTORY_TIERS, stepFor, tierFor } from '../../src/adapters/store/history-store.js';
import { CostLedger } from '../../src/adapters/store/cost-ledger.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 1);

describe('history store', () => {
  it('picks the finest tier that covers the window and a step of whole buckets', () => {
    const now = T0 + 100 * 24 * HOUR;
    assert.equal(tierFor(now - HOUR, now), 0);
    assert.equal(tierFor(now - 6 * HOUR, now), 0);
    assert.equal(tierFor(now - 6 * HOUR - 1, now), 1);
    assert.equal(tierFor(now - 30 * 24 * HOUR, now), 2);
    assert.equal(tierFor(now - 365 * 24 * HOUR, now), 2, 'beyond every retention: the coarsest');
    assert.equal(stepFor(0, HOUR, 10_000, 360), 10_000);
    assert.equal(stepFor(0, HOUR, 10_000, 100), 40_000, '360 buckets into at most 100 steps: 4 buckets a step');
  });

  it('folds samples into buckets, downsamples on read, prunes per tier, and filters by team', () => {
    const store = new SqliteStore(':memory:');
    try {
      const h = new HistoryStore(store.connection);
      // One sample every 2 s for 10 minutes: utilisation rising 0..299, a job of team a.
      for (let i = 0; i < 300; i++) {
        h.record(T0 + i * 2000, [
          { kind: 'gpu', key: 'n/0', metric: 'util', team: null, value: i },
          { kind: 'job', key: 'job-1', metric: 'gpus', team: 'a', value: 1 },
          { kind: 'job', key: 'job-2', metric: 'gpus', team: 'b', value: 0.5 },
        ]);
      }
      const now = T0 + 600_000;
      const fine = h.query({ kind: 'gpu', since: T0, until: now, points: 1000, limit: 10 }, now);
      assert.equal(fine.resolutionMs, 10_000);
      assert.equal(fine.stepMs, 10_000);
      assert.equal(fine.times.length, 60);
      const s = fine.series[0]!;
      assert.deepEqual([s.key, s.metric], ['n/0', 'util']);
      assert.equal(s.avg[0], 2, 'first 10 s bucket: samples 0..4, mean 2');
      assert.equal(s.max[0], 4);
      assert.equal(s.avg[59], 297);
      // At most 6 points: 10 buckets a step; the mean over each step's 50 samples.
      const coarse = h.query({ kind: 'gpu', since: T0, until: now, points: 6, limit: 10 }, now);
      assert.equal(coarse.stepMs, 100_000);
      assert.equal(coarse.times.length, 6);
      assert.deepEqual(coarse.series[0]!.avg, [24.5, 74.5, 124.5, 174.5, 224.5, 274.5]);
      assert.deepEqual(coarse.series[0]!.max, [49, 99, 149, 199, 249, 299]);
      // A window older than 6 h reads the 5-minute tier: two buckets of 150 samples.
      const later = now + 7 * HOUR;
      const old = h.query({ kind: 'gpu', since: T0 - 600_000, until: T0 + 600_000, points: 100, limit: 10 }, later);
      assert.equal(old.resolutionMs, 300_000);
      assert.deepEqual(old.series[0]!.avg.filter((v) => v !== null), [74.5, 224.5]);
      // A member's view: series of no team or of theirs.
      assert.deepEqual(h.query({ kind: 'job', since: T0, until: now, points: 10, limit: 10, team: 'a' }, now).series.map((x) => x.key), ['job-1']);
      assert.deepEqual(h.query({ kind: 'job', since: T0, until: now, points: 10, limit: 10 }, now).series.map((x) => x.key), ['job-1', 'job-2']);
      const limited = h.query({ kind: 'job', since: T0, until: now, points: 10, limit: 1 }, now);
      assert.equal(limited.series.length, 1);
      assert.equal(limited.omitted, 1);
      // Pruning: after 6 h the 10 s buckets go, after 7 days the 5 min ones, after 90 days all.
      const rows = (): number => store.connection.prepare('SELECT COUNT(*) FROM history_points').pluck().get() as number;
      const before = rows();
      assert.equal(h.prune(now), 0);
      assert.equal(h.prune(T0 + 7 * HOUR), 60 * 3, '60 buckets of 10 s for each of 3 series');
      assert.equal(rows(), before - 180);
      h.prune(T0 + (HISTORY_TIERS[2]!.retentionMs + HOUR));
      assert.equal(rows(), 0);
      assert.equal(store.connection.prepare('SELECT COUNT(*) FROM history_series').pluck().get(), 0, 'series without points are dropped');
      // Recording after a prune makes the series again.
      h.record(now, [{ kind: 'gpu', key: 'n/0', metric: 'util', team: null, value: 1 }]);
      assert.equal(rows(), 3);
    } finally {
      store.close();
    }
  });
});

describe('cost ledger: idle reserved GPUs and services', () => {
  it('bills idle time by the minute at the attempt\'s price; services group replica attempts; every grouping adds up', () => {
    const store = new SqliteStore(':memory:');
    try {
      const ledger = new CostLedger(store.connection);
      ledger.setPrice('H100-80GB', 2_490_000, T0, 'admin');
      ledger.open({ jobSeq: 1, attempt: 1, team: 'a', queue: 'q1', owner: 'alice', startedAt: T0, parts: [{ model: 'H100-80GB', gpus: 1 }] });
      ledger.open({ jobSeq: 2, attempt: 1, team: 'b', queue: 'q2', owner: 'bob', startedAt: T0, parts: [{ model: 'H100-80GB', gpus: 0.5 }], service: 'chat' });
      ledger.open({ jobSeq: 3, attempt: 1, team: 'b', queue: 'q2', owner: 'bob', startedAt: T0, parts: [{ model: 'H100-80GB', gpus: 0.5 }], service: 'chat' });
      // Job 1 idle for 20 minutes of its hour (one 2 s sample at a time); job 2 for 7 s.
      for (let t = 0; t < 20 * 60_000; t += 2000) ledger.addIdle([{ jobSeq: 1, model: 'H100-80GB', gpuMs: 2000 }], T0 + t);
      ledger.addIdle([{ jobSeq: 2, model: 'H100-80GB', gpuMs: 3500 }, { jobSeq: 2, model: 'H100-80GB', gpuMs: 3500 }, { jobSeq: 99, model: 'H100-80GB', gpuMs: 5000 }], T0 + 5000);
      for (const seq of [1, 2, 3]) ledger.close(seq, T0 + HOUR, 'succeeded');
      const q = { since: T0, until: T0 + HOUR, limit: 100 };
      const byJob = ledger.report({ ...q, by: 'job' });
      const j1 = byJob.items.find((l) => l.key === 'job-1')!;
      assert.equal(j1.idleGpuSeconds, 1200);
      assert.equal(j1.idleCostMicros, 830_000, '20 GPU-minutes at 2.49 an hour');
      assert.equal(byJob.items.find((l) => l.key === 'job-2')!.idleGpuSeconds, 7, 'half a GPU idle for 14 s');
      assert.equal(byJob.total.idleGpuSeconds, 1207, 'no idle time without an open attempt (job 99)');
      for (const by of ['team', 'queue', 'user', 'model', 'job'] as const) {
        const r = ledger.report({ ...q, by });
        assert.equal(r.total.idleCostMicros, byJob.total.idleCostMicros, by);
        assert.equal(r.items.reduce((s, l) => s + l.idleCostMicros, 0), r.total.idleCostMicros, `${by}: items add up`);
        assert.equal(r.total.costMicros, 2_490_000 * 2, `${by}: 2 GPU-hours`);
      }
      const bySvc = ledger.report({ ...q, by: 'service' });
      assert.deepEqual(bySvc.items.map((l) => [l.key, l.attempts, l.gpuSeconds, l.costMicros, l.idleGpuSeconds]), [['chat', 2, 3600, 2_490_000, 7]]);
      assert.equal(ledger.report({ ...q, by: 'service', team: 'a' }).items.length, 0, 'a member of team a sees no service of team b');
      // A window that misses the idle minutes has no idle time.
      assert.equal(ledger.report({ since: T0 + 30 * 60_000, until: T0 + HOUR, limit: 10, by: 'team' }).total.idleGpuSeconds, 0);
    } finally {
      store.close();
    }
  });
});
