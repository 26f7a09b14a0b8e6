import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMig, bestMigStart, emptyMigState, validStarts, type MigState } from '../../src/core/model/mig.js';
import { findMigProfile, findGpuModel } from '../../src/core/model/gpu-catalog.js';

const A100 = findGpuModel('A100-80GB')!;
const prof = (name: string) => {
  const p = findMigProfile('A100-80GB', name);
  assert.ok(p, `profile ${name}`);
  return p;
};
function state(...placed: [string, number][]): MigState {
  const s = emptyMigState();
  for (const [name, start] of placed) applyMig(s, prof(name), start, 'x');
  return s;
}

const cases: { name: string; placed: [string, number][]; profile: string; starts: number[] }[] = [
  { name: 'empty GPU: 3g starts at 0 or 4', placed: [], profile: '3g.40gb', starts: [0, 4] },
  { name: 'empty GPU: 4g only at 0', placed: [], profile: '4g.40gb', starts: [0] },
  { name: '2g never starts at 6', placed: [], profile: '2g.20gb', starts: [0, 2, 4] },
  { name: '4g@0 leaves 3g@4 (all 8 memory and 7 SM slices used)', placed: [['4g.40gb', 0]], profile: '3g.40gb', starts: [4] },
  { name: '3g@4 then 4g@0 still fits', placed: [['3g.40gb', 4]], profile: '4g.40gb', starts: [0] },
  { name: '4g@0 + 3g@4: nothing else fits', placed: [['4g.40gb', 0], ['3g.40gb', 4]], profile: '1g.10gb', starts: [] },
  { name: '1g@1 and 1g@5 block every 3g', placed: [['1g.10gb', 1], ['1g.10gb', 5]], profile: '3g.40gb', starts: [] },
  { name: '1g@1 and 1g@5 block 4g', placed: [['1g.10gb', 1], ['1g.10gb', 5]], profile: '4g.40gb', starts: [] },
  { name: 'a single 1g@4 removes 3g@4 only', placed: [['1g.10gb', 4]], profile: '3g.40gb', starts: [0] },
  { name: 'seven 1g fill slots 0-6; slot 7 is left for nothing of size 1', placed: [0, 1, 2, 3, 4, 5, 6].map((s) => ['1g.10gb', s] as [string, number]), profile: '1g.10gb', starts: [] },
  { name: '1g.20gb (2 slices) starts at 0, 2, 4, 6', placed: [], profile: '1g.20gb', starts: [0, 2, 4, 6] },
  { name: '7g needs the whole GPU', placed: [['1g.10gb', 6]], profile: '7g.80gb', starts: [] },
  { name: 'only one +me instance per GPU', placed: [['1g.10gb+me', 0]], profile: '1g.10gb+me', starts: [] },
  { name: 'three 2g use slices 0-5; a 1g still fits at 6', placed: [['2g.20gb', 0], ['2g.20gb', 2], ['2g.20gb', 4]], profile: '1g.10gb', starts: [6] },
];

for (const c of cases) {
  test(`MIG slots: ${c.name}`, () => {
    assert.deepEqual(validStarts(state(...c.placed), prof(c.profile)), c.starts);
  });
}

test('MIG: the 3g/4g SM budget: two 3g fill memory but leave one SM slice', () => {
  const s = state(['3g.40gb', 0], ['3g.40gb', 4]);
  assert.equal(s.usedMask, 0xff);
  assert.equal(s.smUsed, 6);
  assert.deepEqual(validStarts(s, prof('1g.10gb')), []);
});

test('MIG: the best start for a 1g on an empty GPU is slot 6 (keeps 4g@0, 3g@0 and the 2g slots)', () => {
  const best = bestMigStart(emptyMigState(), prof('1g.10gb'), A100.migProfiles);
  assert.equal(best?.start, 6);
});

test('MIG: the best start for a 3g next to a 1g@6 is 0 (the only one left)', () => {
  const best = bestMigStart(state(['1g.10gb', 6]), prof('3g.40gb'), A100.migProfiles);
  assert.equal(best?.start, 0);
});

test('MIG: profiles differ by model (A100-40GB has 3g.20gb, H100 has 3g.40gb)', () => {
  assert.ok(findMigProfile('A100-40GB', '3g.20gb'));
  assert.equal(findMigProfile('A100-40GB', '3g.40gb'), undefined);
  assert.ok(findMigProfile('H100-80GB', '3g.40gb'));
  assert.ok(findMigProfile('H200-141GB', '3g.71gb'));
  assert.equal(findMigProfile('L4', '1g.10gb'), undefined);
});

test('MIG: a fixed layout (instances an admin created) offers only its own placements, and the best-start cache tells layouts apart', () => {
  const fixed = emptyMigState([{ profile: '1g.10gb', start: 2 }, { profile: '1g.10gb', start: 3 }, { profile: '3g.40gb', start: 4 }]);
  assert.deepEqual(validStarts(fixed, prof('1g.10gb')), [2, 3]);
  assert.deepEqual(validStarts(fixed, prof('3g.40gb')), [4]);
  assert.deepEqual(validStarts(fixed, prof('2g.20gb')), []);
  // The same occupancy without a layout would pick slot 6: the cache must not answer from it.
  assert.equal(bestMigStart(emptyMigState(), prof('1g.10gb'), A100.migProfiles)?.start, 6);
  assert.ok([2, 3].includes(bestMigStart(fixed, prof('1g.10gb'), A100.migProfiles)?.start ?? -1));
  applyMig(fixed, prof('1g.10gb'), 2, 'a');
  assert.deepEqual(validStarts(fixed, prof('1g.10gb')), [3]);
});
