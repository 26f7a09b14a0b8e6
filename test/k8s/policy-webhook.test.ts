/**
 * Admission policies in Kubernetes mode: the corpus (test/helpers/policy-corpus.ts) as pods
 * created (server-side dry run) on a real kube-apiserver, through the validating webhook as
 * deploy/webhook.yaml registers it; each pod gets the verdict the core and `gantry up` give the
 * job (the cases a pod cannot express, gangs and image-less work, are left out). The team is
 * the namespace.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from 'selfsigned';
import { AdmissionregistrationV1Api, ApiException, CoreV1Api, type KubeConfig, type V1Pod, type V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import { ControlPlane, k8sTestOptions } from './harness.js';
import { createNamespace, manifest } from './cluster.js';
import { startWebhookServer } from '../../src/adapters/k8s/webhook.js';
import { validatePolicyFile } from '../../src/spec/policy-file.js';
import type { PolicySet } from '../../src/core/admission-policy/types.js';
import { CORPUS, POLICY_FILES, type CorpusJob } from '../helpers/policy-corpus.js';

const opts = k8sTestOptions();

/** A corpus job as the pod a user would write for it. */
function podOf(job: CorpusJob, namespace: string, i: number): V1Pod {
  const j = job as { image?: string; queue?: string; labels?: Record<string, string>; preemptible?: boolean; checkpoint?: unknown; expectedDurationSeconds?: number; resources?: { gpu?: number; mig?: string; gpuModels?: string[] } };
  const r = j.resources ?? {};
  const limits: Record<string, string> = {};
  const annotations: Record<string, string> = {};
  if (r.gpu !== undefined && r.gpu >= 1) limits['nvidia.com/gpu'] = String(r.gpu);
  if (r.gpu !== undefined && r.gpu < 1) annotations['gantry.dev/gpu-fraction'] = String(r.gpu);
  if (r.mig !== undefined) limits[`nvidia.com/mig-${r.mig}`] = '1';
  if (r.gpuModels) annotations['gantry.dev/gpu-models'] = r.gpuModels.join(',');
  if (j.preemptible === false) annotations['gantry.dev/preemptible'] = 'false';
  if (j.checkpoint !== undefined) annotations['gantry.dev/checkpoint'] = 'true';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `corpus-${i}`, namespace, labels: { ...j.labels, ...(j.queue ? { 'gantry.dev/queue': j.queue } : {}) }, annotations },
    spec: {
      schedulerName: 'gantry',
      restartPolicy: 'Never',
      ...(j.expectedDurationSeconds !== undefined ? { activeDeadlineSeconds: j.expectedDurationSeconds } : {}),
      containers: [{ name: 'main', image: j.image ?? 'none', resources: { limits } }],
    },
  };
}

describe('admission policies in the Kubernetes webhook (real kube-apiserver)', opts, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let close: (() => void) | null = null;
  let policies: PolicySet | undefined;
  const logs: string[] = [];

  before(async () => {
    cp = await ControlPlane.start();
    kc = cp.kubeConfig();
    const pems = await generate([{ name: 'commonName', value: 'gantry-webhook.gantry-system.svc' }], {
      keySize: 2048,
      extensions: [{ name: 'basicConstraints', cA: true }, { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    const wh = await startWebhookServer({ cert: pems.cert, key: pems.private, port: 0, host: '127.0.0.1', log: (m) => logs.push(m), policies: () => policies });
    close = () => wh.server.close();
    const admission = kc.makeApiClient(AdmissionregistrationV1Api);
    const cfg = manifest('webhook.yaml').find((o) => o.kind === 'ValidatingWebhookConfiguration' && o.metadata?.name === 'gantry-policies') as V1ValidatingWebhookConfiguration;
    for (const w of cfg.webhooks ?? []) w.clientConfig = { url: `https://127.0.0.1:${wh.port}/validate`, caBundle: Buffer.from(pems.cert).toString('base64') };
    await admission.createValidatingWebhookConfiguration({ body: cfg });
    for (const ns of ['vision', 'interns']) await createNamespace(kc, ns);
  });
  after(async () => {
    close?.();
    await cp?.stop();
  });

  it('gives every corpus pod the verdict the core gives its job', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const cases = CORPUS.filter((c) => c.standaloneOnly === undefined);
    assert.ok(cases.length >= 35, `${cases.length} cases a pod can express`);
    const wrong: string[] = [];
    // The webhook configuration takes effect when the apiserver's informer has it: the first
    // refused case is tried until it is refused.
    let settled = false;
    for (const [i, c] of cases.entries()) {
      policies = validatePolicyFile(POLICY_FILES[c.policy]);
      const create = async (): Promise<string[] | string> => {
        try {
          await core.createNamespacedPod({ namespace: c.team, body: podOf(c.job, c.team, i), dryRun: 'All' });
          return [];
        } catch (e) {
          if (!(e instanceof ApiException)) throw e;
          const message = String((JSON.parse(String(e.body)) as { message?: string }).message ?? e.body);
          if (e.code !== 403 || !message.includes('admission webhook "policies.gantry.dev" denied the request: gantry: POLICY_DENIED: ')) return `${e.code} ${message}`;
          return [...message.matchAll(/POLICY_DENIED: policy ([a-z0-9.-]+), rule ([A-Za-z]+): /g)].map((m) => `${m[1]}/${m[2]}`).sort();
        }
      };
      let got = await create();
      for (let tries = 0; !settled && c.expect.length > 0 && Array.isArray(got) && got.length === 0 && tries < 100; tries++) {
        await new Promise((r) => setTimeout(r, 100));
        got = await create();
      }
      if (c.expect.length > 0) settled = true;
      if (!Array.isArray(got)) wrong.push(`${c.name}: ${got}`);
      else if (JSON.stringify(got) !== JSON.stringify([...c.expect].sort())) wrong.push(`${c.name}: got [${got.join(', ')}], expected [${c.expect.join(', ')}]`);
    }
    assert.deepEqual(wrong, []);
  });
});
