/**
 * The admission policy corpus: policy files, jobs, and the verdict each job must get. The same
 * table runs through the core (test/core/admission-policy.test.ts), through a real server's
 * `POST /v1/jobs` (test/server/policy-corpus.e2e.test.ts) and through the validating webhook
 * on a real apiserver (test/k8s/policy-webhook.test.ts), so `gantry up` and Kubernetes mode
 * give the same answers.
 */

/** A job as a job file writes it (name and command are added by each runner). */
export type CorpusJob = Record<string, unknown>;

export interface CorpusCase {
  readonly name: string;
  /** Key of POLICY_FILES. */
  readonly policy: keyof typeof POLICY_FILES;
  readonly team: 'vision' | 'interns';
  readonly job: CorpusJob;
  /** The refusals expected, as `policy/rule` (sorted); empty: allowed. */
  readonly expect: readonly string[];
  /** Why a pod cannot say the same (a gang is judged per pod; a pod always runs an image). */
  readonly standaloneOnly?: string;
}

export const POLICY_FILES = {
  limits: {
    version: 1,
    policies: [{ name: 'limits', description: 'size and length of one job', rules: { maxGpusPerJob: 4, maxGpusPerUser: 6, maxRuntime: '24h' } }],
  },
  models: {
    version: 1,
    policies: [{ name: 'batch-models', match: { queues: ['batch'] }, rules: { allowedGpuModels: ['A100-80GB', 'L4'] } }],
  },
  images: {
    version: 1,
    policies: [{ name: 'registry', rules: { allowedImages: ['registry.example.com/*', 'nvcr.io/nvidia/pytorch:2?.*'] } }],
  },
  labels: {
    version: 1,
    policies: [{ name: 'labels', match: { teams: ['vision'] }, rules: { requiredLabels: ['project', 'example.com/cost-center'] } }],
  },
  checkpoint: {
    version: 1,
    policies: [{ name: 'checkpoint-big', rules: { requireCheckpointAboveGpus: 2 } }],
  },
  trust: {
    version: 1,
    teams: { interns: 'untrusted' },
    policies: [{ name: 'untrusted-mig', match: { trust: 'untrusted' }, rules: { allowedSharing: ['mig', 'none'] } }],
  },
  combined: {
    version: 1,
    teams: { interns: 'untrusted' },
    defaultTrust: 'trusted',
    policies: [
      { name: 'limits', rules: { maxGpusPerJob: 2 } },
      { name: 'untrusted', match: { trust: 'untrusted' }, rules: { allowedSharing: ['mig'], allowedImages: ['registry.example.com/*'], requiredLabels: ['project'] } },
    ],
  },
} as const;

const IMG = 'registry.example.com/train:1';
const H100 = ['H100-80GB'];

export const CORPUS: readonly CorpusCase[] = [
  // ---- limits: GPUs per job, per user (alone), runtime ----
  { name: 'limits: 4 GPUs, the maximum', policy: 'limits', team: 'vision', job: { image: IMG, resources: { gpu: 4 }, expectedDurationSeconds: 3600 }, expect: [] },
  { name: 'limits: 5 GPUs', policy: 'limits', team: 'vision', job: { image: IMG, resources: { gpu: 5 }, expectedDurationSeconds: 3600 }, expect: ['limits/maxGpusPerJob'] },
  { name: 'limits: a share counts as its fraction', policy: 'limits', team: 'vision', job: { image: IMG, resources: { gpu: 0.5 }, expectedDurationSeconds: 60 }, expect: [] },
  { name: 'limits: runtime exactly 24h', policy: 'limits', team: 'vision', job: { image: IMG, resources: { gpu: 1 }, expectedDurationSeconds: 86_400 }, expect: [] },
  { name: 'limits: runtime 25h', policy: 'limits', team: 'vision', job: { image: IMG, resources: { gpu: 1 }, expectedDurationSeconds: 90_000 }, expect: ['limits/maxRuntime'] },
  { name: 'limits: no runtime declared', policy: 'limits', team: 'vision', job: { image: IMG, resources: { gpu: 1 } }, expect: ['limits/maxRuntime'] },
  { name: 'limits: CPU-only job, short', policy: 'limits', team: 'vision', job: { image: IMG, expectedDurationSeconds: 10 }, expect: [] },
  { name: 'limits: 8 GPUs and 48h: two refusals', policy: 'limits', team: 'vision', job: { image: IMG, resources: { gpu: 8 }, expectedDurationSeconds: 172_800 }, expect: ['limits/maxGpusPerJob', 'limits/maxGpusPerUser', 'limits/maxRuntime'] },
  { name: 'limits: a gang of 2 x 2 GPUs', policy: 'limits', team: 'vision', job: { workers: 2, resources: { gpu: 2 }, expectedDurationSeconds: 60 }, expect: [], standaloneOnly: 'a gang is judged per pod in Kubernetes' },
  { name: 'limits: a gang of 3 x 2 GPUs', policy: 'limits', team: 'vision', job: { workers: 3, resources: { gpu: 2 }, expectedDurationSeconds: 60 }, expect: ['limits/maxGpusPerJob'], standaloneOnly: 'a gang is judged per pod in Kubernetes' },
  // ---- allowed GPU models per queue ----
  { name: 'models: batch on A100', policy: 'models', team: 'vision', job: { image: IMG, queue: 'batch', resources: { gpu: 1, gpuModels: ['A100-80GB'] } }, expect: [] },
  { name: 'models: batch on A100 or L4', policy: 'models', team: 'vision', job: { image: IMG, queue: 'batch', resources: { gpu: 1, gpuModels: ['A100-80GB', 'L4'] } }, expect: [] },
  { name: 'models: batch on H100', policy: 'models', team: 'vision', job: { image: IMG, queue: 'batch', resources: { gpu: 1, gpuModels: H100 } }, expect: ['batch-models/allowedGpuModels'] },
  { name: 'models: batch on any model', policy: 'models', team: 'vision', job: { image: IMG, queue: 'batch', resources: { gpu: 1 } }, expect: ['batch-models/allowedGpuModels'] },
  { name: 'models: batch without a GPU', policy: 'models', team: 'vision', job: { image: IMG, queue: 'batch' }, expect: [] },
  { name: 'models: another queue on H100', policy: 'models', team: 'vision', job: { image: IMG, queue: 'default', resources: { gpu: 1, gpuModels: H100 } }, expect: [] },
  { name: 'models: a MIG slice only A100s and H100s offer', policy: 'models', team: 'vision', job: { image: IMG, queue: 'batch', resources: { mig: '3g.40gb' } }, expect: ['batch-models/allowedGpuModels'] },
  { name: 'models: a MIG slice limited to A100', policy: 'models', team: 'vision', job: { image: IMG, queue: 'batch', resources: { mig: '3g.40gb', gpuModels: ['A100-80GB'] } }, expect: [] },
  // ---- allowed images ----
  { name: 'images: the registry', policy: 'images', team: 'vision', job: { image: 'registry.example.com/team/train:3' }, expect: [] },
  { name: 'images: pytorch 24.05', policy: 'images', team: 'vision', job: { image: 'nvcr.io/nvidia/pytorch:24.05-py3' }, expect: [] },
  { name: 'images: pytorch 19.10', policy: 'images', team: 'vision', job: { image: 'nvcr.io/nvidia/pytorch:19.10-py3' }, expect: ['registry/allowedImages'] },
  { name: 'images: docker hub', policy: 'images', team: 'vision', job: { image: 'ubuntu:22.04' }, expect: ['registry/allowedImages'] },
  { name: 'images: a look-alike host', policy: 'images', team: 'vision', job: { image: 'registry.example.com.evil.io/x' }, expect: ['registry/allowedImages'] },
  { name: 'images: a prefix is not the host', policy: 'images', team: 'vision', job: { image: 'evil.io/registry.example.com/x' }, expect: ['registry/allowedImages'] },
  { name: 'images: no image (a plain process)', policy: 'images', team: 'vision', job: {}, expect: ['registry/allowedImages'], standaloneOnly: 'a pod always runs an image' },
  // ---- required labels ----
  { name: 'labels: both present', policy: 'labels', team: 'vision', job: { image: IMG, labels: { project: 'resnet', 'example.com/cost-center': 'cc-42' } }, expect: [] },
  { name: 'labels: one missing', policy: 'labels', team: 'vision', job: { image: IMG, labels: { project: 'resnet' } }, expect: ['labels/requiredLabels'] },
  { name: 'labels: none', policy: 'labels', team: 'vision', job: { image: IMG }, expect: ['labels/requiredLabels'] },
  { name: 'labels: an empty value is missing', policy: 'labels', team: 'vision', job: { image: IMG, labels: { project: '', 'example.com/cost-center': 'cc-42' } }, expect: ['labels/requiredLabels'] },
  { name: 'labels: another team is not matched', policy: 'labels', team: 'interns', job: { image: IMG }, expect: [] },
  // ---- checkpointing for preemptible jobs above N GPUs ----
  { name: 'checkpoint: 2 GPUs without', policy: 'checkpoint', team: 'vision', job: { image: IMG, resources: { gpu: 2 } }, expect: [] },
  { name: 'checkpoint: 4 GPUs without', policy: 'checkpoint', team: 'vision', job: { image: IMG, resources: { gpu: 4 } }, expect: ['checkpoint-big/requireCheckpointAboveGpus'] },
  { name: 'checkpoint: 4 GPUs with', policy: 'checkpoint', team: 'vision', job: { image: IMG, resources: { gpu: 4 }, checkpoint: { graceSeconds: 60 } }, expect: [] },
  { name: 'checkpoint: 4 GPUs, not preemptible', policy: 'checkpoint', team: 'vision', job: { image: IMG, resources: { gpu: 4 }, preemptible: false }, expect: [] },
  // ---- sharing mode by team trust ----
  { name: 'trust: untrusted MIG slice', policy: 'trust', team: 'interns', job: { image: IMG, resources: { mig: '1g.10gb' } }, expect: [] },
  { name: 'trust: untrusted share', policy: 'trust', team: 'interns', job: { image: IMG, resources: { gpu: 0.5 } }, expect: ['untrusted-mig/allowedSharing'] },
  { name: 'trust: untrusted whole GPU', policy: 'trust', team: 'interns', job: { image: IMG, resources: { gpu: 1 } }, expect: ['untrusted-mig/allowedSharing'] },
  { name: 'trust: untrusted, no GPU', policy: 'trust', team: 'interns', job: { image: IMG }, expect: [] },
  { name: 'trust: trusted share', policy: 'trust', team: 'vision', job: { image: IMG, resources: { gpu: 0.5 } }, expect: [] },
  // ---- several policies at once ----
  { name: 'combined: trusted, 2 GPUs, public image', policy: 'combined', team: 'vision', job: { image: 'ubuntu:22.04', resources: { gpu: 2 } }, expect: [] },
  { name: 'combined: untrusted, MIG, labelled, registry', policy: 'combined', team: 'interns', job: { image: IMG, resources: { mig: '1g.10gb' }, labels: { project: 'x' } }, expect: [] },
  { name: 'combined: untrusted, 4 GPUs, public image, no label', policy: 'combined', team: 'interns', job: { image: 'ubuntu:22.04', resources: { gpu: 4 } }, expect: ['limits/maxGpusPerJob', 'untrusted/allowedImages', 'untrusted/allowedSharing', 'untrusted/requiredLabels'] },
];
