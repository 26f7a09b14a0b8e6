/**
 * A stand-in for the Docker Engine API on a unix socket, for tests on machines without a
 * Docker daemon (this one has only the client). It speaks the handful of endpoints the
 * container runner uses, and "runs" a container as a plain local process (no isolation, no
 * image): enough to check what Gantry asks the daemon for, and that logs, exit codes and
 * signals travel the way they would with a real daemon.
 */
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

interface FakeContainer {
  id: string;
  name: string;
  body: Record<string, unknown>;
  proc: ChildProcess | null;
  frames: Buffer[];
  exit: number | null;
  listeners: (() => void)[];
  logClients: ServerResponse[];
}

export interface DockerStandIn {
  readonly socket: string;
  readonly calls: string[];
  readonly containers: Map<string, FakeContainer>;
  close(): Promise<void>;
}

function frame(stream: 1 | 2, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt8(stream, 0);
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const c of req) text += String(c);
  return text;
}

export async function startDockerStandIn(socket: string): Promise<DockerStandIn> {
  rmSync(socket, { force: true });
  const calls: string[] = [];
  const containers = new Map<string, FakeContainer>();
  let n = 0;
  const done = (c: FakeContainer, code: number): void => {
    c.exit = code;
    for (const l of c.listeners.splice(0)) l();
    for (const r of c.logClients.splice(0)) r.end();
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://docker');
      calls.push(`${req.method} ${url.pathname}${url.search}`);
      const m = /^\/containers\/([^/]+)\/(\w+)$/.exec(url.pathname);
      const c = m ? containers.get(m[1] as string) : undefined;
      if (req.method === 'GET' && url.pathname === '/_ping') return void res.end('OK');
      if (req.method === 'POST' && url.pathname === '/containers/create') {
        const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
        const id = `c${++n}`;
        containers.set(id, { id, name: url.searchParams.get('name') ?? id, body, proc: null, frames: [], exit: null, listeners: [], logClients: [] });
        res.writeHead(201, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ Id: id, Warnings: [] }));
      }
      if (!c && m) {
        res.writeHead(404);
        return void res.end('{"message":"no such container"}');
      }
      if (c && m?.[2] === 'start') {
        const cmd = c.body['Cmd'] as string[];
        const env = Object.fromEntries((c.body['Env'] as string[]).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
        const proc = spawn(cmd[0] as string, cmd.slice(1), { cwd: c.body['WorkingDir'] as string, env: { PATH: process.env.PATH ?? '', ...env } });
        c.proc = proc;
        const push = (stream: 1 | 2) => (b: Buffer): void => {
          const f = frame(stream, b);
          c.frames.push(f);
          for (const r of c.logClients) r.write(f);
        };
        proc.stdout?.on('data', push(1));
        proc.stderr?.on('data', push(2));
        // 'close', not 'exit': output still in the pipes must reach the log first.
        proc.on('close', (code, signal) => done(c, code ?? (signal === 'SIGKILL' ? 137 : 143)));
        res.writeHead(204);
        return void res.end();
      }
      if (c && m?.[2] === 'logs') {
        res.writeHead(200, { 'content-type': 'application/vnd.docker.multiplexed-stream' });
        for (const f of c.frames) res.write(f);
        if (c.exit !== null) return void res.end();
        c.logClients.push(res);
        return;
      }
      if (c && m?.[2] === 'wait') {
        const answer = (): void => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ StatusCode: c.exit }));
        };
        if (c.exit !== null) return answer();
        c.listeners.push(answer);
        return;
      }
      if (c && m?.[2] === 'kill') {
        c.proc?.kill((url.searchParams.get('signal') ?? 'SIGKILL') as NodeJS.Signals);
        res.writeHead(204);
        return void res.end();
      }
      if (c && m?.[2] === 'stop') {
        c.proc?.kill('SIGTERM');
        const t = Number(url.searchParams.get('t') ?? 10);
        setTimeout(() => c.exit === null && c.proc?.kill('SIGKILL'), t * 1000).unref();
        res.writeHead(204);
        return void res.end();
      }
      if (req.method === 'DELETE' && /^\/containers\/[^/]+$/.test(url.pathname)) {
        res.writeHead(204);
        return void res.end();
      }
      res.writeHead(404);
      res.end('{"message":"not implemented in the stand-in"}');
    })();
  });
  await new Promise<void>((r) => server.listen(socket, r));
  return {
    socket,
    calls,
    containers,
    close: () =>
      new Promise<void>((r) => {
        for (const c of containers.values()) if (c.exit === null) c.proc?.kill('SIGKILL');
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
