/**
 * Pods held until their data is on the node: the webhook's init container (data-wait.ts) and
 * `gantry k8s wait-data` as a real process over a real folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readlinkSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { admitPod } from '../../src/adapters/k8s/webhook.js';
import { DATA_WAIT_CONTAINER, datasetsReady } from '../../src/adapters/k8s/data-wait.js';
import { fakePod } from '../k8s/cluster.js';

const WAIT = { image: 'ghcr.io/example/gantry:1', cacheDir: '/var/lib/gantry/datasets' };

/** Applies JSON-patch "add" operations (what the webhook emits) to a copy of `pod`. */
function applyPatch(pod: V1Pod, patch: string | undefined): V1Pod {
  const doc = structuredClone(pod) as unknown as Record<string, unknown>;
  for (const op of JSON.parse(Buffer.from(patch ?? 'W10=', 'base64').toString()) as { op: string; path: string; value: unknown }[]) {
    const keys = op.path.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop() as string;
    let at: Record<string, unknown> | unknown[] = doc;
    for (const k of keys) at = (at as Record<string, unknown>)[k] as Record<string, unknown>;
    if (Array.isArray(at)) at.splice(last === '-' ? at.length : Number(last), 0, op.value);
    else at[last] = op.value;
  }
  return doc as unknown as V1Pod;
}

test('webhook with a data wait: a pod naming datasets gets a first init container that waits for them on the node', () => {
  const pod = fakePod('ns', 'p', { gpus: 1, annotations: { 'gantry.dev/datasets': 'imagenet, coco' } });
  const r = admitPod({ uid: 'u', operation: 'CREATE', object: pod }, undefined, WAIT);
  const out = applyPatch(pod, r.patch);
  const init = out.spec?.initContainers?.[0];
  assert.equal(init?.name, DATA_WAIT_CONTAINER);
  // Arguments only: the image's entrypoint is the gantry CLI.
  assert.equal(init?.command, undefined);
  assert.deepEqual(init?.args, ['k8s', 'wait-data', '--cache-dir', WAIT.cacheDir, '--datasets', 'imagenet,coco', '--link-dir', '/gantry/datasets', '--timeout', '0']);
  assert.equal(init?.terminationMessagePolicy, 'FallbackToLogsOnError');
  assert.deepEqual(init?.volumeMounts, [{ name: 'gantry-dataset-cache', mountPath: WAIT.cacheDir, readOnly: true }, { name: 'gantry-dataset-links', mountPath: '/gantry/datasets' }]);
  assert.deepEqual(out.spec?.volumes, [{ name: 'gantry-dataset-cache', hostPath: { path: WAIT.cacheDir, type: 'DirectoryOrCreate' } }, { name: 'gantry-dataset-links', emptyDir: {} }]);
  // The pod's own container reads both read-only, and is told where each dataset is.
  const main = out.spec?.containers[0];
  assert.deepEqual(main?.volumeMounts?.filter((m) => m.name.startsWith('gantry-dataset')), [
    { name: 'gantry-dataset-cache', mountPath: WAIT.cacheDir, readOnly: true },
    { name: 'gantry-dataset-links', mountPath: '/gantry/datasets', readOnly: true },
  ]);
  assert.deepEqual(main?.env?.filter((e) => e.name.startsWith('GANTRY_DATASET_')), [
    { name: 'GANTRY_DATASET_IMAGENET', value: '/gantry/datasets/imagenet' },
    { name: 'GANTRY_DATASET_COCO', value: '/gantry/datasets/coco' },
  ]);
  // Admitted again (a retried request): nothing added twice.
  assert.deepEqual(admitPod({ uid: 'u', operation: 'CREATE', object: out }, undefined, WAIT), { uid: 'u', allowed: true });
  // Without datasets, or without the option, nothing changes.
  assert.deepEqual(admitPod({ uid: 'u', operation: 'CREATE', object: fakePod('ns', 'q', { gpus: 1 }) }, undefined, WAIT), { uid: 'u', allowed: true });
  assert.deepEqual(admitPod({ uid: 'u', operation: 'CREATE', object: pod }), { uid: 'u', allowed: true });
});

test('webhook with a data wait on a GPU-share pod with its own init container: both edits land on the right containers', () => {
  const pod = fakePod('ns', 'p', { fraction: '0.5', annotations: { 'gantry.dev/datasets': 'coco' } });
  if (pod.spec) pod.spec.initContainers = [{ name: 'user-init', image: 'busybox' }];
  if (pod.spec) pod.spec.volumes = [{ name: 'scratch', emptyDir: {} }];
  const out = applyPatch(pod, admitPod({ uid: 'u', operation: 'CREATE', object: pod }, () => 'gantry-gpu-x', WAIT).patch);
  assert.deepEqual(out.spec?.initContainers?.map((c) => c.name), [DATA_WAIT_CONTAINER, 'user-init']);
  assert.deepEqual(out.spec?.initContainers?.[1]?.envFrom, [{ configMapRef: { name: 'gantry-gpu-x', optional: false } }], 'the share environment went to the user\'s init container');
  assert.equal(out.spec?.initContainers?.[0]?.envFrom, undefined);
  assert.deepEqual(out.spec?.volumes?.map((v) => v.name), ['scratch', 'gantry-dataset-cache', 'gantry-dataset-links']);
});

test('webhook with a data wait: the pod\'s timeout annotation wins over the webhook\'s, and a bad one is refused with its name', () => {
  const withTimeout = (t: string | undefined): V1Pod => fakePod('ns', 'p', { gpus: 1, annotations: { 'gantry.dev/datasets': 'coco', ...(t !== undefined ? { 'gantry.dev/data-wait-timeout': t } : {}) } });
  const timeoutArg = (pod: V1Pod): string | undefined => {
    const a = applyPatch(pod, admitPod({ uid: 'u', operation: 'CREATE', object: pod }, undefined, { ...WAIT, timeout: '30m' }).patch).spec?.initContainers?.[0]?.args ?? [];
    return a[a.indexOf('--timeout') + 1];
  };
  assert.equal(timeoutArg(withTimeout(undefined)), '30m');
  assert.equal(timeoutArg(withTimeout('90s')), '90s');
  const r = admitPod({ uid: 'u', operation: 'CREATE', object: withTimeout('soon') }, undefined, WAIT);
  assert.equal(r.allowed, false);
  assert.equal(r.status?.code, 422);
  assert.match(r.status?.message ?? '', /gantry\.dev\/data-wait-timeout: "soon" is not a duration/);
});

function waitData(dir: string, datasets: string, extra: string[] = []): { done: Promise<{ code: number | null; err: string }>; err: () => string } {
  const p = spawn(process.execPath, [resolve('bin/gantry.js'), 'k8s', 'wait-data', '--cache-dir', dir, '--datasets', datasets, '--interval', '50ms', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { done: new Promise((r) => p.on('exit', (code) => r({ code, err }))), err: () => err };
}

test('gantry k8s wait-data returns once every dataset has a complete copy; a copy still in staging does not count; a timeout fails with a code', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-wait-data-'));
  try {
    mkdirSync(join(dir, '.staging', 'b@2'), { recursive: true });
    mkdirSync(join(dir, 'a@1'));
    assert.deepEqual(datasetsReady(dir, ['a', 'b']), { ready: ['a'], missing: ['b'] });
    const w = waitData(dir, 'a,b');
    let exited = false;
    void w.done.then(() => (exited = true));
    while (!/waiting for b in /.test(w.err())) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(exited, false, 'b is only in staging: still waiting');
    renameSync(join(dir, '.staging', 'b@2'), join(dir, 'b@2'));
    const r = await w.done;
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /a, b ready in /);
    // With --link-dir: each name links to its newest complete copy (what the pod's containers read).
    mkdirSync(join(dir, 'a@3'));
    const links = mkdtempSync(join(tmpdir(), 'gantry-wait-links-'));
    const linked = await waitData(dir, 'a,b', ['--link-dir', links]).done;
    assert.equal(linked.code, 0, linked.err);
    assert.equal(readlinkSync(join(links, 'a')), join(dir, 'a@3'));
    assert.equal(readlinkSync(join(links, 'b')), join(dir, 'b@2'));
    assert.match(linked.err, /linked in .*: a@3, b@2/);
    rmSync(links, { recursive: true, force: true });
    const late = await waitData(dir, 'c', ['--timeout', '300ms']).done;
    assert.equal(late.code, 2, 'a user error exit');
    assert.match(late.err, /DATASET_NOT_CACHED/);
    assert.doesNotMatch(late.err, /\n\s+at /, 'no stack trace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
