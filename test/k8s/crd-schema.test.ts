/**
 * The CRDs in deploy/crds carry full OpenAPI v3 schemas: a real apiserver publishes them (what
 * `kubectl explain` reads, from /openapi/v3) with a description on every field, and refuses a
 * bad object with the field named.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { ControlPlane, k8sTestOptions } from './harness.js';
import { applyObjects, manifest, waitEstablished } from './cluster.js';

function get(cp: ControlPlane, path: string, method = 'GET', body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(`${cp.server}${path}`, { method, rejectUnauthorized: false, headers: { authorization: `Bearer ${cp.adminToken}`, ...(payload ? { 'content-type': 'application/json' } : {}) } }, (r) => {
      let text = '';
      r.on('data', (d: Buffer) => (text += d.toString()));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

type Schema = { description?: string; properties?: Record<string, Schema>; additionalProperties?: Schema | boolean; items?: Schema; allOf?: Schema[]; $ref?: string };

/** Paths of fields (below spec and status) that have no description. */
function undescribed(s: Schema, path: string, out: string[]): string[] {
  for (const [k, v] of Object.entries(s.properties ?? {})) {
    const here = `${path}.${k}`;
    if (k === 'metadata') continue;
    if (!v.description && !(v.allOf ?? []).some((x) => x.description)) out.push(here);
    undescribed(v, here, out);
    if (typeof v.additionalProperties === 'object') undescribed(v.additionalProperties, `${here}.*`, out);
  }
  return out;
}

describe('CRD schemas (real apiserver)', k8sTestOptions(), () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  before(async () => {
    cp = await ControlPlane.start();
    kc = cp.kubeConfig();
    const crds = ['queues.scheduling.gantry.dev', 'podgroups.scheduling.x-k8s.io', 'inferenceservices.scheduling.gantry.dev'];
    await applyObjects(kc, crds.flatMap((c) => manifest(`crds/${c}.yaml`)));
    await waitEstablished(kc, crds);
  });
  after(async () => {
    await cp?.stop();
  });

  for (const [group, kind] of [['scheduling.gantry.dev', 'Queue'], ['scheduling.x-k8s.io', 'PodGroup'], ['scheduling.gantry.dev', 'InferenceService']] as const) {
    it(`publishes ${kind} with a description on every field (what kubectl explain shows)`, async () => {
      type Published = { components: { schemas: Record<string, Schema & { 'x-kubernetes-group-version-kind'?: { kind: string }[] }> } };
      let text = '';
      // The published document follows the CRD by a moment.
      for (let i = 0; i < 50 && !text; i++) {
        const r = await get(cp, `/openapi/v3/apis/${group}/v1alpha1`);
        if (r.status === 200 && r.body.includes(`"${kind}"`)) text = r.body;
        else await new Promise((res) => setTimeout(res, 200));
      }
      assert.ok(text, `/openapi/v3/apis/${group}/v1alpha1 published`);
      const doc = JSON.parse(text) as Published;
      const schema = Object.values(doc.components.schemas).find((s) => s['x-kubernetes-group-version-kind']?.some((g) => g.kind === kind));
      assert.ok(schema, `${kind} in the published document`);
      assert.ok(schema.description, `${kind} described`);
      assert.ok(Object.keys(schema.properties?.['spec']?.properties ?? {}).length >= 3, `${kind}.spec fields published`);
      assert.deepEqual(undescribed(schema, kind, []), [], 'fields without a description');
    });
  }

  it('refuses a bad Queue and a bad PodGroup, naming the field', async () => {
    const q = await get(cp, '/apis/scheduling.gantry.dev/v1alpha1/queues', 'POST', { apiVersion: 'scheduling.gantry.dev/v1alpha1', kind: 'Queue', metadata: { name: 'bad' }, spec: { ordering: 'random', quota: { gpu: 'lots' } } });
    assert.equal(q.status, 422, q.body);
    assert.match(q.body, /spec\.ordering/);
    assert.match(q.body, /spec\.quota\.gpu/);
    // CEL rules run once the object is otherwise valid.
    const over = await get(cp, '/apis/scheduling.gantry.dev/v1alpha1/queues', 'POST', { apiVersion: 'scheduling.gantry.dev/v1alpha1', kind: 'Queue', metadata: { name: 'over' }, spec: { gpuModels: { 'H100-80GB': { quota: 4, limit: 2 } } } });
    assert.equal(over.status, 422, over.body);
    assert.match(over.body, /quota must not exceed limit/);
    const good = await get(cp, '/apis/scheduling.gantry.dev/v1alpha1/queues', 'POST', { apiVersion: 'scheduling.gantry.dev/v1alpha1', kind: 'Queue', metadata: { name: 'good' }, spec: { quota: { gpu: '0.5', cpu: '500m', memory: '64Gi' }, limit: { gpu: 8 }, ordering: 'fifo' } });
    assert.equal(good.status, 201, good.body);
    // spec.budget: a known period, a decimal limit of at most 6 decimals, a known mode; soft by default.
    const budget = await get(cp, '/apis/scheduling.gantry.dev/v1alpha1/queues', 'POST', { apiVersion: 'scheduling.gantry.dev/v1alpha1', kind: 'Queue', metadata: { name: 'spendy' }, spec: { budget: { period: 'year', limit: '1.2345678', mode: 'strict' } } });
    assert.equal(budget.status, 422, budget.body);
    for (const f of [/spec\.budget\.period/, /spec\.budget\.limit/, /spec\.budget\.mode/]) assert.match(budget.body, f);
    const noLimit = await get(cp, '/apis/scheduling.gantry.dev/v1alpha1/queues', 'POST', { apiVersion: 'scheduling.gantry.dev/v1alpha1', kind: 'Queue', metadata: { name: 'nolimit' }, spec: { budget: { period: 'day' } } });
    assert.equal(noLimit.status, 422, noLimit.body);
    assert.match(noLimit.body, /spec\.budget\.limit: Required/);
    const budgeted = await get(cp, '/apis/scheduling.gantry.dev/v1alpha1/queues', 'POST', { apiVersion: 'scheduling.gantry.dev/v1alpha1', kind: 'Queue', metadata: { name: 'budgeted' }, spec: { budget: { period: 'week', limit: '123.45' } } });
    assert.equal(budgeted.status, 201, budgeted.body);
    assert.equal((JSON.parse(budgeted.body) as { spec: { budget: { mode: string } } }).spec.budget.mode, 'soft');
    const pg = await get(cp, '/apis/scheduling.x-k8s.io/v1alpha1/namespaces/default/podgroups', 'POST', { apiVersion: 'scheduling.x-k8s.io/v1alpha1', kind: 'PodGroup', metadata: { name: 'bad' }, spec: { scheduleTimeoutSeconds: 0 } });
    assert.equal(pg.status, 422, pg.body);
    assert.match(pg.body, /spec\.minMember/);
  });
});
