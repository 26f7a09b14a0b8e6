/**
 * Pods held until their data is on their node. With `--data-wait-image`, the mutating webhook
 * gives every gantry pod that names datasets (`gantry.dev/datasets`) a first init container,
 * `gantry k8s wait-data`, that mounts the node's cache folder (hostPath, read-only) and
 * returns once each dataset has a complete copy there: `<cacheDir>/<name>@<version>` appears
 * only by the final rename of a verified fill (node-cache.ts), so its presence is the proof.
 * The pod's own containers start after it; the node's cache agent fills for a bound pod
 * anyway, and the scheduler will have asked for the data earlier where it could predict the
 * node (prefetch-requests.ts, capacity-prefetch.ts).
 */
import { readdirSync } from 'node:fs';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { UserError } from '../../core/errors.js';
import { ANN_DATASETS } from './names.js';
import { datasetNames } from './pods.js';

export interface DataWaitOptions {
  /** An image with the gantry CLI (the scheduler's). */
  readonly image: string;
  /** The cache agent's folder on the node (cacheAgent.cacheDir). */
  readonly cacheDir: string;
}

export const DATA_WAIT_CONTAINER = 'gantry-wait-data';
export const DATA_WAIT_VOLUME = 'gantry-dataset-cache';

export type PatchOp = { op: 'add'; path: string; value: unknown };

/** The JSON-patch operations that add the wait (none for a pod without datasets or already given one). */
export function dataWaitOps(pod: V1Pod, o: DataWaitOptions): PatchOp[] {
  const names = datasetNames(pod.metadata?.annotations?.[ANN_DATASETS]);
  if (names.length === 0 || pod.spec?.initContainers?.some((c) => c.name === DATA_WAIT_CONTAINER)) return [];
  const container: V1Container = {
    name: DATA_WAIT_CONTAINER,
    image: o.image,
    command: ['gantry', 'k8s', 'wait-data', '--cache-dir', o.cacheDir, '--datasets', names.join(',')],
    volumeMounts: [{ name: DATA_WAIT_VOLUME, mountPath: o.cacheDir, readOnly: true }],
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
  };
  const volume = { name: DATA_WAIT_VOLUME, hostPath: { path: o.cacheDir, type: 'DirectoryOrCreate' } };
  return [
    pod.spec?.initContainers ? { op: 'add', path: '/spec/initContainers/0', value: container } : { op: 'add', path: '/spec/initContainers', value: [container] },
    pod.spec?.volumes ? { op: 'add', path: '/spec/volumes/-', value: volume } : { op: 'add', path: '/spec/volumes', value: [volume] },
  ];
}

/** Which of `names` have a complete copy (some `<name>@<version>` folder) in `cacheDir`. */
export function datasetsReady(cacheDir: string, names: readonly string[]): { ready: string[]; missing: string[] } {
  let entries: string[] = [];
  try {
    entries = readdirSync(cacheDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    // No folder yet: the agent has not filled anything on this node.
  }
  const held = new Set(entries.map((e) => /^(.+)@\d+$/.exec(e)?.[1]).filter((n): n is string => n !== undefined));
  return { ready: names.filter((n) => held.has(n)), missing: names.filter((n) => !held.has(n)) };
}

/** Resolves once every dataset is ready in `cacheDir`; rejects after `timeoutMs` (0 = never). */
export async function waitForDatasets(cacheDir: string, names: readonly string[], o: { intervalMs: number; timeoutMs: number; log: (line: string) => void }): Promise<void> {
  const start = Date.now();
  let last = '';
  for (;;) {
    const r = datasetsReady(cacheDir, names);
    if (r.missing.length === 0) {
      o.log(`gantry wait-data: ${names.join(', ')} ready in ${cacheDir}`);
      return;
    }
    const line = `gantry wait-data: waiting for ${r.missing.join(', ')} in ${cacheDir}`;
    if (line !== last) o.log(line);
    last = line;
    if (o.timeoutMs > 0 && Date.now() - start >= o.timeoutMs) throw new UserError('DATASET_NOT_CACHED', `${r.missing.join(', ')} not on this node after ${Math.round(o.timeoutMs / 1000)} s`);
    await new Promise((r2) => setTimeout(r2, o.intervalMs));
  }
}
