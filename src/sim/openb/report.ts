/**
 * Reports for `gantry sim openb`: the JSON others script against, a terminal table, and with
 * --out a directory holding summary.md (table), curves.csv and allocation.svg (GPU allocation
 * against arrived workload for every policy, the published curve dashed beside ours).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARRIVED_LEVELS, type PolicySummary } from './experiment.js';
import type { Published } from './published.js';
import type { NodeOrder, WorkloadMode } from './replay.js';
import { csv, markdownTable, terminalTable, type Cell } from '../report/table.js';
import { lineChartSpec, renderSvg, type Series } from '../report/chart.js';

/** The levels in the table (the JSON has every one of ARRIVED_LEVELS). */
export const LEVELS = ['90', '100', '110', '120', '130'] as const;

const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');

export function toJson(podsFile: string, results: readonly PolicySummary[], published: Published | null, nodeOrder?: NodeOrder, workload: WorkloadMode = 'online', family?: string): object {
  return {
    pods: podsFile,
    ...(family ? { family } : {}),
    ...(nodeOrder ? { nodeOrder } : {}),
    workload,
    results: results.map((r) => {
      const pub = published?.policies.get(r.policy);
      return {
        policy: r.policy,
        seeds: r.seeds,
        unallocatedPct: Object.fromEntries(ARRIVED_LEVELS.map((l) => [l, { mean: round(at(r, l).mean), sd: round(at(r, l).sd) }])),
        placementsPerSecond: Math.round(r.placementsPerSecond),
        wallSeconds: round(r.wallSeconds),
        secondsPerSeed: round(r.secondsPerSeed),
        ...(pub ? { published: Object.fromEntries(ARRIVED_LEVELS.filter((l) => pub.unallocated.has(Number(l))).map((l) => [l, pub.unallocated.get(Number(l)) ?? null])) } : {}),
      };
    }),
  };
}

function at(r: PolicySummary, level: string): { mean: number; sd: number } {
  return r.unallocatedPct[level] ?? { mean: NaN, sd: NaN };
}

function round(x: number): number | null {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null;
}

function tableRows(results: readonly PolicySummary[], published: Published | null): { header: string[]; rows: Cell[][] } {
  // Every column names its unit: unallocated GPUs in % of GPU capacity (mean ± sd over seeds)
  // at each arrived level, the difference in percentage points, wall-clock seconds per seed.
  const header = ['policy', ...LEVELS.map((l) => `unalloc. GPU % @${l}%`), 'published @100% (%, sd)', 'diff @100% (points)', 'placements/s', 'wall s/seed'];
  const rows = results.map((r) => {
    const pub = published?.policies.get(r.policy)?.unallocated.get(100);
    const fgd = published?.policies.get('fgd')?.unallocated.get(100);
    const m = at(r, '100').mean;
    const ref = pub ?? (r.policy === 'gantry' ? fgd : undefined);
    const refLabel = pub ? `${f2(pub.mean)} (${f2(pub.sd)})` : ref ? `FGD ${f2(ref.mean)} (${f2(ref.sd)})` : '-';
    return [
      r.policy,
      ...LEVELS.map((l) => `${f2(at(r, l).mean)} ± ${f2(at(r, l).sd)}`),
      refLabel,
      ref ? `${m - ref.mean >= 0 ? '+' : ''}${f2(m - ref.mean)}` : '-',
      Math.round(r.placementsPerSecond),
      r.secondsPerSeed.toFixed(2),
    ];
  });
  return { header, rows };
}

/** What the columns measure, printed under the table. */
export const UNITS_NOTE =
  'unalloc. GPU % @N%: GPUs left unallocated, in % of the cluster\'s GPU capacity (mean ± sd over seeds), when the arrived workload reaches N% of that capacity; lower is better. diff: percentage points against the published figure (or FGD\'s for gantry).';

export function terminalReport(results: readonly PolicySummary[], published: Published | null): string {
  const { header, rows } = tableRows(results, published);
  return `${terminalTable(header, rows)}\n${UNITS_NOTE}`;
}

export async function writeReport(dir: string, podsFile: string, results: readonly PolicySummary[], published: Published | null, command: string, nodeOrder?: NodeOrder, workload: WorkloadMode = 'online'): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const { header, rows } = tableRows(results, published);
  const seeds = results[0]?.seeds ?? [];
  const md =
    `# openb replay: ${published?.variant ?? podsFile}\n\n` +
    `Unallocated GPU % (mean ± sd over ${seeds.length} seeds: ${seeds.join(', ')}) when the arrived workload reaches each % of cluster GPU capacity. ` +
    `Lower is better. "published" is the FGD paper's simulator (ATC'23) on the same trace.\n\n` +
    markdownTable(header, rows) +
    `\n${UNITS_NOTE}\n\ngantry's target workload: ${workload === 'online' ? 'learned online from the pods arrived so far' : 'the whole trace (oracle, the paper\'s setting)'}; fgd's: the whole trace.\n\nCommand: \`${command}\`${nodeOrder ? ` (node order: ${nodeOrder})` : ''}\n\n![GPU allocation](allocation.svg)\n`;
  const curveRows: Cell[][] = [];
  for (const r of results) r.curve.forEach((y, x) => Number.isFinite(y) && curveRows.push([r.policy, 'measured', x, y.toFixed(3)]));
  for (const [name, p] of published?.policies ?? []) p.curve?.forEach((y, x) => Number.isFinite(y) && curveRows.push([name, 'published', x, y.toFixed(3)]));
  const series: Series[] = results.map((r) => ({ name: r.policy, points: r.curve.map((y, x) => ({ x, y })) }));
  for (const r of results) {
    const pub = published?.policies.get(r.policy)?.curve;
    if (pub) series.push({ name: r.policy, points: pub.map((y, x) => ({ x, y })), dashed: true });
  }
  const svg = await renderSvg(lineChartSpec('GPU allocation as workload arrives (openb)', 'arrived workload, % of GPU capacity', 'GPU allocated, %', series, { xDomain: [80, 130], yDomain: [78, 100] }));
  const files = {
    'summary.md': md,
    'curves.csv': csv(['policy', 'source', 'arrived_pct', 'alloc_pct'], curveRows),
    'allocation.svg': svg,
    'results.json': JSON.stringify(toJson(podsFile, results, published, nodeOrder, workload), null, 2) + '\n',
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  return Object.keys(files).map((n) => join(dir, n));
}
