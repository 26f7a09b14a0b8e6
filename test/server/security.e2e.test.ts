/**
 * End to end: isolation between two teams, the audit log, idempotent submission, pagination,
 * and a corpus of malformed requests, each answered with a 4xx and a stable code, none of
 * which changes any state.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, waitState, job, call, type TestServer } from '../helpers/server.js';
import { ERRORS } from '../../src/server/errors.js';

describe('teams, tokens and the audit log', () => {
  let t: TestServer;
  let alice = '';
  let bob = '';
  before(async () => {
    t = await startTestServer({ gpus: '2xA100-80GB' });
    const a = await t.api('POST', '/v1/users', { name: 'alice', team: 'vision' });
    const b = await t.api('POST', '/v1/users', { name: 'bob', team: 'speech' });
    assert.equal(a.status, 201);
    alice = String(a.body['token']);
    bob = String(b.body['token']);
    assert.equal((await t.api('PUT', '/v1/queues/vision', { team: 'vision', guaranteedGpus: 1 })).status, 200);
  });
  after(async () => {
    await t.close();
  });

  it('stores tokens hashed: the database file never contains a token', () => {
    const db = readFileSync(join(t.dir, 'gantry.db'));
    const wal = (() => {
      try {
        return readFileSync(join(t.dir, 'gantry.db-wal'));
      } catch {
        return Buffer.alloc(0);
      }
    })();
    for (const tok of [alice, bob, t.adminToken]) {
      assert.ok(!db.includes(tok) && !wal.includes(tok), 'token found in the store');
    }
  });

  it('a member sees and changes only their team\'s jobs and logs', async () => {
    const r = await t.api('POST', '/v1/jobs', job({ name: 'secret', queue: 'vision', command: 'echo vision-data; sleep 30' }), alice);
    assert.equal(r.status, 201, r.text);
    const id = String(r.body['id']);
    assert.equal(r.body['team'], 'vision');
    await waitState(t, id, ['running']);

    for (const [method, path] of [['GET', `/v1/jobs/${id}`], ['GET', `/v1/jobs/${id}/logs`], ['GET', `/v1/jobs/${id}/explain`], ['POST', `/v1/jobs/${id}/cancel`]] as const) {
      const res = await t.api(method, path, undefined, bob);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.body.error?.code, 'JOB_NOT_FOUND');
    }
    const bobList = await t.api('GET', '/v1/jobs', undefined, bob);
    assert.deepEqual(bobList.body['items'], []);
    const top = await t.api('GET', '/v1/top', undefined, bob);
    assert.ok(!JSON.stringify(top.body).includes('secret') && !JSON.stringify(top.body).includes(id), 'other teams are masked in top');

    const forbidden = await t.api('POST', '/v1/jobs', job({ name: 'intruder', queue: 'vision' }), bob);
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.error?.code, 'FORBIDDEN');
    const notAdmin = await t.api('POST', `/v1/nodes/x/cordon`, undefined, bob);
    assert.equal(notAdmin.status, 403);

    assert.equal((await t.api('GET', `/v1/jobs/${id}`, undefined, alice)).status, 200);
    assert.equal((await t.api('GET', '/v1/jobs', undefined, alice)).body['items'] instanceof Array, true);
    assert.equal((await t.api('GET', `/v1/jobs/${id}`)).status, 200, 'admin sees everything');
    const c = await t.api('POST', `/v1/jobs/${id}/cancel`, undefined, alice);
    assert.equal(c.status, 200);
    await waitState(t, id, ['cancelled']);
  });

  it('rejects missing and unknown tokens with UNAUTHENTICATED', async () => {
    assert.equal((await t.api('GET', '/v1/jobs', undefined, null)).body.error?.code, 'UNAUTHENTICATED');
    assert.equal((await t.api('GET', '/v1/jobs', undefined, 'gty_not-a-real-token-at-all')).status, 401);
  });

  it('writes every change to the append-only audit log, with who, what, when and from where', async () => {
    const r = await t.api('GET', '/v1/audit?limit=1000');
    const items = r.body['items'] as { actor: string; action: string; target: string; source: string; at: string }[];
    const actions = items.map((e) => `${e.actor}:${e.action}`);
    for (const a of ['admin:user.create', 'admin:queue.put', 'alice:job.submit', 'alice:job.cancel']) assert.ok(actions.includes(a), a);
    assert.deepEqual(items.filter((e) => !(e.source.length > 0 && !Number.isNaN(Date.parse(e.at)))), [], 'every entry has a source and a time');
    assert.equal((await t.api('GET', '/v1/audit', undefined, alice)).status, 403);
  });

  it('makes submission idempotent with a client key', async () => {
    const body = job({ name: 'once', command: 'true' });
    const first = await t.api('POST', '/v1/jobs', body, alice, { 'idempotency-key': 'k-123' });
    const again = await t.api('POST', '/v1/jobs', body, alice, { 'idempotency-key': 'k-123' });
    assert.equal(first.status, 201);
    assert.equal(again.status, 200);
    assert.equal(again.body['id'], first.body['id']);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    const other = await t.api('POST', '/v1/jobs', job({ name: 'different' }), alice, { 'idempotency-key': 'k-123' });
    assert.equal(other.status, 409);
    assert.equal(other.body.error?.code, 'IDEMPOTENCY_KEY_REUSED');
    // Concurrent retries with one key create one job.
    const burst = await Promise.all(Array.from({ length: 10 }, () => t.api('POST', '/v1/jobs', job({ name: 'burst' }), alice, { 'idempotency-key': 'k-burst' })));
    assert.equal(new Set(burst.map((b) => b.body['id'])).size, 1);
    assert.equal(burst.filter((b) => b.status === 201).length, 1);
  });

  it('paginates job lists with a cursor', async () => {
    await Promise.all(Array.from({ length: 7 }, (_, i) => t.api('POST', '/v1/jobs', job({ name: `page-${i}` }), bob)));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r: Awaited<ReturnType<TestServer['api']>> = await t.api('GET', `/v1/jobs?limit=3${cursor ? `&cursor=${cursor}` : ''}`, undefined, bob);
      seen.push(...(r.body['items'] as { id: string }[]).map((j) => j.id));
      cursor = r.body['nextCursor'] as string | null;
    } while (cursor);
    assert.equal(seen.length, 7);
    assert.equal(new Set(seen).size, 7);
  });
});

describe('malformed requests', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ gpus: '2xA100-80GB' });
    const r = await t.api('POST', '/v1/jobs', job({ name: 'existing', command: 'sleep 60' }));
    await waitState(t, String(r.body['id']), ['running']);
  });
  after(async () => {
    await t.close();
  });

  async function snapshot(): Promise<string> {
    const parts = await Promise.all(['/v1/jobs?limit=500', '/v1/queues', '/v1/teams', '/v1/audit?limit=1000', '/v1/nodes'].map((p) => t.api('GET', p)));
    // Refused attempts are audited (action "denied"); they change nothing else.
    const withoutDenials = parts.map((p) => (Array.isArray(p.body['items']) ? { ...p.body, items: (p.body['items'] as { action?: string }[]).filter((e) => e.action !== 'denied') } : p.body));
    return JSON.stringify(withoutDenials, (k, v: unknown) => (k === 'progress' || k === 'freeMilli' ? undefined : v));
  }

  const long = 'x'.repeat(2 << 20);
  type Case = { name: string; method: string; path: string; body?: unknown; headers?: Record<string, string>; token?: string | null; status: number; code: string };
  const cases: Case[] = [
    { name: 'not JSON', method: 'POST', path: '/v1/jobs', body: '{"name": ', status: 400, code: 'BAD_REQUEST' },
    { name: 'empty JSON body', method: 'POST', path: '/v1/jobs', body: '', status: 400, code: 'BAD_REQUEST' },
    { name: 'array body', method: 'POST', path: '/v1/jobs', body: [], status: 400, code: 'JOB_INVALID' },
    { name: 'null body', method: 'POST', path: '/v1/jobs', body: 'null', status: 400, code: 'JOB_INVALID' },
    { name: 'string body', method: 'POST', path: '/v1/jobs', body: '"job"', status: 400, code: 'JOB_INVALID' },
    { name: 'missing command', method: 'POST', path: '/v1/jobs', body: { name: 'a' }, status: 400, code: 'JOB_INVALID' },
    { name: 'missing name', method: 'POST', path: '/v1/jobs', body: { command: 'true' }, status: 400, code: 'JOB_INVALID' },
    { name: 'bad name', method: 'POST', path: '/v1/jobs', body: job({ name: 'Bad Name!' }), status: 400, code: 'JOB_INVALID' },
    { name: 'unknown field', method: 'POST', path: '/v1/jobs', body: job({ gpus: 1 }), status: 400, code: 'JOB_INVALID' },
    { name: 'unknown nested field', method: 'POST', path: '/v1/jobs', body: job({ resources: { gpuz: 1 } }), status: 400, code: 'JOB_INVALID' },
    { name: 'negative gpu', method: 'POST', path: '/v1/jobs', body: job({ resources: { gpu: -1 } }), status: 400, code: 'JOB_INVALID' },
    { name: 'fractional gpu above one', method: 'POST', path: '/v1/jobs', body: job({ resources: { gpu: 1.5 } }), status: 400, code: 'JOB_INVALID' },
    { name: 'gpu as string', method: 'POST', path: '/v1/jobs', body: job({ resources: { gpu: 'one' } }), status: 400, code: 'JOB_INVALID' },
    { name: 'bad memory quantity', method: 'POST', path: '/v1/jobs', body: job({ resources: { memory: '12 parsecs' } }), status: 400, code: 'JOB_INVALID' },
    { name: 'bad cpu quantity', method: 'POST', path: '/v1/jobs', body: job({ resources: { cpu: '-2' } }), status: 400, code: 'JOB_INVALID' },
    { name: 'unknown MIG profile', method: 'POST', path: '/v1/jobs', body: job({ resources: { mig: '9g.900gb' } }), status: 400, code: 'JOB_INVALID' },
    { name: 'MIG with gpu', method: 'POST', path: '/v1/jobs', body: job({ resources: { mig: '1g.10gb', gpu: 1 } }), status: 400, code: 'JOB_INVALID' },
    { name: 'unknown GPU model', method: 'POST', path: '/v1/jobs', body: job({ resources: { gpu: 1, gpuModels: ['Z9000'] } }), status: 400, code: 'JOB_INVALID' },
    { name: 'zero workers', method: 'POST', path: '/v1/jobs', body: job({ workers: 0 }), status: 400, code: 'JOB_INVALID' },
    { name: 'too many workers', method: 'POST', path: '/v1/jobs', body: job({ workers: 100000 }), status: 400, code: 'JOB_INVALID' },
    { name: 'priority not integer', method: 'POST', path: '/v1/jobs', body: job({ priority: 1.5 }), status: 400, code: 'JOB_INVALID' },
    { name: 'preemptible as string', method: 'POST', path: '/v1/jobs', body: job({ preemptible: 'yes' }), status: 400, code: 'JOB_INVALID' },
    { name: 'empty command list', method: 'POST', path: '/v1/jobs', body: job({ command: [] }), status: 400, code: 'JOB_INVALID' },
    { name: 'bad env name', method: 'POST', path: '/v1/jobs', body: job({ env: { 'BAD-NAME': 'x' } }), status: 400, code: 'JOB_INVALID' },
    { name: 'env value not string', method: 'POST', path: '/v1/jobs', body: job({ env: { A: 1 } }), status: 400, code: 'JOB_INVALID' },
    { name: 'relative workingDir', method: 'POST', path: '/v1/jobs', body: job({ workingDir: 'here' }), status: 400, code: 'JOB_INVALID' },
    { name: 'missing workingDir', method: 'POST', path: '/v1/jobs', body: job({ workingDir: '/does/not/exist' }), status: 422, code: 'WORKDIR_NOT_FOUND' },
    { name: 'negative retries', method: 'POST', path: '/v1/jobs', body: job({ retries: { limit: -1 } }), status: 400, code: 'JOB_INVALID' },
    { name: 'bad checkpoint grace', method: 'POST', path: '/v1/jobs', body: job({ checkpoint: { graceSeconds: 'soon' } }), status: 400, code: 'JOB_INVALID' },
    { name: 'unknown queue', method: 'POST', path: '/v1/jobs', body: job({ queue: 'nope' }), status: 404, code: 'QUEUE_NOT_FOUND' },
    { name: 'more GPUs than exist', method: 'POST', path: '/v1/jobs', body: job({ resources: { gpu: 64 } }), status: 422, code: 'UNSATISFIABLE' },
    { name: 'MIG on GPUs without MIG mode', method: 'POST', path: '/v1/jobs', body: job({ resources: { mig: '1g.10gb' } }), status: 422, code: 'UNSATISFIABLE' },
    { name: 'image without docker', method: 'POST', path: '/v1/jobs', body: job({ image: 'python:3' }), status: 422, code: 'DOCKER_UNAVAILABLE' },
    { name: 'bad YAML', method: 'POST', path: '/v1/jobs', body: 'name: [unclosed', headers: { 'content-type': 'application/yaml' }, status: 400, code: 'JOB_INVALID' },
    { name: 'YAML alias bomb', method: 'POST', path: '/v1/jobs', body: 'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n', headers: { 'content-type': 'application/yaml' }, status: 400, code: 'JOB_INVALID' },
    { name: 'text/plain body', method: 'POST', path: '/v1/jobs', body: 'name: x', headers: { 'content-type': 'text/plain' }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'body over 1 MiB', method: 'POST', path: '/v1/jobs', body: { name: 'big', command: long }, status: 413, code: 'BODY_TOO_LARGE' },
    { name: 'idempotency key too long', method: 'POST', path: '/v1/jobs', body: job(), headers: { 'idempotency-key': 'k'.repeat(300) }, status: 400, code: 'BAD_REQUEST' },
    { name: 'no token', method: 'POST', path: '/v1/jobs', body: job(), token: null, status: 401, code: 'UNAUTHENTICATED' },
    { name: 'bad token', method: 'POST', path: '/v1/jobs', body: job(), token: 'gty_wrongwrongwrong', status: 401, code: 'UNAUTHENTICATED' },
    { name: 'malformed auth header', method: 'GET', path: '/v1/jobs', headers: { authorization: 'Basic abc' }, token: null, status: 401, code: 'UNAUTHENTICATED' },
    { name: 'unknown job', method: 'GET', path: '/v1/jobs/job-999999', status: 404, code: 'JOB_NOT_FOUND' },
    { name: 'garbage job id', method: 'GET', path: '/v1/jobs/..%2F..%2Fetc%2Fpasswd', status: 404, code: 'JOB_NOT_FOUND' },
    { name: 'cancel unknown job', method: 'POST', path: '/v1/jobs/job-0/cancel', status: 404, code: 'JOB_NOT_FOUND' },
    { name: 'logs of unknown worker', method: 'GET', path: '/v1/jobs/job-1/logs?worker=5', status: 404, code: 'WORKER_NOT_FOUND' },
    { name: 'logs with negative offset', method: 'GET', path: '/v1/jobs/job-1/logs?offset=-1', status: 400, code: 'QUERY_INVALID' },
    { name: 'limit zero', method: 'GET', path: '/v1/jobs?limit=0', status: 400, code: 'QUERY_INVALID' },
    { name: 'limit huge', method: 'GET', path: '/v1/jobs?limit=100000', status: 400, code: 'QUERY_INVALID' },
    { name: 'limit not a number', method: 'GET', path: '/v1/jobs?limit=ten', status: 400, code: 'QUERY_INVALID' },
    { name: 'bad cursor', method: 'GET', path: '/v1/jobs?cursor=%25%25', status: 400, code: 'QUERY_INVALID' },
    { name: 'forged cursor', method: 'GET', path: '/v1/jobs?cursor=aGVsbG8', status: 400, code: 'QUERY_INVALID' },
    { name: 'unknown state filter', method: 'GET', path: '/v1/jobs?state=sleeping', status: 400, code: 'QUERY_INVALID' },
    { name: 'unknown query parameter', method: 'GET', path: '/v1/jobs?colour=red', status: 400, code: 'QUERY_INVALID' },
    { name: 'progress with bad step', method: 'POST', path: '/v1/jobs/job-1/progress', body: { step: -3 }, status: 400, code: 'BODY_INVALID' },
    { name: 'queue with negative guarantee', method: 'PUT', path: '/v1/queues/q1', body: { guaranteedGpus: -1 }, status: 400, code: 'BODY_INVALID' },
    { name: 'queue with unknown team', method: 'PUT', path: '/v1/queues/q1', body: { team: 'ghosts' }, status: 404, code: 'TEAM_NOT_FOUND' },
    { name: 'queue with missing parent', method: 'PUT', path: '/v1/queues/q1', body: { parent: 'nowhere' }, status: 409, code: 'QUEUE_TREE_INVALID' },
    { name: 'queue with bad name', method: 'PUT', path: '/v1/queues/Q%20!', body: {}, status: 400, code: 'BAD_REQUEST' },
    { name: 'user with bad name', method: 'POST', path: '/v1/users', body: { name: '', team: 'x' }, status: 400, code: 'BODY_INVALID' },
    { name: 'user that exists', method: 'POST', path: '/v1/users', body: { name: 'admin', team: 'default' }, status: 409, code: 'ALREADY_EXISTS' },
    { name: 'cordon unknown node', method: 'POST', path: '/v1/nodes/ghost/cordon', status: 404, code: 'NODE_NOT_FOUND' },
    { name: 'health of unknown GPU', method: 'POST', path: '/v1/nodes/ghost/gpus/0/health', body: { healthy: false }, status: 404, code: 'NODE_NOT_FOUND' },
    { name: 'health without body', method: 'POST', path: '/v1/nodes/ghost/gpus/0/health', body: {}, status: 400, code: 'BODY_INVALID' },
    { name: 'unknown route', method: 'GET', path: '/v1/nothing', status: 404, code: 'NOT_FOUND' },
    { name: 'wrong method', method: 'DELETE', path: '/v1/jobs', status: 405, code: 'METHOD_NOT_ALLOWED' },
  ];

  it('answers each with a 4xx and its code, and changes nothing', async () => {
    const before = await snapshot();
    for (const c of cases) {
      const r = await call(t.url, c.token === undefined ? t.adminToken : c.token, c.method, c.path, c.body, c.headers ?? {});
      assert.equal(r.status, c.status, `${c.name}: got ${r.status} ${r.text.slice(0, 300)}`);
      assert.equal(r.body.error?.code, c.code, `${c.name}: ${r.text.slice(0, 300)}`);
      assert.ok(c.code in ERRORS, `${c.code} is in the catalogue`);
      assert.ok(!r.text.includes('    at '), `${c.name}: no stack trace`);
      assert.ok((r.body.error?.message ?? '').length > 5, `${c.name}: a message`);
    }
    assert.equal(await snapshot(), before, 'state unchanged');
  });

  it('names the field path and the reason in validation messages', async () => {
    const r = await t.api('POST', '/v1/jobs', job({ resources: { gpu: 1.5, gpuModels: ['H100-80GB', 'Z9000'] }, env: { A: 1 } }));
    const issues = (r.body.error?.message ?? '') + JSON.stringify((r.body as { error?: { details?: unknown } }).error?.details);
    assert.match(issues, /resources\.gpu: must be a whole number/);
    assert.match(issues, /resources\.gpuModels\[1\]: unknown GPU model "Z9000"/);
    assert.match(issues, /env\.A: /);
  });

  it('serves the OpenAPI document and the error catalogue', async () => {
    const o = await call(t.url, null, 'GET', '/openapi.json');
    assert.equal(o.status, 200);
    assert.equal(o.body['openapi'], '3.1.0');
    assert.ok((o.body['paths'] as Record<string, unknown>)['/v1/jobs']);
    const e = await call(t.url, null, 'GET', '/v1/errors');
    assert.ok((e.body['items'] as { code: string }[]).some((x) => x.code === 'JOB_INVALID'));
  });
});
