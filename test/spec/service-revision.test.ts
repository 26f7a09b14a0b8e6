import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/core/errors.js';
import { replicaJob, replicaRevision, validateServiceFile } from '../../src/spec/service-spec.js';

const base = { name: 'chat', command: 'gantry sim llm-server --port $PORT', env: { A: '1', B: '2' } };

test('service revision: the fields that shape a replica change it; replicas, autoscaler, routing, objective and rollout do not', () => {
  const rev = replicaRevision(validateServiceFile(base));
  assert.match(rev, /^[0-9a-f]{10}$/);
  for (const inPlace of [{ replicas: { min: 0, max: 9 } }, { autoscaler: { policy: 'kpa' } }, { routing: { policy: 'p2c' } }, { objective: { ttftP99Ms: 5 } }, { rollout: { canaryPercent: 50 } }, { drainSeconds: 1 }, { env: { B: '2', A: '1' } }]) {
    assert.equal(replicaRevision(validateServiceFile({ ...base, ...inPlace })), rev, JSON.stringify(inPlace));
  }
  for (const change of [{ command: 'other' }, { env: { A: '1', B: '3' } }, { resources: { gpu: 1 } }, { readiness: { path: '/ready' } }, { weights: '/models/x' }, { workingDir: '/tmp' }]) {
    assert.notEqual(replicaRevision(validateServiceFile({ ...base, ...change })), rev, JSON.stringify(change));
  }
  assert.equal(replicaJob(validateServiceFile(base), 3, 9000).env['GANTRY_SERVICE_REVISION'], rev, 'replica jobs carry their revision');
});

test('service rollout policy: defaults, and SERVICE_INVALID naming each bad field', () => {
  assert.deepEqual(validateServiceFile(base).rollout, { strategy: 'canary', canaryPercent: 10, analysisSeconds: 60, maxErrorRate: 0.01, minRequests: 20, readyTimeoutSeconds: 600 });
  const bad = (rollout: unknown): string[] => {
    try {
      validateServiceFile({ ...base, rollout });
    } catch (e) {
      assert.ok(e instanceof UserError && e.code === 'SERVICE_INVALID');
      return (e.details as { issues: string[] }).issues;
    }
    return assert.fail('accepted');
  };
  const issues = bad({ strategy: 'blue-green', canaryPercent: 0, analysisSeconds: -1, maxErrorRate: 2, extra: 1 });
  for (const field of ['rollout.strategy', 'rollout.canaryPercent', 'rollout.analysisSeconds', 'rollout.maxErrorRate', 'extra']) assert.ok(issues.some((i) => i.includes(field)), `${field} in ${issues.join('; ')}`);
  assert.throws(() => validateServiceFile({ ...base, env: { GANTRY_SERVICE_REVISION: 'x' } }), /env\.GANTRY_SERVICE_REVISION: is set by Gantry/);
});

test('service weights as a dataset: the replica job reads it, the version shapes the revision, bad references are refused', () => {
  const pinned = validateServiceFile({ ...base, weights: { dataset: 'llama-8b@2' } });
  const job = replicaJob(pinned, 1, 9000);
  assert.deepEqual(job.datasets, [{ name: 'llama-8b', version: 2 }]);
  assert.equal(job.env['GANTRY_WEIGHTS_DATASET'], 'llama-8b');
  assert.equal(job.env['GANTRY_WEIGHTS'], undefined, 'set when it starts, to its node\'s copy');
  assert.notEqual(replicaRevision(pinned), replicaRevision(validateServiceFile({ ...base, weights: { dataset: 'llama-8b@3' } })));
  assert.deepEqual(replicaJob(validateServiceFile({ ...base, weights: { dataset: 'llama-8b' } }), 1, 9000).datasets, [{ name: 'llama-8b' }]);
  for (const weights of [{ dataset: 'Llama' }, { dataset: 'x@0' }, { dataset: 'x@' }, { path: '/x' }, 'relative/path']) assert.throws(() => validateServiceFile({ ...base, weights }), (e: unknown) => e instanceof UserError && e.code === 'SERVICE_INVALID', JSON.stringify(weights));
  assert.throws(() => validateServiceFile({ ...base, env: { GANTRY_WEIGHTS_DATASET: 'x' } }), /env\.GANTRY_WEIGHTS_DATASET: is set by Gantry/);
});
