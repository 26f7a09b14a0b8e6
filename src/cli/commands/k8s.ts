/**
 * `gantry k8s ...`: Gantry as the GPU scheduler of a Kubernetes cluster (docs/kubernetes.md).
 *   gantry k8s scheduler   schedules pods with `schedulerName: gantry` (leader-elected)
 *   gantry k8s webhook     the mutating admission webhook for GPU-share pods
 *   gantry k8s device-plugin   the kubelet device plugin handing containers the GPUs Gantry chose
 *   gantry k8s cache-agent     the dataset cache of a node (k8s-cache-agent.ts)
 *   gantry k8s router      routes to InferenceService replicas and scales them (k8s-router.ts)
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import type { KubeConfig } from '@kubernetes/client-node';
import type { LeaseRecord } from '../../adapters/k8s/api.js';
import { UserError } from '../../core/errors.js';
import { parsePort } from '../flags.js';
import { isPolicyName, POLICY_NAMES } from '../../core/policies.js';
import { registerCacheAgent } from './k8s-cache-agent.js';
import { registerInferenceRouter } from './k8s-router.js';

/** Parses "15s", "500ms", "10m", "2h" or a bare number of seconds into milliseconds. */
export function parseDurationMs(flag: string, v: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (!m) throw new UserError('BAD_FLAG', `${flag}: "${v}" is not a duration (examples: 500ms, 15s, 10m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000));
}

// The Kubernetes client and adapters are loaded only when a k8s command runs (they are large).
async function loadKubeConfig(path: string | undefined): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (e) {
    throw new UserError('KUBECONFIG', `cannot read kubeconfig${path ? ` ${path}` : ''}: ${(e as Error).message}`);
  }
  if (!kc.getCurrentCluster()) throw new UserError('KUBECONFIG', 'no cluster in the kubeconfig (pass --kubeconfig, set KUBECONFIG, or run in a pod)');
  return kc;
}

function readFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UserError('BAD_FLAG', `${flag}: cannot read ${path}: ${(e as Error).message}`);
  }
}

interface SchedulerFlags {
  kubeconfig?: string;
  namespace: string;
  identity?: string;
  leaderElect: boolean;
  leaseDuration: string;
  renewDeadline: string;
  retryPeriod: string;
  policy: string;
  minRuntime: string;
  maxInflight: string;
  metricsPort: string;
  metricsHost: string;
  inferenceServices: boolean;
  gpuMetricsPrometheus?: string;
  gpuMetricsInterval: string;
  spendInterval: string;
}

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

export function registerK8s(program: Command): void {
  const k8s = program.command('k8s').description('run Gantry as the GPU scheduler of a Kubernetes cluster');

  k8s
    .command('scheduler')
    .description('schedule pods that set schedulerName: gantry (watches Nodes, Pods, PodGroups, Queues)')
    .option('--kubeconfig <path>', 'kubeconfig file (default: KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--namespace <ns>', 'namespace of the leader election Lease', process.env['POD_NAMESPACE'] ?? 'gantry-system')
    .option('--identity <id>', 'this replica\'s name in the Lease (default: hostname + random suffix)')
    .option('--no-leader-elect', 'schedule without taking the Lease (only when a single replica runs)')
    .option('--lease-duration <d>', 'how long a Lease holder that stopped renewing keeps it', '15s')
    .option('--renew-deadline <d>', 'the leader stops scheduling when it could not renew for this long', '10s')
    .option('--retry-period <d>', 'how often the Lease is tried and renewed', '2s')
    .option('--policy <name>', `placement policy (${POLICY_NAMES.join(', ')})`, 'gantry')
    .option('--min-runtime <d>', 'a pod that started less than this ago is not preempted', '10m')
    .option('--max-inflight <n>', 'API calls in flight at most', '64')
    .option('--metrics-port <n>', 'serve /metrics, /healthz and /readyz over HTTP on this port (0: off)', '10259')
    .option('--metrics-host <addr>', 'address the metrics port listens on', '0.0.0.0')
    .option('--no-inference-services', 'do not make InferenceServices\' replica pods (the controller runs on the leader by default)')
    .option('--gpu-metrics-prometheus <url>', 'a Prometheus that scrapes the DCGM exporter: GPU time held, and held idle, by team, queue and model on /metrics (docs/cost.md)')
    .option('--gpu-metrics-interval <d>', 'how often GPU use is measured (with --gpu-metrics-prometheus)', '15s')
    .option('--spend-interval <d>', 'how often the leader prices the GPU time held and writes each Queue\'s status.spend (prices: ConfigMap gantry-prices; docs/cost.md)', '15s')
    .action(async (f: SchedulerFlags) => {
      if (!isPolicyName(f.policy)) throw new UserError('BAD_FLAG', `--policy: "${f.policy}" is not one of ${POLICY_NAMES.join(', ')}`);
      const maxInflight = Number(f.maxInflight);
      if (!Number.isInteger(maxInflight) || maxInflight < 1) throw new UserError('BAD_FLAG', `--max-inflight: "${f.maxInflight}" must be a positive integer`);
      const leaseDurationMs = parseDurationMs('--lease-duration', f.leaseDuration);
      const renewDeadlineMs = parseDurationMs('--renew-deadline', f.renewDeadline);
      const retryPeriodMs = parseDurationMs('--retry-period', f.retryPeriod);
      if (renewDeadlineMs >= leaseDurationMs) throw new UserError('BAD_FLAG', '--renew-deadline must be shorter than --lease-duration');
      if (retryPeriodMs >= renewDeadlineMs) throw new UserError('BAD_FLAG', '--retry-period must be shorter than --renew-deadline');
      const metricsPort = parsePort('--metrics-port', f.metricsPort, '0 turns it off');
      const gpuUseIntervalMs = parseDurationMs('--gpu-metrics-interval', f.gpuMetricsInterval);
      if (f.gpuMetricsPrometheus !== undefined) {
        if (metricsPort === 0) throw new UserError('BAD_FLAG', '--gpu-metrics-prometheus reports on /metrics: give a --metrics-port other than 0');
        if (!/^https?:\/\/[^/\s]+/.test(f.gpuMetricsPrometheus)) throw new UserError('BAD_FLAG', `--gpu-metrics-prometheus: "${f.gpuMetricsPrometheus}" is not an http(s) URL (e.g. http://prometheus.monitoring:9090)`);
        if (gpuUseIntervalMs < 1000 || gpuUseIntervalMs > 300_000) throw new UserError('BAD_FLAG', '--gpu-metrics-interval: between 1s and 5m');
      }
      const spendIntervalMs = parseDurationMs('--spend-interval', f.spendInterval);
      if (spendIntervalMs < 1000 || spendIntervalMs > 300_000) throw new UserError('BAD_FLAG', '--spend-interval: between 1s and 5m');
      const kc = await loadKubeConfig(f.kubeconfig);
      const { KubeScheduler } = await import('../../adapters/k8s/scheduler.js');
      const { createSchedulerMetrics, startSchedulerHealthServer } = await import('../../adapters/k8s/scheduler-metrics.js');
      const metrics = metricsPort > 0 ? createSchedulerMetrics() : null;
      const identity = f.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
      const s = new KubeScheduler({
        kubeConfig: kc,
        namespace: f.namespace,
        identity,
        leaderElection: f.leaderElect,
        leaseDurationMs,
        renewDeadlineMs,
        retryPeriodMs,
        maxInflight,
        core: { policy: f.policy, minRuntimeMs: parseDurationMs('--min-runtime', f.minRuntime) },
        spend: { intervalMs: spendIntervalMs },
        ...(metrics ? { observer: metrics.observer } : {}),
      });
      // InferenceServices' replica pods are made by the leader only, behind the same Lease.
      let inference = null;
      if (f.inferenceServices) {
        const { InferenceController } = await import('../../adapters/k8s/inference-controller.js');
        const { KubeInferenceWrites } = await import('../../adapters/k8s/inference-writes.js');
        inference = new InferenceController({ kubeConfig: kc, writes: new KubeInferenceWrites(kc, identity), mayWrite: () => s.writable });
      }
      let health = null;
      if (metrics) {
        metrics.attach(s);
        try {
          health = await startSchedulerHealthServer({ port: metricsPort, host: f.metricsHost, registry: metrics.registry, health: () => s });
        } catch (e) {
          throw new UserError('METRICS_START', `--metrics-port: cannot serve on ${f.metricsHost}:${metricsPort}: ${(e as Error).message}`);
        }
        process.stderr.write(`gantry k8s scheduler serving /metrics, /healthz, /readyz on http://${f.metricsHost}:${health.port}\n`);
      }
      let gpuUse = null;
      if (metrics && f.gpuMetricsPrometheus !== undefined) {
        const { KubeGpuUse } = await import('../../adapters/k8s/gpu-use-metrics.js');
        const { PrometheusGpuReadings } = await import('../../adapters/gpu/prometheus-readings.js');
        gpuUse = new KubeGpuUse(() => s, { readings: new PrometheusGpuReadings(f.gpuMetricsPrometheus), registry: metrics.registry, intervalMs: gpuUseIntervalMs, log: (m) => process.stderr.write(`${m}\n`) });
        gpuUse.start();
      }
      process.stderr.write(`gantry k8s scheduler ${identity} starting (cluster ${kc.getCurrentCluster()?.server ?? '?'})\n`);
      const signal = waitForSignal();
      // Start-up errors (no access, bad server) surface here; a signal during start-up stops it.
      await Promise.race([Promise.all([s.start(), inference?.start()]), signal]);
      // A replica that loses the Lease (an apiserver restart, a long pause) stops writing at once
      // and stands by, mirroring the cluster, until it can take the Lease again.
      const why = await signal;
      await gpuUse?.stop();
      await Promise.all([s.stop(), inference?.stop()]);
      health?.server.close();
      process.stderr.write(`gantry k8s scheduler stopped: ${why}\n`);
    });

  k8s
    .command('webhook')
    .description('serve the mutating admission webhook for GPU-share pods over HTTPS')
    .requiredOption('--tls-cert <file>', 'PEM certificate (chain) for the webhook service')
    .requiredOption('--tls-key <file>', 'PEM private key')
    .option('--port <n>', 'port to listen on', '8443')
    .option('--host <addr>', 'address to listen on', '0.0.0.0')
    .option('--lease-namespace <ns>', 'fence the scheduler\'s binds and evictions by its Lease in this namespace (/validate)')
    .option('--kubeconfig <path>', 'kubeconfig for reading the Lease (default: KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--policies <file>', 'judge gantry pods at creation by this admission policy file (/validate; docs/policies.md)')
    .option('--data-wait-image <image>', 'hold pods that name datasets until their data is on the node: an init container of this image (with the gantry CLI) waits for the cache agent\'s copy')
    .option('--cache-dir <path>', 'with --data-wait-image: the cache agents\' folder on the nodes', '/var/lib/gantry/datasets')
    .option('--data-wait-timeout <d>', 'with --data-wait-image: a pod whose data is not on its node after this long fails (exit 2, DATASET_NOT_CACHED); 0 = wait for ever (a pod\'s gantry.dev/data-wait-timeout overrides it)', '0')
    .action(async (f: { tlsCert: string; tlsKey: string; port: string; host: string; leaseNamespace?: string; kubeconfig?: string; policies?: string; dataWaitImage?: string; cacheDir: string; dataWaitTimeout: string }) => {
      parseDurationMs('--data-wait-timeout', f.dataWaitTimeout);
      const port = parsePort('--port', f.port);
      const cert = readFile('--tls-cert', f.tlsCert);
      const key = readFile('--tls-key', f.tlsKey);
      const { parsePolicyYaml } = await import('../../spec/policy-file.js');
      const readPolicies = (file: string) => parsePolicyYaml(readFile('--policies', file).toString('utf8'), file);
      let policies = f.policies !== undefined ? readPolicies(f.policies) : undefined;
      const policyFile = f.policies;
      // SIGHUP re-reads the file (a ConfigMap update); a file that no longer validates is logged and the old policies stay.
      if (policyFile !== undefined) {
        process.on('SIGHUP', () => {
          try {
            policies = readPolicies(policyFile);
            process.stderr.write(`gantry k8s webhook: reloaded ${policies.policies.length} admission policies from ${policyFile}\n`);
          } catch (e) {
            process.stderr.write(`gantry k8s webhook: kept the policies in force: ${(e as Error).message}\n`);
          }
        });
      }
      let readLease: (() => Promise<LeaseRecord | null>) | undefined;
      if (f.leaseNamespace !== undefined) {
        const kc = await loadKubeConfig(f.kubeconfig);
        const { KubeClusterWrites } = await import('../../adapters/k8s/api.js');
        const { LEASE_NAME } = await import('../../adapters/k8s/names.js');
        const { reuseConnections } = await import('../../adapters/k8s/connections.js');
        const api = new KubeClusterWrites(reuseConnections(kc), 'gantry-webhook');
        const ns = f.leaseNamespace;
        readLease = () => api.getLease(ns, LEASE_NAME);
      }
      let started;
      try {
        const { startWebhookServer } = await import('../../adapters/k8s/webhook.js');
        started = await startWebhookServer({ cert, key, port, host: f.host, ...(readLease ? { readLease } : {}), ...(policies ? { policies: () => policies } : {}), ...(f.dataWaitImage ? { dataWait: { image: f.dataWaitImage, cacheDir: f.cacheDir, timeout: f.dataWaitTimeout.trim() } } : {}) });
      } catch (e) {
        throw new UserError('WEBHOOK_START', `cannot serve on ${f.host}:${port}: ${(e as Error).message}`);
      }
      const validating = [...(readLease ? [`fence: Lease in ${f.leaseNamespace ?? ''}`] : []), ...(policies ? [`${policies.policies.length} admission policies from ${f.policies ?? ''}`] : [])];
      process.stderr.write(`gantry k8s webhook listening on https://${f.host}:${started.port}/mutate${validating.length > 0 ? ` and /validate (${validating.join('; ')})` : ''}\n`);
      const why = await waitForSignal();
      started.server.close();
      process.stderr.write(`gantry k8s webhook stopped: ${why}\n`);
    });

  registerCacheAgent(k8s, loadKubeConfig, waitForSignal, parseDurationMs);
  registerInferenceRouter(k8s, loadKubeConfig, waitForSignal);

  k8s
    .command('device-plugin')
    .description("advertise this node's GPUs to the kubelet and hand each container the GPUs the scheduler recorded for its pod")
    .option('--node <name>', 'this node\'s name (default: NODE_NAME, else the hostname)', process.env['NODE_NAME'] ?? hostname())
    .option('--gpus <spec>', 'a simulated inventory instead of nvidia-smi (example: 8xH100-80GB)')
    .option('--plugin-dir <dir>', "the kubelet's device-plugins folder", '/var/lib/kubelet/device-plugins')
    .option('--pod-resources-socket <path>', "the kubelet's pod-resources socket (tells apart pods bound at once)", '/var/lib/kubelet/pod-resources/kubelet.sock')
    .option('--kubeconfig <path>', 'kubeconfig (default: KUBECONFIG, ~/.kube/config, or in-cluster)')
    .action(async (f: { node: string; gpus?: string; pluginDir: string; podResourcesSocket: string; kubeconfig?: string }) => {
      const { simulatedInventory, discoverInventory } = await import('../../adapters/gpu/inventory.js');
      const inv = f.gpus !== undefined ? simulatedInventory(f.gpus, f.node) : await discoverInventory(undefined, f.node);
      const gpus = inv.node.gpus ?? [];
      if (gpus.length === 0) throw new UserError('NO_GPUS', `no GPUs on ${f.node}: ${inv.summary}`);
      if (!existsSync(f.pluginDir)) throw new UserError('BAD_FLAG', `--plugin-dir: ${f.pluginDir} does not exist (is the kubelet running here?)`);
      const kc = await loadKubeConfig(f.kubeconfig);
      const { GantryDevicePlugin } = await import('../../adapters/k8s/device-plugin.js');
      const plugin = new GantryDevicePlugin({
        kubeConfig: kc, node: f.node, gpus, simulated: inv.simulated, pluginDir: f.pluginDir, podResourcesSocket: f.podResourcesSocket, ...(inv.node.gpuLinks ? { gpuLinks: inv.node.gpuLinks } : {}),
      });
      process.stderr.write(`gantry k8s device-plugin on ${f.node}: ${inv.summary}\n`);
      const signal = waitForSignal();
      try {
        await Promise.race([plugin.start(), signal]);
      } catch (e) {
        await plugin.stop();
        throw new UserError('DEVICE_PLUGIN_START', (e as Error).message);
      }
      const why = await signal;
      await plugin.stop();
      process.stderr.write(`gantry k8s device-plugin stopped: ${why}\n`);
    });
}
