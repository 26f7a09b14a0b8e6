/**
 * A pod as the admission policies see it (src/core/admission-policy), for the validating
 * webhook: its namespace is its team, the user who creates it (the AdmissionReview's
 * userInfo) its user, every container's image, its labels, and its GPU request as the
 * scheduler reads it. A pod is one worker; its declared runtime is activeDeadlineSeconds.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { PolicySubject } from '../../core/admission-policy/types.js';
import { findGpuModel } from '../../core/model/gpu-catalog.js';
import { ANN_CHECKPOINT, ANN_GPU_MODELS } from './names.js';
import { gpuRequestOf, podPreemptible, podQueue } from './pods.js';
import { modelFromProduct } from './inventory.js';

/**
 * `namespace`: the AdmissionRequest's (a pod being created may not carry its own yet). Throws
 * PodSpecError for a GPU request the scheduler could not read either.
 */
export function podPolicySubject(pod: V1Pod, user: string, namespace?: string): PolicySubject {
  const ann = pod.metadata?.annotations ?? {};
  const models = (ann[ANN_GPU_MODELS] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '').map((m) => findGpuModel(m)?.name ?? modelFromProduct(m));
  const deadline = pod.spec?.activeDeadlineSeconds;
  return {
    team: namespace ?? pod.metadata?.namespace ?? 'default',
    user,
    queue: podQueue(pod),
    images: [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.image ?? ''),
    labels: pod.metadata?.labels ?? {},
    gpu: gpuRequestOf(pod),
    workers: 1,
    gpuModels: models,
    preemptible: podPreemptible(pod),
    checkpoints: ann[ANN_CHECKPOINT] === 'true',
    ...(deadline !== undefined ? { runtimeSeconds: deadline } : {}),
  };
}
