/**
 * `gantry sim serve --prices` bills each replica's GPU time as the server bills an attempt
 * (core/cost-tally.ts): the cost of every policy is its replicas' GPU-seconds x the price of the
 * fleet's GPU model, to the micro-unit; the cost is in --json, the terminal and --out's files;
 * bad --prices and --gpu-model get a clear error and no stack trace.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '../../src/core/rng.js';
import { generateLlmTrace } from '../../src/sim/serve/llm-trace-generator.js';

const gantry = (...args: string[]) => spawnSync(process.execPath, ['bin/gantry.js', ...args], { encoding: 'utf8' });

interface CostLine { key: string; attempts: number; gpuHours: number; gpuSeconds: number; cost: number }
interface ServeOut { settings: { gpuModel: string; prices?: string }; results: { policy: string; requests: number; gpuSeconds: number; cost: { byModel: CostLine[]; total: CostLine } }[] }

/** Ten minutes of waves at 3 requests/s, prompts and outputs drawn from a few shapes. */
function trace(dir: string): string {
  const source = { file: 'source', durationSeconds: 1, requests: [{ at: 0, promptTokens: 300, outputTokens: 40 }, { at: 0, promptTokens: 1500, outputTokens: 250 }, { at: 1, promptTokens: 800, outputTokens: 120 }] };
  const file = join(dir, 'waves.csv');
  generateLlmTrace(source, 'waves', 600, 3, createRng(7), file);
  return file;
}

describe('sim serve cost', () => {
  it('--prices: each policy costs its replicas\' GPU-seconds x the price of the fleet\'s model, to the micro-unit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-serve-cost-'));
    try {
      const file = trace(dir);
      // 3.6 per GPU-hour is 0.001 per GPU-second: a replica's cost is its milliseconds in micro-units, no rounding.
      const exact = gantry('sim', 'serve', '--trace', file, '--policy', 'kpa,gantry', '--gpu-model', 'H100', '--prices', 'H100=3.6', '--json');
      assert.equal(exact.status, 0, exact.stderr);
      const a = JSON.parse(exact.stdout) as ServeOut;
      assert.deepEqual(a.settings, { gpuModel: 'H100-80GB', prices: 'H100-80GB=3.6' });
      assert.equal(a.results.length, 2);
      for (const r of a.results) {
        const t = r.cost.total;
        assert.ok(t.attempts >= 1 && t.gpuSeconds > 0, `${r.policy}: replicas billed`);
        assert.ok(Math.abs(t.gpuSeconds - r.gpuSeconds) <= 1, `${r.policy}: billed ${t.gpuSeconds} GPU-s, ran ${r.gpuSeconds}`);
        assert.equal(Math.round(t.cost * 1e6), Math.round(t.gpuSeconds * 1000), `${r.policy}: cost ${t.cost} for ${t.gpuSeconds} GPU-s at 0.001`);
        assert.deepEqual(r.cost.byModel.map((l) => [l.key, l.cost, l.attempts]), [['H100-80GB', t.cost, t.attempts]]);
      }

      // Any price: GPU-seconds x price / 3600, each replica rounded to the micro-unit (at most half a micro-unit off per replica).
      const out = join(dir, 'out');
      const priced = gantry('sim', 'serve', '--trace', file, '--policy', 'kpa,gantry', '--prices', 'H100-80GB=2.49,A100-80GB=1.2', '--json', '--out', out);
      assert.equal(priced.status, 0, priced.stderr);
      const b = JSON.parse(priced.stdout) as ServeOut;
      for (const [i, r] of b.results.entries()) {
        const t = r.cost.total;
        assert.equal(t.gpuSeconds, a.results[i]!.cost.total.gpuSeconds, 'the same run');
        const expected = (t.gpuSeconds * 2_490_000) / 3600;
        assert.ok(Math.abs(t.cost * 1e6 - expected) <= t.attempts / 2 + 1e-6, `${r.policy}: ${t.cost} vs ${expected / 1e6}`);
        assert.ok(Math.abs(t.cost * 1e6 - Math.round(t.cost * 1e6)) < 1e-6, `${r.policy}: ${t.cost} is not whole micro-units`);
      }
      const files = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as ServeOut;
      assert.deepEqual(files.results.map((r) => r.cost.total.cost), b.results.map((r) => r.cost.total.cost));
      const csv = readFileSync(join(out, 'cost.csv'), 'utf8').trim().split('\n');
      assert.equal(csv[0], 'policy,rate,by,key,attempts,GPU-h,cost');
      assert.deepEqual(csv.slice(1).map((l) => Number(l.split(',')[6])), b.results.map((r) => r.cost.total.cost));
      const md = readFileSync(join(out, 'summary.md'), 'utf8');
      assert.match(md, /## Cost\n\nBilled as `gantry cost` bills.*\(H100-80GB=2\.49,A100-80GB=1\.2\)/);

      // The terminal table prints the same cost per policy.
      const term = gantry('sim', 'serve', '--trace', file, '--policy', 'gantry', '--prices', 'H100=2.49');
      assert.equal(term.status, 0, term.stderr);
      assert.match(term.stdout, /GPU-h billed/);
      assert.match(term.stdout, new RegExp(`gantry\\s*│?\\s*1x\\s*│?\\s*${b.results[1]!.cost.total.attempts}\\s*│?\\s*[\\d.]+\\s*│?\\s*${b.results[1]!.cost.total.cost.toFixed(2).replace('.', '\\.')}`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad --prices and --gpu-model with a clear error and no stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-serve-cost-'));
    try {
      const file = trace(dir);
      for (const [flag, v, re] of [
        ['--prices', 'H100', /"H100" is not MODEL=PRICE/],
        ['--prices', 'H100=cheap', /price of H100-80GB must be an amount/],
        ['--prices', 'H100=-1', /price of H100-80GB must be an amount/],
        ['--gpu-model', 'X9000', /--gpu-model: "X9000" is not a GPU model/],
      ] as const) {
        const r = gantry('sim', 'serve', '--trace', file, '--policy', 'gantry', flag, v);
        assert.notEqual(r.status, 0, `${flag} ${v} accepted`);
        assert.match(r.stderr, re);
        assert.match(r.stderr, /BAD_FLAG/);
        assert.doesNotMatch(r.stderr, /\n\s+at /);
        assert.equal(r.stdout, '');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
