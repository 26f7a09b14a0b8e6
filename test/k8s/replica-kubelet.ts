/**
 * The kubelet's part for InferenceService replica pods in one namespace, with real servers: a
 * bound replica gets its own loopback address as its pod IP (127.77.0.N, then 127.77.1.0, ...), a simulated LLM
 * server (the real HTTP server of `gantry sim llm-server`) listening there on the pod's PORT,
 * and its Ready condition once the server answers. A pod being deleted is drained (no new
 * requests, open streams finish), then finalised.
 */
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { createServer } from 'node:net';
import { LlmSimServer } from '../../src/serve/llm-server/llm-sim-server.js';
import { DEFAULT_LLM_ENGINE_PROFILE } from '../../src/serve/llm-model/engine-profile.js';
import { listPods, sleep } from './cluster.js';

/** A port free on every address (replicas listen on 127.77.x.y). */
export function freePortAnyAddress(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '0.0.0.0', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

interface Replica {
  readonly server: LlmSimServer;
  readonly ip: string;
  draining: boolean;
}

export class ReplicaKubelet {
  private stopped = false;
  private readonly loop: Promise<void>;
  private readonly replicas = new Map<string, Replica>();
  private nextIp = 2;
  /** Replica pods that became Ready, by name: seconds from creation to Ready. */
  readonly readyAfter = new Map<string, number>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
    /** Multiplies the simulated server's modelled durations. */
    private readonly timeScale = 1,
  ) {
    this.loop = this.run();
  }

  private patch(core: CoreV1Api, name: string, status: object): Promise<unknown> {
    return core.patchNamespacedPodStatus({ name, namespace: this.namespace, body: { status } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)).catch(() => undefined);
  }

  private async step(core: CoreV1Api, p: V1Pod): Promise<void> {
    const name = p.metadata?.name ?? '';
    const key = `${name}/${p.metadata?.uid ?? ''}`;
    const r = this.replicas.get(key);
    if (p.metadata?.deletionTimestamp) {
      if (r?.draining) return;
      if (r) {
        r.draining = true;
        await r.server.drain((p.spec?.terminationGracePeriodSeconds ?? 30) * 1000);
        this.replicas.delete(key);
      }
      await core.deleteNamespacedPod({ name, namespace: this.namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
      return;
    }
    if (!p.spec?.nodeName || r) return;
    const port = Number(p.spec.containers[0]?.env?.find((e) => e.name === 'PORT')?.value ?? 0);
    const n = this.nextIp++;
    const ip = `127.77.${n >> 8}.${n & 255}`;
    const server = new LlmSimServer({ model: 'sim', profile: DEFAULT_LLM_ENGINE_PROFILE, timeScale: this.timeScale, loadSeconds: 0, maxTokensDefault: 16 });
    this.replicas.set(key, { server, ip, draining: false });
    await this.patch(core, name, { phase: 'Running', podIP: ip, podIPs: [{ ip }], startTime: new Date().toISOString(), conditions: [{ type: 'Ready', status: 'False' }] });
    await server.load();
    await server.app.listen({ host: ip, port });
    await this.patch(core, name, { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }] });
    const created = p.metadata?.creationTimestamp ? new Date(p.metadata.creationTimestamp).getTime() : Date.now();
    this.readyAfter.set(name, (Date.now() - created) / 1000);
  }

  private async run(): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    while (!this.stopped) {
      try {
        // Drains run on their own (a stream may take seconds); the rest one pod at a time.
        for (const p of await listPods(this.kc, this.namespace)) {
          if (p.metadata?.deletionTimestamp) void this.step(core, p).catch(() => undefined);
          else await this.step(core, p);
        }
      } catch {
        // the apiserver is going away at the end of a run
      }
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await Promise.all([...this.replicas.values()].map((r) => r.server.app.close()));
  }
}
