import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { SqliteStore } from '../../src/adapters/store/sqlite-store.js';
import { COST_GROUPS, CostLedger, type AttemptOutcome, type CostGroup, type CostReport } from '../../src/adapters/store/cost-ledger.js';
import { createRng } from '../../src/core/rng.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 11, 1);
const MODELS = ['H100-80GB', 'A100-80GB', 'L4'];

/** The report as SQL computes it straight from the file: the reference the columns must match. */
function sqlReport(db: Database.Database, by: CostGroup, since: number, until: number, team?: string): Map<string, { attempts: number; costMicros: number; preemptedCostMicros: number; running: number; idleCostMicros: number }> {
  const col = { team: 'a.team', queue: 'a.queue', user: 'a.owner', model: 'a.model', job: "'job-' || a.job_seq", service: 's.service' }[by];
  const join = by === 'service' ? 'JOIN attempt_services s ON s.job_seq = a.job_seq' : '';
  const t = team !== undefined ? 'AND a.team = @team' : '';
  const ms = 'a.gpus * (MIN(COALESCE(a.ended_at, @until), @until) - MAX(a.started_at, @since))';
  const cost = `CAST(ROUND(${ms} * a.price_micros / 3600000.0) AS INTEGER)`;
  const rows = db.prepare(`SELECT ${col} AS key, COUNT(*) AS attempts, TOTAL(${cost}) AS costMicros, TOTAL(CASE WHEN a.outcome = 'preempted' THEN ${cost} END) AS preemptedCostMicros,
    TOTAL(a.ended_at IS NULL) AS running FROM attempts a ${join} WHERE a.started_at < @until AND (a.ended_at IS NULL OR a.ended_at > @since) ${t} GROUP BY key`).all({ since, until, ...(team !== undefined ? { team } : {}) }) as { key: string; attempts: number; costMicros: number; preemptedCostMicros: number; running: number }[];
  const idle = db.prepare(`SELECT ${col} AS key, TOTAL(CAST(ROUND(a.gpu_ms * a.price_micros / 3600000.0) AS INTEGER)) AS c FROM idle_use a ${join} WHERE a.minute >= @since AND a.minute < @until ${t} GROUP BY key`).all({ since, until, ...(team !== undefined ? { team } : {}) }) as { key: string; c: number }[];
  const out = new Map(rows.map((r) => [String(r.key), { ...r, idleCostMicros: 0 }]));
  for (const i of idle) {
    const l = out.get(String(i.key));
    if (l) l.idleCostMicros += i.c;
  }
  return out;
}

function assertSame(db: Database.Database, ledger: CostLedger, since: number, until: number, team?: string): void {
  for (const by of COST_GROUPS) {
    const rep: CostReport = ledger.report({ by, since, until, limit: 1_000_000, ...(team !== undefined ? { team } : {}) });
    const ref = sqlReport(db, by, since, until, team);
    assert.equal(rep.items.length, ref.size, `${by}: one line per group`);
    for (const l of rep.items) {
      const r = ref.get(l.key);
      assert.ok(r, `${by}: ${l.key} is a group`);
      assert.deepEqual([l.attempts, l.costMicros, l.preemptedCostMicros, l.running, l.idleCostMicros], [r.attempts, r.costMicros, r.preemptedCostMicros, r.running, r.idleCostMicros], `${by} ${l.key}`);
    }
    for (let k = 1; k < rep.items.length; k++) assert.ok((rep.items[k - 1]?.costMicros ?? 0) >= (rep.items[k]?.costMicros ?? 0), `${by}: most expensive first`);
    assert.equal(rep.total.costMicros, rep.items.reduce((s, l) => s + l.costMicros, 0), `${by}: lines add up to the total`);
  }
}

/** A random ledger: jobs of several attempts, shares and MIG fractions, idle minutes, preemptions, some still running. */
function play(ledger: CostLedger, seed: number, jobs: number, firstSeq: number): void {
  const rng = createRng(seed);
  const r = (): number => rng.next();
  for (let j = 0; j < jobs; j++) {
    const seq = firstSeq + j;
    const team = `team-${Math.floor(r() * 4)}`;
    const parts = [{ model: MODELS[Math.floor(r() * 3)] as string, gpus: [0.25, 1, 2, 3 / 7][Math.floor(r() * 4)] as number }];
    if (r() < 0.2) parts.push({ model: MODELS[2] as string, gpus: 1 });
    let at = T0 + Math.floor(r() * 20 * HOUR);
    const tries = 1 + Math.floor(r() * 3);
    for (let a = 1; a <= tries; a++) {
      ledger.open({ jobSeq: seq, attempt: a, team, queue: `${team}-q${Math.floor(r() * 2)}`, owner: `u${Math.floor(r() * 6)}`, startedAt: at, parts, ...(r() < 0.3 ? { service: `svc-${Math.floor(r() * 3)}` } : {}) });
      const dur = Math.floor(r() * 3 * HOUR) + 1000;
      for (let t = 0; t < dur && r() < 0.9; t += 20_000) if (r() < 0.3) ledger.addIdle([{ jobSeq: seq, model: parts[0]?.model as string, gpuMs: 20_000 * (parts[0]?.gpus ?? 1) }], at + t);
      if (a === tries && r() < 0.2) break; // still running
      const outcome: AttemptOutcome = a === tries ? 'succeeded' : r() < 0.5 ? 'preempted' : 'failed';
      ledger.close(seq, at + dur, outcome);
      at += dur + 5000;
    }
  }
}

describe('cost ledger columns', () => {
  it('report what SQL computes from the file, before and after writes that follow the first report, and after a restart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-cost-columns-'));
    const store = new SqliteStore(join(dir, 'gantry.db'));
    try {
      const db = store.connection;
      const ledger = new CostLedger(db);
      ledger.setPrice('H100-80GB', 2_490_000, T0, 'admin');
      ledger.setPrice('A100-80GB', 1_290_000, T0, 'admin');
      play(ledger, 1, 150, 1);
      const windows: [number, number][] = [[T0, T0 + 30 * HOUR], [T0 + 5 * HOUR + 17_000, T0 + 9 * HOUR + 1], [T0 + 3 * HOUR, T0 + 3 * HOUR + 30 * MIN]];
      for (const [s, u] of windows) assertSame(db, ledger, s, u);
      // Writes after the columns were read: new jobs, new prices, and the jobs still running end.
      ledger.setPrice('L4', 800_000, T0, 'admin');
      play(ledger, 2, 150, 1000);
      for (const seq of db.prepare('SELECT DISTINCT job_seq FROM attempts WHERE ended_at IS NULL LIMIT 10').pluck().all() as number[]) ledger.close(seq, T0 + 25 * HOUR, 'cancelled');
      for (const [s, u] of windows) assertSame(db, ledger, s, u);
      assertSame(db, ledger, T0, T0 + 30 * HOUR, 'team-1');
      assert.equal(ledger.report({ by: 'team', since: T0, until: T0 + 30 * HOUR, limit: 10, team: 'nobody' }).items.length, 0);
      // A new ledger on the same file (a restarted server) reads the same rows.
      const again = new CostLedger(db);
      for (const by of COST_GROUPS) assert.deepEqual(again.report({ by, since: T0, until: T0 + 30 * HOUR, limit: 50 }), ledger.report({ by, since: T0, until: T0 + 30 * HOUR, limit: 50 }), by);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('read a chunk at a time while the ledger changes, and count every change once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-cost-columns-'));
    const store = new SqliteStore(join(dir, 'gantry.db'));
    try {
      const db = store.connection;
      const ledger = new CostLedger(db, 40);
      ledger.setPrice('H100-80GB', 2_490_000, T0, 'admin');
      play(ledger, 3, 200, 1);
      let warmed = false;
      const warming = ledger.warm().then(() => (warmed = true));
      // Between chunks: new jobs, ends of running ones, idle minutes of running ones.
      let changedWhileReading = 0;
      const open = (): number[] => db.prepare('SELECT DISTINCT job_seq FROM attempts WHERE ended_at IS NULL').pluck().all() as number[];
      for (let k = 0; k < 6; k++) {
        await new Promise((resolve) => setImmediate(resolve));
        if (!warmed) changedWhileReading++;
        play(ledger, 10 + k, 5, 5000 + 10 * k);
        for (const seq of open().slice(0, 2)) ledger.addIdle([{ jobSeq: seq, model: db.prepare('SELECT model FROM attempts WHERE job_seq = ? AND ended_at IS NULL').pluck().get(seq) as string, gpuMs: 30_000 }], T0 + 10 * HOUR);
        const seq = open()[0];
        if (seq !== undefined) ledger.close(seq, T0 + 20 * HOUR, 'preempted');
      }
      await warming;
      assert.ok(changedWhileReading >= 3, `the read left the event loop free between chunks (${changedWhileReading} rounds of changes came during it)`);
      assertSame(db, ledger, T0, T0 + 30 * HOUR);
      assertSame(db, ledger, T0 + 9 * HOUR, T0 + 11 * HOUR);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keep the top lines by cost, then GPU time, then key, and count the rest as omitted', () => {
    const store = new SqliteStore(':memory:');
    try {
      const ledger = new CostLedger(store.connection);
      ledger.setPrice('H100-80GB', 1_000_000, T0, 'admin');
      for (let seq = 1; seq <= 500; seq++) {
        ledger.open({ jobSeq: seq, attempt: 1, team: 't', queue: 'q', owner: 'u', startedAt: T0, parts: [{ model: 'H100-80GB', gpus: 1 }] });
        ledger.close(seq, T0 + (seq % 7) * MIN + MIN, 'succeeded');
      }
      const rep = ledger.report({ by: 'job', since: T0, until: T0 + HOUR, limit: 5 });
      assert.deepEqual(rep.items.map((l) => l.key), ['job-6', 'job-13', 'job-20', 'job-27', 'job-34'], 'the 7-minute jobs, lowest number first among equals');
      assert.equal(rep.omitted, 495);
      assert.equal(rep.total.attempts, 500);
    } finally {
      store.close();
    }
  });
});
