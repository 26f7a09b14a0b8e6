/**
 * `helm install` of deploy/helm/gantry onto the test apiserver with a real kubelet node
 * (test/k8s/real-node.ts), then the real-node scenarios (real-node-scenarios.ts) against that
 * installation: Gantry's scheduler, webhook and device plugin are the chart's pods, made from the
 * image the Dockerfile builds here (scripts/docker/build-gantry-image.sh, no registry), imported
 * into the node's containerd, not processes the test starts.
 *
 * A real cluster's parts the chart needs are real here too: kube-controller-manager (Deployments,
 * DaemonSets, EndpointSlices, service accounts and their CA), kube-scheduler (the chart's own
 * pods), the ServiceAccount admission plugin (in-cluster tokens). There is no kube-proxy: pods
 * reach the apiserver on the machine's address (the chart's extraEnv), and the apiserver calls
 * the webhook at its endpoint (--enable-aggregator-routing).
 *
 * Needs root, scripts/k8s/ensure-kubelet.sh, helm and Docker; skipped otherwise, mandatory with
 * GANTRY_REQUIRE_KUBELET=1 (npm run test:all).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoordinationV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { ControlPlane } from './harness.js';
import { listPods, REPO, waitFor } from './cluster.js';
import { CHART, helm, helmTestOptions } from './helm.js';
import { nodeIp, RealNode, realNodeTestOptions } from './real-node.js';
import { deletePods, realNodeScenarios, SCENARIO_NAMESPACES } from './real-node-scenarios.js';
import { dockerTestOptions, startDockerd } from '../helpers/dockerd.js';
import { S3_KEYS, s3Skip, startSeaweedfs, type S3Server } from '../helpers/seaweedfs.js';
import { DATA_BUCKET, DATA_NAMESPACE, DATASET, dataWaitScenarios } from './real-node-data-wait.js';

const NS = 'gantry-system';
const IMAGE_TAG = 'real-node';
/** The Docker daemon's layer cache, shared with test/deploy/docker-image.test.ts. */
const DOCKER_DATA_ROOT = join(process.env['GANTRY_DOCKER_CACHE'] ?? join(homedir(), '.cache/gantry/docker'), 'image-build-root');
/** What the chart needs of kube-controller-manager, and nothing else (each costs CPU here). */
const CONTROLLERS = [
  'deployment-controller', 'replicaset-controller', 'daemonset-controller', 'endpointslice-controller',
  'serviceaccount-controller', 'root-ca-certificate-publisher-controller',
];
const COMPONENTS = ['gantry-scheduler', 'gantry-webhook', 'gantry-device-plugin', 'gantry-cache-agent'] as const;

const execFileAsync = promisify(execFile);

/** Skipped where a part is missing; with GANTRY_REQUIRE_KUBELET=1 (CI) a missing helm or Docker fails too. */
function options(): { skip?: string } {
  const s3 = s3Skip();
  for (const o of [realNodeTestOptions(), helmTestOptions(), dockerTestOptions(), s3 ? { skip: s3 } : {}]) {
    if (!o.skip) continue;
    if (process.env['GANTRY_REQUIRE_KUBELET'] === '1') throw new Error(`GANTRY_REQUIRE_KUBELET=1 but ${o.skip}`);
    return o;
  }
  return {};
}

/** Builds Gantry's image from the Dockerfile on a private Docker daemon and saves it to `tar`. */
async function buildImage(tar: string): Promise<void> {
  const d = await startDockerd({ dataRoot: DOCKER_DATA_ROOT });
  try {
    const env = { ...process.env, DOCKER_HOST: d.host };
    await execFileAsync('bash', [join(REPO, 'scripts/docker/build-gantry-image.sh'), '--local-base', '--tag', `gantry:${IMAGE_TAG}`], { env, timeout: 20 * 60_000, maxBuffer: 64 << 20 });
    await execFileAsync('docker', ['save', '-o', tar, `gantry:${IMAGE_TAG}`], { env, timeout: 5 * 60_000 });
  } finally {
    await d.stop();
  }
}

const isReady = (p: V1Pod): boolean => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

describe('helm install on a real node, then the real-node scenarios against that installation', options(), () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let node: RealNode;
  let s3: S3Server;
  let cacheDir: string;
  const work = mkdtempSync(join(tmpdir(), 'gantry-helm-node-'));
  const timings: Record<string, number> = {};
  const since = (t0: number): number => Date.now() - t0;

  /**
   * A namespace pods may be created in: ServiceAccount admission refuses pods until its default
   * ServiceAccount exists, and their token volume needs the CA the controller-manager publishes there.
   */
  async function createNamespace(name: string): Promise<void> {
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name } } });
    await waitFor(`${name}'s default ServiceAccount and CA`, async () => {
      await core.readNamespacedServiceAccount({ namespace: name, name: 'default' });
      await core.readNamespacedConfigMap({ namespace: name, name: 'kube-root-ca.crt' });
      return true;
    }, 30_000, 100);
  }

  async function gantryPods(): Promise<V1Pod[]> {
    return (await listPods(kc, NS)).filter((p) => !p.metadata?.deletionTimestamp);
  }

  /** What the pods of one of the chart's components logged. */
  async function componentLog(component: string): Promise<string> {
    const pods = (await gantryPods()).filter((p) => p.metadata?.labels?.['app.kubernetes.io/name'] === component);
    return pods.map((p) => node.podLog(NS, p.metadata?.name ?? '')).join('');
  }

  before(async () => {
    let t0 = Date.now();
    const tar = join(work, 'gantry.tar');
    await buildImage(tar);
    timings['image built and saved'] = since(t0);

    const address = nodeIp() ?? '';
    // The cache agent's S3 source, on the host's address (which the node's pods reach).
    s3 = await startSeaweedfs({ ip: address });
    cp = await ControlPlane.start({ inCluster: { address } });
    kc = cp.kubeConfig();
    cp.startControllerManager(CONTROLLERS);
    const schedulerConfig = join(cp.dir, 'kube-scheduler.yaml');
    writeFileSync(schedulerConfig, [
      'apiVersion: kubescheduler.config.k8s.io/v1',
      'kind: KubeSchedulerConfiguration',
      `clientConnection: { kubeconfig: ${cp.writeKubeconfig()} }`,
      'leaderElection: { leaderElect: false }',
      '',
    ].join('\n'));
    cp.startKubeScheduler(schedulerConfig);

    t0 = Date.now();
    node = await RealNode.start(cp, { gpus: '4xH100-80GB', devicePluginProcess: false, podsReachHost: true, labels: { 'nvidia.com/gpu.present': 'true' } });
    node.importImage(tar);
    timings['node Ready, image imported'] = since(t0);

    t0 = Date.now();
    cacheDir = node.hostDir('datasets');
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'gantry-s3' }, stringData: { AWS_ACCESS_KEY_ID: S3_KEYS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_KEYS.secretAccessKey } } });
    const datasets = [{ name: DATASET.name, source: { type: 's3', bucket: DATA_BUCKET, prefix: DATASET.prefix, endpoint: s3.endpoint } }];
    const set = [
      `image.tag=${IMAGE_TAG}`, 'image.pullPolicy=Never',
      // One replica each (two would only cost CPU here); leader election stays on, so the
      // webhook's fence checks every bind and eviction against the Lease.
      'scheduler.replicas=1', 'webhook.replicas=1', 'scheduler.minRuntime=0s',
      'scheduler.resources.requests.cpu=100m', 'scheduler.resources.requests.memory=128Mi',
      'devicePlugin.simulatedGpus=4xH100-80GB', `devicePlugin.kubeletDir=${node.kubeletDir}`,
      // The node's dataset cache in the node's run folder; the webhook holds pods for it (webhook.dataWait).
      `cacheAgent.cacheDir=${cacheDir}`, 'cacheAgent.interval=1s', 'cacheAgent.s3CredentialsSecret=gantry-s3',
      'cacheAgent.capacity=1Gi', 'cacheAgent.resources.requests.cpu=10m', 'cacheAgent.resources.requests.memory=64Mi',
    ];
    const extraEnv = [{ name: 'KUBERNETES_SERVICE_HOST', value: address }, { name: 'KUBERNETES_SERVICE_PORT', value: String(cp.apiPort) }];
    const r = helm(['install', 'gantry', CHART, '--namespace', NS, '--create-namespace', '--kubeconfig', cp.writeKubeconfig(),
      ...set.flatMap((s) => ['--set', s]), '--set-json', `extraEnv=${JSON.stringify(extraEnv)}`, '--set-json', `cacheAgent.datasets=${JSON.stringify(datasets)}`]);
    assert.equal(r.status, 0, `helm install: ${r.stdout}${r.stderr}`);
    timings['helm install'] = since(t0);

    t0 = Date.now();
    await waitFor('the scheduler, webhook and device plugin pods Ready', async () => {
      const pods = await gantryPods();
      return COMPONENTS.every((c) => pods.some((p) => p.metadata?.labels?.['app.kubernetes.io/name'] === c && isReady(p)));
    }, 180_000, 500).catch(async (e: unknown) => {
      const pods = await gantryPods().catch(() => []);
      const states = pods.map((p) => `${p.metadata?.name}: ${p.status?.phase} ${JSON.stringify(p.status?.containerStatuses?.[0]?.state ?? p.status?.conditions)}`);
      const logs = pods.map((p) => `--- ${p.metadata?.name}:\n${node.podLog(NS, p.metadata?.name ?? '').slice(-2000)}`);
      throw new Error(`${(e as Error).message}\n${states.join('\n')}\n${logs.join('\n')}\n--- kubelet:\n${node.logTail('kubelet', 30)}\n--- controller-manager:\n${cp.logTail('kube-controller-manager', 15)}`);
    });
    timings['pods Ready after the install'] = since(t0);
    t0 = Date.now();
    await node.waitGpus();
    timings['GPUs advertised after that'] = since(t0);
  });

  after(async () => {
    if (process.env['GANTRY_K8S_LOGS'] === '1' && kc) {
      for (const p of await gantryPods().catch(() => [])) process.stderr.write(`--- ${p.metadata?.name}:\n${node?.podLog(NS, p.metadata?.name ?? '') ?? ''}\n`);
    }
    // No controller may bring pods back; pods go while the kubelet runs, which stops their containers.
    await cp?.stopProcess('kube-controller-manager');
    if (kc) for (const ns of [...SCENARIO_NAMESPACES, DATA_NAMESPACE, NS]) await deletePods(kc, ns).catch(() => undefined);
    await node?.stop();
    await cp?.stop();
    s3?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('runs the chart\'s scheduler, webhook and device plugin as pods of the image on the real node', async (t) => {
    t.diagnostic(Object.entries(timings).map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)} s`).join('; '));
    const pods = await gantryPods();
    for (const c of COMPONENTS) {
      const p = pods.find((x) => x.metadata?.labels?.['app.kubernetes.io/name'] === c);
      assert.ok(p && isReady(p), `${c} Ready`);
      assert.equal(p.spec?.nodeName, node.name);
      assert.equal(p.spec?.containers[0]?.image, `gantry:${IMAGE_TAG}`);
    }
    // The scheduler took the Lease (the webhook fences Gantry's writes with it).
    const leases = kc.makeApiClient(CoordinationV1Api);
    const holder = await waitFor('the scheduler leads', async () => (await leases.readNamespacedLease({ namespace: NS, name: 'gantry-scheduler' })).spec?.holderIdentity);
    assert.match(holder, /^gantry-scheduler-/);
  });

  realNodeScenarios(() => ({
    kc,
    node,
    createNamespace,
    devicePluginLog: () => componentLog('gantry-device-plugin'),
  }));

  dataWaitScenarios(() => ({
    kc,
    node,
    cacheDir,
    s3: s3.client,
    createNamespace,
    agentLog: () => componentLog('gantry-cache-agent'),
    agentPod: async () => {
      const pods = (await gantryPods()).filter((p) => p.metadata?.labels?.['app.kubernetes.io/name'] === 'gantry-cache-agent');
      return JSON.stringify(pods.map((p) => ({ name: p.metadata?.name, phase: p.status?.phase, restarts: p.status?.containerStatuses?.[0]?.restartCount, state: p.status?.containerStatuses?.[0]?.state, last: p.status?.containerStatuses?.[0]?.lastState })));
    },
  }));
});
