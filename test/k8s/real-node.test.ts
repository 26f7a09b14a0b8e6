/**
 * Gantry's Kubernetes mode with pods that really run: a real kubelet and containerd on this
 * machine (test/k8s/real-node.ts) registered with the test apiserver, Gantry's device plugin
 * advertising 4 simulated H100s on it, Gantry's scheduler and webhook, all three run by the test
 * as processes. The scenarios (real-node-scenarios.ts) are shared with real-node-helm.test.ts,
 * which runs the same components as the pods of `helm install`.
 *
 * Needs root and scripts/k8s/ensure-kubelet.sh; skipped otherwise, mandatory with
 * GANTRY_REQUIRE_KUBELET=1 (npm run test:all).
 */
import { describe, before, after } from 'node:test';
import { generate } from 'selfsigned';
import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig, type V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { ControlPlane } from './harness.js';
import { applyObjects, createNamespace, manifest, installGantryCrds } from './cluster.js';
import { RealNode, realNodeTestOptions } from './real-node.js';
import { deletePods, realNodeScenarios, SCENARIO_NAMESPACES } from './real-node-scenarios.js';
import { KubeScheduler } from '../../src/adapters/k8s/scheduler.js';
import { startWebhookServer } from '../../src/adapters/k8s/webhook.js';

const opts = realNodeTestOptions();

describe('kubernetes mode on a real node (kubelet + containerd + gantry device plugin)', opts, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let node: RealNode;
  let scheduler: KubeScheduler | null = null;
  let webhookClose: (() => void) | null = null;
  const logs: string[] = [];

  before(async () => {
    cp = await ControlPlane.start();
    kc = cp.kubeConfig();
    await installGantryCrds(kc);
    // The mutating webhook (GPU shares), reached on loopback.
    const pems = await generate([{ name: 'commonName', value: 'gantry-webhook.gantry-system.svc' }], {
      keySize: 2048,
      extensions: [{ name: 'basicConstraints', cA: true }, { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    const wh = await startWebhookServer({ cert: pems.cert, key: pems.private, port: 0, host: '127.0.0.1', log: (m) => logs.push(m) });
    webhookClose = () => wh.server.close();
    for (const o of manifest('webhook.yaml')) {
      if (o.kind !== 'MutatingWebhookConfiguration') continue;
      const cfg = o as V1MutatingWebhookConfiguration;
      for (const w of cfg.webhooks ?? []) w.clientConfig = { url: `https://127.0.0.1:${wh.port}/mutate`, caBundle: Buffer.from(pems.cert).toString('base64') };
      await kc.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({ body: cfg });
    }
    // The device plugin runs with deploy/device-plugin.yaml's service account: its RBAC is what it may do.
    await applyObjects(kc, manifest('device-plugin.yaml'));
    const token = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
      name: 'gantry-device-plugin',
      namespace: 'gantry-system',
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    node = await RealNode.start(cp, { gpus: '4xH100-80GB', pluginToken: token.status?.token ?? '' });
    scheduler = new KubeScheduler({ kubeConfig: kc, namespace: 'gantry-system', identity: 'real-node-test', leaderElection: false, core: { minRuntimeMs: 0 }, log: (m) => logs.push(m) });
    await scheduler.start();
  });

  after(async () => {
    if (process.env['GANTRY_K8S_LOGS'] === '1') {
      process.stderr.write(`${logs.join('\n')}\n--- device plugin:\n${node?.log('device-plugin') ?? ''}\n--- kubelet:\n${node?.logTail('kubelet', 80) ?? ''}\n`);
    }
    await scheduler?.stop();
    // Pods go while the kubelet runs, so that it stops their containers itself.
    for (const ns of SCENARIO_NAMESPACES) await deletePods(kc, ns).catch(() => undefined);
    await node?.stop();
    webhookClose?.();
    await cp?.stop();
  });

  realNodeScenarios(() => ({ kc, node, createNamespace: (name) => createNamespace(kc, name), devicePluginLog: async () => node.log('device-plugin') }));
});
