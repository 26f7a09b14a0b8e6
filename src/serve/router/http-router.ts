/**
 * The services' HTTP router in `gantry up`: a reverse proxy on its own port, one stable URL per
 * service (`http://HOST:PORT/NAME/...`, the rest of the path going to a replica as it came).
 * Replicas are called through undici connection pools; answers are piped back chunk by chunk,
 * so server-sent events and chunked bodies pass through as the replica sends them.
 *
 * A request goes only to a Ready replica that is not draining, chosen by the service's routing
 * policy (route-policies.ts) on requests in flight counted at dispatch; OpenAI-compatible
 * completion bodies are read first, for prefix affinity and for the autoscaler's token counts.
 * With no Ready replica the request is held (the service may be scaled to zero) until one is,
 * or until the hold times out (503). A replica that refuses the connection before answering is
 * retried once on another replica when the body was read whole.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { isOpenAiCompletion, promptShape } from './request-prefix.js';
import { AFFINITY_DEPTH } from './route-policies.js';
import type { RouteReplica, ServiceRoute } from './service-route.js';

/** Headers of one hop only (RFC 9110 7.6.1), never forwarded. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host', 'proxy-authorization']);
const HOP_LONGEST = Math.max(...[...HOP].map((h) => h.length));
const MAX_READ_BODY = 16 * 1024 * 1024;

export interface HttpRouterOptions {
  /** The service a name refers to, if any. */
  readonly service: (name: string) => ServiceRoute | undefined;
  /** Told with a 404 for an unknown service (default: how `gantry up` names them). */
  readonly notFoundHint?: string;
}

/** The request's headers as undici takes them (name, value, ...), without hop-by-hop ones; req.headers is never built. */
function forwardHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!;
    if (k.length > HOP_LONGEST || !HOP.has(k.toLowerCase())) out.push(k, raw[i + 1]!);
  }
  return out;
}

function refuse(res: ServerResponse, status: number, code: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code, message } }));
}

function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_READ_BODY) {
        resolve(null);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** What the router read of a completion request (nothing for other requests). */
interface PromptInfo {
  readonly prefix: readonly number[];
  readonly promptTokens: number;
}

/** A request sent to a replica; `answered` once its first byte came back (see prefill-gate.ts). */
interface SentRequest {
  readonly replica: RouteReplica;
  /** The prompt tokens counted in the replica's queue (see ServiceRoute.acquire). */
  readonly queuedTokens: number;
  answered: boolean;
}

const isRefused = (e: unknown): boolean => ['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET'].includes((e as { code?: string }).code ?? '');

export class HttpRouter {
  readonly server: Server;

  constructor(private readonly opts: HttpRouterOptions) {
    this.server = createServer((req, res) => void this.handle(req, res).catch(() => refuse(res, 502, 'ROUTER_ERROR', 'the router failed to forward the request')));
    this.server.keepAliveTimeout = 30_000;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const a = this.server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const arrival = performance.now();
    const url = req.url ?? '/';
    const slash = url.indexOf('/', 1);
    const end = slash < 0 ? (url.indexOf('?') < 0 ? url.length : url.indexOf('?')) : slash;
    const name = url.slice(1, end);
    const route = this.opts.service(name);
    if (!route) return refuse(res, 404, 'SERVICE_NOT_FOUND', `no service "${name}" (${this.opts.notFoundHint ?? 'the URL is /SERVICE/PATH; gantry serve ls lists them'})`);
    const path = slash < 0 ? `/${url.slice(end)}` : url.slice(slash);
    const method = req.method ?? 'GET';
    let body: Buffer | Readable | null = req;
    let prefix: readonly number[] = [];
    let promptTokens = 0;
    if (isOpenAiCompletion(method, path)) {
      body = await readBody(req);
      if (body === null) return refuse(res, 413, 'BODY_TOO_LARGE', `the router reads completion bodies up to ${MAX_READ_BODY} bytes`);
      const shape = promptShape(path, body, route.blockTokens, AFFINITY_DEPTH);
      prefix = shape.prefixBlocks;
      promptTokens = shape.promptTokens;
      route.noteArrival(shape.promptTokens, shape.outputTokens);
    } else {
      route.noteArrival(0, 0);
    }
    const headers = forwardHeaders(req.rawHeaders);
    const { status, revision } = await this.forward(route, req, res, method, path, headers, body, { prefix, promptTokens }, arrival);
    route.noteDone(performance.now() - arrival, status, revision);
  }

  /** Sends the request to a replica and pipes the answer back; the status answered and the revision that answered it. */
  private async forward(route: ServiceRoute, req: IncomingMessage, res: ServerResponse, method: string, path: string, headers: string[], body: Buffer | Readable, prompt: PromptInfo, arrival: number): Promise<{ status: number; revision: string | null }> {
    let tried: string | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      const got = route.acquire(prompt.prefix, tried, prompt.promptTokens);
      const ticket = got instanceof Promise ? await got : got;
      if (!ticket) {
        if (attempt === 0) refuse(res, 503, 'SERVICE_UNAVAILABLE', `no replica of ${route.name} became Ready in time`);
        else refuse(res, 502, 'REPLICA_UNREACHABLE', `the replica of ${route.name} refused the connection and no other is Ready`);
        return { status: attempt === 0 ? 503 : 502, revision: null };
      }
      const replica = ticket.replica;
      const sent: SentRequest = { replica, queuedTokens: ticket.queuedTokens, answered: false };
      if (req.destroyed && res.destroyed) {
        route.release(replica, ticket.queuedTokens, false);
        return { status: 499, revision: null };
      }
      try {
        const status = await proxyTo(sent, route, res, method, path, headers, body, arrival);
        return { status, revision: replica.revision };
      } catch (e) {
        // Refused before any answer: that replica is gone or going; try another once.
        if (attempt === 0 && Buffer.isBuffer(body) && isRefused(e) && !res.headersSent) {
          tried = replica.id;
          continue;
        }
        if (res.destroyed) return { status: 499, revision: null };
        refuse(res, 502, 'REPLICA_UNREACHABLE', `replica ${replica.id} of ${route.name} failed: ${(e as Error).message}`);
        return { status: 502, revision: replica.revision };
      } finally {
        route.release(replica, ticket.queuedTokens, sent.answered);
      }
    }
    return { status: 502, revision: null };
  }
}

/**
 * One request to one replica through undici's `dispatch` (no response stream object, no abort
 * controller): headers and chunks go to `res` as they arrive, with backpressure (the replica's
 * socket pauses while `res` is full). Resolves with the status once the answer ended (or the
 * client left); rejects only when the replica failed before any answer was sent.
 */
function proxyTo(sent: SentRequest, route: ServiceRoute, res: ServerResponse, method: string, path: string, headers: string[], body: Buffer | Readable, arrival: number): Promise<number> {
  const replica = sent.replica;
  return new Promise<number>((resolve, reject) => {
    let status = 0;
    let streamed = false;
    let lastChunk = 0;
    /** Bytes of a body with a known length still to come; -1 when unknown. */
    let remaining = -1;
    let endedWithBody = false;
    let control: Dispatcher.DispatchController | null = null;
    const onClose = (): void => {
      if (!res.writableFinished) control?.abort(new Error('the client closed the connection'));
      resolve(499);
    };
    res.once('close', onClose);
    const settle = (): void => void res.off('close', onClose);
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        control = c;
        if (res.destroyed) c.abort(new Error('the client closed the connection'));
      },
      onResponseStart(c, code, upHeaders) {
        if (code < 200) return; // 1xx: the final answer follows
        status = code;
        const out: string[] = ['x-gantry-replica', replica.id];
        for (const k in upHeaders) {
          const v = upHeaders[k];
          if (v === undefined || HOP.has(k)) continue;
          if (typeof v === 'string') out.push(k, v);
          else for (const x of v) out.push(k, x);
        }
        streamed = typeof upHeaders['content-type'] === 'string' && upHeaders['content-type'].startsWith('text/event-stream');
        const length = upHeaders['content-length'];
        remaining = typeof length === 'string' && !streamed && method !== 'HEAD' ? Number(length) : -1;
        res.writeHead(code, out);
        if (res.destroyed) c.abort(new Error('the client closed the connection'));
      },
      onResponseData(c, chunk) {
        const now = performance.now();
        if (lastChunk === 0) {
          route.noteFirstByte(now - arrival, streamed, replica.revision);
          sent.answered = true;
          route.answered(replica, sent.queuedTokens);
        } else if (streamed) route.noteChunkGap(now - lastChunk, replica.revision);
        lastChunk = now;
        // The last bytes of a body of known length: head and body leave in one write.
        if (remaining === chunk.length) {
          remaining = -1;
          endedWithBody = true;
          res.end(chunk);
          return;
        }
        if (remaining > 0) remaining -= chunk.length;
        if (!res.write(chunk)) {
          c.pause();
          res.once('drain', () => c.resume());
        }
      },
      onResponseEnd() {
        settle();
        if (!endedWithBody) res.end();
        resolve(status);
      },
      onResponseError(_c, err) {
        settle();
        if (status === 0 && !res.headersSent) reject(err);
        else {
          res.destroy();
          resolve(status);
        }
      },
    };
    replica.pool.dispatch({ path, method: method as Dispatcher.HttpMethod, headers, body }, handler);
  });
}
