/**
 * Pods held until their data is on their node. With `--data-wait-image`, the mutating webhook
 * gives every gantry pod that names datasets (`gantry.dev/datasets`) a first init container,
 * `gantry k8s wait-data`, that mounts the node's cache folder (hostPath, read-only) and
 * returns once each dataset has a complete copy there: `<cacheDir>/<name>@<version>` appears
 * only by the final rename of a verified fill (node-cache.ts), so its presence is the proof.
 * The pod's own containers start after it; the node's cache agent fills for a bound pod
 * anyway, and the scheduler will have asked for the data earlier where it could predict the
 * node (prefetch-requests.ts, capacity-prefetch.ts).
 *
 * Where the data is: the version is the node's (the agent records the newest version of the
 * source on first use), so it is not known at admission. The init container links
 * `/gantry/datasets/<name>` to the version it found, in an emptyDir every container mounts
 * read-only next to the cache folder itself (read-only too), and each container gets
 * `GANTRY_DATASET_<NAME>=/gantry/datasets/<name>`, as in `gantry up`.
 *
 * A wait that must end: `--data-wait-timeout` on the webhook, or the pod's
 * `gantry.dev/data-wait-timeout` annotation; the init container then exits 2 with
 * DATASET_NOT_CACHED, and its last log lines are the container's termination message (in the
 * pod's status).
 */
import { readdirSync, rmSync, symlinkSync } from 'node:fs';
import { copyTrusted } from '../datacache/cache-durability.js';
import { join } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { UserError } from '../../core/errors.js';
import { datasetEnvName } from '../../core/model/dataset-env.js';
import { ANN_DATASETS, ANN_DATA_WAIT_TIMEOUT } from './names.js';
import { datasetNames } from './pods.js';

export interface DataWaitOptions {
  /** An image whose entrypoint is the gantry CLI (the scheduler's): it is given only arguments. */
  readonly image: string;
  /** The cache agent's folder on the node (cacheAgent.cacheDir). */
  readonly cacheDir: string;
  /** Give up after this long (a duration such as 30m; absent or "0": never), unless the pod says otherwise. */
  readonly timeout?: string;
}

export const DATA_WAIT_CONTAINER = 'gantry-wait-data';
export const DATA_WAIT_VOLUME = 'gantry-dataset-cache';
export const DATASET_LINKS_VOLUME = 'gantry-dataset-links';
/** Where each container finds `<name>`, a link to the node's copy of that dataset. */
export const DATASET_LINK_DIR = '/gantry/datasets';

export type PatchOp = { op: 'add'; path: string; value: unknown };

/** A duration as the CLI takes it (500ms, 90s, 30m, 2h; a bare number is seconds). */
const DURATION = /^[0-9]+(\.[0-9]+)?(ms|s|m|h)?$/;

/**
 * The JSON-patch operations that add the wait (none for a pod without datasets or already given
 * one). Throws a UserError for a malformed `gantry.dev/data-wait-timeout`.
 */
export function dataWaitOps(pod: V1Pod, o: DataWaitOptions): PatchOp[] {
  const names = datasetNames(pod.metadata?.annotations?.[ANN_DATASETS]);
  if (names.length === 0 || pod.spec?.initContainers?.some((c) => c.name === DATA_WAIT_CONTAINER)) return [];
  const timeout = pod.metadata?.annotations?.[ANN_DATA_WAIT_TIMEOUT]?.trim() ?? o.timeout ?? '0';
  if (!DURATION.test(timeout)) throw new UserError('BAD_ANNOTATION', `${ANN_DATA_WAIT_TIMEOUT}: "${timeout}" is not a duration (examples: 90s, 30m, 2h; 0 = wait for ever)`);
  const cacheMount = { name: DATA_WAIT_VOLUME, mountPath: o.cacheDir, readOnly: true };
  const container: V1Container = {
    name: DATA_WAIT_CONTAINER,
    image: o.image,
    args: ['k8s', 'wait-data', '--cache-dir', o.cacheDir, '--datasets', names.join(','), '--link-dir', DATASET_LINK_DIR, '--timeout', timeout],
    volumeMounts: [cacheMount, { name: DATASET_LINKS_VOLUME, mountPath: DATASET_LINK_DIR }],
    // A timeout's DATASET_NOT_CACHED line is then in the pod's status, not only in its log.
    terminationMessagePolicy: 'FallbackToLogsOnError',
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
  };
  const ops: PatchOp[] = [];
  (pod.spec?.containers ?? []).forEach((c, i) => {
    const mounts = [cacheMount, { name: DATASET_LINKS_VOLUME, mountPath: DATASET_LINK_DIR, readOnly: true }].filter((m) => !c.volumeMounts?.some((x) => x.mountPath === m.mountPath));
    if (c.volumeMounts) for (const m of mounts) ops.push({ op: 'add', path: `/spec/containers/${i}/volumeMounts/-`, value: m });
    else if (mounts.length > 0) ops.push({ op: 'add', path: `/spec/containers/${i}/volumeMounts`, value: mounts });
    const env = names.map((n) => ({ name: datasetEnvName(n), value: `${DATASET_LINK_DIR}/${n}` })).filter((e) => !c.env?.some((x) => x.name === e.name));
    if (c.env) for (const e of env) ops.push({ op: 'add', path: `/spec/containers/${i}/env/-`, value: e });
    else if (env.length > 0) ops.push({ op: 'add', path: `/spec/containers/${i}/env`, value: env });
  });
  const volumes = [{ name: DATA_WAIT_VOLUME, hostPath: { path: o.cacheDir, type: 'DirectoryOrCreate' } }, { name: DATASET_LINKS_VOLUME, emptyDir: {} }];
  return [
    ...ops,
    pod.spec?.initContainers ? { op: 'add', path: '/spec/initContainers/0', value: container } : { op: 'add', path: '/spec/initContainers', value: [container] },
    ...(pod.spec?.volumes ? volumes.map((v): PatchOp => ({ op: 'add', path: '/spec/volumes/-', value: v })) : [{ op: 'add' as const, path: '/spec/volumes', value: volumes }]),
  ];
}

/**
 * The newest complete version of each dataset in `cacheDir` (some `<name>@<version>` folder
 * that the cache trusts: not one recorded before a reboot and not checked since, whose marker
 * names another boot; see datacache/cache-durability.ts).
 */
function completeVersions(cacheDir: string): Map<string, number> {
  let entries: string[] = [];
  try {
    entries = readdirSync(cacheDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    // No folder yet: the agent has not filled anything on this node.
  }
  const out = new Map<string, number>();
  for (const e of entries) {
    const m = /^(.+)@(\d+)$/.exec(e);
    if (m && copyTrusted(cacheDir, e)) out.set(m[1] as string, Math.max(out.get(m[1] as string) ?? 0, Number(m[2])));
  }
  return out;
}

/** Which of `names` have a complete copy (some `<name>@<version>` folder) in `cacheDir`. */
export function datasetsReady(cacheDir: string, names: readonly string[]): { ready: string[]; missing: string[] } {
  const held = completeVersions(cacheDir);
  return { ready: names.filter((n) => held.has(n)), missing: names.filter((n) => !held.has(n)) };
}

/** `<linkDir>/<name>` -> the newest complete copy of each dataset; returns "name@version" of each. */
export function linkDatasets(cacheDir: string, names: readonly string[], linkDir: string): string[] {
  const held = completeVersions(cacheDir);
  return names.map((n) => {
    const key = `${n}@${held.get(n) ?? 0}`;
    const link = join(linkDir, n);
    rmSync(link, { force: true }); // a restarted init container links again
    symlinkSync(join(cacheDir, key), link);
    return key;
  });
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
