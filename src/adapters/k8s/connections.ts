/**
 * Connection reuse for @kubernetes/client-node 1.x. Its KubeConfig builds a new https.Agent
 * for every request (config.js, createAgent), and a new Agent never reuses a socket, so every
 * API call pays a TLS handshake on both ends: at hundreds of binds per second that, not the
 * scheduler, becomes the limit (measured: docs/benchmarks.md). This keeps one keep-alive Agent
 * per distinct set of TLS options and hands it to every request made through the KubeConfig.
 */
import { Agent, type AgentOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

type CreateAgent = (cluster: unknown, options: AgentOptions) => unknown;

export function reuseConnections(kc: KubeConfig, maxSockets = 128): KubeConfig {
  const target = kc as unknown as { createAgent: CreateAgent };
  const original = target.createAgent.bind(kc);
  const agents = new Map<string, Agent>();
  target.createAgent = (cluster, options) => {
    const c = cluster as { server?: string; proxyUrl?: string } | null;
    // Proxies and plain HTTP keep the library's own behaviour.
    if (!c?.server?.startsWith('https:') || c.proxyUrl) return original(cluster, options);
    const key = JSON.stringify([c.server, options.ca, options.cert, options.key, options.pfx, options.passphrase, options.rejectUnauthorized, options.servername]);
    let agent = agents.get(key);
    if (!agent) {
      agent = new Agent({ ...options, keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
      agents.set(key, agent);
    }
    return agent;
  };
  return kc;
}
