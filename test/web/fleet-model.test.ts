/**
 * The fleet view's pure parts (web/src/fleet): tiles from the API's answers (shares, MIG
 * slices, another team's masked work, idle and fragmented GPUs) and the canvas layout, whose
 * hit test must find the tile drawn at a point, for every tile of a 10,000-GPU fleet.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildFleet, idleReserved, migFraction, summarise, tileState } from '../../web/src/fleet/model.js';
import { hitTest, layoutFleet, tileOrigin, TILE } from '../../web/src/fleet/layout.js';
import { synthFleet } from '../../bench/dashboard-fixture.js';

const gpu = (node: string, index: number, jobs: { job: string; share: number; name?: string; queue?: string; team?: string; mig?: string | null }[], healthy = true) => ({
  node,
  index,
  uuid: `GPU-${node}-${index}`,
  model: 'A100-80GB',
  healthy,
  simulated: true,
  utilization: null,
  memoryUsedMiB: null,
  memoryMiB: 81920,
  powerW: null,
  temperatureC: null,
  jobs,
});
const nodeGpu = (index: number, freeMilli: number, mig = false) => ({ index, uuid: `GPU-n-${index}`, model: 'A100-80GB', memoryMiB: 81920, healthy: true, health: { admin: true, present: true }, mig, freeMilli, freeMemoryMiB: 0, jobs: 0 });

describe('fleet tiles from /v1/top and /v1/nodes', () => {
  const top = {
    simulated: true,
    gpus: [
      gpu('n2', 0, []),
      gpu('n10', 1, [{ job: 'job-2', name: 'half', queue: 'vision', team: 'vision', share: 0.5 }]),
      gpu('n10', 0, [{ job: 'job-1', name: 'whole', queue: 'vision', team: 'vision', share: 1 }]),
      gpu('n10', 2, [{ job: '(another team)', share: 1 }]),
      gpu('n10', 3, [{ job: 'job-3', name: 'slice', queue: 'nlp', team: 'nlp', share: 0, mig: '3g.40gb' }]),
      gpu('n10', 4, [], false),
    ],
  };
  const nodes = {
    items: [
      { name: 'n10', status: 'cordoned' as const, simulated: true, sharingMode: 'mps', cpuMilli: 1, memoryMiB: 1, gpus: [nodeGpu(0, 0), nodeGpu(1, 500), nodeGpu(2, 0), nodeGpu(3, 0, true), nodeGpu(4, 1000)] },
      { name: 'n2', status: 'ready' as const, simulated: true, sharingMode: 'mps', cpuMilli: 1, memoryMiB: 1, gpus: [nodeGpu(0, 1000)] },
    ],
  };
  const fleet = buildFleet(top, nodes);

  it('groups by node in natural order, GPUs by index, with the node\'s status', () => {
    assert.deepEqual(fleet.map((n) => n.name), ['n2', 'n10']);
    assert.deepEqual(fleet[1]?.tiles.map((t) => t.index), [0, 1, 2, 3, 4]);
    assert.equal(fleet[1]?.status, 'cordoned');
  });

  it('sizes shares and MIG slices by their fraction, and masks another team\'s work', () => {
    const [whole, half, other, slice] = fleet[1]?.tiles ?? [];
    assert.equal(whole?.segments[0]?.fraction, 1);
    assert.equal(half?.segments[0]?.fraction, 0.5);
    assert.equal(half?.free, 0.5);
    assert.deepEqual(other?.segments[0], { job: '', name: null, queue: null, team: null, fraction: 1, mig: null });
    assert.equal(slice?.migEnabled, true);
    assert.equal(slice?.segments[0]?.fraction, 3 / 7);
    assert.equal(slice?.free, 4 / 7, 'a MIG GPU\'s free part is what its slices leave');
    assert.equal(migFraction('1g.10gb'), 1 / 7);
    assert.equal(migFraction('7g.80gb'), 1);
  });

  it('marks idle, full, fragmented and unhealthy GPUs, and sums them', () => {
    assert.deepEqual(fleet.flatMap((n) => n.tiles.map(tileState)), ['idle', 'full', 'fragmented', 'full', 'fragmented', 'unhealthy']);
    const s = summarise(fleet);
    assert.deepEqual({ ...s, fragmentedFree: Number(s.fragmentedFree.toFixed(4)) }, { gpus: 6, idle: 1, full: 2, fragmented: 2, unhealthy: 1, fragmentedFree: Number((0.5 + 4 / 7).toFixed(4)), idleReserved: 0 });
  });

  it('marks a GPU held but idle: utilisation under 5 % of the compute held, never without a reading', () => {
    const tile = (utilization: number | null, fraction: number, healthy = true) => ({ node: 'n', index: 0, model: 'H100-80GB', uuid: 'u', healthy, migEnabled: false, utilization, memoryUsedMiB: null, memoryMiB: 81920, temperatureC: null, powerW: null, segments: fraction > 0 ? [{ job: 'j', name: null, queue: null, team: null, fraction, mig: null }] : [], free: 1 - fraction });
    assert.equal(idleReserved(tile(0, 1)), true);
    assert.equal(idleReserved(tile(4.9, 1)), true);
    assert.equal(idleReserved(tile(5, 1)), false);
    assert.equal(idleReserved(tile(3, 0.5)), false, 'half held: idle under 2.5 %');
    assert.equal(idleReserved(tile(2, 0.5)), true);
    assert.equal(idleReserved(tile(null, 1)), false, 'no reading, no verdict');
    assert.equal(idleReserved(tile(0, 0)), false, 'nothing held');
    assert.equal(idleReserved(tile(0, 1, false)), false);
  });
});

describe('fleet layout', () => {
  it('finds every tile of a 10,000-GPU fleet at its own centre, and nothing between tiles', () => {
    const { top, nodes } = synthFleet({ nodes: 1250, gpusPerNode: 8, jobs: 0 }, 0);
    const fleet = buildFleet(top, nodes);
    const layout = layoutFleet(fleet, 1200);
    assert.equal(layout.boxes.length, 1250);
    let checked = 0;
    for (const b of layout.boxes) {
      const n = fleet[b.node];
      assert.ok(n);
      assert.ok(b.x + b.w <= 1200, 'boxes wrap inside the width');
      n.tiles.forEach((_t, i) => {
        const o = tileOrigin(b, i);
        assert.deepEqual(hitTest(layout, fleet, o.x + TILE / 2, o.y + TILE / 2), { node: b.node, tile: i });
        checked++;
      });
      const o = tileOrigin(b, 0);
      assert.equal(hitTest(layout, fleet, o.x + TILE + 2, o.y + TILE / 2), null, 'the gap between two tiles');
    }
    assert.equal(checked, 10_000);
    assert.equal(hitTest(layout, fleet, 1, 1), null);
    assert.ok(layout.height > 0 && layout.boxes.every((b) => b.y + b.h <= layout.height));
  });
});
