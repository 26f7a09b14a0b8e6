/**
 * The FGD paper's published results for an openb variant, when the pods file is one of the
 * published variants: `expected/SUMMARY_gpu_alloc_by_arrival.csv` (mean and sd per arrival
 * level) and `expected/analysis_allo_discrete.csv` (one curve per seed), next to the pods file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { PolicyName } from '../../core/policies.js';

const PUBLISHED_NAME: Partial<Record<PolicyName, string>> = {
  random: 'Random',
  dotprod: 'DotProd',
  clustering: 'Clustering',
  packing: 'Packing',
  bestfit: 'BestFit',
  fgd: 'FGD',
};

const CURVE_NAME: Partial<Record<PolicyName, string>> = {
  random: '01-Random',
  dotprod: '02-DotProd',
  clustering: '03-GpuClustering',
  packing: '04-GpuPacking',
  bestfit: '05-BestFit',
  fgd: '06-FGD',
};

export interface PublishedPolicy {
  /** Unallocated GPU % per arrival level (90..130 in steps of 5). */
  readonly unallocated: ReadonlyMap<number, { mean: number; sd: number }>;
  /** Mean allocation % curve over seeds, index = arrived %. */
  readonly curve: readonly number[] | null;
}

export interface Published {
  readonly variant: string;
  readonly policies: ReadonlyMap<PolicyName, PublishedPolicy>;
}

/** Published results for the pods file, or null when it is not a published variant. */
export function loadPublished(podsFile: string): Published | null {
  const dir = join(dirname(podsFile), 'expected');
  const summary = join(dir, 'SUMMARY_gpu_alloc_by_arrival.csv');
  if (!existsSync(summary)) return null;
  const variant = basename(podsFile).replace(/\.csv$/, '');
  const rows = parse(readFileSync(summary, 'utf8'), { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  const mine = rows.filter((r) => r.workload === variant);
  if (mine.length === 0) return null;
  const curvesFile = join(dir, 'analysis_allo_discrete.csv');
  const curveRows = existsSync(curvesFile) ? (parse(readFileSync(curvesFile, 'utf8'), { columns: true, skip_empty_lines: true }) as Record<string, string>[]).filter((r) => r.workload === variant) : [];
  const policies = new Map<PolicyName, PublishedPolicy>();
  for (const [ours, theirs] of Object.entries(PUBLISHED_NAME) as [PolicyName, string][]) {
    const un = new Map<number, { mean: number; sd: number }>();
    for (const r of mine.filter((x) => x.policy === theirs)) un.set(Number(r.arrived_pct), { mean: Number(r.mean_unalloc_pct), sd: Number(r.std) });
    if (un.size === 0) continue;
    const seeds = curveRows.filter((r) => r.sc_policy === CURVE_NAME[ours]);
    let curve: number[] | null = null;
    if (seeds.length > 0) {
      curve = [];
      for (let b = 0; b <= 130; b++) {
        const vals = seeds.map((r) => Number(r[String(b)])).filter((v) => Number.isFinite(v));
        curve.push(vals.length ? vals.reduce((a, v) => a + v, 0) / vals.length : NaN);
      }
    }
    policies.set(ours, { unallocated: un, curve });
  }
  return { variant, policies };
}
