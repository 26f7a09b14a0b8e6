/**
 * The scheduler's prefetch requests to the node cache agents: when a pending pod's node can be
 * predicted, the datasets it reads are asked for on that node (`gantry.dev/cache-prefetch`,
 * node-cache-status.ts) so that the agent fills them while the pod waits. Predicted today: a pod
 * the core is preempting for goes where its victims run, and a pod moved by consolidation goes
 * to its `moveTo` node. A request is withdrawn once its pod is bound or gone; only the leader
 * writes (a standby's view may be stale).
 */
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { ANN_NODE_CACHE_PREFETCH } from './names.js';
import type { PrefetchRequest } from './node-cache-status.js';

export class PrefetchRequests {
  private readonly api: CoreV1Api;
  /** node -> pod key -> datasets that pod reads. */
  private readonly expected = new Map<string, Map<string, readonly string[]>>();
  /** node -> the request last written there ('' = none). */
  private readonly written = new Map<string, string>();

  constructor(
    kc: KubeConfig,
    private readonly log: (line: string) => void,
  ) {
    this.api = kc.makeApiClient(CoreV1Api);
  }

  /** A pending pod is expected on `node`: its datasets are asked for there. */
  expect(node: string, podKey: string, datasets: readonly string[]): void {
    if (node === '' || datasets.length === 0) return;
    let m = this.expected.get(node);
    if (!m) this.expected.set(node, (m = new Map()));
    m.set(podKey, datasets);
  }

  /** Drops the pods no longer pending and writes every node's request that changed. */
  flush(pending: (podKey: string) => boolean, mayWrite: () => boolean): void {
    for (const [node, pods] of this.expected) {
      for (const pk of pods.keys()) if (!pending(pk)) pods.delete(pk);
      const datasets = [...new Set([...pods.values()].flat())].sort();
      const key = datasets.length === 0 ? '' : JSON.stringify({ datasets, pods: [...pods.keys()].sort() });
      if (pods.size === 0) this.expected.delete(node);
      if ((this.written.get(node) ?? '') === key || !mayWrite()) continue;
      this.written.set(node, key);
      const value = key === '' ? null : JSON.stringify({ ...(JSON.parse(key) as object), at: new Date().toISOString() } satisfies Partial<PrefetchRequest>);
      this.api
        .patchNode({ name: node, body: { metadata: { annotations: { [ANN_NODE_CACHE_PREFETCH]: value } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
        .then(
          () => this.log(key === '' ? `prefetch request on ${node} withdrawn` : `prefetch request on ${node}: ${datasets.join(', ')}`),
          (e: unknown) => {
            this.written.delete(node); // tried again at the next cycle
            this.log(`prefetch request on ${node} failed: ${(e as Error).message}`);
          },
        );
    }
  }
}
