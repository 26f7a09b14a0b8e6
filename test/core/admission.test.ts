import { it } from 'node:test';
import assert from 'node:assert/strict';
import { membersPerNode, unsatisfiableReason, type FleetNode } from '../../src/core/scheduler/admission.js';
import type { GpuRequest, PodRequest } from '../../src/core/model/request.js';

function node(name: string, gpus: number, model = 'H100-80GB', extra: Partial<FleetNode> = {}): FleetNode {
  return { name, cpuMilli: 64_000, memoryMiB: 512 * 1024, labels: {}, gpus: Array.from({ length: gpus }, () => ({ model, memoryMiB: 81559, mig: null })), ...extra };
}

function gang(workers: number, gpu: GpuRequest, extra: Partial<PodRequest> = {}): PodRequest[] {
  return Array.from({ length: workers }, (_, i) => ({ id: `j/${i}`, cpuMilli: 1000, memoryMiB: 1024, gpu, ...extra }));
}

it('a gang larger than the fleet holds at once is refused with the numbers', () => {
  const why = unsatisfiableReason([node('n1', 8)], gang(4, { kind: 'whole', count: 8 }));
  assert.equal(why, 'the gang needs 4 workers of 8 GPUs; the fleet can hold at most 1 at once (node n1: 8 H100-80GB GPUs, 64 CPU, 512Gi)');
});

it('sums what every node can hold: two 8-GPU nodes hold a gang of four 4-GPU workers', () => {
  assert.equal(unsatisfiableReason([node('n1', 8), node('n2', 8)], gang(4, { kind: 'whole', count: 4 })), null);
  assert.match(unsatisfiableReason([node('n1', 8), node('n2', 6)], gang(4, { kind: 'whole', count: 4 })) ?? '', /at most 3 at once/);
});

it('counts only allowed GPU models', () => {
  const fleet = [node('a', 8, 'A100-80GB'), node('h', 2)];
  assert.match(unsatisfiableReason(fleet, gang(2, { kind: 'whole', count: 2 }, { allowedModels: ['H100-80GB'] })) ?? '', /needs 2 workers of 2 H100-80GB GPUs; the fleet can hold at most 1/);
  assert.equal(unsatisfiableReason(fleet, gang(4, { kind: 'whole', count: 2 }, { allowedModels: ['A100-80GB'] })), null);
});

it('refuses CPU or memory above every node and says which node is largest', () => {
  assert.equal(unsatisfiableReason([node('n1', 0), node('n2', 0, 'x', { cpuMilli: 96_000 })], gang(1, { kind: 'none' }, { cpuMilli: 128_000 })), 'each worker asks for 128 CPU; the largest node has 96 CPU allocatable (node n2)');
  assert.match(unsatisfiableReason([node('n1', 0)], gang(1, { kind: 'none' }, { memoryMiB: 1024 * 1024 })) ?? '', /asks for 1024Gi memory; the largest node has 512Gi allocatable \(node n1\)/);
});

it('CPU limits how many members a node holds', () => {
  assert.equal(membersPerNode(node('n1', 8), gang(1, { kind: 'whole', count: 1 }, { cpuMilli: 32_000 })[0] as PodRequest), 2);
  assert.match(unsatisfiableReason([node('n1', 8)], gang(3, { kind: 'whole', count: 1 }, { cpuMilli: 32_000 })) ?? '', /at most 2 at once/);
});

it('a node selector that matches no node is refused with the labels the fleet has', () => {
  const fleet = [node('n1', 8, 'H100-80GB', { labels: { zone: 'a' } })];
  assert.equal(unsatisfiableReason(fleet, gang(1, { kind: 'none' }, { nodeSelector: { zone: 'b' } })), 'nodeSelector zone=b matches no node (labels on the fleet: zone=a)');
  assert.equal(unsatisfiableReason(fleet, gang(1, { kind: 'none' }, { nodeSelector: { zone: 'a' } })), null);
});

it('shares: a GPU holds 1/share workers, and GPU memory must fit', () => {
  assert.equal(membersPerNode(node('n1', 2), gang(1, { kind: 'share', milli: 250, memoryMiB: 0 })[0] as PodRequest), 8);
  assert.equal(unsatisfiableReason([node('n1', 1)], gang(5, { kind: 'share', milli: 250, memoryMiB: 0 })), 'the gang needs 5 workers of a GPU share (0.25 GPU); the fleet can hold at most 4 at once (node n1: 1 H100-80GB GPU, 64 CPU, 512Gi)');
  assert.match(unsatisfiableReason([node('n1', 1)], gang(1, { kind: 'share', milli: 0, memoryMiB: 100_000 })) ?? '', /^no node could hold a worker of a GPU share \(100000Mi GPU memory\) with 1 CPU and 1Gi/);
});

it('MIG: counts the slices an empty MIG GPU offers, none on GPUs without MIG mode', () => {
  const mig: FleetNode = { name: 'm', cpuMilli: 64_000, memoryMiB: 512 * 1024, labels: {}, gpus: [{ model: 'A100-80GB', memoryMiB: 81920, mig: {} }] };
  assert.equal(membersPerNode(mig, gang(1, { kind: 'mig', profile: '3g.40gb' })[0] as PodRequest), 2);
  assert.equal(membersPerNode(mig, gang(1, { kind: 'mig', profile: '1g.10gb' })[0] as PodRequest), 7);
  assert.match(unsatisfiableReason([node('n1', 8)], gang(1, { kind: 'mig', profile: '1g.10gb' })) ?? '', /^no node could hold a worker of a MIG 1g.10gb slice/);
});

it('jobs that fit, and jobs without GPUs on a GPU-less fleet, pass', () => {
  assert.equal(unsatisfiableReason([node('n1', 8)], gang(8, { kind: 'whole', count: 1 })), null);
  assert.equal(unsatisfiableReason([node('n1', 0)], gang(4, { kind: 'none' })), null);
  assert.match(unsatisfiableReason([node('n1', 0)], gang(1, { kind: 'whole', count: 1 })) ?? '', /no node has GPUs/);
});
