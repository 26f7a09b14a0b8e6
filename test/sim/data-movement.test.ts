import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NodeLru } from '../../src/sim/jobs/data/node-lru.js';
import { DataMovement } from '../../src/sim/jobs/data/data-movement.js';
import { GB, assignDatasets, generateCatalogue, loadCatalogue } from '../../src/sim/jobs/data/catalogue.js';
import type { NodeSpec } from '../../src/core/model/node.js';
import type { NodeCacheReport } from '../../src/core/model/node-cache.js';
import { isUserError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/traces.js';

test('node LRU: evicts the least recently used, never a pinned copy, refuses what cannot fit', () => {
  const c = new NodeLru(100);
  assert.deepEqual(c.admit('a', 40, 0), []);
  assert.deepEqual(c.admit('b', 40, 0), []);
  c.touch('a');
  assert.deepEqual(c.admit('c', 40, 0), ['b'], 'b was used last longest ago');
  (c.get('a') as { pins: number }).pins = 1;
  assert.deepEqual(c.admit('d', 60, 0), ['c'], 'a is pinned: c goes');
  assert.equal(c.admit('e', 61, 0), null, 'only a pinned copy could make room');
  assert.deepEqual(Object.keys(c.holdings()).sort(), ['a', 'd']);
  assert.equal(c.admit('huge', 101, 0), null);
});

const nodes: NodeSpec[] = ['a1', 'a2', 'b1'].map((name) => ({ name, cpuMilli: 8000, memoryMiB: 8192, gpus: [{ model: 'P100' }], rack: name.slice(0, 1) }));
const settings = { cacheBytes: 1000 * GB, diskBytesPerSec: 1 * GB, uplinkBytesPerSec: 1.5 * GB };
const bind = (node: string, podId = 'p') => ({ podId, node, cpuMilli: 0, memoryMiB: 0, gpus: [] });

test('data movement: source fills share the rack uplink, rack copies run at disk speed, hits wait only for a fill under way', () => {
  const reports: NodeCacheReport[][] = [];
  const m = new DataMovement(nodes, settings, (r) => reports.push([...r]));
  const ds = { key: 'ds', bytes: 100 * GB };
  // First fill from the source: uplink 1.5 GB/s, disk 1 GB/s -> 100 s.
  assert.equal(m.start('j1', ds, [bind('a1')], 0), 100_000);
  // A second fill in the same rack, another dataset: the uplink is shared by 2 -> 0.75 GB/s.
  assert.equal(m.start('j2', { key: 'other', bytes: 30 * GB }, [bind('a2')], 0), 40_000);
  // b1 (another rack) starts a 3rd source fill of its own rack: full disk speed.
  assert.equal(m.start('j3', { key: 'x', bytes: 10 * GB }, [bind('b1')], 0), 10_000);
  // On a1 again while ds is still filling: waits for the rest of the fill, moves nothing.
  assert.equal(m.start('j4', ds, [bind('a1')], 40_000), 60_000);
  // a2 copies ds from a1 (ready at 100 s) at disk speed, not through the uplink.
  assert.equal(m.start('j5', ds, [bind('a2')], 200_000), 100_000);
  const x = m.metrics();
  assert.equal(x.bytesMoved, 240 * GB);
  assert.equal(x.bytesFromSource, 140 * GB);
  assert.ok(Math.abs(x.cacheHitRate - 100 / 340) < 1e-9);
  assert.equal(x.dataWaitSeconds.p99, 100);
  assert.deepEqual(reports.at(-1), [{ node: 'a2', held: { other: 30 * GB, ds: 100 * GB } }]);
});

test('data movement: a gang needs its data on every member node; pinned copies survive a full cache', () => {
  const m = new DataMovement(nodes, { ...settings, cacheBytes: 150 * GB });
  assert.equal(m.start('g', { key: 'big', bytes: 100 * GB }, [bind('a1', 'g-0'), bind('b1', 'g-1')], 0), 100_000);
  assert.equal(m.metrics().bytesMoved, 200 * GB);
  // While g runs, a1 cannot evict 'big': 'new' is streamed and cached nowhere.
  m.start('h', { key: 'new', bytes: 100 * GB }, [bind('a1')], 500_000);
  assert.equal(m.start('h2', { key: 'new', bytes: 100 * GB }, [bind('a1')], 900_000) > 0, true, 'streamed, so moved again');
  m.end('g');
  m.end('h');
  m.end('h2');
  assert.equal(m.start('k', { key: 'new', bytes: 100 * GB }, [bind('a1')], 2_000_000) > 0, true);
  assert.equal(m.start('k2', { key: 'new', bytes: 100 * GB }, [bind('a1')], 3_000_000), 0, 'cached once big was unpinned and evicted');
  m.start('r', { key: 'big', bytes: 100 * GB }, [bind('a1')], 4_000_000);
  // Why bytes moved: big (cold on a1, then held by a1 for b1), new three times with no copy
  // anywhere (streamed twice), big again on a1, which evicted it while b1 still holds it.
  assert.deepEqual(m.metrics().bytesMovedBy, { cold: 400 * GB, rack: 0, elsewhere: 200 * GB, refetch: 100 * GB, gang: 200 * GB });
});

test('catalogue: sizes within 10 GB..2 TB, Zipf popularity, jobs drawn by it, deterministic', () => {
  const c = generateCatalogue({ count: 100, skew: 1.2, seed: 3 });
  assert.equal(c.datasets.length, 100);
  for (const d of c.datasets) assert.ok(d.bytes >= 10 * GB - 1e6 && d.bytes <= 2000 * GB + 1e6, `${d.name}: ${d.bytes}`);
  assert.ok(Math.abs(c.datasets.reduce((a, d) => a + d.popularity, 0) - 1) < 1e-9);
  assert.ok((c.datasets[0]?.popularity ?? 0) > 4 * (c.datasets[9]?.popularity ?? 1));
  const ids = Array.from({ length: 5000 }, (_, i) => `j${i}`);
  const a = assignDatasets(ids, c, 7);
  assert.deepEqual([...assignDatasets(ids, c, 7).values()].map((d) => d.name), [...a.values()].map((d) => d.name));
  const top = [...a.values()].filter((d) => d.name === c.datasets[0]?.name).length / ids.length;
  assert.ok(Math.abs(top - (c.datasets[0]?.popularity ?? 0)) < 0.03, `top dataset drawn ${top}`);
  const flat = generateCatalogue({ count: 100, skew: 0, seed: 3 });
  assert.ok(Math.abs((flat.datasets[0]?.popularity ?? 0) - 0.01) < 1e-12);
});

test('catalogue files: read back what was written; bad ones are refused with a stable code', () => {
  const dir = tempDir();
  const good = join(dir, 'c.json');
  const c = generateCatalogue({ count: 5, skew: 1, seed: 1 });
  writeFileSync(good, JSON.stringify(c));
  assert.deepEqual(loadCatalogue(good).datasets.map((d) => d.name), c.datasets.map((d) => d.name));
  for (const [name, body] of [
    ['not-json', '{'],
    ['no-list', '{"datasets": 3}'],
    ['empty', '{"datasets": []}'],
    ['bad-bytes', '{"datasets": [{"name": "a", "bytes": -1, "popularity": 1}]}'],
    ['twice', '{"datasets": [{"name": "a", "bytes": 1, "popularity": 1}, {"name": "a", "bytes": 1, "popularity": 1}]}'],
  ] as const) {
    const f = join(dir, `${name}.json`);
    writeFileSync(f, body);
    assert.throws(() => loadCatalogue(f), (e: unknown) => isUserError(e) && e.code === 'CATALOGUE_INVALID', name);
  }
});
