/**
 * The writes of the InferenceService controller and router, behind a small port
 * (`InferenceWrites`), and its implementation on @kubernetes/client-node. A replica that
 * already exists (409 on create) or is already gone (404 on delete) is what was wanted.
 */
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { apiError, KubeClusterWrites, type ObjectRef } from './api.js';
import { GANTRY_GROUP, INFERENCE_KIND, INFERENCE_PLURAL, INFERENCE_VERSION } from './names.js';
import type { InferenceServiceStatus } from './inference-spec.js';

export interface InferenceWrites {
  createPod(pod: V1Pod): Promise<void>;
  deletePod(namespace: string, name: string): Promise<void>;
  /** A merge patch of the InferenceService's status. */
  patchStatus(namespace: string, name: string, status: InferenceServiceStatus): Promise<void>;
  recordEvent(namespace: string, name: string, uid: string | undefined, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export function inferenceRef(namespace: string, name: string, uid: string | undefined): ObjectRef {
  return { kind: INFERENCE_KIND, apiVersion: `${GANTRY_GROUP}/${INFERENCE_VERSION}`, namespace, name, ...(uid ? { uid } : {}) };
}

export class KubeInferenceWrites implements InferenceWrites {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly events: KubeClusterWrites;

  constructor(kc: KubeConfig, identity: string) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.events = new KubeClusterWrites(kc, identity);
  }

  async createPod(pod: V1Pod): Promise<void> {
    try {
      await this.core.createNamespacedPod({ namespace: pod.metadata?.namespace ?? 'default', body: pod });
    } catch (e) {
      const err = apiError(e);
      if (err.status !== 409) throw err;
    }
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({ namespace, name });
    } catch (e) {
      const err = apiError(e);
      if (err.status !== 404) throw err;
    }
  }

  async patchStatus(namespace: string, name: string, status: InferenceServiceStatus): Promise<void> {
    try {
      await this.custom.patchNamespacedCustomObjectStatus(
        { group: GANTRY_GROUP, version: INFERENCE_VERSION, plural: INFERENCE_PLURAL, namespace, name, body: { status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch (e) {
      throw apiError(e);
    }
  }

  async recordEvent(namespace: string, name: string, uid: string | undefined, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    await this.events.recordEvent(inferenceRef(namespace, name, uid), type, reason, message);
  }
}
