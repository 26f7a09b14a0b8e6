/**
 * `gantry sim datasets` and `gantry sim jobs --datasets`: a catalogue is written, attached to a
 * day of Philly, and the JSON gains bytesMoved, cacheHitRate and dataWaitSeconds; locality on
 * moves fewer bytes than off on the same caches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TRACES, tempDir } from '../helpers/traces.js';

const gantry = (...args: string[]) => spawnSync(process.execPath, ['bin/gantry.js', ...args], { encoding: 'utf8' });
const trace = join(TRACES, 'philly', 'philly.csv');
const dir = tempDir();
const catalogue = join(dir, 'datasets.json');

interface DataResult {
  policy: string;
  bytesMoved: number;
  bytesFromSource: number;
  cacheHitRate: number;
  dataWaitSeconds: { mean: number; p99: number };
  jctSeconds: { mean: number };
}

function simJobs(...extra: string[]): { settings: Record<string, unknown>; results: DataResult[] } {
  const r = gantry('sim', 'jobs', '--trace', trace, '--from', '2017-10-09', '--days', '1', '--load', '16', '--policy', 'gantry', '--datasets', catalogue, '--json', ...extra);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { settings: Record<string, unknown>; results: DataResult[] };
}

test('gantry sim datasets writes a catalogue', () => {
  const r = gantry('sim', 'datasets', '--count', '60', '--skew', '1.1', '--seed', '2', '--out', catalogue);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote .*: 60 datasets/);
  assert.ok(existsSync(catalogue));
});

test('gantry sim jobs --datasets: data metrics in --json, locality on moves fewer bytes than off', () => {
  const on = simJobs('--locality', 'on');
  const off = simJobs('--locality', 'off');
  assert.equal(on.settings['locality'], 'on');
  assert.equal(off.settings['locality'], 'off');
  const a = on.results[0] as DataResult;
  const b = off.results[0] as DataResult;
  for (const x of [a, b]) {
    assert.ok(x.bytesMoved > 0 && x.bytesFromSource <= x.bytesMoved);
    assert.ok(x.cacheHitRate >= 0 && x.cacheHitRate <= 1);
    assert.ok(x.dataWaitSeconds.mean >= 0 && x.dataWaitSeconds.p99 >= x.dataWaitSeconds.mean);
  }
  assert.ok(a.bytesMoved < b.bytesMoved, `on ${a.bytesMoved} < off ${b.bytesMoved}`);
  assert.ok(a.cacheHitRate > b.cacheHitRate);
});

test('gantry sim jobs: bad data flags are refused with a code, no stack trace', () => {
  for (const args of [
    ['--datasets', catalogue, '--locality', 'maybe'],
    ['--locality-weight', '5'],
    ['--datasets', join(dir, 'missing.json')],
    ['--datasets', catalogue, '--cache-gb', '-1'],
  ]) {
    const r = gantry('sim', 'jobs', '--trace', trace, '--days', '0.1', '--policy', 'fifo', ...args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, /BAD_FLAG|FILE_NOT_FOUND/, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
