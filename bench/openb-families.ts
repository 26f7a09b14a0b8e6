/**
 * The openb workload-family grid: gantry (target workload learned online) against fgd (the
 * paper's whole-trace workload) and bestfit, on families derived from openb default
 * (src/sim/openb/families.ts), replayed as in the FGD paper. Prints, per family, unallocated
 * GPU % at 100 % arrived (mean ± sd over seeds), gantry - fgd in points, the verdict against
 * fgd (win: below fgd by more than fgd's sd; lose: above by more; else tie), and the worst gap
 * of the allocation curve between 50 % and 100 % arrived (gantry - fgd, points; negative =
 * gantry allocated less at some level).
 *
 *   npx tsc -p . && node dist/bench/openb-families.js [options]
 *     --traces DIR       openb folder (default $GANTRY_OPENB_DIR or <repo>/../shared/traces/openb)
 *     --families a;b     families (KNOB=x,KNOB=y; separated by ';'), default: the grid below
 *     --seeds 42-51      seeds (default 42-51)
 *     --workers N        worker threads (default 1)
 *     --workload online  gantry's target workload: online (default) or oracle
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runExperiment, type PolicySummary } from '../src/sim/openb/experiment.js';
import { familyName, parseFamily, type FamilySpec } from '../src/sim/openb/families.js';
import type { WorkloadMode } from '../src/sim/openb/replay.js';

export const FAMILY_GRID: readonly string[] = [
  'multigpu=0.1',
  'multigpu=0.3',
  'multigpu=0.5',
  'constrained=0.25',
  'constrained=0.5',
  'constrained=0.8',
  'share=0.2',
  'share=0.5',
  'share=0.8',
  'cpuonly=0.05',
  'cpuonly=0.25',
  'cpuonly=0.4',
  'cpuonly=0.25,multigpu=0.3',
  'constrained=0.5,share=0.8',
  'constrained=0.5,multigpu=0.3',
  'share=0.5,cpuonly=0.25',
];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function seedsOf(text: string): number[] {
  return text.split(',').flatMap((part) => {
    const m = /^(\d+)-(\d+)$/.exec(part.trim());
    if (!m) return [Number(part)];
    const out: number[] = [];
    for (let s = Number(m[1]); s <= Number(m[2]); s++) out.push(s);
    return out;
  });
}

const here = dirname(fileURLToPath(import.meta.url));
const traces = resolve(arg('--traces') ?? process.env.GANTRY_OPENB_DIR ?? join(here, '..', '..', '..', 'shared', 'traces', 'openb'));
const podsFile = join(traces, 'openb_pod_list_default.csv');
const nodesFile = join(traces, 'openb_node_list_gpu_node.csv');
if (!existsSync(podsFile)) {
  process.stderr.write(`no openb trace at ${traces} (pass --traces DIR)\n`);
  process.exit(2);
}
const families: FamilySpec[] = (arg('--families')?.split(';') ?? FAMILY_GRID).map((f) => parseFamily('--families', f));
const seeds = seedsOf(arg('--seeds') ?? '42-51');
const threads = Number(arg('--workers') ?? '1');
const workload = (arg('--workload') ?? 'online') as WorkloadMode;

const f2 = (x: number): string => x.toFixed(2);
const cell = (s: PolicySummary | undefined): string => (s ? `${f2(s.unallocatedPct['100']?.mean ?? NaN)} ± ${f2(s.unallocatedPct['100']?.sd ?? NaN)}` : '-');

/** Worst (lowest) gantry - fgd allocation over arrived 50..100 %, in points. */
function worstGap(g: PolicySummary, f: PolicySummary): { gap: number; at: number } {
  let gap = Infinity;
  let at = -1;
  for (let b = 50; b <= 100; b++) {
    const d = (g.curve[b] as number) - (f.curve[b] as number);
    if (d < gap) {
      gap = d;
      at = b;
    }
  }
  return { gap, at };
}

const t0 = Date.now();
const rows: string[] = [];
const tally = { win: 0, lose: 0, tie: 0 };
process.stdout.write(`openb families from ${podsFile}, seeds ${seeds.join(',')}, gantry workload ${workload}\n\n`);
process.stdout.write('| family | gantry | fgd | bestfit | gantry - fgd | vs fgd | worst curve gap 50-100 % (at) |\n|---|---|---|---|---|---|---|\n');
for (const family of families) {
  const res = await runExperiment({ nodesFile, podsFile, policies: ['gantry', 'fgd', 'bestfit'], seeds, inflate: 1.3, family, workload, threads });
  const [g, f, b] = res;
  if (!g || !f) continue;
  const diff = (g.unallocatedPct['100']?.mean ?? NaN) - (f.unallocatedPct['100']?.mean ?? NaN);
  const sd = f.unallocatedPct['100']?.sd ?? 0;
  const verdict = diff < -sd ? 'win' : diff > sd ? 'lose' : 'tie';
  tally[verdict]++;
  const w = worstGap(g, f);
  const row = `| ${familyName(family)} | ${cell(g)} | ${cell(f)} | ${cell(b)} | ${diff >= 0 ? '+' : ''}${f2(diff)} | ${verdict} | ${f2(w.gap)} (${w.at} %) |`;
  rows.push(row);
  process.stdout.write(row + '\n');
}
process.stdout.write(`\nunallocated GPU % at 100 % arrived, mean ± sd over ${seeds.length} seeds; vs fgd by fgd's sd: ${tally.win} win, ${tally.lose} lose, ${tally.tie} tie; ${Math.round((Date.now() - t0) / 1000)} s\n`);
