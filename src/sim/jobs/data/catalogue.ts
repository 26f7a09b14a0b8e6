/**
 * Dataset catalogues for the job simulator: datasets with sizes and a skewed popularity
 * (Zipf: the dataset of rank r is read with weight 1 / r^skew), generated from a seed or
 * loaded from a JSON file, and attached to a trace's jobs (each job reads one dataset, drawn
 * by popularity; every member of a gang reads all of it).
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../../../core/errors.js';
import { createRng } from '../../../core/rng.js';

export const GB = 1e9;

export interface CatalogueDataset {
  readonly name: string;
  readonly bytes: number;
  /** Share of jobs that read it (the shares sum to 1). */
  readonly popularity: number;
}

export interface DatasetCatalogue {
  readonly kind: 'gantry.dataset-catalogue';
  readonly skew: number;
  readonly seed: number;
  readonly datasets: readonly CatalogueDataset[];
}

export interface CatalogueSpec {
  readonly count: number;
  /** Zipf exponent: 0 = uniform, 1 = classic Zipf, higher = a few datasets dominate. */
  readonly skew: number;
  readonly seed: number;
  readonly minBytes?: number;
  readonly maxBytes?: number;
}

/** Sizes log-uniform in [minBytes, maxBytes] (default 10 GB to 2 TB), independent of popularity. */
export function generateCatalogue(spec: CatalogueSpec): DatasetCatalogue {
  const rng = createRng(spec.seed);
  const lo = Math.log(spec.minBytes ?? 10 * GB);
  const hi = Math.log(spec.maxBytes ?? 2000 * GB);
  const weights = Array.from({ length: spec.count }, (_, i) => 1 / (i + 1) ** spec.skew);
  const sum = weights.reduce((a, b) => a + b, 0);
  const width = String(spec.count - 1).length;
  const datasets = weights.map((w, i) => ({
    name: `ds-${String(i).padStart(width, '0')}`,
    bytes: Math.round(Math.exp(lo + rng.next() * (hi - lo)) / 1e6) * 1e6,
    popularity: w / sum,
  }));
  return { kind: 'gantry.dataset-catalogue', skew: spec.skew, seed: spec.seed, datasets };
}

function bad(file: string, message: string): UserError {
  return new UserError('CATALOGUE_INVALID', `${file}: ${message}`);
}

export function loadCatalogue(file: string): DatasetCatalogue {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code) throw new UserError('FILE_UNREADABLE', `${file}: cannot read the file (${code})`);
    throw bad(file, `not JSON (${(e as Error).message})`);
  }
  const o = raw as Partial<DatasetCatalogue> | null;
  if (!o || typeof o !== 'object' || !Array.isArray(o.datasets)) throw bad(file, 'expected {"datasets": [{"name", "bytes", "popularity"}, ...]} (make one with gantry sim datasets)');
  if (o.datasets.length === 0) throw bad(file, '"datasets" is empty');
  const names = new Set<string>();
  const datasets = o.datasets.map((d: Partial<CatalogueDataset>, i) => {
    if (typeof d?.name !== 'string' || d.name === '') throw bad(file, `datasets[${i}].name: expected a non-empty string`);
    if (names.has(d.name)) throw bad(file, `datasets[${i}].name: "${d.name}" appears twice`);
    names.add(d.name);
    if (typeof d.bytes !== 'number' || !Number.isFinite(d.bytes) || d.bytes <= 0) throw bad(file, `datasets[${i}].bytes: expected a number > 0`);
    if (typeof d.popularity !== 'number' || !Number.isFinite(d.popularity) || d.popularity < 0) throw bad(file, `datasets[${i}].popularity: expected a number >= 0`);
    return { name: d.name, bytes: d.bytes, popularity: d.popularity };
  });
  const total = datasets.reduce((a, d) => a + d.popularity, 0);
  if (!(total > 0)) throw bad(file, 'every popularity is 0');
  return { kind: 'gantry.dataset-catalogue', skew: typeof o.skew === 'number' ? o.skew : NaN, seed: typeof o.seed === 'number' ? o.seed : 0, datasets: datasets.map((d) => ({ ...d, popularity: d.popularity / total })) };
}

/** The dataset each job reads, drawn by popularity with its own seeded stream (job order fixed). */
export function assignDatasets(jobIds: readonly string[], catalogue: DatasetCatalogue, seed: number): Map<string, CatalogueDataset> {
  const rng = createRng(seed ^ 0x5eed_da7a);
  const cdf: number[] = [];
  let acc = 0;
  for (const d of catalogue.datasets) cdf.push((acc += d.popularity));
  const out = new Map<string, CatalogueDataset>();
  for (const id of jobIds) {
    const x = rng.next() * acc;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] as number) > x) hi = mid;
      else lo = mid + 1;
    }
    out.set(id, catalogue.datasets[lo] as CatalogueDataset);
  }
  return out;
}
