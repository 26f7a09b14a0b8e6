/**
 * The API contract (src/server/contract) against a running server: every registered route is
 * in the generated OpenAPI document, answers match the schemas the document is made from,
 * PUT needs a body and PATCH merges, and the router's own refusals use the project's error shape.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, waitState, type TestServer } from '../helpers/server.js';
import { OPERATIONS } from '../../src/server/contract/operations.js';
import { ErrorSchema } from '../../src/server/contract/schemas.js';
import { Client } from '../../src/cli/client.js';

describe('the API contract', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ gpus: '2xH100-80GB' });
  });
  after(async () => {
    await t.close();
  });

  it('describes every route the server registered, and nothing it did not', async () => {
    const doc = (await t.api('GET', '/openapi.json', undefined, null)).body as { openapi: string; paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>> };
    assert.equal(doc.openapi, '3.1.0');
    const served = new Set(t.server.routes().map((r) => `${r.method} ${r.url.replace(/:([A-Za-z]+)/g, '{$1}')}`));
    const documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
    assert.ok(served.size >= 29, `routes seen: ${served.size}`);
    assert.deepEqual([...served].filter((r) => !documented.has(r)), [], 'routes the document does not describe');
    assert.deepEqual([...documented].filter((r) => !served.has(r)), [], 'documented operations the server lacks');
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops)) {
        const names = [...p.matchAll(/\{([A-Za-z]+)\}/g)].map((x) => x[1]);
        const declared = ((op as { parameters?: { in: string; name: string }[] }).parameters ?? []).filter((x) => x.in === 'path').map((x) => x.name);
        assert.deepEqual(declared.sort(), names.sort(), `${m} ${p}: path parameters declared`);
        if (!(OPERATIONS as Record<string, { access: string }>)[op.operationId]?.access.startsWith('p')) assert.ok(op.responses['401'], `${m} ${p}: 401 documented`);
      }
    }
    const submit = doc.paths['/v1/jobs']?.['post'] as { responses: Record<string, { links?: Record<string, unknown> }> };
    assert.deepEqual(Object.keys(submit.responses['201']?.links ?? {}).sort(), ['CancelJob', 'ExplainJob', 'GetJob', 'GetJobLogs', 'ReportProgress']);
  });

  it('answers submit -> get -> logs -> cancel as the contract says (the CLI client checks each answer)', async () => {
    const client = new Client({ url: t.url, token: t.adminToken });
    const submitted = await client.call('submitJob', { body: { name: 'contract', command: 'echo hello; sleep 30', resources: { gpu: 1 } } });
    assert.equal(submitted.state, 'queued');
    await waitState(t, submitted.id, ['running']);
    const got = await client.call('getJob', { params: { id: submitted.id } });
    assert.equal(got.id, submitted.id);
    assert.deepEqual(got.waitingFor, []);
    const list = await client.call('listJobs', { query: { state: 'active' } });
    assert.ok(list.items.some((j) => j.id === submitted.id));
    await client.call('explainJob', { params: { id: submitted.id } });
    const cancelled = await client.call('cancelJob', { params: { id: submitted.id } });
    assert.ok(['cancelling', 'cancelled'].includes(cancelled.state));
    for (const id of ['listQueues', 'listNodes', 'top', 'whoami', 'listTokens', 'listTeams', 'listAudit', 'listErrors', 'getStatus', 'healthz'] as const) await client.call(id);
  });

  it('PUT replaces a queue and needs a body; PATCH merges; one name per field', async () => {
    const put = await t.api('PUT', '/v1/queues/default', { guaranteedGpus: 2, gpuModels: { 'H100-80GB': { limitGpus: 2 } } });
    assert.equal(put.status, 200);
    assert.equal(put.body['guaranteedGpus'], 2);
    const empty = await t.api('PUT', '/v1/queues/default');
    assert.equal(empty.status, 400);
    assert.equal(empty.body.error?.code, 'BODY_INVALID');
    const listed = (await t.api('GET', '/v1/queues')).body['items'] as Record<string, unknown>[];
    const dflt = listed.find((q) => q['name'] === 'default');
    assert.equal(dflt?.['guaranteedGpus'], 2, 'a bodiless PUT changed nothing');
    assert.deepEqual(Object.keys(dflt ?? {}).sort(), Object.keys(put.body).sort(), 'the list and the PUT answer name fields alike');
    const patched = await t.api('PATCH', '/v1/queues/default', { weight: 3, limitGpus: 2 }, undefined, { 'content-type': 'application/merge-patch+json' });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body['weight'], 3);
    assert.equal(patched.body['guaranteedGpus'], 2, 'a field the patch does not name is kept');
    const cleared = await t.api('PATCH', '/v1/queues/default', { limitGpus: null, gpuModels: { 'H100-80GB': null } });
    assert.equal(cleared.body['limitGpus'], null);
    const h100 = (cleared.body['gpuModels'] as Record<string, { guaranteedGpus: number | null; limitGpus: number | null }>)['H100-80GB'];
    assert.deepEqual([h100?.guaranteedGpus ?? null, h100?.limitGpus ?? null], [null, null], 'null removed the model\'s quota');
    assert.equal((await t.api('PATCH', '/v1/queues/nowhere', { weight: 2 })).body.error?.code, 'QUEUE_NOT_FOUND');
  });

  it('answers the router\'s refusals in the project\'s error shape', async () => {
    const long = await t.api('GET', `/v1/jobs/${'x'.repeat(400)}`);
    assert.equal(long.status, 414);
    assert.equal(long.body.error?.code, 'URI_TOO_LONG');
    const wrong = await t.api('PATCH', '/v1/jobs', {});
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'GET, POST');
    for (const r of [long, wrong, await t.api('GET', '/v1/nothing')]) assert.ok(ErrorSchema.safeParse(r.body).success, r.text);
    // A stranger's oversized body is answered 401, not 413: who calls is settled before the body is read.
    const big = JSON.stringify({ name: 'x', command: 'y'.repeat(2 << 20) });
    const stranger = await t.api('POST', '/v1/jobs', big, null);
    assert.equal(stranger.status, 401);
    const admin = await t.api('POST', '/v1/jobs', big);
    assert.equal(admin.status, 413);
    assert.equal(admin.body.error?.code, 'BODY_TOO_LARGE');
  });
});
