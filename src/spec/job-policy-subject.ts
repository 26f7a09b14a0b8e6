/** A job file as the admission policies see it (src/core/admission-policy). */
import type { PolicySubject } from '../core/admission-policy/types.js';
import { gpuRequestOf, type JobFile } from './job-spec.js';

export function jobPolicySubject(job: JobFile, team: string, user: string): PolicySubject {
  return {
    team,
    user,
    queue: job.queue,
    images: job.image !== undefined ? [job.image] : [],
    labels: job.labels ?? {},
    gpu: gpuRequestOf(job),
    workers: job.workers,
    gpuModels: job.resources.gpuModels ?? [],
    preemptible: job.preemptible,
    checkpoints: job.checkpoint !== undefined,
    ...(job.expectedDurationSeconds !== undefined ? { runtimeSeconds: job.expectedDurationSeconds } : {}),
  };
}
