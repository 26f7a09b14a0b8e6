/**
 * The services' router over real sockets: replicas are real HTTP servers on loopback ports, the
 * router a real listener. Routing (requests in flight counted at dispatch, prefix affinity),
 * server-sent events passed through as they are sent, draining, requests held while no replica
 * is Ready, and a refused connection retried on another replica. Event-driven: no test waits
 * for a duration to pass.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { HttpRouter } from '../../src/serve/router/http-router.js';
import { ServiceRoute } from '../../src/serve/router/service-route.js';

interface Upstream {
  readonly id: string;
  readonly server: Server;
  readonly origin: string;
  readonly seen: string[];
}

async function upstream(id: string, handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<Upstream> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`);
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address() as { port: number };
  return { id, server, origin: `http://127.0.0.1:${a.port}`, seen };
}

/** Resolves once `cond` holds, checking after each turn of the event loop (the requests' I/O). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise<void>((r) => setImmediate(r));
}

const json = (res: ServerResponse, id: string): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ replica: id }));

function completion(prompt: string): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt, max_tokens: 4 }) };
}

describe('services router', () => {
  const routes = new Map<string, ServiceRoute>();
  const router = new HttpRouter({ service: (n) => routes.get(n) });
  let base = '';
  const ups: Upstream[] = [];
  before(async () => {
    base = `http://127.0.0.1:${await router.listen('127.0.0.1', 0)}`;
  });
  after(async () => {
    for (const r of routes.values()) r.close();
    await router.close();
    for (const u of ups) {
      u.server.closeAllConnections();
      await new Promise((r) => u.server.close(r));
    }
  });
  const add = async (route: ServiceRoute, u: Promise<Upstream>, revision?: string): Promise<Upstream> => {
    const up = await u;
    ups.push(up);
    route.addReplica(up.id, up.origin, revision);
    route.setReady(up.id, true);
    return up;
  };

  it('answers 404 SERVICE_NOT_FOUND for an unknown service, and forwards path and query as they came', async () => {
    const r = await fetch(`${base}/nope/v1/models`);
    assert.equal(r.status, 404);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'SERVICE_NOT_FOUND');
    const route = new ServiceRoute('echo', { policy: 'p2c' });
    routes.set('echo', route);
    const u = await add(route, upstream('e1', (req, res) => void res.writeHead(200, { 'content-type': 'text/plain', 'x-up': 'yes' }).end(`${req.method} ${req.url}`)));
    const got = await fetch(`${base}/echo/a/b?c=d%20e`, { method: 'PUT', body: 'x' });
    assert.equal(await got.text(), 'PUT /a/b?c=d%20e');
    assert.equal(got.headers.get('x-up'), 'yes');
    assert.equal(got.headers.get('x-gantry-replica'), 'e1');
    assert.deepEqual(u.seen, ['PUT /a/b?c=d%20e']);
  });

  it('splits requests by revision (a canary weight, drawn from the injected Rng) and counts each revision\'s requests and 5xx', async () => {
    const draws = [0.05, 0.5, 0.25, 0.9, 0.29, 0.31, 0.1, 0.7, 0.2, 0.99];
    let i = 0;
    const route = new ServiceRoute('split', { policy: 'round-robin', rng: { next: () => draws[i++ % draws.length]!, int: () => 0 } });
    routes.set('split', route);
    await add(route, upstream('old1', (_q, res) => json(res, 'old1')), 'aaa');
    await add(route, upstream('old2', (_q, res) => json(res, 'old2')), 'aaa');
    await add(route, upstream('new1', (_q, res) => void res.writeHead(500, { 'content-type': 'application/json' }).end('{}')), 'bbb');
    route.setSplit({ revision: 'bbb', percent: 30 });
    const seen: string[] = [];
    for (let n = 0; n < draws.length; n++) seen.push((await fetch(`${base}/split/x`)).headers.get('x-gantry-replica') ?? '');
    // Draws under 0.30 go to the canary (5 of 10), the others to the old replicas in turn.
    assert.deepEqual(seen.map((r) => (r === 'new1' ? 'new' : 'old')), ['new', 'old', 'new', 'old', 'new', 'old', 'new', 'old', 'new', 'old']);
    assert.equal(route.revisionTraffic('bbb').requests, 5);
    assert.equal(route.revisionTraffic('bbb').errors5xx, 5);
    assert.equal(route.revisionTraffic('aaa').requests, 5);
    assert.equal(route.revisionTraffic('aaa').errors5xx, 0);
    assert.ok((route.revisionTraffic('aaa').latencyMs.quantile(0.99) ?? -1) >= 0);
    // Without the split, or while the canary is the only revision taking requests, no draw decides.
    route.setSplit(null);
    const after = new Set<string>();
    for (let n = 0; n < 6; n++) after.add((await fetch(`${base}/split/x`)).headers.get('x-gantry-replica') ?? '');
    assert.deepEqual([...after].sort(), ['new1', 'old1', 'old2']);
    route.setSplit({ revision: 'bbb', percent: 1 });
    route.setReady('old1', false);
    route.setReady('old2', false);
    assert.equal((await fetch(`${base}/split/x`)).headers.get('x-gantry-replica'), 'new1');
  });

  it('counts requests in flight at dispatch: a burst to two replicas splits evenly (p2c)', async () => {
    const route = new ServiceRoute('burst', { policy: 'p2c' });
    routes.set('burst', route);
    const parked: ServerResponse[] = [];
    let release: () => void = () => undefined;
    const allParked = new Promise<void>((r) => (release = r));
    const park = (id: string) => (_req: IncomingMessage, res: ServerResponse): void => {
      parked.push(res);
      res.setHeader('x-id', id);
      if (parked.length === 10) release();
    };
    await add(route, upstream('a', park('a')));
    await add(route, upstream('b', park('b')));
    const answers = Array.from({ length: 10 }, () => fetch(`${base}/burst/x`).then((r) => r.headers.get('x-gantry-replica')));
    await allParked;
    const loads = [...route.replicas.values()].map((r) => r.inFlight).sort();
    assert.deepEqual(loads, [5, 5]);
    for (const res of parked) res.end('ok');
    const by = (await Promise.all(answers)).reduce<Record<string, number>>((m, id) => ({ ...m, [String(id)]: (m[String(id)] ?? 0) + 1 }), {});
    assert.deepEqual(by, { a: 5, b: 5 });
    assert.deepEqual([...route.replicas.values()].map((r) => r.inFlight), [0, 0]);
  });

  it('keeps a shared prompt prefix on one replica (load-prefix), and counts its tokens', async () => {
    const route = new ServiceRoute('llm', { policy: 'load-prefix', blockTokens: 4 });
    routes.set('llm', route);
    for (const id of ['p1', 'p2', 'p3']) await add(route, upstream(id, (_req, res) => json(res, id)));
    const system = 'you are a helpful assistant that answers questions about the weather in short sentences please';
    const served = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const r = await fetch(`${base}/llm/v1/completions`, completion(`${system} question number ${i} here`));
      served.add(((await r.json()) as { replica: string }).replica);
    }
    assert.equal(served.size, 1, 'every request with the shared prefix went to the same replica');
    const s = route.takeSample();
    assert.ok(s.arrivedPromptTokens >= 12 * 15, `prompt tokens counted (${s.arrivedPromptTokens})`);
    assert.equal(s.arrivedOutputTokens, 12 * 4);
  });

  it('passes server-sent events through as they are sent, byte for byte', async () => {
    const route = new ServiceRoute('sse', { policy: 'p2c' });
    routes.set('sse', route);
    let sendRest: () => void = () => undefined;
    const events = ['data: {"a":1}\n\n', 'data: {"b":2}\n\n', 'data: [DONE]\n\n'];
    await add(route, upstream('s1', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(events[0]);
      sendRest = () => {
        res.write(events[1]);
        res.end(events[2]);
      };
    }));
    const r = await fetch(`${base}/sse/v1/completions`, completion('stream me'));
    assert.equal(r.headers.get('content-type'), 'text/event-stream');
    const reader = (r.body as ReadableStream<Uint8Array>).getReader();
    const dec = new TextDecoder();
    const first = await reader.read();
    // The first event arrived while the replica still holds the rest: nothing was buffered.
    assert.equal(dec.decode(first.value), events[0]);
    sendRest();
    let rest = '';
    for (;;) {
      const c = await reader.read();
      if (c.done) break;
      rest += dec.decode(c.value);
    }
    assert.equal(rest, events[1]! + events[2]!);
    assert.equal(route.ttftMs.quantile(0.5) !== null, true);
  });

  it('drains a replica: no new requests, its open stream finishes, then the drain resolves', async () => {
    const route = new ServiceRoute('drain', { policy: 'round-robin' });
    routes.set('drain', route);
    let finishStream: () => void = () => undefined;
    let streaming: () => void = () => undefined;
    const started = new Promise<void>((r) => (streaming = r));
    await add(route, upstream('d1', (req, res) => {
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: 1\n\n');
        finishStream = () => res.end('data: 2\n\n');
        streaming();
      } else json(res, 'd1');
    }));
    const d2 = await add(route, upstream('d2', (_req, res) => json(res, 'd2')));
    // Round robin starts with d1 (replicas in id order).
    const open = fetch(`${base}/drain/stream`).then((r) => r.text());
    await started;
    let drained = false;
    const drain = route.drain('d1').then(() => (drained = true));
    for (let i = 0; i < 6; i++) {
      const r = await fetch(`${base}/drain/x`);
      assert.equal(((await r.json()) as { replica: string }).replica, 'd2');
    }
    assert.equal(drained, false, 'the drain waits for the open stream');
    finishStream();
    assert.equal(await open, 'data: 1\n\ndata: 2\n\n');
    await drain;
    assert.equal(drained, true);
    assert.equal(d2.seen.length, 6);
  });

  it('holds requests while no replica is Ready, sends them once one is, and answers 503 after the hold timeout', async () => {
    let held = 0;
    const route = new ServiceRoute('zero', { policy: 'p2c', holdTimeoutMs: 60_000, onHeld: () => held++ });
    routes.set('zero', route);
    const up = await upstream('z1', (_req, res) => json(res, 'z1'));
    ups.push(up);
    route.addReplica('z1', up.origin);
    const waiting = fetch(`${base}/zero/v1/completions`, completion('wake up'));
    while (route.held() === 0) await new Promise((r) => setImmediate(r));
    assert.equal(held, 1, 'the service was told a request waits');
    assert.equal(route.takeSample().held, 1);
    route.setReady('z1', true);
    const r = await waiting;
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { replica: string }).replica, 'z1');

    const none = new ServiceRoute('none', { policy: 'p2c', holdTimeoutMs: 1 });
    routes.set('none', none);
    const r2 = await fetch(`${base}/none/x`);
    assert.equal(r2.status, 503);
    assert.equal(((await r2.json()) as { error: { code: string } }).error.code, 'SERVICE_UNAVAILABLE');
  });

  it('passes bodies of known length whole, empty ones and HEAD answers included', async () => {
    const route = new ServiceRoute('sizes', { policy: 'p2c' });
    routes.set('sizes', route);
    await add(route, upstream('z1', (req, res) => {
      if (req.url === '/empty') return void res.writeHead(200, { 'content-length': '0' }).end();
      if (req.url === '/none') return void res.writeHead(204).end();
      if (req.url === '/two') {
        res.writeHead(200, { 'content-length': '10', 'content-type': 'text/plain' });
        res.write('hello');
        setImmediate(() => res.end('world'));
        return;
      }
      res.writeHead(200, { 'content-length': '5', 'content-type': 'text/plain' }).end(req.method === 'HEAD' ? undefined : 'hello');
    }));
    const empty = await fetch(`${base}/sizes/empty`);
    assert.equal(empty.status, 200);
    assert.equal(await empty.text(), '');
    const none = await fetch(`${base}/sizes/none`);
    assert.equal(none.status, 204);
    const head = await fetch(`${base}/sizes/x`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '5');
    const two = await fetch(`${base}/sizes/two`);
    assert.equal(await two.text(), 'helloworld');
    assert.equal(route.takingRequests()[0]?.inFlight, 0, 'every request released');
  });

  it('retries a refused connection once on another Ready replica', async () => {
    const route = new ServiceRoute('retry', { policy: 'round-robin' });
    routes.set('retry', route);
    const gone = await upstream('a-gone', (_req, res) => json(res, 'gone'));
    const origin = gone.origin;
    await new Promise((r) => gone.server.close(r));
    route.addReplica('a-gone', origin);
    route.setReady('a-gone', true);
    await add(route, upstream('b-live', (_req, res) => json(res, 'b-live')));
    const r = await fetch(`${base}/retry/v1/completions`, completion('hello'));
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { replica: string }).replica, 'b-live');
  });

  it('holds prompts above a replica\'s prompt queue in the router, oldest first, and sends them to a replica that answers or becomes Ready', async () => {
    // A bound of 1 token: a replica takes a new prompt only when it has none unanswered.
    const route = new ServiceRoute('gate', { policy: 'p2c', promptQueueTokens: 1 });
    routes.set('gate', route);
    const got: Array<{ id: string; prompt: string; res: ServerResponse }> = [];
    const waits: Array<() => void> = [];
    const arrived = (n: number): Promise<void> => (got.length >= n ? Promise.resolve() : new Promise((r) => waits.push(() => got.length >= n && r())));
    const sse = (id: string) => (_req: IncomingMessage, res: ServerResponse, body: string): void => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      got.push({ id, prompt: (JSON.parse(body) as { prompt: string }).prompt, res });
      for (const w of waits) w();
    };
    await add(route, upstream('g1', sse('g1')));
    const b = await upstream('g2', sse('g2'));
    ups.push(b);
    route.addReplica('g2', b.origin);
    const send = (prompt: string): Promise<string> => fetch(`${base}/gate/v1/completions`, completion(prompt)).then((r) => r.text());
    const answers = [send('first prompt'), send('second prompt')];
    await arrived(1);
    // g1 has the first prompt unanswered (headers sent, no byte of body): the second waits.
    await until(() => route.held() === 1);
    answers.push(send('third prompt'));
    await until(() => route.held() === 2);
    route.setReady('g2', true);
    await arrived(2);
    assert.deepEqual(got.map((g) => [g.id, g.prompt]), [['g1', 'first prompt'], ['g2', 'second prompt']], 'the oldest held prompt went to the replica that became Ready');
    assert.equal(route.held(), 1);
    // g1's first byte frees its queue: the third prompt goes there, though g1 is still streaming.
    got[0]!.res.write('data: {"t":1}\n\n');
    await arrived(3);
    assert.deepEqual(got[2] && [got[2].id, got[2].prompt], ['g1', 'third prompt']);
    assert.equal(route.held(), 0);
    for (const g of got) g.res.end('data: [DONE]\n\n');
    await Promise.all(answers);
    assert.deepEqual([...route.replicas.values()].map((r) => [r.inFlight, r.awaiting, r.awaitingTokens]), [[0, 0, 0], [0, 0, 0]]);
  });

  it('counts against a replica only the prompt it must prefill: a prefix it holds does not fill its queue', async () => {
    // 16 shared words (4 blocks of 4 tokens) and 4 words of its own: 20 tokens a prompt. A bound
    // of 25: a second whole prompt (40) would not fit on the first one's replica, its 4 new
    // tokens (24) do, so the request keeps its prefix's replica.
    const route = new ServiceRoute('gate-prefix', { policy: 'load-prefix', blockTokens: 4, promptQueueTokens: 25 });
    routes.set('gate-prefix', route);
    const got: Array<{ id: string; res: ServerResponse }> = [];
    const parked = (id: string) => (_req: IncomingMessage, res: ServerResponse): void => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      got.push({ id, res });
    };
    await add(route, upstream('h1', parked('h1')));
    await add(route, upstream('h2', parked('h2')));
    const shared = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen';
    const send = (tail: string): Promise<string> => fetch(`${base}/gate-prefix/v1/completions`, completion(`${shared} ${tail}`)).then((r) => r.text());
    const answers = [send('a b c d')];
    await until(() => got.length === 1);
    answers.push(send('e f g h'));
    await until(() => got.length === 2);
    assert.equal(got[1]!.id, got[0]!.id, 'the second prompt went to the replica holding the prefix');
    const holder = route.replicas.get(got[0]!.id)!;
    assert.deepEqual([holder.awaiting, holder.awaitingTokens], [2, 20 + 4]);
    // A prompt without the prefix counts whole: it does not fit there, and goes to the other one.
    answers.push(fetch(`${base}/gate-prefix/v1/completions`, completion('something else entirely with words of its own here')).then((r) => r.text()));
    await until(() => got.length === 3);
    assert.notEqual(got[2]!.id, got[0]!.id);
    for (const g of got) g.res.end('data: [DONE]\n\n');
    await Promise.all(answers);
    assert.deepEqual([...route.replicas.values()].map((r) => [r.inFlight, r.awaiting, r.awaitingTokens]), [[0, 0, 0], [0, 0, 0]]);
  });

  it('frees a prompt\'s place in the queue when its replica fails before answering', async () => {
    const route = new ServiceRoute('gate-fail', { policy: 'p2c', promptQueueTokens: 1 });
    routes.set('gate-fail', route);
    let n = 0;
    await add(route, upstream('f1', (_req, res) => {
      if (n++ === 0) res.destroy();
      else json(res, 'f1');
    }));
    const [first, second] = await Promise.all([fetch(`${base}/gate-fail/v1/completions`, completion('one')), fetch(`${base}/gate-fail/v1/completions`, completion('two'))]);
    assert.equal(first.status, 502);
    assert.equal(second.status, 200);
    const r = [...route.replicas.values()][0]!;
    assert.deepEqual([r.inFlight, r.awaiting, r.awaitingTokens], [0, 0, 0]);
  });
});
