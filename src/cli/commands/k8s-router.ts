/**
 * `gantry k8s router`: routes HTTP (and server-sent events) to InferenceService replica pods and
 * scales them on load (src/adapters/k8s/inference-router.ts; docs/inference.md, "Kubernetes").
 */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { KubeConfig } from '@kubernetes/client-node';
import { UserError } from '../../core/errors.js';
import { parsePort } from '../flags.js';

interface RouterFlags {
  kubeconfig?: string;
  namespace?: string;
  port: string;
  host: string;
  url?: string;
  metricsPort: string;
  metricsHost: string;
}

export function registerInferenceRouter(k8s: Command, loadKubeConfig: (path: string | undefined) => Promise<KubeConfig>, waitForSignal: () => Promise<string>): void {
  k8s
    .command('router')
    .description('route requests to InferenceService replicas (power of two choices, prefix affinity) and scale them on load')
    .option('--kubeconfig <path>', 'kubeconfig file (default: KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--namespace <ns>', 'route only this namespace\'s InferenceServices (then /NAME/ works besides /NAME.NAMESPACE/); default all')
    .option('--port <n>', 'port requests come to (0 = any free port; the line "routing on URL" says which)', '8080')
    .option('--host <addr>', 'address to listen on', '0.0.0.0')
    .option('--url <base>', 'the router\'s base URL as clients reach it, written in each InferenceService\'s status.url')
    .option('--metrics-port <n>', 'serve /metrics, /healthz and /readyz on this port (0: off)', '9090')
    .option('--metrics-host <addr>', 'address the metrics port listens on', '0.0.0.0')
    .action(async (f: RouterFlags) => {
      const port = parsePort('--port', f.port);
      const metricsPort = parsePort('--metrics-port', f.metricsPort);
      if (f.url !== undefined && !/^https?:\/\/[^/]+(\/.*[^/])?$/.test(f.url)) throw new UserError('BAD_FLAG', `--url: "${f.url}" must be an http(s) URL without a trailing "/"`);
      const kc = await loadKubeConfig(f.kubeconfig);
      const { reuseConnections } = await import('../../adapters/k8s/connections.js');
      const { KubeInferenceWrites } = await import('../../adapters/k8s/inference-writes.js');
      const { InferenceRouter } = await import('../../adapters/k8s/inference-router.js');
      const router = new InferenceRouter({ kubeConfig: reuseConnections(kc), writes: new KubeInferenceWrites(kc, `gantry-router-${hostname()}`), ...(f.namespace ? { namespace: f.namespace } : {}), ...(f.url ? { url: f.url } : {}) });
      let bound: number;
      try {
        bound = await router.http.listen(f.host, port);
      } catch (e) {
        throw new UserError('ROUTER_START', `--port: cannot serve on ${f.host}:${port}: ${(e as Error).message}`);
      }
      let health = null;
      if (metricsPort > 0) {
        const { Registry } = await import('prom-client');
        const { registerMeteredServices } = await import('../../server/services/service-metrics.js');
        const { startSchedulerHealthServer } = await import('../../adapters/k8s/scheduler-metrics.js');
        const registry = new Registry();
        registerMeteredServices(registry, () => router.metered());
        try {
          health = await startSchedulerHealthServer({ port: metricsPort, host: f.metricsHost, registry, health: () => router });
        } catch (e) {
          throw new UserError('METRICS_START', `--metrics-port: cannot serve on ${f.metricsHost}:${metricsPort}: ${(e as Error).message}`);
        }
        process.stderr.write(`gantry k8s router serving /metrics, /healthz, /readyz on http://${f.metricsHost}:${health.port}\n`);
      }
      const signal = waitForSignal();
      await Promise.race([router.start(), signal]);
      process.stderr.write(`gantry k8s router routing on http://${f.host}:${bound}/ (cluster ${kc.getCurrentCluster()?.server ?? '?'}${f.namespace ? `, namespace ${f.namespace}` : ''})\n`);
      const why = await signal;
      await router.stop();
      health?.server.close();
      process.stderr.write(`gantry k8s router stopped: ${why}\n`);
    });
}
