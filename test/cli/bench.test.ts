import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const gantry = (...args: string[]) => spawnSync(process.execPath, ['bin/gantry.js', ...args], { encoding: 'utf8' });

test('gantry bench place --json: the documented fields, every decision counted', () => {
  const r = gantry('bench', 'place', '--nodes', '60', '--pods', '400', '--baseline', '50', '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, number> & { baseline: { decisions: number } };
  for (const k of ['decisionsPerSecond', 'p50Ms', 'p99Ms', 'heapBytesPerNode']) assert.equal(typeof out[k], 'number', k);
  assert.equal(out.decisions, 400);
  assert.equal((out.placed as number) + (out.failed as number), 400);
  assert.ok((out.p99Ms as number) >= (out.p50Ms as number));
  assert.equal(out.baseline.decisions, 50);
  assert.ok((out.speedupVsFullRescan as number) > 0);
});

test('gantry bench cycle --json: a full cycle over running and pending jobs', () => {
  const r = gantry('bench', 'cycle', '--nodes', '40', '--running', '250', '--pending', '120', '--queues', '3', '--repeats', '2', '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { pending: number; considered: number; firstCycleMs: number; steadyMedianMs: number; actionMs: Record<string, number> };
  assert.equal(out.pending, 120);
  assert.equal(out.considered, 120);
  assert.ok(out.firstCycleMs > 0);
  assert.ok(out.steadyMedianMs > 0, 'the second cycle is the steady one');
  assert.deepEqual(Object.keys(out.actionMs), ['allocate', 'backfill', 'consolidate', 'surge', 'reclaim', 'preempt']);
});

test('gantry bench cycle --trials: one first cycle per scenario, and their median', () => {
  const r = gantry('bench', 'cycle', '--nodes', '40', '--running', '250', '--pending', '120', '--queues', '3', '--repeats', '2', '--trials', '3', '--no-warmup', '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { firstCycleMs: number; trials: { firstCycleMs: number; bound: number }[]; firstCycleMedianMs: number };
  assert.equal(out.trials.length, 3);
  assert.equal(out.trials[0]?.firstCycleMs, out.firstCycleMs, 'the top-level figures are the first trial');
  const sorted = out.trials.map((t) => t.firstCycleMs).sort((a, b) => a - b);
  assert.equal(out.firstCycleMedianMs, sorted[1]);
  assert.ok(out.trials.every((t) => t.bound > 0), "every trial places jobs");
});

test('gantry bench rejects bad flags with one line and exit 2', () => {
  for (const args of [['bench', 'place', '--nodes', '0'], ['bench', 'place', '--policy', 'magic'], ['bench', 'cycle', '--repeats', 'x'], ['bench', 'cycle', '--trials', '0']]) {
    const r = gantry(...args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, /^gantry: --\w/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});
