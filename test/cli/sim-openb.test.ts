import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { OPENB, sliceCsv, tempDir } from '../helpers/traces.js';

const gantry = (...args: string[]) => spawnSync(process.execPath, ['bin/gantry.js', ...args], { encoding: 'utf8' });

const dir = tempDir();
const nodes = sliceCsv(join(OPENB, 'openb_node_list_gpu_node.csv'), 40, dir);
const pods = sliceCsv(join(OPENB, 'openb_pod_list_default.csv'), 300, dir);

test('gantry sim openb --json prints one object in the documented shape', () => {
  const r = gantry('sim', 'openb', '--pods', pods, '--nodes', nodes, '--policy', 'fgd,bestfit', '--seeds', '42-43', '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { pods: string; workload: string; results: { policy: string; seeds: number[]; unallocatedPct: Record<string, { mean: number; sd: number }>; placementsPerSecond: number; wallSeconds: number }[] };
  assert.equal(out.pods, pods);
  assert.equal(out.workload, 'online');
  assert.deepEqual(out.results.map((x) => x.policy), ['fgd', 'bestfit']);
  for (const res of out.results) {
    assert.deepEqual(res.seeds, [42, 43]);
    assert.deepEqual(Object.keys(res.unallocatedPct), ['50', '60', '70', '80', '90', '100', '110', '120', '130']);
    assert.ok(res.unallocatedPct['100']!.mean >= 0 && res.unallocatedPct['100']!.mean <= 100);
    assert.ok(res.placementsPerSecond > 0);
    assert.ok(res.wallSeconds > 0);
  }
});

test('gantry sim openb --workload oracle says so in --json, and gantry then uses the whole trace', () => {
  const on = JSON.parse(gantry('sim', 'openb', '--pods', pods, '--nodes', nodes, '--policy', 'gantry', '--seeds', '42', '--json').stdout) as { workload: string };
  const or = JSON.parse(gantry('sim', 'openb', '--pods', pods, '--nodes', nodes, '--policy', 'gantry', '--seeds', '42', '--json', '--workload', 'oracle').stdout) as { workload: string };
  assert.equal(on.workload, 'online');
  assert.equal(or.workload, 'oracle');
});

test('gantry sim openb --family replays a derived family and says which, without published figures', () => {
  const r = gantry('sim', 'openb', '--pods', pods, '--nodes', nodes, '--policy', 'fgd', '--seeds', '42', '--family', 'multigpu=0.5,constrained=0.3', '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { family: string; results: { published?: unknown }[] };
  assert.equal(out.family, 'multigpu=0.5,constrained=0.3');
  assert.equal(out.results[0]?.published, undefined);
});

test('gantry sim openb --out writes a table, the curves and a chart', () => {
  const out = join(dir, 'report');
  const r = gantry('sim', 'openb', '--pods', pods, '--nodes', nodes, '--policy', 'fgd', '--seeds', '42', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['summary.md', 'curves.csv', 'allocation.svg', 'results.json']) assert.ok(existsSync(join(out, f)), f);
  assert.match(readFileSync(join(out, 'summary.md'), 'utf8'), /\| fgd \|/);
  assert.match(readFileSync(join(out, 'allocation.svg'), 'utf8'), /^<svg/);
  assert.match(readFileSync(join(out, 'curves.csv'), 'utf8'), /^policy,source,arrived_pct,alloc_pct\nfgd,measured,0,0.000\n/);
});

const bad: { name: string; args: string[]; file?: [string, string]; want: RegExp }[] = [
  { name: 'missing --pods', args: ['sim', 'openb'], want: /--pods FILE is required/ },
  { name: 'pods file does not exist', args: ['sim', 'openb', '--pods', '/nonexistent.csv'], want: /--pods: \/nonexistent.csv does not exist/ },
  { name: 'unknown policy', args: ['sim', 'openb', '--pods', pods, '--nodes', nodes, '--policy', 'fgd,magic'], want: /--policy: unknown policy "magic"/ },
  { name: 'bad seeds', args: ['sim', 'openb', '--pods', pods, '--nodes', nodes, '--seeds', '5-x'], want: /--seeds: "5-x" is not a seed or a range/ },
  { name: 'unknown workload source', args: ['sim', 'openb', '--pods', pods, '--nodes', nodes, '--workload', 'future'], want: /--workload: unknown setting "future" \(choose from online, oracle\)/ },
  { name: 'bad family', args: ['sim', 'openb', '--pods', pods, '--nodes', nodes, '--family', 'multigpu=2'], want: /--family: multigpu=2 is outside 0..1/ },
  { name: 'bad inflate', args: ['sim', 'openb', '--pods', pods, '--nodes', nodes, '--inflate', '0.5'], want: /--inflate: 0.5 is outside 1..10/ },
  {
    name: 'malformed row names file, line and field',
    args: ['sim', 'openb', '--nodes', nodes, '--pods'],
    file: ['bad-pods.csv', 'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\np1,1000,100,1,500,\np2,1000,100,two,500,\n'],
    want: /bad-pods.csv:3: field "num_gpu": expected an integer, got "two"/,
  },
  {
    name: 'missing column',
    args: ['sim', 'openb', '--nodes', nodes, '--pods'],
    file: ['nocol.csv', 'name,cpu_milli\np1,1000\n'],
    want: /nocol.csv:1: missing column "memory_mib"/,
  },
  {
    name: 'share with several GPUs',
    args: ['sim', 'openb', '--nodes', nodes, '--pods'],
    file: ['multi.csv', 'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\np1,1000,100,2,500,\n'],
    want: /multi.csv:2: field "gpu_milli": a pod with num_gpu 2 must take whole GPUs/,
  },
];

for (const c of bad) {
  test(`gantry sim openb rejects bad input: ${c.name}`, () => {
    const args = [...c.args];
    if (c.file) {
      const p = join(dir, c.file[0]);
      writeFileSync(p, c.file[1]);
      args.push(p);
    }
    const r = gantry(...args);
    assert.equal(r.status, 2);
    assert.match(r.stderr, c.want);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(r.stdout, '');
  });
}
