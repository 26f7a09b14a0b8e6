import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadOpenbNodes, loadOpenbPods, type OpenbPod } from '../../src/sim/openb/trace.js';
import { generateFamily, parseFamily } from '../../src/sim/openb/families.js';
import { OPENB, sliceCsv, tempDir } from '../helpers/traces.js';

const dir = tempDir();
const nodes = loadOpenbNodes(sliceCsv(join(OPENB, 'openb_node_list_gpu_node.csv'), 200, dir));
const pods = loadOpenbPods(sliceCsv(join(OPENB, 'openb_pod_list_default.csv'), 2000, dir));
const share = (ps: readonly OpenbPod[], f: (p: OpenbPod) => boolean, of: (p: OpenbPod) => boolean = () => true): number => ps.filter((p) => of(p) && f(p)).length / ps.filter(of).length;
const gpu = (p: OpenbPod): boolean => p.gpu.kind !== 'none';

test('families: each knob sets the share of its kind of pod', () => {
  const m = generateFamily(pods, nodes, { multigpu: 0.3 });
  assert.ok(Math.abs(share(m, (p) => p.gpu.kind === 'whole' && p.gpu.count > 1, (p) => p.gpu.kind === 'whole') - 0.3) < 0.01);
  for (const p of m) if (p.gpu.kind === 'whole') assert.equal(p.totalMilliGpu, p.gpu.count * 1000);
  const s = generateFamily(pods, nodes, { share: 0.8 });
  assert.ok(Math.abs(share(s, (p) => p.gpu.kind === 'share', (p) => p.gpu.kind === 'share' || (p.gpu.kind === 'whole' && p.gpu.count === 1)) - 0.8) < 0.01);
  const c = generateFamily(pods, nodes, { cpuonly: 0.4 });
  assert.ok(Math.abs(share(c, (p) => !gpu(p)) - 0.4) < 0.01);
  assert.equal(c.filter(gpu).length, pods.filter(gpu).length, 'GPU pods are kept');
  const k = generateFamily(pods, nodes, { constrained: 0.5 });
  assert.ok(Math.abs(share(k, (p) => (p.allowedModels?.length ?? 0) > 0, gpu) - 0.5) < 0.01);
  const models = new Set(nodes.map((n) => n.model));
  for (const p of k) for (const a of p.allowedModels ?? []) assert.ok(models.has(a), a);
});

test('families: deterministic, and knobs combine', () => {
  const spec = parseFamily('--family', 'constrained=0.5, multigpu=0.3');
  assert.deepEqual(spec, { constrained: 0.5, multigpu: 0.3 });
  assert.deepEqual(generateFamily(pods, nodes, spec), generateFamily(pods, nodes, spec));
});

test('families: a bad spec is a clear error', () => {
  assert.throws(() => parseFamily('--family', 'gpus=0.3'), /--family: "gpus=0.3" is not KNOB=FRACTION with KNOB one of multigpu, constrained, share, cpuonly/);
  assert.throws(() => parseFamily('--family', 'share=1.5'), /--family: share=1.5 is outside 0..1/);
  assert.throws(() => parseFamily('--family', ''), /--family: empty/);
});
