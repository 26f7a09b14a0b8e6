/**
 * helm for the chart tests: the binary scripts/k8s/ensure-helm.sh builds from Go modules (cached
 * outside the repo), run against the chart in deploy/helm/gantry.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { REPO } from './cluster.js';

export const CHART = join(REPO, 'deploy/helm/gantry');

/** The helm binary's path, or null (with why) when it is not built. */
export function helmBinary(): { path: string } | { missing: string } {
  const check = spawnSync('bash', [join(REPO, 'scripts/k8s/ensure-helm.sh'), '--check'], { encoding: 'utf8' });
  return check.status === 0 ? { path: check.stdout.trim() } : { missing: check.stderr.trim() || 'scripts/k8s/ensure-helm.sh --check failed' };
}

/** node:test options: skip without helm, fail instead when GANTRY_REQUIRE_K8S=1 (CI). */
export function helmTestOptions(): { skip?: string } {
  const h = helmBinary();
  if ('path' in h) return {};
  if (process.env['GANTRY_REQUIRE_K8S'] === '1') throw new Error(`GANTRY_REQUIRE_K8S=1 but ${h.missing}`);
  return { skip: h.missing };
}

export interface HelmResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function helm(args: readonly string[], env: Readonly<Record<string, string>> = {}): HelmResult {
  const h = helmBinary();
  if (!('path' in h)) throw new Error(h.missing);
  // HOME-less caches, so that a test never reads or writes the user's helm configuration.
  const r = spawnSync(h.path, args, {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, HELM_CACHE_HOME: '/tmp/gantry-helm/cache', HELM_CONFIG_HOME: '/tmp/gantry-helm/config', HELM_DATA_HOME: '/tmp/gantry-helm/data', ...env },
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template` of the chart with `--set` values; throws with helm's message when it fails. */
export function renderChart(namespace: string, set: readonly string[] = [], extra: readonly string[] = []): KubernetesObject[] {
  const r = helm(['template', 'gantry', CHART, '--namespace', namespace, ...set.flatMap((s) => ['--set', s]), ...extra]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return (loadAllYaml(r.stdout) as (KubernetesObject | null)[]).filter((o): o is KubernetesObject => o !== null);
}

export function find<T extends KubernetesObject>(objs: readonly KubernetesObject[], kind: string, name: string): T | undefined {
  return objs.find((o) => o.kind === kind && o.metadata?.name === name) as T | undefined;
}
