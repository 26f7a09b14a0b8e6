/**
 * The simulators bill as the server does: the same attempt rows give the same cost, to the
 * micro-unit, in the simulators' tally and in the server's SQLite ledger; `gantry sim jobs
 * --prices` reports cost by queue and GPU model, every grouping adding up to the total;
 * bad --prices get a clear error.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CostTally, type TallyOutcome } from '../../src/core/cost-tally.js';
import { SqliteStore } from '../../src/adapters/store/sqlite-store.js';
import { CostLedger } from '../../src/adapters/store/cost-ledger.js';
import { createRng } from '../../src/core/rng.js';

const gantry = (...args: string[]) => spawnSync(process.execPath, ['bin/gantry.js', ...args], { encoding: 'utf8' });

describe('simulator cost', () => {
  it('gives the server ledger\'s cost for the same attempts, to the micro-unit', () => {
    const prices = { 'H100-80GB': 2_490_000, 'A100-80GB': 1_333_333 };
    const tally = new CostTally(prices);
    const store = new SqliteStore(':memory:');
    try {
      const ledger = new CostLedger(store.connection);
      for (const [m, p] of Object.entries(prices)) ledger.setPrice(m, p, 0, 'test');
      const r0 = createRng(7);
      const rng = (): number => r0.next();
      for (let seq = 1; seq <= 2000; seq++) {
        const model = rng() < 0.5 ? 'H100-80GB' : 'A100-80GB';
        const gpus = [1, 0.5, 3 / 7, 8, 0.25][Math.floor(rng() * 5)] as number;
        const start = Math.floor(rng() * 1e7);
        const ms = 1 + Math.floor(rng() * 3.6e6);
        const outcome: TallyOutcome = rng() < 0.2 ? 'preempted' : 'succeeded';
        const queue = `q${Math.floor(rng() * 5)}`;
        tally.add({ queue, model, gpus, ms, outcome });
        ledger.open({ jobSeq: seq, attempt: 1, team: 't', queue, owner: 'u', startedAt: start, parts: [{ model, gpus }] });
        ledger.close(seq, start + ms, outcome);
      }
      const server = ledger.report({ by: 'queue', since: 0, until: 2e7, limit: 100 });
      assert.equal(tally.total().costMicros, server.total.costMicros);
      assert.equal(tally.total().preemptedCostMicros, server.total.preemptedCostMicros);
      for (const l of tally.lines('queue')) assert.equal(l.costMicros, server.items.find((x) => x.key === l.key)?.costMicros, l.key);
      const sum = (by: 'queue' | 'model'): number => tally.lines(by).reduce((a, l) => a + l.costMicros, 0);
      assert.equal(sum('queue'), tally.total().costMicros);
      assert.equal(sum('model'), tally.total().costMicros);
    } finally {
      store.close();
    }
  });

  it('gantry sim jobs --prices: cost by queue and model, adding up, preempted apart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-sim-cost-'));
    try {
      // The file gantry prices ls -o json writes.
      const file = join(dir, 'prices.json');
      writeFileSync(file, JSON.stringify({ items: [{ model: 'A100-40GB', pricePerGpuHour: 1.8, setAt: '2026-12-01T00:00:00.000Z', setBy: 'admin' }] }));
      const r = gantry('sim', 'jobs', '--workload', 'churn', '--hours', '3', '--servers', '2', '--policy', 'fifo,gantry-up', '--prices', file, '--json');
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { settings: { prices: string }; results: { policy: string; cost: { byQueue: { cost: number; gpuHours: number; preemptedCost: number }[]; byModel: { key: string; cost: number }[]; total: { cost: number; gpuHours: number; preemptedCost: number } } }[] };
      assert.equal(out.settings.prices, 'A100-40GB=1.8');
      for (const p of out.results) {
        const micros = (v: number): number => Math.round(v * 1e6);
        assert.ok(p.cost.total.cost > 0, p.policy);
        assert.equal(micros(p.cost.byQueue.reduce((a, l) => a + l.cost, 0)), micros(p.cost.total.cost), `${p.policy}: queues add up`);
        assert.equal(micros(p.cost.byModel.reduce((a, l) => a + l.cost, 0)), micros(p.cost.total.cost), `${p.policy}: models add up`);
        assert.deepEqual(p.cost.byModel.map((l) => l.key), ['A100'], 'the fleet\'s own model name, priced by its catalogue name');
        assert.ok(Math.abs(p.cost.total.cost - p.cost.total.gpuHours * 1.8) < 0.01 * p.cost.total.cost);
      }
      assert.ok((out.results.find((p) => p.policy === 'gantry-up')?.cost.total.preemptedCost ?? -1) >= 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad --prices with a clear error', () => {
    for (const [v, re] of [
      ['P100', /"P100" is not MODEL=PRICE/],
      ['P100=cheap', /price of P100 must be an amount/],
      ['P100=-1', /price of P100 must be an amount/],
    ] as const) {
      const r = gantry('sim', 'jobs', '--workload', 'churn', '--hours', '1', '--servers', '1', '--policy', 'fifo', '--prices', v);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, re);
      assert.match(r.stderr, /BAD_FLAG/);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });
});
