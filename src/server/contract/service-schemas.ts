/**
 * The services routes' schemas (see services/services-api.ts): the service spec the server
 * validates (the same fields as a service file, `gantry serve apply FILE`) and what it answers.
 */
import { z } from 'zod';
import { serviceFileSchema } from '../../spec/service-spec.js';
import { NAME } from './schemas.js';

const time = z.iso.datetime().openapi({ example: '2026-12-06T03:00:00.000Z' });

// A new object over the same fields (zod-to-openapi can only annotate schemas made after it loaded).
export const ServiceSpecSchema = z.strictObject(serviceFileSchema.shape).openapi('ServiceSpec', {
  description: 'An inference service: the same format as a service file (gantry serve apply FILE). Each replica runs as a job NAME-rN with its port in PORT.',
  example: { kind: 'Service', name: 'chat', command: 'gantry sim llm-server --port $PORT', resources: { gpu: 1 }, replicas: { min: 0, max: 4 }, objective: { ttftP99Ms: 500 } },
});
export const serviceParams = z.strictObject({ name: NAME.openapi({ param: { example: 'chat' } }) });
export const explainServiceQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(20).openapi({ type: 'integer', minimum: 1, maximum: 500 }) });

const percentiles = z.object({ p50: z.number().nullable(), p99: z.number().nullable() });
const DecisionSchema = z.object({ at: time, current: z.number().int(), desired: z.number().int(), panic: z.boolean(), reason: z.string() }).openapi('ScaleDecision');
const RolloutSchema = z
  .object({
    phase: z.enum(['canary', 'promoting', 'done', 'rolled-back']),
    strategy: z.enum(['canary', 'replace']),
    from: z.string().openapi({ description: 'the revision rolled from' }),
    to: z.string().openapi({ description: 'the revision rolled to' }),
    canaryWeight: z.number().openapi({ description: 'percent of requests the new revision gets now (canary phase), else 0' }),
    startedAt: time,
    reason: z.string().openapi({ description: 'the newest step and why' }),
    newRevision: z.object({ requests: z.number().int(), errors5xx: z.number().int(), ttftP99Ms: z.number().nullable(), latencyP99Ms: z.number().nullable() }),
  })
  .openapi('ServiceRollout');
const dataState = z.enum(['cached', 'repairing', 'filling', 'waiting-for-space', 'failed', 'interrupted', 'not-cached']);
const ReplicaWeightsSchema = z
  .object({ node: z.string(), state: dataState, message: z.string() })
  .openapi('ReplicaWeights', { description: 'the weights\' copy on the replica\'s node (null: weights are a path or none, or the replica is not placed yet)' });
const ServiceWeightsSchema = z
  .object({
    dataset: z.string().openapi({ description: 'the weights\' dataset version, NAME@VERSION' }),
    totalBytes: z.number().int(),
    fillBytesPerSecond: z.number().int().openapi({ description: 'the fill rate expected start-up times assume (the last fill measured, else 200 MiB/s)' }),
    nodes: z
      .array(z.object({ node: z.string(), state: dataState, bytesDone: z.number().int(), expectedStartSeconds: z.number().openapi({ description: 'bytes of the weights not on the node / the fill rate' }) }))
      .openapi({ description: 'every node, soonest expected start-up first' }),
    next: z
      .object({ node: z.string(), state: dataState, message: z.string() })
      .nullable()
      .openapi({ description: 'the node the next replica would be placed on now, where the weights are staged before it scales out (null at max replicas or when it fits nowhere)' }),
    replicas: z.array(z.object({ replica: z.string(), node: z.string(), state: dataState, message: z.string() })).openapi({ description: 'the copy on each placed replica\'s node' }),
  })
  .openapi('ServiceWeights');
const serviceFields = {
  name: z.string(),
  team: z.string(),
  owner: z.string(),
  url: z.string().openapi({ description: 'the service\'s stable URL on the router: send requests to URL/PATH' }),
  state: z.enum(['ready', 'starting', 'scaled-to-zero', 'removing']),
  createdAt: time,
  updatedAt: time,
  routing: z.string(),
  autoscaler: z.string(),
  replicas: z.object({ min: z.number().int(), max: z.number().int(), desired: z.number().int(), ready: z.number().int(), starting: z.number().int(), draining: z.number().int() }),
  traffic: z.object({ inFlight: z.number().int(), held: z.number().int(), requests: z.number().int(), errors5xx: z.number().int(), latencyMs: percentiles, ttftMs: percentiles }),
  lastDecision: DecisionSchema.nullable(),
  revision: z.string().openapi({ description: 'the revision of the replica template the service runs (a hash of command, image, env, workingDir, resources, readiness, weights)' }),
  rollout: RolloutSchema.nullable().openapi({ description: 'the newest rollout (null if the template never changed since the server started)' }),
};
export const ServiceSummarySchema = z.object(serviceFields).openapi('ServiceSummary');
export const ServiceSchema = z
  .object({
    ...serviceFields,
    replicaList: z.array(z.object({ name: z.string(), job: z.string(), revision: z.string(), state: z.enum(['queued', 'starting', 'ready', 'draining', 'stopping']), port: z.number().int(), inFlight: z.number().int(), served: z.number().int(), node: z.string().nullable(), weights: ReplicaWeightsSchema.nullable() })),
    spec: z.record(z.string(), z.unknown()).openapi({ description: 'the service as stored (a ServiceSpec with defaults filled in)' }),
    weights: ServiceWeightsSchema.nullable().openapi({ description: 'weights given as a dataset: their state per node (null for a path or none)' }),
  })
  .openapi('Service');
export const ServiceListSchema = z.object({ items: z.array(ServiceSummarySchema) }).openapi('ServiceList');
export const ServiceRemovedSchema = z.object({ name: z.string(), removed: z.literal(true), replicasStopping: z.number().int() }).openapi('ServiceRemoved');
export const ServiceExplanationSchema = z.object({ service: z.string(), desired: z.number().int(), autoscaler: z.string(), decisions: z.array(DecisionSchema), weights: ServiceWeightsSchema.nullable() }).openapi('ServiceExplanation');
