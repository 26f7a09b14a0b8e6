import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeState } from '../../src/core/model/node.js';
import { prepareRequest } from '../../src/core/placement/placer.js';
import { DEFAULT_FILTERS } from '../../src/core/plugins/filter/index.js';
import { Reason, REASON_NAMES } from '../../src/core/framework/reasons.js';
import { node, pod } from '../helpers/builders.js';
import type { NodeSpec } from '../../src/core/model/node.js';
import type { PodRequest } from '../../src/core/model/request.js';

function firstFailure(n: NodeSpec, r: PodRequest, mutate?: (s: NodeState) => void): string {
  const state = new NodeState(n);
  mutate?.(state);
  const p = prepareRequest(r);
  for (const f of DEFAULT_FILTERS) {
    const code = f.filter(p, state);
    if (code !== Reason.None) return REASON_NAMES[code] as string;
  }
  return 'None';
}

const cases: { name: string; node: NodeSpec; pod: PodRequest; want: string; mutate?: (s: NodeState) => void }[] = [
  { name: 'CPU-only pod on a GPU node fits', node: node('n').gpus(2).obj(), pod: pod('p').obj(), want: 'None' },
  { name: 'cordoned node', node: node('n').gpus(2).cordoned().obj(), pod: pod('p').gpus(1).obj(), want: 'NodeUnschedulable' },
  { name: 'too little CPU', node: node('n').gpus(2).cpu(4).obj(), pod: pod('p').cpu(8000).gpus(1).obj(), want: 'InsufficientCpu' },
  { name: 'too little memory', node: node('n').gpus(2).mem(8).obj(), pod: pod('p').mem(16 * 1024).obj(), want: 'InsufficientMemory' },
  { name: 'GPU pod on a node without GPUs', node: node('n').obj(), pod: pod('p').gpus(1).obj(), want: 'NoGpu' },
  { name: 'whole GPUs: enough free', node: node('n').gpus(8).obj(), pod: pod('p').gpus(8).obj(), want: 'None' },
  { name: 'whole GPUs: too few', node: node('n').gpus(4).obj(), pod: pod('p').gpus(8).obj(), want: 'InsufficientWholeGpu' },
  { name: 'model not allowed', node: node('n').gpus(8, 'L4').obj(), pod: pod('p').gpus(1).models('H100-80GB').obj(), want: 'GpuModelNotAllowed' },
  { name: 'model allowed by alias', node: node('n').gpus(8, 'H100-80GB').obj(), pod: pod('p').gpus(1).models('NVIDIA H100 80GB HBM3').obj(), want: 'None' },
  {
    name: 'share: no GPU has enough compute left',
    node: node('n').gpus(1).obj(),
    pod: pod('p').share(600).obj(),
    want: 'InsufficientGpu',
    mutate: (s) => {
      s.gpus[0]!.milliFree = 500;
      s.refresh();
    },
  },
  {
    name: 'share: compute fits but memory does not',
    node: node('n').gpus(1, 'L4').obj(),
    pod: pod('p').share(200, 20 * 1024).obj(),
    want: 'InsufficientGpuMemory',
    mutate: (s) => {
      s.gpus[0]!.memFree = 10 * 1024;
      s.refresh();
    },
  },
  { name: 'share on a MIG-mode GPU is refused', node: node('n').migGpus(1).obj(), pod: pod('p').share(500).obj(), want: 'InsufficientGpu' },
  { name: 'MIG request on a non-MIG node', node: node('n').gpus(8).obj(), pod: pod('p').mig('3g.40gb').obj(), want: 'NoMigProfile' },
  { name: 'MIG profile of another model', node: node('n').migGpus(8, 'A100-40GB').obj(), pod: pod('p').mig('3g.40gb').obj(), want: 'NoMigProfile' },
  { name: 'MIG profile fits', node: node('n').migGpus(1, 'H100-80GB').obj(), pod: pod('p').mig('3g.40gb').obj(), want: 'None' },
  { name: 'untolerated taint', node: node('n').gpus(1).taint('gpu', 'reserved').obj(), pod: pod('p').gpus(1).obj(), want: 'UntoleratedTaint' },
  { name: 'tolerated taint (Equal)', node: node('n').gpus(1).taint('gpu', 'reserved').obj(), pod: pod('p').gpus(1).tolerate({ key: 'gpu', value: 'reserved' }).obj(), want: 'None' },
  { name: 'tolerated taint (Exists)', node: node('n').gpus(1).taint('gpu', 'x').obj(), pod: pod('p').gpus(1).tolerate({ key: 'gpu', operator: 'Exists' }).obj(), want: 'None' },
  { name: 'PreferNoSchedule does not filter', node: node('n').gpus(1).taint('soft', '', 'PreferNoSchedule').obj(), pod: pod('p').gpus(1).obj(), want: 'None' },
  { name: 'node selector mismatch', node: node('n').gpus(1).labels({ pool: 'a' }).obj(), pod: pod('p').selector({ pool: 'b' }).obj(), want: 'NodeSelectorMismatch' },
  { name: 'node selector match', node: node('n').gpus(1).labels({ pool: 'a' }).obj(), pod: pod('p').selector({ pool: 'a' }).obj(), want: 'None' },
  {
    name: 'unhealthy GPUs do not count as free',
    node: node('n').gpus(2).obj(),
    pod: pod('p').gpus(2).obj(),
    want: 'InsufficientWholeGpu',
    mutate: (s) => {
      s.gpus[1]!.healthy = false;
      s.refresh();
    },
  },
];

for (const c of cases) {
  test(`filters: ${c.name}`, () => {
    assert.equal(firstFailure(c.node, c.pod, c.mutate), c.want);
  });
}
