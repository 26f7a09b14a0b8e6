/**
 * GET /v1/events/stream against a real server: a token is needed; without Accept:
 * text/event-stream the answer is the hello event alone (and ends); with it, the stream stays
 * open and carries the caller's team's job changes, never another team's, plus fleet and
 * queue signals. The dashboard's bundle is served at /ui/ and unknown files are 404s.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, job, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

interface Frame {
  type: string;
  id?: string;
  team?: string;
  name?: string;
  state?: string;
}

/** Reads the stream into `frames` until aborted. */
function listen(url: string, token: string, frames: Frame[]): AbortController {
  const ac = new AbortController();
  void (async () => {
    const res = await fetch(`${url}/v1/events/stream`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: ac.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      const parts = buffer.split('\n\n');
      buffer = parts.pop() ?? '';
      for (const p of parts) {
        const data = p.split('\n').find((l) => l.startsWith('data: '));
        if (data) frames.push(JSON.parse(data.slice(6)) as Frame);
      }
    }
  })().catch(() => undefined);
  return ac;
}

describe('the change stream and the dashboard files', () => {
  let t: TestServer;
  let alice = '';
  let bob = '';
  before(async () => {
    t = await startTestServer({ gpus: '2xH100-80GB' });
    alice = String((await t.api('POST', '/v1/users', { name: 'alice', team: 'vision' })).body['token']);
    bob = String((await t.api('POST', '/v1/users', { name: 'bob', team: 'speech' })).body['token']);
  });
  after(async () => {
    await t.close();
  });

  it('needs a token', async () => {
    const r = await call(t.url, null, 'GET', '/v1/events/stream');
    assert.equal(r.status, 401);
    assert.equal(r.body.error?.code, 'UNAUTHENTICATED');
  });

  it('answers the hello event alone to a client that does not ask for a stream', async () => {
    const r = await call(t.url, alice, 'GET', '/v1/events/stream');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.match(r.text, /^retry: 2000\n\nid: \d+\nevent: hello\ndata: \{"type":"hello","seq":\d+\}\n\n$/);
  });

  it('streams the caller\'s team\'s job changes and no other team\'s', async () => {
    const seenByAlice: Frame[] = [];
    const seenByAdmin: Frame[] = [];
    const a = listen(t.url, alice, seenByAlice);
    const b = listen(t.url, t.adminToken, seenByAdmin);
    try {
      await waitFor('both streams to say hello', async () => seenByAlice.length > 0 && seenByAdmin.length > 0);
      const mine = await t.api('POST', '/v1/jobs', job({ name: 'alice-job', command: 'sleep 0.5', resources: { gpu: 1, cpu: '100m', memory: '64Mi' } }), alice);
      const theirs = await t.api('POST', '/v1/jobs', job({ name: 'bob-secret', command: 'sleep 0.5', resources: { gpu: 1, cpu: '100m', memory: '64Mi' } }), bob);
      assert.equal(mine.status, 201, mine.text);
      assert.equal(theirs.status, 201, theirs.text);
      const done = (frames: Frame[], id: string) => frames.some((f) => f.type === 'job' && f.id === id && f.state === 'succeeded');
      await waitFor('both jobs to finish in the admin\'s stream', async () => done(seenByAdmin, String(mine.body['id'])) && done(seenByAdmin, String(theirs.body['id'])));
      await waitFor('alice\'s job to finish in her stream', async () => done(seenByAlice, String(mine.body['id'])));
      assert.ok(seenByAlice.some((f) => f.type === 'job' && f.state === 'running'), 'the running state too');
      assert.ok(seenByAlice.some((f) => f.type === 'fleet'), 'a fleet signal when the GPUs changed hands');
      assert.ok(seenByAlice.some((f) => f.type === 'queues'), 'a queues signal');
      assert.deepEqual(seenByAlice.filter((f) => f.type === 'job' && f.team !== 'vision'), [], 'no job of another team');
      assert.ok(!JSON.stringify(seenByAlice).includes('bob-secret'));
    } finally {
      a.abort();
      b.abort();
    }
  });

  it('serves the dashboard page and its bundle, and 404s other files in the project\'s error shape', async () => {
    const page = await call(t.url, null, 'GET', '/');
    assert.equal(page.status, 200);
    const js = /src="(\/ui\/app\.js\?v=[^"]+)"/.exec(page.text)?.[1];
    assert.ok(js, page.text);
    const bundle = await fetch(t.url + js);
    assert.equal(bundle.status, 200);
    assert.match(bundle.headers.get('content-type') ?? '', /^text\/javascript/);
    const etag = bundle.headers.get('etag') ?? '';
    assert.equal((await fetch(`${t.url}/ui/app.js`, { headers: { 'if-none-match': etag } })).status, 304);
    const missing = await call(t.url, null, 'GET', '/ui/nope.js');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error?.code, 'NOT_FOUND');
    const bad = await call(t.url, null, 'GET', '/ui/..%2Fpackage.json');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error?.code, 'BAD_REQUEST');
  });
});
