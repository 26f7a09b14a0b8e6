/**
 * InferenceServices on the test control plane, for tests and benchmarks: apply, read and delete
 * them, start the scheduler with the InferenceService controller in this process, start
 * `gantry k8s router` as its own process, and stream completions through it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { CustomObjectsApi, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { KubeScheduler } from '../../src/adapters/k8s/scheduler.js';
import { InferenceController } from '../../src/adapters/k8s/inference-controller.js';
import { KubeInferenceWrites } from '../../src/adapters/k8s/inference-writes.js';
import type { InferenceServiceStatus } from '../../src/adapters/k8s/inference-spec.js';
import { freePort, type ControlPlane } from './harness.js';
import { REPO, TEST_SCHEDULER_TIMING, waitFor } from './cluster.js';

export const ISVC = { group: 'scheduling.gantry.dev', version: 'v1alpha1', plural: 'inferenceservices' } as const;

export function isvcObject(namespace: string, name: string, spec: Record<string, unknown>): object {
  return { apiVersion: 'scheduling.gantry.dev/v1alpha1', kind: 'InferenceService', metadata: { name, namespace }, spec: { image: 'gantry:sim', queue: 'serving', ...spec } };
}

export async function applyIsvc(kc: KubeConfig, namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...ISVC, namespace, body: isvcObject(namespace, name, spec) });
}

export async function isvcStatus(kc: KubeConfig, namespace: string, name: string): Promise<InferenceServiceStatus> {
  const o = (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ ...ISVC, namespace, name })) as { status?: InferenceServiceStatus };
  return o.status ?? {};
}

export async function removeIsvc(kc: KubeConfig, namespace: string, name: string): Promise<void> {
  await kc.makeApiClient(CustomObjectsApi).deleteNamespacedCustomObject({ ...ISVC, namespace, name });
}

/** A service's replica pods not being deleted. */
export const replicasOf = (pods: readonly V1Pod[], name: string): V1Pod[] => pods.filter((p) => p.metadata?.labels?.['gantry.dev/inference-service'] === name && !p.metadata?.deletionTimestamp);

/** The scheduler (no leader election) and the InferenceService controller on its leadership, as `gantry k8s scheduler` runs them. */
export async function startServing(kc: KubeConfig, log: (m: string) => void): Promise<{ scheduler: KubeScheduler; controller: InferenceController; stop(): Promise<void> }> {
  const scheduler = new KubeScheduler({ kubeConfig: kc, namespace: 'gantry-system', identity: 'isvc-test', ...TEST_SCHEDULER_TIMING, log });
  const controller = new InferenceController({ kubeConfig: kc, writes: new KubeInferenceWrites(kc, 'isvc-test'), mayWrite: () => scheduler.writable, log });
  await Promise.all([scheduler.start(), controller.start()]);
  await waitFor('leading', async () => scheduler.isLeader);
  return { scheduler, controller, stop: async () => void (await Promise.all([controller.stop(), scheduler.stop()])) };
}

export interface RouterProcess {
  readonly base: string;
  readonly metricsPort: number;
  readonly child: ChildProcess;
  readonly output: () => string;
}

/** `gantry k8s router` for one namespace, as its own process, on loopback. */
export async function startRouterProcess(cp: ControlPlane, namespace: string): Promise<RouterProcess> {
  const kubeconfig = cp.writeKubeconfig(join(cp.dir, 'router.kubeconfig'));
  const metricsPort = await freePort();
  const child = spawn(process.execPath, [join(REPO, 'bin/gantry.js'), 'k8s', 'router', '--kubeconfig', kubeconfig, '--namespace', namespace, '--port', '0', '--host', '127.0.0.1', '--metrics-port', String(metricsPort), '--metrics-host', '127.0.0.1', '--url', 'http://router.test'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const base = await waitFor('router started', async () => /routing on (http:\/\/\S+?)\/ /.exec(out)?.[1] ?? (child.exitCode !== null ? Promise.reject(new Error(out)) : null), 30_000);
  return { base, metricsPort, child, output: () => out };
}

export interface StreamResult {
  readonly status: number;
  readonly replica: string;
  readonly done: boolean;
}

/** One streamed completion through the router: its status, the replica that answered, whether it ended with [DONE]. */
export async function streamCompletion(base: string, service: string, maxTokens: number): Promise<StreamResult> {
  const r = await fetch(`${base}/${service}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'tell me about gpus', max_tokens: maxTokens, stream: true }) });
  const text = await r.text();
  return { status: r.status, replica: r.headers.get('x-gantry-replica') ?? '', done: text.includes('data: [DONE]') };
}

/** `clients` loops of streamed completions until `stop()`; every result is kept. */
export function streamLoad(base: string, service: string, clients: number, maxTokens: number): { results: StreamResult[]; stop(): Promise<void> } {
  const results: StreamResult[] = [];
  let running = true;
  const loops = Array.from({ length: clients }, async () => {
    while (running) results.push(await streamCompletion(base, service, maxTokens).catch(() => ({ status: 0, replica: '', done: false })));
  });
  return { results, stop: async () => { running = false; await Promise.all(loops); } };
}
