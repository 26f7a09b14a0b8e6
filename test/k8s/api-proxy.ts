/**
 * A plain-HTTP proxy in front of the test kube-apiserver, for failover tests that need a write
 * to be in flight at a chosen moment: it holds the Binding of chosen pods until told (then sends
 * it on, or answers it with an error itself), and can refuse Lease calls (the replica behind it
 * misses its renew deadline and stands down). Everything else, watches included, streams through.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent, request } from 'node:https';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

const BINDING = /^\/api\/v1\/namespaces\/[^/]+\/pods\/([^/]+)\/binding(\?|$)/;

interface HeldCall {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly body: Buffer;
}

export class ApiProxy {
  /** Pods whose Binding is held when it arrives. */
  readonly holdBindsOf = new Set<string>();
  /** Lease calls are answered 503 while set. */
  refuseLeases = false;
  private readonly held = new Map<string, HeldCall>();
  private readonly agent = new Agent({ keepAlive: true, rejectUnauthorized: false });

  private constructor(
    private readonly server: Server,
    private readonly target: URL,
  ) {}

  /** Starts a proxy to `apiserver` (https://127.0.0.1:port) on a free local port. */
  static async start(apiserver: string): Promise<ApiProxy> {
    let proxy: ApiProxy | null = null;
    const server = createServer((req, res) => proxy?.handle(req, res));
    proxy = new ApiProxy(server, new URL(apiserver));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** True once the Binding of `pod` arrived and is held. */
  holds(pod: string): boolean {
    return this.held.has(pod);
  }

  /** Sends the held Binding of `pod` on to the apiserver. */
  release(pod: string): void {
    const call = this.take(pod);
    this.forward(call.req, call.res, call.body);
  }

  /** Answers the held Binding of `pod` with `status`, without sending it on. */
  fail(pod: string, status: number): void {
    const { res } = this.take(pod);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'failed by the test proxy', code: status }));
  }

  /** A kubeconfig for child processes that talk to the apiserver through this proxy. */
  writeKubeconfig(file: string, token: string): string {
    const yaml = ['apiVersion: v1', 'kind: Config', 'clusters:', '- name: proxied', '  cluster:', `    server: ${this.url}`, '    insecure-skip-tls-verify: true', 'users:', '- name: admin', '  user:', `    token: ${token}`, 'contexts:', '- name: proxied', '  context:', '    cluster: proxied', '    user: admin', 'current-context: proxied', ''];
    writeFileSync(file, yaml.join('\n'));
    return file;
  }

  async stop(): Promise<void> {
    for (const pod of [...this.held.keys()]) this.fail(pod, 503);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.agent.destroy();
  }

  private take(pod: string): HeldCall {
    const call = this.held.get(pod);
    if (!call) throw new Error(`no Binding of ${pod} is held`);
    this.held.delete(pod);
    return call;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    if (this.refuseLeases && path.startsWith('/apis/coordination.k8s.io/')) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'Lease calls refused by the test proxy', code: 503 }));
      return;
    }
    const pod = req.method === 'POST' ? BINDING.exec(path)?.[1] : undefined;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (pod !== undefined && this.holdBindsOf.has(pod)) this.held.set(pod, { req, res, body });
      else this.forward(req, res, body);
    });
  }

  private forward(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const upstream = request(
      { host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers: { ...req.headers, host: this.target.host }, agent: this.agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.flushHeaders(); // a watch's client waits for them before any event comes
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy(); // the client went away (a watch stopped)
    });
    upstream.end(body);
  }
}
