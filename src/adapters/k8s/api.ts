/**
 * The writes the Kubernetes scheduler makes, behind a small port (`ClusterWrites`), and its
 * implementation on @kubernetes/client-node. Reads come from watches (watch.ts).
 * Errors are normalised to ApiError with the HTTP status, so callers branch on 404 / 409 / 429.
 */
import {
  ApiException, CoordinationV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, V1MicroTime,
  type KubeConfig, type V1Lease,
} from '@kubernetes/client-node';
import { GANTRY_GROUP, PODGROUP_GROUP, PODGROUP_PLURAL, PODGROUP_VERSION, QUEUE_PLURAL, QUEUE_VERSION, SCHEDULER_NAME } from './names.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Turns a client-node error into an ApiError (status 0 = no HTTP answer). */
export function apiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof ApiException) {
    let message = String(e.body);
    try {
      const body = JSON.parse(String(e.body)) as { message?: string };
      if (body.message) message = body.message;
    } catch {
      // not JSON: keep the raw body
    }
    return new ApiError(e.code, message);
  }
  return new ApiError(0, e instanceof Error ? e.message : String(e));
}

async function call<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw apiError(e);
  }
}

export interface ObjectRef {
  readonly kind: string;
  readonly apiVersion: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

export interface LeaseRecord {
  readonly holder: string;
  readonly durationSeconds: number;
  readonly renewTime: number;
  readonly acquireTime: number;
  readonly transitions: number;
  readonly resourceVersion: string;
}

/** Everything the scheduler writes to the cluster. */
export interface ClusterWrites {
  bindPod(namespace: string, name: string, node: string, annotations: Record<string, string>): Promise<void>;
  /** `annotations` go on the Eviction object (seen by admission webhooks, not stored). */
  evictPod(namespace: string, name: string, graceSeconds: number, annotations?: Record<string, string>): Promise<void>;
  upsertConfigMap(namespace: string, name: string, data: Record<string, string>, owner: ObjectRef): Promise<void>;
  /** `annotations`: the writer's leader term, for the webhook fence (see epochAnnotation). */
  recordEvent(ref: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string, annotations?: Record<string, string>): Promise<void>;
  patchPodGroupStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
  patchQueueStatus(name: string, status: Record<string, unknown>): Promise<void>;
  getLease(namespace: string, name: string): Promise<LeaseRecord | null>;
  /** Creates or (with `resourceVersion`) replaces the Lease; 409 when someone else wrote it first. */
  writeLease(namespace: string, name: string, l: Omit<LeaseRecord, 'resourceVersion'>, resourceVersion: string | null): Promise<void>;
}

function ms(t: unknown): number {
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'string') return new Date(t).getTime();
  return 0;
}

export class KubeClusterWrites implements ClusterWrites {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly coordination: CoordinationV1Api;

  constructor(
    kc: KubeConfig,
    private readonly identity: string,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.coordination = kc.makeApiClient(CoordinationV1Api);
  }

  async bindPod(namespace: string, name: string, node: string, annotations: Record<string, string>): Promise<void> {
    // The Binding's annotations are copied onto the pod by the apiserver: one call binds and annotates.
    await call(() =>
      this.core.createNamespacedPodBinding({
        name,
        namespace,
        body: { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace, annotations }, target: { apiVersion: 'v1', kind: 'Node', name: node } },
      }),
    );
  }

  async evictPod(namespace: string, name: string, graceSeconds: number, annotations: Record<string, string> = {}): Promise<void> {
    await call(() =>
      this.core.createNamespacedPodEviction({
        name,
        namespace,
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace, annotations }, deleteOptions: { gracePeriodSeconds: graceSeconds } },
      }),
    );
  }

  async upsertConfigMap(namespace: string, name: string, data: Record<string, string>, owner: ObjectRef): Promise<void> {
    const body = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace,
        labels: { 'app.kubernetes.io/managed-by': SCHEDULER_NAME },
        ...(owner.uid ? { ownerReferences: [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid }] } : {}),
      },
      data,
    };
    try {
      await call(() => this.core.createNamespacedConfigMap({ namespace, body }));
    } catch (e) {
      if ((e as ApiError).status !== 409) throw e;
      await call(() => this.core.replaceNamespacedConfigMap({ name, namespace, body }));
    }
  }

  async recordEvent(ref: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string, annotations: Record<string, string> = {}): Promise<void> {
    const now = new Date();
    await call(() =>
      this.core.createNamespacedEvent({
        namespace: ref.namespace,
        body: {
          metadata: { generateName: `${ref.name}.`, namespace: ref.namespace, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
          involvedObject: { kind: ref.kind, apiVersion: ref.apiVersion, namespace: ref.namespace, name: ref.name, ...(ref.uid ? { uid: ref.uid } : {}) },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: SCHEDULER_NAME },
          reportingComponent: SCHEDULER_NAME,
          reportingInstance: this.identity,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      }),
    );
  }

  async patchPodGroupStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    await call(() =>
      this.custom.patchNamespacedCustomObjectStatus(
        { group: PODGROUP_GROUP, version: PODGROUP_VERSION, plural: PODGROUP_PLURAL, namespace, name, body: { status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
  }

  async patchQueueStatus(name: string, status: Record<string, unknown>): Promise<void> {
    await call(() =>
      this.custom.patchClusterCustomObjectStatus(
        { group: GANTRY_GROUP, version: QUEUE_VERSION, plural: QUEUE_PLURAL, name, body: { status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
  }

  async getLease(namespace: string, name: string): Promise<LeaseRecord | null> {
    let l: V1Lease;
    try {
      l = await call(() => this.coordination.readNamespacedLease({ namespace, name }));
    } catch (e) {
      if ((e as ApiError).status === 404) return null;
      throw e;
    }
    return {
      holder: l.spec?.holderIdentity ?? '',
      durationSeconds: l.spec?.leaseDurationSeconds ?? 0,
      renewTime: ms(l.spec?.renewTime),
      acquireTime: ms(l.spec?.acquireTime),
      transitions: l.spec?.leaseTransitions ?? 0,
      resourceVersion: l.metadata?.resourceVersion ?? '',
    };
  }

  async writeLease(namespace: string, name: string, l: Omit<LeaseRecord, 'resourceVersion'>, resourceVersion: string | null): Promise<void> {
    const body: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace, ...(resourceVersion ? { resourceVersion } : {}) },
      spec: {
        holderIdentity: l.holder,
        leaseDurationSeconds: l.durationSeconds,
        renewTime: new V1MicroTime(l.renewTime),
        acquireTime: new V1MicroTime(l.acquireTime),
        leaseTransitions: l.transitions,
      },
    };
    if (resourceVersion === null) await call(() => this.coordination.createNamespacedLease({ namespace, body }));
    else await call(() => this.coordination.replaceNamespacedLease({ namespace, name, body }));
  }
}
