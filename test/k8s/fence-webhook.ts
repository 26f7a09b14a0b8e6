/**
 * The webhook fence as deploy/webhook.yaml deploys it (ValidatingWebhookConfiguration
 * `gantry-fence`, `gantry k8s webhook --lease-namespace gantry-system`), run in the test process
 * and reached by the apiserver on loopback: Gantry's bindings and evictions are refused unless
 * the scheduler's Lease still names the holder and term they carry. Resolves once the apiserver
 * applies it (a binding made in a term long gone is refused).
 */
import type { Server } from 'node:http';
import { generate } from 'selfsigned';
import { AdmissionregistrationV1Api, ApiException, CoreV1Api, type KubeConfig, type V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import { startWebhookServer } from '../../src/adapters/k8s/webhook.js';
import { KubeClusterWrites } from '../../src/adapters/k8s/api.js';
import { fakePod, manifest, sleep } from './cluster.js';

export interface Fence {
  /** Writes the fence refused so far (the webhook's answers). */
  readonly refused: string[];
  stop(): void;
}

export async function startFence(kc: KubeConfig, log: (line: string) => void = () => undefined): Promise<Fence> {
  const pems = await generate([{ name: 'commonName', value: 'gantry-webhook.gantry-system.svc' }], {
    keySize: 2048,
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'gantry-webhook.gantry-system.svc' }] },
    ],
  });
  const leases = new KubeClusterWrites(kc, 'fence-webhook');
  const refused: string[] = [];
  const wh: { server: Server; port: number } = await startWebhookServer({
    cert: pems.cert,
    key: pems.private,
    port: 0,
    host: '127.0.0.1',
    log: (m) => {
      if (m.startsWith('denied') && !m.includes('fence-probe-')) refused.push(m);
      log(`[fence] ${new Date().toISOString()} ${m}`);
    },
    readLease: () => leases.getLease('gantry-system', 'gantry-scheduler'),
  });
  const cfg = manifest('webhook.yaml').find((o) => o.kind === 'ValidatingWebhookConfiguration' && o.metadata?.name === 'gantry-fence') as V1ValidatingWebhookConfiguration;
  for (const w of cfg.webhooks ?? []) w.clientConfig = { url: `https://127.0.0.1:${wh.port}/validate`, caBundle: Buffer.from(pems.cert).toString('base64') };
  await kc.makeApiClient(AdmissionregistrationV1Api).createValidatingWebhookConfiguration({ body: cfg });

  // The configuration takes effect once the apiserver's informer has it: probe until a stale binding is refused.
  const core = kc.makeApiClient(CoreV1Api);
  for (let i = 0; ; i++) {
    const name = `fence-probe-${i}`;
    await core.createNamespacedPod({ namespace: 'gantry-system', body: fakePod('gantry-system', name, { schedulerName: 'nobody' }) });
    try {
      await core.createNamespacedPodBinding({
        name,
        namespace: 'gantry-system',
        body: { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace: 'gantry-system', annotations: { 'gantry.dev/leader-epoch': '0:a-leader-long-gone' } }, target: { apiVersion: 'v1', kind: 'Node', name: 'nowhere' } },
      });
    } catch (e) {
      if (e instanceof ApiException && String(e.body).includes('stale binding refused')) break;
      throw e;
    } finally {
      await core.deleteNamespacedPod({ name, namespace: 'gantry-system', gracePeriodSeconds: 0 }).catch(() => undefined);
    }
    if (i > 100) throw new Error('the fence webhook never took effect');
    await sleep(100);
  }
  return {
    refused,
    stop: () => void wh.server.close(),
  };
}
