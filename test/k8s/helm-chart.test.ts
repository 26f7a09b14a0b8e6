/**
 * The Helm chart deploy/helm/gantry: linted and rendered with several values by the real helm
 * (built from Go modules, scripts/k8s/ensure-helm.sh), then installed, upgraded and uninstalled
 * on a real kube-apiserver + etcd (test/k8s/harness.ts), and the plain manifests in deploy/ it
 * generates (scripts/k8s/render-manifests.sh) applied there. There is no kubelet here: the
 * objects are checked, not the pods (the real-node tests run pods).
 */
import { describe, it, before, after } from 'node:test';
import { parse as parseYaml } from 'yaml';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AdmissionregistrationV1Api, ApiException, AppsV1Api, CoreV1Api, CustomObjectsApi, KubernetesObjectApi, RbacAuthorizationV1Api,
  type KubeConfig, type KubernetesObject, type V1DaemonSet, type V1Deployment, type V1MutatingWebhookConfiguration, type V1Secret, type V1ConfigMap, type V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { ControlPlane, k8sTestOptions } from './harness.js';
import { manifest, REPO, waitFor } from './cluster.js';
import { CHART, find, helm, helmTestOptions, renderChart } from './helm.js';

const NS = 'gantry-system';
const QUEUES = '[{"name":"research","quota":{"gpu":16},"weight":2},{"name":"team-a","parent":"research","quota":{"gpu":8},"limit":{"gpu":"12"}}]';

function args(objs: readonly KubernetesObject[], kind: string, name: string): string[] {
  const d = find<V1Deployment | V1DaemonSet>(objs, kind, name);
  return d?.spec?.template.spec?.containers[0]?.args ?? [];
}

function pem(b64: string | undefined): string {
  return Buffer.from(b64 ?? '', 'base64').toString('utf8');
}

describe('Helm chart deploy/helm/gantry', helmTestOptions(), () => {
  it('passes helm lint with the defaults and with cert-manager, queues and one replica', () => {
    for (const set of [[], ['webhook.tls.mode=certManager', 'scheduler.replicas=1', 'scheduler.leaderElect=false'], ['router.enabled=true']]) {
      const r = helm(['lint', CHART, '--strict', ...set.flatMap((s) => ['--set', s]), '--set-json', `queues=${QUEUES}`]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
    }
  });

  it('refuses bad values with a message naming the value', () => {
    const cases: [string[], RegExp][] = [
      [['scheduler.policy=fastest'], /scheduler\/policy.*must be one of/],
      [['scheduler.replicas=3', 'scheduler.leaderElect=false'], /scheduler\.replicas > 1 needs scheduler\.leaderElect/],
      [['webhook.tls.mode=selfmade'], /webhook\/tls\/mode/],
      [['scheduler.minRuntime=ten'], /scheduler\/minRuntime/],
    ];
    for (const [set, message] of cases) assert.throws(() => renderChart(NS, set), message, set.join(' '));
    assert.throws(() => renderChart(NS, [], ['--set-json', 'queues=[{"quota":{"gpu":1}}]']), /name/);
  });

  it('renders the values: replicas, policy, leader election, queues, simulated GPUs', () => {
    const objs = renderChart('ml-infra', ['scheduler.replicas=3', 'scheduler.policy=bestfit', 'scheduler.minRuntime=30m', 'devicePlugin.simulatedGpus=4xH100-80GB', 'image.tag=dev'], ['--set-json', `queues=${QUEUES}`]);
    const sched = find<V1Deployment>(objs, 'Deployment', 'gantry-scheduler');
    assert.equal(sched?.spec?.replicas, 3);
    assert.equal(sched?.metadata?.namespace, 'ml-infra');
    assert.equal(sched?.spec?.template.spec?.containers[0]?.image, 'gantry:dev');
    const sargs = args(objs, 'Deployment', 'gantry-scheduler');
    for (const a of ['--namespace=ml-infra', '--policy=bestfit', '--min-runtime=30m', '--lease-duration=15s']) assert.ok(sargs.includes(a), `${a} in ${sargs.join(' ')}`);
    assert.ok(args(objs, 'DaemonSet', 'gantry-device-plugin').includes('--gpus=4xH100-80GB'));
    const queues = objs.filter((o) => o.kind === 'Queue') as (KubernetesObject & { spec: Record<string, unknown> })[];
    assert.deepEqual(queues.map((q) => [q.metadata?.name, q.spec]), [
      ['research', { quota: { gpu: 16 }, weight: 2 }],
      ['team-a', { parent: 'research', quota: { gpu: 8 }, limit: { gpu: '12' } }],
    ]);
    // The Lease's namespace follows the release: the leader-election Role and the webhook's fence.
    const mwc = find<V1MutatingWebhookConfiguration>(objs, 'MutatingWebhookConfiguration', 'gantry');
    assert.equal(mwc?.webhooks?.[0]?.clientConfig.service?.namespace, 'ml-infra');
    assert.deepEqual(mwc?.webhooks?.[0]?.namespaceSelector?.matchExpressions?.[0]?.values, ['kube-system', 'ml-infra']);
    assert.ok(args(objs, 'Deployment', 'gantry-webhook').includes('--lease-namespace=ml-infra'));

    // extraEnv reaches every Gantry container; the device plugin runs as root (the kubelet's folder is root's, 0750).
    const env = renderChart(NS, [], ['--set-json', 'extraEnv=[{"name":"KUBERNETES_SERVICE_HOST","value":"192.0.2.10"}]']);
    for (const [kind, name] of [['Deployment', 'gantry-scheduler'], ['Deployment', 'gantry-webhook'], ['DaemonSet', 'gantry-device-plugin'], ['DaemonSet', 'gantry-cache-agent']]) {
      const c = find<V1Deployment | V1DaemonSet>(env, kind ?? '', name ?? '')?.spec?.template.spec?.containers[0];
      assert.equal(c?.env?.find((e) => e.name === 'KUBERNETES_SERVICE_HOST')?.value, '192.0.2.10', `${name} gets extraEnv`);
    }
    assert.equal(find<V1DaemonSet>(env, 'DaemonSet', 'gantry-device-plugin')?.spec?.template.spec?.containers[0]?.securityContext?.runAsUser, 0);
    assert.throws(() => renderChart(NS, [], ['--set-json', 'extraEnv=[{"value":"x"}]']), /name/);

    // GPU-use metrics: off by default; on, the scheduler reads DCGM figures through Prometheus.
    assert.ok(!sargs.some((a) => a.startsWith('--gpu-metrics')), `no GPU-use flags by default: ${sargs.join(' ')}`);
    const gpuUse = args(renderChart(NS, ['scheduler.gpuMetrics.prometheus=http://prometheus.monitoring:9090', 'scheduler.gpuMetrics.interval=30s']), 'Deployment', 'gantry-scheduler');
    for (const a of ['--gpu-metrics-prometheus=http://prometheus.monitoring:9090', '--gpu-metrics-interval=30s']) assert.ok(gpuUse.includes(a), `${a} in ${gpuUse.join(' ')}`);
    assert.throws(() => renderChart(NS, ['scheduler.gpuMetrics.prometheus=prometheus:9090']), /prometheus/);

    const single = renderChart(NS, ['scheduler.replicas=1', 'scheduler.leaderElect=false', 'webhook.enabled=false', 'devicePlugin.enabled=false', 'cacheAgent.enabled=false']);
    assert.ok(args(single, 'Deployment', 'gantry-scheduler').includes('--no-leader-elect'));
    assert.deepEqual(single.map((o) => o.kind).filter((k) => /Webhook|DaemonSet|Secret|Service$/.test(k ?? '')), []);
  });

  it('renders the node cache agent: its flags, the dataset catalogue ConfigMap, and the node patch rights', () => {
    const datasets = '[{"name":"imagenet","source":{"type":"s3","bucket":"datasets","prefix":"imagenet/","endpoint":"http://seaweedfs:8333"}}]';
    const objs = renderChart(NS, ['cacheAgent.capacity=2Ti', 'cacheAgent.cacheDir=/mnt/nvme/gantry', 'cacheAgent.s3CredentialsSecret=s3-creds'], ['--set-json', `cacheAgent.datasets=${datasets}`]);
    const a = args(objs, 'DaemonSet', 'gantry-cache-agent');
    for (const f of ['cache-agent', '--cache-capacity=2Ti', '--cache-dir=/mnt/nvme/gantry', '--datasets=/etc/gantry/datasets.yaml']) assert.ok(a.includes(f), `${f} in ${a.join(' ')}`);
    const ds = find<V1DaemonSet>(objs, 'DaemonSet', 'gantry-cache-agent');
    assert.equal(ds?.spec?.template.spec?.volumes?.find((v) => v.name === 'cache')?.hostPath?.path, '/mnt/nvme/gantry');
    assert.equal(ds?.spec?.template.spec?.containers[0]?.envFrom?.[0]?.secretRef?.name, 's3-creds');
    const cm = find<V1ConfigMap>(objs, 'ConfigMap', 'gantry-datasets');
    assert.deepEqual(parseYaml(cm?.data?.['datasets.yaml'] ?? ''), { datasets: JSON.parse(datasets) as unknown });
    const role = objs.find((o) => o.kind === 'ClusterRole' && o.metadata?.name === 'gantry-scheduler') as (KubernetesObject & { rules: { resources: string[]; verbs: string[] }[] }) | undefined;
    assert.ok(role?.rules.some((r) => r.resources.includes('nodes') && r.verbs.includes('patch')), 'the scheduler may write prefetch requests on nodes');
    assert.throws(() => renderChart(NS, ['cacheAgent.capacity=lots']), /cacheAgent\/capacity/);
  });

  it('renders the prices ConfigMap (strings), its get-only Role, and Queue budgets', () => {
    const objs = renderChart(NS, [], ['--set-json', 'prices={"H100-80GB":"2.49","L4":0.35}', '--set-json', 'queues=[{"name":"team-a","budget":{"period":"month","limit":"5000","mode":"hard"}}]']);
    assert.deepEqual(find<V1ConfigMap>(objs, 'ConfigMap', 'gantry-prices')?.data, { 'H100-80GB': '2.49', L4: '0.35' });
    assert.deepEqual(find<V1ConfigMap>(renderChart(NS), 'ConfigMap', 'gantry-prices')?.data, {}, 'there to edit even without prices');
    const role = find<KubernetesObject & { rules: { resources: string[]; resourceNames?: string[]; verbs: string[] }[] }>(objs, 'Role', 'gantry-scheduler-prices');
    assert.deepEqual(JSON.parse(JSON.stringify(role?.rules)), [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['gantry-prices'], verbs: ['get'] }]);
    assert.equal(role?.metadata?.namespace, NS);
    const q = objs.find((o) => o.kind === 'Queue') as (KubernetesObject & { spec: Record<string, unknown> }) | undefined;
    assert.deepEqual(q?.spec, { budget: { period: 'month', limit: '5000', mode: 'hard' } });
    assert.throws(() => renderChart(NS, [], ['--set-json', 'prices={"H100-80GB":"lots"}']), /prices/);
    assert.throws(() => renderChart(NS, [], ['--set-json', 'queues=[{"name":"q","budget":{"period":"year","limit":"1"}}]']), /budget/);
  });

  it('gives the webhook the data wait: the chart\'s image by default, the agent\'s cache folder, the timeout', () => {
    const waitArgs = (a: string[]): string[] => a.filter((x) => /^--(data-wait-image|cache-dir|data-wait-timeout)=/.test(x));
    assert.deepEqual(waitArgs(args(renderChart(NS, ['image.repository=registry.example/gantry', 'image.tag=1.2.3', 'cacheAgent.cacheDir=/mnt/nvme/gantry']), 'Deployment', 'gantry-webhook')), [
      '--data-wait-image=registry.example/gantry:1.2.3', '--cache-dir=/mnt/nvme/gantry', '--data-wait-timeout=0',
    ]);
    const own = args(renderChart(NS, ['webhook.dataWait.image=registry.example/gantry-cli:9', 'webhook.dataWait.timeout=30m']), 'Deployment', 'gantry-webhook');
    assert.deepEqual(waitArgs(own), ['--data-wait-image=registry.example/gantry-cli:9', '--cache-dir=/var/lib/gantry/datasets', '--data-wait-timeout=30m']);
    // No cache agent (nothing would ever fill) or switched off: pods are not held.
    for (const set of [['cacheAgent.enabled=false'], ['webhook.dataWait.enabled=false']]) assert.deepEqual(waitArgs(args(renderChart(NS, set), 'Deployment', 'gantry-webhook')), [], set.join());
    assert.throws(() => renderChart(NS, ['webhook.dataWait.timeout=soon']), /webhook\/dataWait\/timeout/);
    // The agent owns the hostPath folder the kubelet creates as root.
    assert.equal(find<V1DaemonSet>(renderChart(NS, []), 'DaemonSet', 'gantry-cache-agent')?.spec?.template.spec?.containers[0]?.securityContext?.runAsUser, 0);
  });

  it('mounts an admission policy file and registers the policies webhook', () => {
    const file = readFileSync(join(REPO, 'examples', 'policies.yaml'), 'utf8');
    const objs = renderChart(NS, [], ['--set-file', `webhook.policies.file=${join(REPO, 'examples', 'policies.yaml')}`]);
    assert.equal(find<V1ConfigMap>(objs, 'ConfigMap', 'gantry-policies')?.data?.['policies.yaml'], file);
    assert.ok(args(objs, 'Deployment', 'gantry-webhook').includes('--policies=/policies/policies.yaml'));
    assert.match(find<V1Deployment>(objs, 'Deployment', 'gantry-webhook')?.spec?.template.metadata?.annotations?.['gantry.dev/policies-sha256'] ?? '', /^[0-9a-f]{64}$/);
    assert.equal(find<V1ValidatingWebhookConfiguration>(objs, 'ValidatingWebhookConfiguration', 'gantry-policies')?.webhooks?.[0]?.clientConfig.service?.path, '/validate');
    const none = renderChart(NS, ['webhook.policies.register=false']);
    assert.equal(find(none, 'ConfigMap', 'gantry-policies'), undefined);
    assert.equal(find(none, 'ValidatingWebhookConfiguration', 'gantry-policies'), undefined);
    assert.ok(!args(none, 'Deployment', 'gantry-webhook').some((a) => a.startsWith('--policies')));
  });

  it('renders the router only when router.enabled, and registers the InferenceService webhook', () => {
    assert.equal(find(renderChart(NS), 'Deployment', 'gantry-router'), undefined, 'off by default');
    const objs = renderChart('ml-infra', ['router.enabled=true', 'router.namespace=team-a']);
    assert.deepEqual(args(objs, 'Deployment', 'gantry-router'), ['k8s', 'router', '--port=8080', '--metrics-port=9090', '--url=http://gantry-router.ml-infra.svc', '--namespace=team-a']);
    assert.equal(find<V1Deployment>(objs, 'Deployment', 'gantry-router')?.spec?.replicas, 1);
    assert.ok(find(objs, 'Service', 'gantry-router'));
    const role = find<KubernetesObject & { rules: Array<{ resources: string[]; verbs: string[] }> }>(objs, 'ClusterRole', 'gantry-router');
    assert.deepEqual(role?.rules.find((r) => r.resources.includes('inferenceservices/status'))?.verbs, ['patch']);
    const vwc = find<V1ValidatingWebhookConfiguration>(objs, 'ValidatingWebhookConfiguration', 'gantry-inferenceservices');
    assert.equal(vwc?.webhooks?.[0]?.clientConfig.service?.path, '/validate-inferenceservice');
    assert.deepEqual(vwc?.webhooks?.[0]?.rules?.[0]?.resources, ['inferenceservices']);
  });

  it('generates a serving certificate for the webhook Service, signed by the CA in caBundle', () => {
    const objs = renderChart(NS);
    const secret = find<V1Secret>(objs, 'Secret', 'gantry-webhook-tls');
    const cert = new X509Certificate(pem(secret?.data?.['tls.crt']));
    const ca = new X509Certificate(pem(secret?.data?.['ca.crt']));
    assert.equal(cert.checkHost('gantry-webhook.gantry-system.svc'), 'gantry-webhook.gantry-system.svc');
    assert.ok(cert.verify(ca.publicKey), 'the serving certificate is signed by the CA');
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      const cfg = objs.find((o) => o.kind === kind) as V1MutatingWebhookConfiguration;
      assert.equal(cfg.webhooks?.[0]?.clientConfig.caBundle, secret?.data?.['ca.crt'], kind);
    }
  });

  it('cert-manager mode: an Issuer, a Certificate for the Service, and the CA injected', () => {
    const objs = renderChart(NS, ['webhook.tls.mode=certManager']);
    const certificate = find<KubernetesObject & { spec: { dnsNames: string[]; secretName: string } }>(objs, 'Certificate', 'gantry-webhook');
    assert.ok(certificate?.spec.dnsNames.includes('gantry-webhook.gantry-system.svc'));
    assert.equal(certificate?.spec.secretName, 'gantry-webhook-tls');
    assert.ok(find(objs, 'Issuer', 'gantry-selfsigned'));
    assert.equal(find(objs, 'Secret', 'gantry-webhook-tls'), undefined);
    const mwc = find<V1MutatingWebhookConfiguration>(objs, 'MutatingWebhookConfiguration', 'gantry');
    assert.equal(mwc?.metadata?.annotations?.['cert-manager.io/inject-ca-from'], 'gantry-system/gantry-webhook');
  });

  it('keeps the plain manifests in deploy/ in sync with the chart', () => {
    const r = spawnSync('bash', [join(REPO, 'scripts/k8s/render-manifests.sh'), '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stderr}(deploy/ is generated: run scripts/k8s/render-manifests.sh)`);
  });

  describe('on a real apiserver', k8sTestOptions(), () => {
    let cp: ControlPlane;
    let kc: KubeConfig;
    let kubeconfig: string;
    const helmOn = (a: readonly string[]): void => {
      const r = helm([...a, '--kubeconfig', kubeconfig]);
      assert.equal(r.status, 0, `helm ${a.join(' ')}: ${r.stdout}${r.stderr}`);
    };

    before(async () => {
      cp = await ControlPlane.start();
      kc = cp.kubeConfig();
      kubeconfig = cp.writeKubeconfig();
    });
    after(async () => {
      await cp?.stop();
    });

    it('helm install creates the CRDs, RBAC, scheduler, webhook, device plugin and queues', async () => {
      helmOn(['install', 'gantry', CHART, '--namespace', NS, '--create-namespace', '--set-json', `queues=${QUEUES}`]);
      const apps = kc.makeApiClient(AppsV1Api);
      const sched = await apps.readNamespacedDeployment({ name: 'gantry-scheduler', namespace: NS });
      assert.equal(sched.spec?.replicas, 2);
      assert.equal(sched.spec?.template.spec?.serviceAccountName, 'gantry-scheduler');
      assert.equal((await apps.readNamespacedDeployment({ name: 'gantry-webhook', namespace: NS })).spec?.replicas, 2);
      const ds = await apps.readNamespacedDaemonSet({ name: 'gantry-device-plugin', namespace: NS });
      assert.equal(ds.spec?.template.spec?.nodeSelector?.['nvidia.com/gpu.present'], 'true');
      assert.equal((await apps.readNamespacedDaemonSet({ name: 'gantry-cache-agent', namespace: NS })).spec?.template.spec?.serviceAccountName, 'gantry-cache-agent');
      const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
      assert.ok((await rbac.readClusterRole({ name: 'gantry-scheduler' })).rules?.some((r) => r.resources?.includes('pods/binding')));
      // The webhook configurations trust the CA of the Secret the chart generated.
      const secret = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'gantry-webhook-tls', namespace: NS });
      const mwc = await kc.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: 'gantry' });
      assert.equal(mwc.webhooks?.[0]?.clientConfig.caBundle, secret.data?.['ca.crt']);
      // The Queues went through the CRD's schema, installed by helm from the chart's crds/.
      const custom = kc.makeApiClient(CustomObjectsApi);
      const teamA = (await custom.getClusterCustomObject({ group: 'scheduling.gantry.dev', version: 'v1alpha1', plural: 'queues', name: 'team-a' })) as { spec: { parent: string } };
      assert.equal(teamA.spec.parent, 'research');
    });

    it('helm upgrade changes replicas and policy and keeps the webhook certificate', async () => {
      const core = kc.makeApiClient(CoreV1Api);
      const before = await core.readNamespacedSecret({ name: 'gantry-webhook-tls', namespace: NS });
      helmOn(['upgrade', 'gantry', CHART, '--namespace', NS, '--set', 'scheduler.replicas=3', '--set', 'scheduler.policy=fgd', '--set-json', `queues=${QUEUES}`]);
      const sched = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'gantry-scheduler', namespace: NS });
      assert.equal(sched.spec?.replicas, 3);
      assert.ok(sched.spec?.template.spec?.containers[0]?.args?.includes('--policy=fgd'));
      const after = await core.readNamespacedSecret({ name: 'gantry-webhook-tls', namespace: NS });
      assert.equal(after.data?.['tls.crt'], before.data?.['tls.crt'], 'the certificate is not regenerated on upgrade');
      const mwc = await kc.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: 'gantry' });
      assert.equal(mwc.webhooks?.[0]?.clientConfig.caBundle, before.data?.['ca.crt']);
    });

    it('helm uninstall removes what it installed and keeps the CRDs', async () => {
      helmOn(['uninstall', 'gantry', '--namespace', NS]);
      const apps = kc.makeApiClient(AppsV1Api);
      await waitFor('scheduler Deployment gone', async () => {
        try {
          await apps.readNamespacedDeployment({ name: 'gantry-scheduler', namespace: NS });
          return false;
        } catch (e) {
          return e instanceof ApiException && e.code === 404;
        }
      });
      await assert.rejects(kc.makeApiClient(RbacAuthorizationV1Api).readClusterRole({ name: 'gantry-scheduler' }), (e: unknown) => e instanceof ApiException && e.code === 404);
      const custom = kc.makeApiClient(CustomObjectsApi);
      await custom.listClusterCustomObject({ group: 'scheduling.gantry.dev', version: 'v1alpha1', plural: 'queues' });
    });

    it('accepts a server-side dry-run of the chart rendered with several values', async () => {
      const client = KubernetesObjectApi.makeApiClient(kc);
      const renders = [
        renderChart(NS, ['scheduler.replicas=1', 'scheduler.leaderElect=false', 'webhook.tls.mode=secret', 'webhook.tls.caBundle=Y2E='], ['--set-json', `queues=${QUEUES}`]),
        renderChart(NS, ['webhook.failurePolicy=Ignore', 'router.enabled=true', 'devicePlugin.simulatedGpus=8xA100-80GB', 'devicePlugin.kubeletDir=/var/lib/k0s/kubelet']),
      ];
      for (const objs of renders) {
        for (const o of objs) await client.create(o, undefined, 'All');
      }
      // Nothing was written.
      await assert.rejects(kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'gantry-scheduler', namespace: NS }), (e: unknown) => e instanceof ApiException && e.code === 404);
    });

    it('applies the plain manifests in deploy/ (what kubectl apply -f deploy/ does)', async () => {
      const client = KubernetesObjectApi.makeApiClient(kc);
      // The namespace and the CRDs are there from the helm install: identical objects, no-op here.
      for (const file of ['rbac.yaml', 'scheduler.yaml', 'webhook.yaml', 'device-plugin.yaml']) {
        for (const o of manifest(file)) await client.create(o);
      }
      const apps = kc.makeApiClient(AppsV1Api);
      const sched = await apps.readNamespacedDeployment({ name: 'gantry-scheduler', namespace: NS });
      assert.equal(sched.spec?.replicas, 2);
      assert.equal(sched.metadata?.labels?.['app.kubernetes.io/managed-by'], undefined, 'plain manifests carry no Helm labels');
      await apps.readNamespacedDaemonSet({ name: 'gantry-device-plugin', namespace: NS });
      const mwc = await kc.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: 'gantry' });
      assert.equal(mwc.webhooks?.[0]?.clientConfig.service?.name, 'gantry-webhook');
      assert.deepEqual(manifest('namespace.yaml').map((o) => [o.kind, o.metadata?.name]), [['Namespace', NS]]);
    });
  });
});
