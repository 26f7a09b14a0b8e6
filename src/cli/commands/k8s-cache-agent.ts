/**
 * `gantry k8s cache-agent`: the dataset cache of one node (a DaemonSet; src/adapters/k8s/cache-agent.ts).
 * The datasets it may fill come from a catalogue file (a mounted ConfigMap), read again at
 * every pass:
 *   datasets:
 *     - name: imagenet
 *       source: {type: s3, bucket: datasets, prefix: imagenet/, endpoint: http://seaweedfs:8333}
 *     - name: coco
 *       source: {type: local, path: /mnt/shared/coco}
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError } from '../../core/errors.js';
import type { SourceSpec } from '../../adapters/datacache/dataset-source.js';
import { datasetAddBody } from '../../server/contract/dataset-schemas.js';
import { failpoint } from '../../server/failpoints.js';
import { sizeOption } from './up.js';

const catalogueSchema = z.strictObject({ datasets: z.array(datasetAddBody).default([]) });

/** The catalogue's sources by name; a file that cannot be read or parsed throws DATASET_INVALID. */
export function readCatalogue(path: string): Map<string, SourceSpec> {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError('DATASET_INVALID', `--datasets: cannot read ${path}: ${(e as Error).message}`);
  }
  const r = catalogueSchema.safeParse(raw ?? {});
  if (!r.success) throw new UserError('DATASET_INVALID', `--datasets: ${path}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const out = new Map<string, SourceSpec>();
  for (const d of r.data.datasets) {
    if (out.has(d.name)) throw new UserError('DATASET_INVALID', `--datasets: ${path}: dataset ${d.name} is listed twice`);
    out.set(d.name, d.source as SourceSpec);
  }
  return out;
}

export function registerCacheAgent(k8s: Command, loadKubeConfig: (path: string | undefined) => Promise<KubeConfig>, waitForSignal: () => Promise<string>, parseDurationMs: (flag: string, v: string) => number): void {
  k8s
    .command('wait-data')
    .description("wait until the node's cache holds a complete copy of each dataset (the init container the webhook adds with --data-wait-image)")
    .requiredOption('--datasets <names>', 'comma-separated dataset names')
    .option('--cache-dir <dir>', 'the cache folder on the node, mounted read-only', '/var/lib/gantry/datasets')
    .option('--interval <d>', 'how often the folder is read again', '2s')
    .option('--timeout <d>', 'give up (exit 2, DATASET_NOT_CACHED) after this long; 0 = never', '0')
    .option('--link-dir <dir>', 'then link <dir>/<name> to the newest complete copy of each dataset (what the pod\'s containers read)')
    .action(async (f: { datasets: string; cacheDir: string; interval: string; timeout: string; linkDir?: string }) => {
      const names = f.datasets.split(',').map((d) => d.trim()).filter((d) => d !== '');
      if (names.length === 0) throw new UserError('BAD_FLAG', '--datasets: no dataset names');
      const log = (l: string): void => void process.stderr.write(`${l}\n`);
      const { linkDatasets, waitForDatasets } = await import('../../adapters/k8s/data-wait.js');
      await waitForDatasets(f.cacheDir, names, { intervalMs: parseDurationMs('--interval', f.interval), timeoutMs: parseDurationMs('--timeout', f.timeout), log });
      if (f.linkDir !== undefined) log(`gantry wait-data: linked in ${f.linkDir}: ${linkDatasets(f.cacheDir, names, f.linkDir).join(', ')}`);
    });

  k8s
    .command('cache-agent')
    .description("fill and evict datasets in this node's cache on request, and report what it holds in the node annotation gantry.dev/cached-datasets")
    .option('--node <name>', "this node's name (default: NODE_NAME, else the hostname)", process.env['NODE_NAME'] ?? hostname())
    .requiredOption('--datasets <file>', 'the dataset catalogue: YAML or JSON {datasets: [{name, source}]}')
    .option('--cache-dir <dir>', 'the cache folder on the node (pods mount it read-only)', '/var/lib/gantry/datasets')
    .option('--cache-capacity <size>', 'bytes the cache may hold, e.g. 500Gi', '100Gi')
    .option('--interval <d>', 'how often the node and its pods are read again', '5s')
    .option('--streams <n>', 'files copied at once', '4')
    .option('--kubeconfig <path>', 'kubeconfig (default: KUBECONFIG, ~/.kube/config, or in-cluster)')
    .action(async (f: { node: string; datasets: string; cacheDir: string; cacheCapacity: string; interval: string; streams: string; kubeconfig?: string }) => {
      const capacityBytes = sizeOption(f.cacheCapacity, '--cache-capacity');
      const intervalMs = parseDurationMs('--interval', f.interval);
      const streams = Number(f.streams);
      if (!Number.isInteger(streams) || streams < 1 || streams > 64) throw new UserError('BAD_FLAG', `--streams: "${f.streams}" must be an integer from 1 to 64`);
      let last = readCatalogue(f.datasets);
      const kc = await loadKubeConfig(f.kubeconfig);
      const { CacheAgent } = await import('../../adapters/k8s/cache-agent.js');
      const log = (l: string): void => void process.stderr.write(`${new Date().toISOString()} ${l}\n`);
      const agent = new CacheAgent({
        kubeConfig: kc,
        node: f.node,
        cacheDir: f.cacheDir,
        capacityBytes,
        intervalMs,
        streams,
        log,
        onVerifiedBatch: () => failpoint('dataset-fill-flush'),
        // A catalogue that became unreadable keeps the last good one (and says so).
        sources: () => {
          try {
            last = readCatalogue(f.datasets);
          } catch (e) {
            log((e as Error).message);
          }
          return last;
        },
      });
      log(`gantry k8s cache-agent on ${f.node}: cache ${f.cacheDir}, capacity ${capacityBytes} bytes, ${last.size} dataset(s) in the catalogue`);
      agent.start();
      const why = await waitForSignal();
      await agent.stop();
      log(`gantry k8s cache-agent stopped: ${why}`);
    });
}
