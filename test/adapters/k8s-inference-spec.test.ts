/** The InferenceService read as a service spec, the replica pod it makes, and the webhook's verdict (pure). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { desiredReplicas, inferenceSpec, InferenceSpecError, replicaPod, templateRevision, type InferenceServiceObject } from '../../src/adapters/k8s/inference-spec.js';
import { admitInferenceService } from '../../src/adapters/k8s/webhook.js';
import { gpuRequestOf } from '../../src/adapters/k8s/pods.js';

const obj = (spec: Record<string, unknown>, status?: InferenceServiceObject['status']): InferenceServiceObject => ({
  apiVersion: 'scheduling.gantry.dev/v1alpha1',
  kind: 'InferenceService',
  metadata: { name: 'chat', namespace: 'team-a', uid: 'u-1' },
  spec: { image: 'vllm/vllm-openai:v0.9', ...spec },
  ...(status ? { status } : {}),
});

describe('InferenceService spec', () => {
  it('fills the service file defaults: replicas 1..4, gantry autoscaler, load-prefix routing, port 8000', () => {
    const s = inferenceSpec(obj({}));
    assert.deepEqual([s.replicas.min, s.replicas.max, s.autoscaler.policy, s.routing.policy, s.port, s.drainSeconds, s.preemptible], [1, 4, 'gantry', 'load-prefix', 8000, 30, false]);
  });

  it('names every bad field in one message', () => {
    assert.throws(
      () => inferenceSpec(obj({ routing: { policy: 'random' }, extra: true })),
      (e: unknown) => e instanceof InferenceSpecError && /^InferenceService chat: /.test(e.message) && /spec: unknown field "extra"/.test(e.message) && /spec\.routing\.policy: Invalid option/.test(e.message),
    );
    // Cross-field rules, once every field is valid on its own.
    assert.throws(
      () => inferenceSpec(obj({ replicas: { min: 5, max: 2 }, env: [{ name: 'PORT', value: '1' }] })),
      (e: unknown) => e instanceof InferenceSpecError && /spec\.env\[0\]\.name: PORT is set by Gantry/.test(e.message) && /spec\.replicas\.min: must be at most replicas\.max \(2\)/.test(e.message),
    );
  });

  it('refuses a GPU request the scheduler would refuse, in the pod webhook\'s words', () => {
    assert.throws(() => inferenceSpec(obj({ resources: { gpuFraction: '1.5' } })), /spec\.resources: gantry\.dev\/gpu-fraction="1\.5" must be a number between 0 and 1/);
    assert.throws(() => inferenceSpec(obj({ resources: { gpu: 1, mig: '3g.40gb' } })), /more than one kind of GPU/);
  });

  it('makes a replica pod for Gantry: owned, labelled, not preemptible, the share in annotations, drainSeconds as its grace', () => {
    const o = obj({ port: 9000, queue: 'team-a', priorityClassName: 'inference', resources: { gpuFraction: '0.5', gpuMemory: '20Gi', gpuModels: ['H100-80GB'] }, weights: '/models/llama', drainSeconds: 45, env: [{ name: 'A', value: 'b' }] });
    const s = inferenceSpec(o);
    const pod = replicaPod(o, s, 3);
    assert.equal(pod.metadata?.name, 'chat-r3');
    assert.equal(pod.metadata?.namespace, 'team-a');
    assert.deepEqual(pod.metadata?.ownerReferences, [{ apiVersion: 'scheduling.gantry.dev/v1alpha1', kind: 'InferenceService', name: 'chat', uid: 'u-1', controller: true, blockOwnerDeletion: true }]);
    assert.equal(pod.metadata?.labels?.['gantry.dev/inference-service'], 'chat');
    assert.equal(pod.metadata?.labels?.['gantry.dev/inference-revision'], templateRevision(s));
    assert.equal(pod.metadata?.labels?.['gantry.dev/queue'], 'team-a');
    assert.deepEqual(pod.metadata?.annotations, { 'gantry.dev/gpu-fraction': '0.5', 'gantry.dev/gpu-memory': '20Gi', 'gantry.dev/gpu-models': 'H100-80GB', 'gantry.dev/preemptible': 'false' });
    assert.deepEqual(gpuRequestOf(pod), { kind: 'share', milli: 500, memoryMiB: 20 * 1024 });
    assert.equal(pod.spec?.schedulerName, 'gantry');
    assert.equal(pod.spec?.priorityClassName, 'inference');
    assert.equal(pod.spec?.terminationGracePeriodSeconds, 45);
    const c = pod.spec?.containers[0];
    assert.deepEqual(Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value])), { A: 'b', PORT: '9000', GANTRY_SERVICE: 'chat', GANTRY_REPLICA: '3', GANTRY_SERVICE_REVISION: templateRevision(s), GANTRY_WEIGHTS: '/models/llama' });
    assert.deepEqual(c?.readinessProbe?.httpGet, { path: '/health', port: 9000 });
  });

  it('a new template is a new revision; scaling and routing fields are not', () => {
    const a = templateRevision(inferenceSpec(obj({})));
    assert.equal(templateRevision(inferenceSpec(obj({ replicas: { min: 2, max: 8 }, routing: { policy: 'p2c' } }))), a);
    assert.notEqual(templateRevision(inferenceSpec(obj({ image: 'vllm/vllm-openai:v1.0' }))), a);
  });

  it('wants what the autoscaler wrote, else initial, else min, within bounds', () => {
    const s = inferenceSpec(obj({ replicas: { min: 1, max: 3, initial: 2 } }));
    assert.equal(desiredReplicas(s, undefined), 2);
    assert.equal(desiredReplicas(s, { desiredReplicas: 3 }), 3);
    assert.equal(desiredReplicas(s, { desiredReplicas: 9 }), 3);
    assert.equal(desiredReplicas(inferenceSpec(obj({ replicas: { min: 0, max: 3 } })), undefined), 0);
  });

  it('the webhook refuses a bad InferenceService at create and update, naming the field, and allows a good one', () => {
    const bad = admitInferenceService({ uid: 'x', operation: 'UPDATE', object: obj({ resources: { gpuMemory: '0' } }) as never });
    assert.equal(bad.allowed, false);
    assert.equal(bad.status?.code, 422);
    assert.match(bad.status?.message ?? '', /^gantry: InferenceService chat: spec\.resources: gantry\.dev\/gpu-memory="0"/);
    assert.equal(admitInferenceService({ uid: 'y', operation: 'CREATE', object: obj({}) as never }).allowed, true);
    assert.equal(admitInferenceService({ uid: 'z', operation: 'DELETE', object: obj({ port: -1 }) as never }).allowed, true);
  });
});
