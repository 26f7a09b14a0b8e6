/**
 * End to end: a corpus of malformed API requests over every route (bad JSON, wrong types,
 * unknown fields, huge and negative values, bad path and query parameters, wrong methods,
 * missing and bad tokens, bad content types, oversize bodies, unicode oddities). Each gets a
 * 4xx with a catalogue code and a plain message (no framework wording, no stack trace), none
 * changes any state, and the server answers throughout.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, waitState, job, call, type TestServer } from '../helpers/server.js';
import { ERRORS } from '../../src/server/errors.js';

interface Case {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  /** undefined = the admin's token; 'member' = a non-admin's token; null = none. */
  readonly token?: string | null;
  readonly status: number;
  readonly code: string;
}

/** Words only a web framework would say; a user should never see them. */
const FRAMEWORK = /FST_|must be object|must have required property|querystring\/|params\/|body\/|\n\s+at |Error: /;

describe('malformed API corpus', () => {
  let t: TestServer;
  let member = '';
  let nodeName = '';
  let running = '';
  before(async () => {
    t = await startTestServer({ gpus: '2xA100-80GB' });
    member = String((await t.api('POST', '/v1/users', { name: 'mallory', team: 'red' })).body['token']);
    const r = await t.api('POST', '/v1/jobs', job({ name: 'existing', command: 'sleep 120' }));
    running = String(r.body['id']);
    await waitState(t, running, ['running']);
    nodeName = String(((await t.api('GET', '/v1/nodes')).body['items'] as { name: string }[])[0]?.name);
  });
  after(async () => {
    await t.close();
  });

  async function snapshot(): Promise<string> {
    const parts = await Promise.all(['/v1/jobs?limit=500', '/v1/queues', '/v1/teams', '/v1/audit?limit=1000', '/v1/nodes', '/v1/whoami'].map((p) => t.api('GET', p)));
    // Refused attempts are audited (action `denied`) by design: the state is everything else.
    const drop = (k: string, v: unknown): unknown => (k === 'progress' || k === 'freeMilli' || k === 'freeMemoryMiB' ? undefined : k === 'items' && Array.isArray(v) ? v.filter((e: { action?: string }) => e.action !== 'denied') : v);
    return JSON.stringify(parts.map((p) => p.body), drop);
  }

  function corpus(): Case[] {
    const J = '/v1/jobs';
    const id = running;
    const c: Case[] = [];
    const add = (name: string, method: string, path: string, status: number, code: string, more: Partial<Case> = {}): void => {
      c.push({ name, method, path, status, code, ...more });
    };

    // --- tokens: every authenticated route, with no token, an unknown one, a malformed header
    const authed: [string, string][] = [
      ['POST', J], ['GET', J], ['GET', `${J}/${id}`], ['POST', `${J}/${id}/cancel`], ['GET', `${J}/${id}/explain`], ['GET', `${J}/${id}/logs`], ['POST', `${J}/${id}/progress`],
      ['GET', '/v1/queues'], ['PUT', '/v1/queues/q1'], ['GET', '/v1/nodes'], ['POST', `/v1/nodes/${nodeName}/cordon`], ['POST', `/v1/nodes/${nodeName}/uncordon`], ['POST', `/v1/nodes/${nodeName}/drain`],
      ['POST', `/v1/nodes/${nodeName}/gpus/0/health`], ['GET', '/v1/top'], ['GET', '/v1/whoami'], ['POST', '/v1/users'], ['GET', '/v1/teams'], ['GET', '/v1/audit'],
    ];
    for (const [m, p] of authed) {
      const body = m === 'GET' ? undefined : {};
      add(`no token: ${m} ${p}`, m, p, 401, 'UNAUTHENTICATED', { token: null, body });
      add(`unknown token: ${m} ${p}`, m, p, 401, 'UNAUTHENTICATED', { token: 'gty_0000000000000000000000000000', body });
    }
    for (const h of ['Bearer', 'Bearer ', 'Basic YWRtaW46YWRtaW4=', 'bearer', 'Token abc', 'Bearer a b c', `Bearer ${'x'.repeat(5000)}`, 'Bearer \u00e9t\u00e9']) {
      add(`malformed authorization header "${h.slice(0, 20)}"`, 'GET', '/v1/whoami', 401, 'UNAUTHENTICATED', { token: null, headers: { authorization: h } });
    }

    // --- admin only, asked by a member
    for (const [m, p, body] of [['PUT', '/v1/queues/q1', {}], ['POST', `/v1/nodes/${nodeName}/cordon`], ['POST', `/v1/nodes/${nodeName}/drain`], ['POST', `/v1/nodes/${nodeName}/gpus/0/health`, { healthy: false }], ['POST', '/v1/users', { name: 'eve', team: 'red' }], ['GET', '/v1/teams'], ['GET', '/v1/audit']] as [string, string, unknown?][]) {
      add(`member may not: ${m} ${p}`, m, p, 403, 'FORBIDDEN', { token: 'member', body });
    }
    add('member sees no other team\'s job', 'GET', `${J}/${id}`, 404, 'JOB_NOT_FOUND', { token: 'member' });
    add('member cannot cancel another team\'s job', 'POST', `${J}/${id}/cancel`, 404, 'JOB_NOT_FOUND', { token: 'member' });

    // --- wrong methods on every route
    for (const [m, p] of [['DELETE', J], ['PUT', J], ['PATCH', J], ['DELETE', `${J}/${id}`], ['PUT', `${J}/${id}`], ['GET', `${J}/${id}/cancel`], ['POST', `${J}/${id}/explain`], ['POST', `${J}/${id}/logs`], ['GET', `${J}/${id}/progress`], ['POST', '/v1/queues'], ['DELETE', '/v1/queues/default'], ['GET', '/v1/queues/default'], ['POST', '/v1/nodes'], ['GET', `/v1/nodes/${nodeName}/cordon`], ['GET', `/v1/nodes/${nodeName}/gpus/0/health`], ['POST', '/v1/top'], ['POST', '/v1/whoami'], ['GET', '/v1/users'], ['DELETE', '/v1/teams'], ['DELETE', '/v1/audit'], ['POST', '/v1/errors'], ['POST', '/healthz'], ['DELETE', '/metrics']]) {
      add(`wrong method ${m} ${p}`, m as string, p as string, 405, 'METHOD_NOT_ALLOWED');
    }
    for (const p of ['/v1/nothing', '/v1/jobs/x/y/z', '/v2/jobs', '/v1/nodes/x/gpus', '/v1//jobs', '/%2e%2e/etc/passwd']) add(`unknown route ${p}`, 'GET', p, 404, 'NOT_FOUND');

    // --- bodies that are not JSON objects, on every route that takes a body
    const bodyRoutes: [string, string, number, string][] = [
      ['POST', J, 400, 'JOB_INVALID'], ['POST', `${J}/${id}/progress`, 400, 'BODY_INVALID'], ['PUT', '/v1/queues/q1', 400, 'BODY_INVALID'], ['POST', '/v1/users', 400, 'BODY_INVALID'], ['POST', `/v1/nodes/${nodeName}/gpus/0/health`, 400, 'BODY_INVALID'],
    ];
    for (const [m, p, st, code] of bodyRoutes) {
      add(`truncated JSON: ${p}`, m, p, 400, 'BAD_REQUEST', { body: '{"name": ' });
      add(`trailing garbage: ${p}`, m, p, 400, 'BAD_REQUEST', { body: '{"a":1} x' });
      add(`single quotes: ${p}`, m, p, 400, 'BAD_REQUEST', { body: "{'a': 1}" });
      add(`NaN literal: ${p}`, m, p, 400, 'BAD_REQUEST', { body: '{"step": NaN}' });
      add(`array body: ${p}`, m, p, st, code, { body: '[1,2]' });
      add(`number body: ${p}`, m, p, st, code, { body: '42' });
      add(`string body: ${p}`, m, p, st, code, { body: '"x"' });
      add(`text/plain: ${p}`, m, p, 415, 'UNSUPPORTED_MEDIA_TYPE', { body: 'hello', headers: { 'content-type': 'text/plain' } });
      add(`XML: ${p}`, m, p, 415, 'UNSUPPORTED_MEDIA_TYPE', { body: '<job/>', headers: { 'content-type': 'application/xml' } });
      add(`form-encoded: ${p}`, m, p, 415, 'UNSUPPORTED_MEDIA_TYPE', { body: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      add(`over 1 MiB: ${p}`, m, p, 413, 'BODY_TOO_LARGE', { body: JSON.stringify({ pad: 'x'.repeat(1.2 * (1 << 20)) }) });
    }
    add('multipart job', 'POST', J, 415, 'UNSUPPORTED_MEDIA_TYPE', { body: '--b\r\n\r\nx\r\n--b--', headers: { 'content-type': 'multipart/form-data; boundary=b' } });
    add('content type garbage', 'POST', J, 415, 'UNSUPPORTED_MEDIA_TYPE', { body: '{}', headers: { 'content-type': '%%%' } });
    add('deeply nested JSON', 'POST', J, 400, 'JOB_INVALID', { body: '{"name":"a","command":"x","env":' + '['.repeat(5000) + ']'.repeat(5000) + '}' });
    add('JSON with a BOM and no command', 'POST', J, 400, 'JOB_INVALID', { body: '\ufeff{"name":"a"}' });
    add('empty JSON body', 'POST', J, 400, 'BAD_REQUEST', { body: '' });
    add('YAML that is a list', 'POST', J, 400, 'JOB_INVALID', { body: '- a\n- b\n', headers: { 'content-type': 'application/yaml' } });
    add('YAML with a tab indent error', 'POST', J, 400, 'JOB_INVALID', { body: 'name: a\n\tcommand: x\n', headers: { 'content-type': 'application/yaml' } });
    add('YAML alias bomb', 'POST', J, 400, 'JOB_INVALID', { body: 'a: &a [x,x,x,x,x,x,x,x,x]\n' + 'bcdefghij'.split('').map((l, i) => `${l}: &${l} [${Array(9).fill(`*${'abcdefghij'[i]}`).join(',')}]`).join('\n') + '\nname: a\ncommand: x\n', headers: { 'content-type': 'application/yaml' } });

    // --- job specs: wrong types, unknown fields, huge and negative values, unicode
    const bad = (name: string, spec: Record<string, unknown>, status = 400, code = 'JOB_INVALID'): void => add(`job: ${name}`, 'POST', J, status, code, { body: job(spec) });
    bad('name with spaces', { name: 'my job' });
    bad('name too long', { name: 'a'.repeat(64) });
    bad('name with emoji', { name: 'job-\u{1F680}' });
    bad('name with a zero-width space', { name: 'job\u200b' });
    bad('name with right-to-left override', { name: 'job\u202egnp' });
    bad('name as number', { name: 42 });
    bad('name null', { name: null });
    bad('command empty string', { command: '' });
    bad('command a number', { command: 7 });
    bad('command an object', { command: { run: 'x' } });
    bad('command with a NUL byte', { command: 'echo a\u0000b' });
    bad('argv with a NUL byte', { command: ['echo', 'a\u0000'] });
    bad('command over 8 KiB', { command: 'x'.repeat(9000) });
    bad('queue as array', { queue: ['default'] });
    bad('queue too long', { queue: 'q'.repeat(200) });
    bad('priority huge', { priority: 1e12 });
    bad('priority negative huge', { priority: -1e12 });
    bad('priority as string', { priority: 'high' });
    bad('workers negative', { workers: -2 });
    bad('workers fractional', { workers: 1.5 });
    bad('workers huge', { workers: 2 ** 53 });
    bad('gpu zero', { resources: { gpu: 0 } });
    bad('gpu share too small', { resources: { gpu: 0.005 } });
    bad('gpu huge', { resources: { gpu: 1e9 } });
    bad('gpu null', { resources: { gpu: null } });
    bad('cpu negative number', { resources: { cpu: -1 } });
    bad('cpu nonsense unit', { resources: { cpu: '2 cores' } });
    bad('memory negative', { resources: { memory: '-1Gi' } });
    bad('memory unicode digits', { resources: { memory: '\u0661\u0662Gi' } });
    bad('memory exponent overflow', { resources: { memory: '1e400Gi' } });
    bad('gpuMemory with whole GPUs', { resources: { gpu: 2, gpuMemory: '10Gi' } });
    bad('gpuModels not a list', { resources: { gpu: 1, gpuModels: 'H100-80GB' } });
    bad('resources as string', { resources: '1 gpu' });
    bad('env as list', { env: ['A=1'] });
    bad('env name with "="', { env: { 'A=B': 'x' } });
    bad('env value with a NUL byte', { env: { A: 'x\u0000y' } });
    bad('workingDir with a NUL byte', { workingDir: '/tmp\u0000/x' });
    bad('workingDir relative with ..', { workingDir: '../../etc' });
    bad('checkpoint grace negative', { checkpoint: { graceSeconds: -5 } });
    bad('checkpoint interval zero', { checkpoint: { intervalSeconds: 0 } });
    bad('checkpoint unknown field', { checkpoint: { every: 5 } });
    bad('retries limit huge', { retries: { limit: 1e6 } });
    bad('retries backoff negative', { retries: { backoffSeconds: -1 } });
    bad('datasets not a list', { datasets: 'imagenet' });
    bad('dataset without a path, not registered', { datasets: [{ name: 'd' }] }, 404, 'DATASET_NOT_FOUND');
    bad('dataset named twice', { datasets: [{ name: 'd', path: '/x' }, { name: 'd', path: '/y' }] }, 422, 'JOB_DATASET_TWICE');
    bad('dataset version not a positive integer', { datasets: [{ name: 'd', version: 0 }] });
    bad('expected duration negative', { expectedDurationSeconds: -1 });
    bad('expected duration unbounded', { expectedDurationSeconds: 1e15 });
    bad('expected duration fractional', { expectedDurationSeconds: 1.5 });
    bad('nodeSelector values not strings', { nodeSelector: { zone: 1 } });
    bad('preemptible as number', { preemptible: 1 });
    bad('unknown top-level field', { replicas: 3 });
    add('job: __proto__ field', 'POST', J, 400, 'BAD_REQUEST', { body: '{"name":"a","command":"x","__proto__":{"admin":true}}' });
    bad('name with a charset in the content type', { name: 'Bad!' });
    add('job: JSON with a charset parameter, invalid', 'POST', J, 400, 'JOB_INVALID', { body: '{"name":"a"}', headers: { 'content-type': 'application/json; charset=utf-8' } });
    bad('constructor field', { constructor: 'x' });
    bad('nodeSelector nobody matches', { nodeSelector: { zone: 'nowhere' } }, 422, 'UNSATISFIABLE');
    bad('CPU above every node', { resources: { cpu: 100000 } }, 422, 'UNSATISFIABLE');
    bad('gang larger than the fleet', { workers: 3, resources: { gpu: 1 } }, 422, 'UNSATISFIABLE');
    bad('queue that does not exist', { queue: 'ghost' }, 404, 'QUEUE_NOT_FOUND');
    add('idempotency key with spaces', 'POST', J, 400, 'BAD_REQUEST', { body: job(), headers: { 'idempotency-key': 'a b' } });
    add('idempotency key empty', 'POST', J, 400, 'BAD_REQUEST', { body: job(), headers: { 'idempotency-key': '' } });

    // --- path parameters
    for (const [label, p] of [['id too long', 'j'.repeat(300)], ['id with unicode', 'job-\u00e9'], ['id with encoded slash', 'job-1%2Fcancel'], ['id with a NUL', 'job-1%00'], ['id with dots', '...'], ['id with spaces', 'job%201'], ['id negative', 'job--1'], ['id emoji', '%F0%9F%9A%80']]) {
      const expectStatus = label === 'id too long' ? 400 : 404;
      const expectCode = label === 'id too long' ? 'BAD_REQUEST' : 'JOB_NOT_FOUND';
      add(`GET job: ${label}`, 'GET', `${J}/${p}`, expectStatus, expectCode);
      add(`explain: ${label}`, 'GET', `${J}/${p}/explain`, expectStatus, expectCode);
    }
    add('cancel: unknown job', 'POST', `${J}/job-424242/cancel`, 404, 'JOB_NOT_FOUND');
    add('progress: unknown job', 'POST', `${J}/job-424242/progress`, 404, 'JOB_NOT_FOUND', { body: { step: 1 } });
    add('logs: unknown job', 'GET', `${J}/job-424242/logs`, 404, 'JOB_NOT_FOUND');
    add('cordon: unknown node', 'POST', '/v1/nodes/ghost/cordon', 404, 'NODE_NOT_FOUND');
    add('drain: unknown node', 'POST', '/v1/nodes/ghost/drain', 404, 'NODE_NOT_FOUND');
    add('uncordon: node name too long', 'POST', `/v1/nodes/${'n'.repeat(280)}/uncordon`, 400, 'BAD_REQUEST');
    add('health: GPU index negative', 'POST', `/v1/nodes/${nodeName}/gpus/-1/health`, 400, 'BAD_REQUEST', { body: { healthy: false } });
    add('health: GPU index not a number', 'POST', `/v1/nodes/${nodeName}/gpus/one/health`, 400, 'BAD_REQUEST', { body: { healthy: false } });
    add('health: GPU index too big', 'POST', `/v1/nodes/${nodeName}/gpus/64/health`, 400, 'BAD_REQUEST', { body: { healthy: false } });
    add('health: GPU that does not exist', 'POST', `/v1/nodes/${nodeName}/gpus/7/health`, 404, 'GPU_NOT_FOUND', { body: { healthy: false } });
    add('health: GPU index fractional', 'POST', `/v1/nodes/${nodeName}/gpus/0.5/health`, 400, 'BAD_REQUEST', { body: { healthy: false } });
    add('health: healthy as string', 'POST', `/v1/nodes/${nodeName}/gpus/0/health`, 400, 'BODY_INVALID', { body: { healthy: 'false' } });
    add('health: unknown field', 'POST', `/v1/nodes/${nodeName}/gpus/0/health`, 400, 'BODY_INVALID', { body: { healthy: false, why: 'x' } });
    add('queue: uppercase name', 'PUT', '/v1/queues/Research', 400, 'BAD_REQUEST', { body: {} });
    add('queue: unicode name', 'PUT', '/v1/queues/r%C3%A9search', 400, 'BAD_REQUEST', { body: {} });
    add('queue: name too long', 'PUT', `/v1/queues/${'q'.repeat(100)}`, 400, 'BAD_REQUEST', { body: {} });

    // --- query parameters
    for (const q of ['limit=0', 'limit=-5', 'limit=1e9', 'limit=abc', 'limit=1.5', 'limit=', 'limit=1&limit=2', 'cursor=', 'cursor=!!!', 'cursor=czA', 'state=', 'state=running,zombie', `state=${'r'.repeat(300)}`, 'queue=' + 'q'.repeat(100), 'colour=red', 'limit=%00']) {
      add(`list jobs ?${q.slice(0, 30)}`, 'GET', `${J}?${q}`, 400, 'QUERY_INVALID');
    }
    add('logs ?worker=99 (the job has one)', 'GET', `${J}/${id}/logs?worker=99`, 404, 'WORKER_NOT_FOUND');
    for (const q of ['worker=-1', 'worker=abc', 'offset=-1', 'offset=x', 'limit=0', 'limit=99999999', 'tail=5']) add(`logs ?${q}`, 'GET', `${J}/${id}/logs?${q}`, 400, 'QUERY_INVALID');
    for (const q of ['after=-1', 'after=x', 'limit=0', 'limit=5000', 'since=yesterday']) add(`audit ?${q}`, 'GET', `/v1/audit?${q}`, 400, 'QUERY_INVALID');

    // --- other bodies
    const pbad = (name: string, body: unknown): void => add(`progress: ${name}`, 'POST', `${J}/${id}/progress`, 400, 'BODY_INVALID', { body });
    pbad('step negative', { step: -1 });
    pbad('step fractional', { step: 1.5 });
    pbad('step as string', { step: '10' });
    pbad('loss as string', { loss: 'low' });
    pbad('loss huge exponent', { loss: '1e999' });
    pbad('samplesPerSec negative', { samplesPerSec: -3 });
    pbad('checkpoint as string', { checkpoint: 'yes' });
    pbad('unknown field', { epoch: 3 });
    const qbad = (name: string, body: unknown, status = 400, code = 'BODY_INVALID'): void => add(`queue: ${name}`, 'PUT', '/v1/queues/q1', status, code, { body });
    qbad('weight zero', { weight: 0 });
    qbad('weight huge', { weight: 1e9 });
    qbad('weight as string', { weight: 'heavy' });
    qbad('guarantee as string', { guaranteedGpus: 'four' });
    qbad('limit negative', { limitGpus: -1 });
    qbad('ordering unknown', { ordering: 'random' });
    qbad('unknown field', { quota: 4 });
    qbad('team with uppercase', { team: 'Red' });
    qbad('its own parent', { parent: 'q1' }, 409, 'QUEUE_TREE_INVALID');
    qbad('guarantee above the fleet', { guaranteedGpus: 1000 }, 422, 'GUARANTEE_EXCEEDS_FLEET');
    qbad('guarantee above its limit', { guaranteedGpus: 2, limitGpus: 1 }, 409, 'QUEUE_TREE_INVALID');
    const ubad = (name: string, body: unknown, status = 400, code = 'BODY_INVALID'): void => add(`user: ${name}`, 'POST', '/v1/users', status, code, { body });
    ubad('no team', { name: 'zed' });
    ubad('name too long', { name: 'z'.repeat(64), team: 'red' });
    ubad('name with unicode', { name: 'z\u00f6e', team: 'red' });
    ubad('admin as string', { name: 'zed', team: 'red', admin: 'true' });
    ubad('unknown field', { name: 'zed', team: 'red', role: 'root' });
    ubad('name as number', { name: 1, team: 'red' });
    ubad('user that exists', { name: 'mallory', team: 'red' }, 409, 'ALREADY_EXISTS');
    return c;
  }

  it('answers every case with a catalogue 4xx, a plain message, and changes nothing', async () => {
    const cases = corpus();
    assert.ok(cases.length >= 150, `at least 150 cases (have ${cases.length})`);
    const before = await snapshot();
    const problems: string[] = [];
    for (const [i, c] of cases.entries()) {
      const token = c.token === undefined ? t.adminToken : c.token === 'member' ? member : c.token;
      let r;
      try {
        r = await call(t.url, token, c.method, c.path, c.body, c.headers ?? {});
      } catch (e) {
        problems.push(`${c.name}: request failed: ${(e as Error).message}`);
        continue;
      }
      const code = r.body.error?.code ?? '';
      const message = r.body.error?.message ?? '';
      if (r.status !== c.status || code !== c.code) problems.push(`${c.name}: want ${c.status} ${c.code}, got ${r.status} ${r.text.slice(0, 200)}`);
      else if (!(code in ERRORS) || ERRORS[code as keyof typeof ERRORS].status !== r.status) problems.push(`${c.name}: ${code} is not in the catalogue with status ${r.status}`);
      else if (message.length < 8 || FRAMEWORK.test(message)) problems.push(`${c.name}: unclear message "${message.slice(0, 200)}"`);
      if (i % 25 === 0) assert.equal((await call(t.url, null, 'GET', '/healthz')).status, 200, `server up after ${c.name}`);
    }
    assert.deepEqual(problems, [], `${problems.length} of ${cases.length} cases answered badly`);
    assert.equal(await snapshot(), before, 'state unchanged');
    assert.equal((await call(t.url, null, 'GET', '/healthz')).status, 200);
  });
});
