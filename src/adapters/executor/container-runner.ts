/**
 * Runs one worker as a container through the Docker Engine API (a unix socket; no docker CLI).
 * The local executor starts this script as the worker process, in the worker's process group
 * and with the worker's log file as stdout, so everything the executor does for processes
 * (pid files, exit files, restart adoption) holds for containers too:
 *  - create (image, command, environment, the job's directories bind-mounted at the same paths,
 *    host network for torch.distributed, the granted GPUs as an NVIDIA device request), start,
 *    stream the logs (demultiplexed) to stdout, wait, exit with the container's exit code;
 *  - SIGUSR1 / SIGINT are forwarded to the container (the checkpoint protocol's signal);
 *    SIGTERM becomes `stop` with the executor's grace, after which the daemon itself kills the
 *    container, so the container never outlives a stopped worker;
 *  - the container is removed when it ends.
 * Usage: node container-runner.js SPEC.json
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';

export interface ContainerSpec {
  readonly socket: string;
  readonly name: string;
  readonly image: string;
  /** Argument vector, or a shell command line run with /bin/sh -c. */
  readonly command: string | readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /** Host paths mounted at the same path in the container. */
  readonly binds: readonly string[];
  /** GPU UUIDs to pass through; empty for a simulated inventory (environment only). */
  readonly gpuUuids: readonly string[];
  readonly stopGraceSeconds: number;
  readonly labels: Readonly<Record<string, string>>;
}

export function createBody(spec: ContainerSpec): Record<string, unknown> {
  return {
    Image: spec.image,
    Cmd: typeof spec.command === 'string' ? ['/bin/sh', '-c', spec.command] : [...spec.command],
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    WorkingDir: spec.cwd,
    Labels: spec.labels,
    Tty: false,
    AttachStdout: false,
    AttachStderr: false,
    HostConfig: {
      Binds: spec.binds.map((b) => `${b}:${b}`),
      NetworkMode: 'host',
      IpcMode: 'host',
      ...(spec.gpuUuids.length > 0 ? { DeviceRequests: [{ Driver: 'nvidia', DeviceIDs: [...spec.gpuUuids], Capabilities: [['gpu']] }] } : {}),
    },
  };
}

function call(socket: string, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath: socket, method, path, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** Splits Docker's multiplexed log stream (8-byte frame headers) into payload bytes. */
export class LogDemuxer {
  private buf = Buffer.alloc(0);
  constructor(private readonly out: (chunk: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      this.out(this.buf.subarray(8, 8 + size));
      this.buf = this.buf.subarray(8 + size);
    }
  }
}

function followLogs(socket: string, id: string, write: (b: Buffer) => void): Promise<void> {
  return new Promise((resolve) => {
    const demux = new LogDemuxer(write);
    const req = request({ socketPath: socket, method: 'GET', path: `/containers/${id}/logs?follow=1&stdout=1&stderr=1` }, (res) => {
      res.on('data', (c: Buffer) => demux.push(c));
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.on('error', () => resolve());
    req.end();
  });
}

export async function runContainer(spec: ContainerSpec, write: (b: Buffer) => void, onSignalHandlers: (forward: (sig: NodeJS.Signals) => void) => void): Promise<number> {
  const s = spec.socket;
  const created = await call(s, 'POST', `/containers/create?name=${encodeURIComponent(spec.name)}`, createBody(spec));
  if (created.status === 404) {
    write(Buffer.from(`gantry: image ${spec.image} is not present; pulling it\n`));
    const [repo, tag] = spec.image.includes(':') ? spec.image.split(/:(?=[^:]+$)/) : [spec.image, 'latest'];
    const pull = await call(s, 'POST', `/images/create?fromImage=${encodeURIComponent(repo ?? spec.image)}&tag=${encodeURIComponent(tag ?? 'latest')}`);
    if (pull.status !== 200) throw new Error(`pulling ${spec.image} failed: ${pull.status} ${pull.text.slice(0, 300)}`);
    return runContainer(spec, write, onSignalHandlers);
  }
  if (created.status !== 201) throw new Error(`creating the container failed: ${created.status} ${created.text.slice(0, 300)}`);
  const id = (JSON.parse(created.text) as { Id: string }).Id;
  let stopping = false;
  onSignalHandlers((sig) => {
    if (sig === 'SIGTERM') {
      if (stopping) return;
      stopping = true;
      void call(s, 'POST', `/containers/${id}/stop?t=${Math.max(0, Math.round(spec.stopGraceSeconds))}`).catch(() => undefined);
    } else {
      void call(s, 'POST', `/containers/${id}/kill?signal=${sig}`).catch(() => undefined);
    }
  });
  try {
    const started = await call(s, 'POST', `/containers/${id}/start`);
    if (started.status !== 204 && started.status !== 304) throw new Error(`starting the container failed: ${started.status} ${started.text.slice(0, 300)}`);
    const logs = followLogs(s, id, write);
    const waited = await call(s, 'POST', `/containers/${id}/wait`);
    await logs;
    if (waited.status !== 200) throw new Error(`waiting for the container failed: ${waited.status}`);
    return (JSON.parse(waited.text) as { StatusCode: number }).StatusCode;
  } finally {
    await call(s, 'DELETE', `/containers/${id}?force=1`).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: container-runner SPEC.json\n');
    process.exit(2);
  }
  const spec = JSON.parse(readFileSync(file, 'utf8')) as ContainerSpec;
  try {
    const code = await runContainer(
      spec,
      (b) => process.stdout.write(b),
      (forward) => {
        for (const sig of ['SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGHUP'] as const) process.on(sig, () => forward(sig));
      },
    );
    process.exit(code);
  } catch (e) {
    process.stdout.write(`gantry: container worker failed: ${(e as Error).message}\n`);
    process.exit(125);
  }
}

if (process.argv[1] && import.meta.url === new URL(process.argv[1], 'file://').href) void main();
