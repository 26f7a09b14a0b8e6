/**
 * Data in the job simulator: `gantry sim datasets` (writes a dataset catalogue) and the
 * `gantry sim jobs` flags that attach one to the trace's jobs (--datasets, --locality, ...).
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { GB, generateCatalogue, loadCatalogue } from '../../sim/jobs/data/catalogue.js';
import type { JobsDataSpec } from '../../sim/jobs/experiment.js';
import { existingFile, parseNumber } from '../flags.js';

export interface DataFlags {
  datasets?: string;
  locality: string;
  localityWeight?: string;
  localityHoldSeconds: string;
  localityHoldBySize?: boolean;
  localityReserve?: string;
  cacheGb: string;
  diskGbPerS: string;
  uplinkGbPerS: string;
}

interface CatalogueFlags {
  count: string;
  skew: string;
  seed: string;
  minGb: string;
  maxGb: string;
  out?: string;
}

/** The data flags of `gantry sim jobs`. */
export function addDataOptions(cmd: Command): Command {
  return cmd
    .option('--datasets <file>', 'a dataset catalogue (JSON, from gantry sim datasets): each job reads one dataset, drawn by popularity; nodes cache them (LRU) and a job waits for its data before it runs')
    .option('--locality <on|off>', 'with --datasets: on = jobs name their dataset and placement sees the node caches; off = placement is blind to data (same caches)', 'on')
    .option('--locality-weight <points>', 'with --datasets: score points a fully local node gains over the packing score (default: locality leads; 0 = off)')
    .option('--locality-hold-seconds <n>', 'with --datasets and --locality on, gantry policies: a job may wait this long for a node holding its data before it goes elsewhere (delay scheduling; 0 = never)', '0')
    .option('--locality-hold-by-size', 'with --locality-hold-seconds: a job waits at most as long as copying its data at the disk rate would take (locality.holdCopyBytesPerSec)')
    .option('--locality-reserve <points>', 'with --datasets and --locality on, gantry policies: the holder reserve, score points a node loses per TB it holds of data other pending jobs read (locality.reserve; default 1e6, 0 = off)')
    .option('--cache-gb <n>', 'with --datasets: cache capacity per node, GB', '4000')
    .option('--disk-gb-per-s <n>', 'with --datasets: a node disk fill rate (also the rack-neighbour copy rate), GB/s', '1')
    .option('--uplink-gb-per-s <n>', 'with --datasets: a rack uplink to the data source, shared by the rack fills under way, GB/s', '5');
}

export function parseDataFlags(f: DataFlags): JobsDataSpec | undefined {
  if (f.locality !== 'on' && f.locality !== 'off') throw new UserError('BAD_FLAG', `--locality: "${f.locality}" is not on or off`);
  if (!f.datasets) {
    if (f.localityWeight !== undefined) throw new UserError('BAD_FLAG', '--locality-weight needs --datasets FILE');
    return undefined;
  }
  const catalogue = loadCatalogue(existingFile('--datasets', f.datasets));
  return {
    catalogue,
    locality: f.locality === 'on',
    ...(f.localityWeight !== undefined ? { localityWeight: parseNumber('--locality-weight', f.localityWeight, 0, 1e15) } : {}),
    localityHoldSeconds: parseNumber('--locality-hold-seconds', f.localityHoldSeconds, 0, 86_400),
    ...(f.localityHoldBySize ? { localityHoldBySize: true } : {}),
    ...(f.localityReserve !== undefined ? { localityReserve: parseNumber('--locality-reserve', f.localityReserve, 0, 1e15) } : {}),
    settings: {
      cacheBytes: parseNumber('--cache-gb', f.cacheGb, 0, 1e9) * GB,
      diskBytesPerSec: parseNumber('--disk-gb-per-s', f.diskGbPerS, 0.001, 1e6) * GB,
      uplinkBytesPerSec: parseNumber('--uplink-gb-per-s', f.uplinkGbPerS, 0.001, 1e6) * GB,
    },
  };
}

/** The settings echoed in reports. */
export function dataSettings(d: JobsDataSpec | undefined): Record<string, unknown> {
  if (!d) return {};
  return {
    datasets: { count: d.catalogue.datasets.length, skew: d.catalogue.skew, seed: d.catalogue.seed },
    locality: d.locality ? 'on' : 'off',
    ...(d.localityWeight !== undefined ? { localityWeight: d.localityWeight } : {}),
    ...(d.localityHoldSeconds ? { localityHoldSeconds: d.localityHoldSeconds } : {}),
    ...(d.localityHoldBySize ? { localityHoldBySize: true } : {}),
    ...(d.localityReserve !== undefined ? { localityReserve: d.localityReserve } : {}),
    cacheGb: d.settings.cacheBytes / GB,
    diskGbPerS: d.settings.diskBytesPerSec / GB,
    uplinkGbPerS: d.settings.uplinkBytesPerSec / GB,
  };
}

export function registerSimDatasets(sim: Command): void {
  sim
    .command('datasets')
    .description('generate a dataset catalogue for gantry sim jobs --datasets: sizes log-uniform between --min-gb and --max-gb, Zipf popularity of exponent --skew')
    .option('--count <n>', 'datasets in the catalogue', '200')
    .option('--skew <s>', 'Zipf exponent of the popularity (0 = uniform, 1 = Zipf, higher = a few datasets dominate)', '1')
    .option('--seed <n>', 'random seed (sizes)', '1')
    .option('--min-gb <n>', 'smallest dataset, GB', '10')
    .option('--max-gb <n>', 'largest dataset, GB', '2000')
    .option('--out <file>', 'write the catalogue here (default: print it)')
    .action((f: CatalogueFlags) => {
      const minGb = parseNumber('--min-gb', f.minGb, 0.001, 1e7);
      const maxGb = parseNumber('--max-gb', f.maxGb, 0.001, 1e7);
      if (maxGb < minGb) throw new UserError('BAD_FLAG', `--max-gb ${maxGb} is below --min-gb ${minGb}`);
      const c = generateCatalogue({
        count: parseNumber('--count', f.count, 1, 100_000, true),
        skew: parseNumber('--skew', f.skew, 0, 10),
        seed: parseNumber('--seed', f.seed, 0, 2 ** 31, true),
        minBytes: minGb * GB,
        maxBytes: maxGb * GB,
      });
      const text = JSON.stringify(c, null, 1) + '\n';
      if (!f.out) {
        process.stdout.write(text);
        return;
      }
      writeFileSync(f.out, text);
      const total = c.datasets.reduce((a, d) => a + d.bytes, 0);
      process.stdout.write(`wrote ${f.out}: ${c.datasets.length} datasets, ${(total / 1e12).toFixed(1)} TB in all, the most popular read by ${((c.datasets[0]?.popularity ?? 0) * 100).toFixed(1)} % of jobs\n`);
    });
}
