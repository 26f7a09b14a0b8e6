/**
 * Docker Engine API detection. Jobs that name an image run as containers only when a daemon
 * answers on its socket; otherwise the server says so at startup and refuses such jobs with
 * DOCKER_UNAVAILABLE instead of running them some other way.
 */
import { request } from 'node:http';

export interface DockerStatus {
  readonly available: boolean;
  readonly socket: string;
  readonly detail: string;
}

export function dockerSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const host = env['DOCKER_HOST'];
  if (host?.startsWith('unix://')) return host.slice('unix://'.length);
  return '/var/run/docker.sock';
}

/** GET /_ping on the daemon's socket (by default DOCKER_HOST's, or the standard one), with a short timeout. */
export function detectDocker(socketPath?: string, timeoutMs = 500): Promise<DockerStatus> {
  const host = process.env['DOCKER_HOST'];
  if (socketPath === undefined && host !== undefined && host !== '' && !host.startsWith('unix://')) {
    return Promise.resolve({ available: false, socket: '', detail: `DOCKER_HOST=${host} is not a unix socket (unix:///PATH): Gantry reaches the daemon over a unix socket only` });
  }
  const socket = socketPath ?? dockerSocketPath();
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve({ available: res.statusCode === 200, socket, detail: `daemon answered ${res.statusCode ?? '?'} on ${socket}` });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ available: false, socket, detail: `no Docker daemon on ${socket} (${(e as NodeJS.ErrnoException).code ?? e.message})` }));
    req.end();
  });
}
