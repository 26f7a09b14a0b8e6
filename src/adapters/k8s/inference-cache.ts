/**
 * What the InferenceService controller and the router both read: the InferenceServices (all
 * namespaces, or one) and their replica pods (pods labelled gantry.dev/inference-service), kept
 * current by two list-and-watches. Each change names the service it touches, so a reader acts
 * on that service alone.
 */
import { CustomObjectsApi, type KubeConfig, type KubernetesListObject, type V1Pod } from '@kubernetes/client-node';
import { GANTRY_GROUP, INFERENCE_PLURAL, INFERENCE_VERSION, LABEL_INFERENCE_SERVICE } from './names.js';
import { listRaw } from './raw-list.js';
import { ResourceWatch } from './watch.js';
import type { InferenceServiceObject } from './inference-spec.js';

type Isvc = InferenceServiceObject & { metadata?: object };

export function podIsReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

/** Pods that still count: not being deleted, not ended. */
export function isLivePod(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return !pod.metadata?.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed';
}

export class InferenceCache {
  private readonly services = new Map<string, InferenceServiceObject>();
  private readonly podsByService = new Map<string, Map<string, V1Pod>>();
  private readonly watches: ResourceWatch<never>[] = [];

  constructor(
    private readonly kc: KubeConfig,
    /** Told the key (`namespace/name`) of the service an event touched. */
    private readonly onChange: (key: string) => void,
    private readonly log: (msg: string) => void,
    /** Watch this namespace only (default: all). */
    private readonly namespace?: string,
  ) {}

  async start(): Promise<void> {
    const custom = this.kc.makeApiClient(CustomObjectsApi);
    const ns = this.namespace;
    const isvcPath = ns ? `/apis/${GANTRY_GROUP}/${INFERENCE_VERSION}/namespaces/${ns}/${INFERENCE_PLURAL}` : `/apis/${GANTRY_GROUP}/${INFERENCE_VERSION}/${INFERENCE_PLURAL}`;
    const listIsvc = (): Promise<KubernetesListObject<Isvc>> =>
      (ns
        ? custom.listNamespacedCustomObject({ group: GANTRY_GROUP, version: INFERENCE_VERSION, plural: INFERENCE_PLURAL, namespace: ns })
        : custom.listCustomObjectForAllNamespaces({ group: GANTRY_GROUP, version: INFERENCE_VERSION, plural: INFERENCE_PLURAL })) as Promise<KubernetesListObject<Isvc>>;
    const podPath = ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods';
    const selector = LABEL_INFERENCE_SERVICE;
    const isvcs = new ResourceWatch<Isvc>(this.kc, isvcPath, listIsvc, { upsert: (o) => this.upsertService(o), remove: (o) => this.removeService(o) }, this.log);
    const pods = new ResourceWatch<V1Pod>(
      this.kc,
      podPath,
      () => listRaw<V1Pod>(this.kc, `${podPath}?labelSelector=${encodeURIComponent(selector)}`),
      { upsert: (p) => this.upsertPod(p), remove: (p) => this.removePod(p) },
      this.log,
      undefined,
      undefined,
      selector,
    );
    this.watches.push(isvcs as unknown as ResourceWatch<never>, pods as unknown as ResourceWatch<never>);
    for (const w of this.watches) w.start();
    await Promise.all(this.watches.map((w) => w.synced));
  }

  async stop(): Promise<void> {
    await Promise.all(this.watches.map((w) => w.stop()));
  }

  service(key: string): InferenceServiceObject | undefined {
    return this.services.get(key);
  }

  serviceKeys(): string[] {
    return [...new Set([...this.services.keys(), ...this.podsByService.keys()])];
  }

  /** Every replica pod of a service (also those being deleted). */
  pods(key: string): V1Pod[] {
    return [...(this.podsByService.get(key)?.values() ?? [])];
  }

  private upsertService(o: InferenceServiceObject): void {
    const key = `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    this.services.set(key, o);
    this.onChange(key);
  }

  private removeService(o: InferenceServiceObject): void {
    const key = `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    this.services.delete(key);
    this.onChange(key);
  }

  private keyOf(p: V1Pod): string {
    return `${p.metadata?.namespace ?? ''}/${p.metadata?.labels?.[LABEL_INFERENCE_SERVICE] ?? ''}`;
  }

  private upsertPod(p: V1Pod): void {
    const key = this.keyOf(p);
    let m = this.podsByService.get(key);
    if (!m) this.podsByService.set(key, (m = new Map()));
    m.set(p.metadata?.name ?? '', p);
    this.onChange(key);
  }

  private removePod(p: V1Pod): void {
    const key = this.keyOf(p);
    const m = this.podsByService.get(key);
    m?.delete(p.metadata?.name ?? '');
    if (m?.size === 0) this.podsByService.delete(key);
    this.onChange(key);
  }
}
