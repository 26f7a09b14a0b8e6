/**
 * The InferenceService custom resource (scheduling.gantry.dev/v1alpha1, namespaced) read as a
 * service spec, and the replica pod it makes. Pure. The fields that shape routing and scaling
 * (replicas, objective, autoscaler, routing, readiness, drainSeconds) are the service file's
 * own schemas (spec/service-spec.ts), so `gantry up` and Kubernetes accept the same values and
 * run the same autoscaler and router code on them.
 *
 * The same parse is the webhook's check (a refusal at `kubectl apply`) and the controller's
 * (an object that slipped past, e.g. with the webhook off, gets a `Valid=False` condition and a
 * Warning Event, and no pods).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { describeIssues } from '../../spec/job-spec.js';
import { serviceFileSchema } from '../../spec/service-spec.js';
import { gpuRequestOf, podRequest, PodSpecError } from './pods.js';
import {
  ANN_GPU_FRACTION, ANN_GPU_MEMORY, ANN_GPU_MODELS, ANN_PREEMPTIBLE, GANTRY_GROUP, INFERENCE_KIND, INFERENCE_VERSION, LABEL_INFERENCE_REVISION, LABEL_INFERENCE_SERVICE, QUEUE_LABEL, RES_GPU, RES_MIG_PREFIX,
  SCHEDULER_NAME,
} from './names.js';

const service = serviceFileSchema.shape;
const quantity = z.union([z.string().min(1).max(64), z.number().nonnegative()]);
const RESERVED_ENV = ['PORT', 'GANTRY_SERVICE', 'GANTRY_REPLICA', 'GANTRY_SERVICE_REVISION', 'GANTRY_WEIGHTS'];

export const inferenceSpecSchema = z
  .strictObject({
    image: z.string().min(1).max(1024),
    command: z.array(z.string().max(4096)).max(256).optional(),
    args: z.array(z.string().max(4096)).max(256).optional(),
    env: z
      .array(z.strictObject({ name: z.string().regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, 'must be an environment variable name').max(256), value: z.string().max(32_768).default('') }))
      .max(256)
      .default([]),
    port: z.number().int().min(1).max(65_535).default(8000),
    queue: z.string().min(1).max(63).optional(),
    priorityClassName: z.string().min(1).max(253).optional(),
    preemptible: z.boolean().default(false),
    // A path only: weights as a registered dataset are a `gantry up` feature for now (the
    // service file's object form); on Kubernetes a pod's data comes through the cache agent.
    weights: z.string().min(1).max(4096).regex(/^\//, 'must be an absolute path').optional(),
    nodeSelector: z.record(z.string(), z.string()).optional(),
    resources: z
      .strictObject({
        gpu: z.number().int().min(0).max(64).optional(),
        gpuFraction: z.string().optional(),
        gpuMemory: z.string().optional(),
        mig: z.string().regex(/^[1-7]g\.[0-9]+gb$/, 'must be a MIG profile such as "3g.40gb"').optional(),
        gpuModels: z.array(z.string().min(1).max(64)).max(16).optional(),
        cpu: quantity.default('1'),
        memory: quantity.default('1Gi'),
      })
      .default({ cpu: '1', memory: '1Gi' }),
    readiness: service.readiness,
    replicas: service.replicas,
    objective: service.objective,
    autoscaler: service.autoscaler,
    routing: service.routing,
    drainSeconds: service.drainSeconds,
  })
  .superRefine((s, ctx) => {
    s.env.forEach((e, i) => {
      if (RESERVED_ENV.includes(e.name)) ctx.addIssue({ code: 'custom', path: ['env', i, 'name'], message: `${e.name} is set by Gantry for each replica` });
    });
    if (s.replicas.min > s.replicas.max) ctx.addIssue({ code: 'custom', path: ['replicas', 'min'], message: `must be at most replicas.max (${s.replicas.max})` });
    const initial = s.replicas.initial;
    if (initial !== undefined && (initial < s.replicas.min || initial > s.replicas.max)) ctx.addIssue({ code: 'custom', path: ['replicas', 'initial'], message: `must be between replicas.min (${s.replicas.min}) and replicas.max (${s.replicas.max})` });
  });

export type InferenceSpec = z.output<typeof inferenceSpecSchema>;

export interface InferenceServiceObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; generation?: number; resourceVersion?: string; creationTimestamp?: Date };
  spec?: unknown;
  status?: InferenceServiceStatus;
}

export interface ScaleRecord {
  readonly time: string;
  readonly from: number;
  readonly to: number;
  readonly panic: boolean;
  readonly reason: string;
}

export interface InferenceServiceStatus {
  observedGeneration?: number;
  revision?: string;
  replicas?: number;
  readyReplicas?: number;
  desiredReplicas?: number;
  url?: string;
  inFlight?: number;
  queued?: number;
  lastScale?: ScaleRecord;
  conditions?: Array<{ type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }>;
}

export class InferenceSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InferenceSpecError';
  }
}

/** `namespace/name` of an InferenceService. */
export function serviceKey(obj: InferenceServiceObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

/** The spec, validated as the webhook and the controller read it; throws InferenceSpecError naming each bad field. */
export function inferenceSpec(obj: InferenceServiceObject): InferenceSpec {
  const name = obj.metadata?.name ?? obj.metadata?.namespace ?? '';
  const r = inferenceSpecSchema.safeParse(obj.spec ?? {});
  if (!r.success) throw new InferenceSpecError(`InferenceService ${name}: ${describeIssues(r.error.issues).map((l) => (l.startsWith('(top level)') ? `spec${l.slice('(top level)'.length)}` : `spec.${l}`)).join('; ')}`);
  // The replica's GPU request must be one Gantry schedules (the same check as the pod webhook's).
  try {
    const pod = replicaPod(obj, r.data, 1);
    gpuRequestOf(pod);
    podRequest(pod);
  } catch (e) {
    if (e instanceof PodSpecError) throw new InferenceSpecError(`InferenceService ${name}: spec.resources: ${e.message}`);
    throw e;
  }
  return r.data;
}

/** A hash of what shapes a replica pod: a change makes new replicas that replace the old ones. */
export function templateRevision(s: InferenceSpec): string {
  const t = { image: s.image, command: s.command ?? null, args: s.args ?? null, env: s.env, port: s.port, resources: s.resources, weights: s.weights ?? null, nodeSelector: s.nodeSelector ?? null, queue: s.queue ?? null, priorityClassName: s.priorityClassName ?? null, preemptible: s.preemptible, readiness: s.readiness, drainSeconds: s.drainSeconds };
  return createHash('sha256').update(JSON.stringify(t)).digest('hex').slice(0, 10);
}

/** Replicas the service should have: what the autoscaler last wrote in its status, else the initial count, within bounds. */
export function desiredReplicas(s: InferenceSpec, status: InferenceServiceStatus | undefined): number {
  const want = status?.desiredReplicas ?? s.replicas.initial ?? s.replicas.min;
  return Math.max(s.replicas.min, Math.min(s.replicas.max, want));
}

/** The name of replica `index` (stable, so two controllers never make the same replica twice). */
export function replicaPodName(service: string, index: number): string {
  return `${service}-r${index}`;
}

function replicaContainer(name: string, s: InferenceSpec, index: number, revision: string): V1Container {
  const r = s.resources;
  const limits: Record<string, string> = { memory: String(r.memory) };
  if (r.gpu !== undefined && r.gpu > 0) limits[RES_GPU] = String(r.gpu);
  if (r.mig !== undefined) limits[`${RES_MIG_PREFIX}${r.mig}`] = '1';
  const env = [
    ...s.env.map((e) => ({ name: e.name, value: e.value })),
    { name: 'PORT', value: String(s.port) },
    { name: 'GANTRY_SERVICE', value: name },
    { name: 'GANTRY_REPLICA', value: String(index) },
    { name: 'GANTRY_SERVICE_REVISION', value: revision },
    ...(s.weights !== undefined ? [{ name: 'GANTRY_WEIGHTS', value: s.weights }] : []),
  ];
  return {
    name: 'server',
    image: s.image,
    ...(s.command ? { command: s.command } : {}),
    ...(s.args ? { args: s.args } : {}),
    env,
    ports: [{ name: 'http', containerPort: s.port }],
    readinessProbe: {
      httpGet: { path: s.readiness.path, port: s.port },
      periodSeconds: Math.max(1, Math.round(s.readiness.periodSeconds)),
      timeoutSeconds: Math.max(1, Math.round(s.readiness.timeoutSeconds)),
    },
    resources: { requests: { cpu: String(r.cpu), ...limits }, limits },
  };
}

/**
 * Replica `index` of the service: scheduled by Gantry, owned by the InferenceService (deleted
 * with it), labelled with the service and its template's revision. GPU shares go in the
 * annotations the webhook and the scheduler read; replicas are not preemptible unless the spec
 * says so, which lets them take GPUs from preemptible training (the scheduler's surge).
 */
export function replicaPod(obj: InferenceServiceObject, s: InferenceSpec, index: number): V1Pod {
  const name = obj.metadata?.name ?? '';
  const revision = templateRevision(s);
  const r = s.resources;
  const annotations: Record<string, string> = {};
  if (r.gpuFraction !== undefined) annotations[ANN_GPU_FRACTION] = r.gpuFraction;
  if (r.gpuMemory !== undefined) annotations[ANN_GPU_MEMORY] = r.gpuMemory;
  if (r.gpuModels !== undefined && r.gpuModels.length > 0) annotations[ANN_GPU_MODELS] = r.gpuModels.join(',');
  if (!s.preemptible) annotations[ANN_PREEMPTIBLE] = 'false';
  const labels: Record<string, string> = { [LABEL_INFERENCE_SERVICE]: name, [LABEL_INFERENCE_REVISION]: revision, 'app.kubernetes.io/managed-by': SCHEDULER_NAME };
  if (s.queue !== undefined) labels[QUEUE_LABEL] = s.queue;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: replicaPodName(name, index),
      namespace: obj.metadata?.namespace ?? 'default',
      labels,
      annotations,
      ...(obj.metadata?.uid
        ? { ownerReferences: [{ apiVersion: `${GANTRY_GROUP}/${INFERENCE_VERSION}`, kind: INFERENCE_KIND, name, uid: obj.metadata.uid, controller: true, blockOwnerDeletion: true }] }
        : {}),
    },
    spec: {
      schedulerName: SCHEDULER_NAME,
      ...(s.priorityClassName !== undefined ? { priorityClassName: s.priorityClassName } : {}),
      ...(s.nodeSelector !== undefined ? { nodeSelector: { ...s.nodeSelector } } : {}),
      terminationGracePeriodSeconds: Math.ceil(s.drainSeconds),
      restartPolicy: 'Always',
      containers: [replicaContainer(name, s, index, revision)],
    },
  };
}
