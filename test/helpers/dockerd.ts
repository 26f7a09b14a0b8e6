/**
 * A real Docker daemon for tests: Debian's dockerd started by hand on a private socket, with
 * its data, exec state and pid file in a temporary folder, and the four flags that keep the
 * host's network untouched (no bridge, no NAT rules, no IP forwarding): containers get only
 * `lo`, or the host's network with NetworkMode host. The test image local/busybox:1 is loaded
 * from the tar scripts/docker/ensure-docker.sh builds. One daemon per test file; `stop` kills
 * its containers, stops the daemon and unmounts what it left.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dockerCall } from '../../src/adapters/executor/docker-api.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const TEST_IMAGE = 'local/busybox:1';

/** Null when a real daemon can run here; otherwise why not (the tests then skip). */
export function missingDocker(): string | null {
  if (process.getuid?.() !== 0) return 'the real-daemon Docker tests need root (dockerd is started by hand)';
  const check = spawnSync('bash', [join(REPO, 'scripts/docker/ensure-docker.sh'), '--check'], { encoding: 'utf8' });
  if (check.status !== 0) return `${check.stderr.trim() || 'scripts/docker/ensure-docker.sh --check failed'}`;
  return null;
}

/** node:test options: skip when no daemon can run here, fail instead when GANTRY_REQUIRE_DOCKER=1 (CI). */
export function dockerTestOptions(): { skip?: string } {
  const missing = missingDocker();
  if (missing === null) return {};
  if (process.env['GANTRY_REQUIRE_DOCKER'] === '1') throw new Error(`GANTRY_REQUIRE_DOCKER=1 but ${missing}`);
  return { skip: missing };
}

export interface PrivateDockerd {
  readonly dir: string;
  readonly socket: string;
  /** `unix://<socket>`, for DOCKER_HOST. */
  readonly host: string;
  /** The daemon's own log, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

function imageTar(): string {
  const out = spawnSync('bash', [join(REPO, 'scripts/docker/ensure-docker.sh'), '--check'], { encoding: 'utf8' });
  return out.stdout.trim();
}

function ping(socket: string): Promise<boolean> {
  return new Promise((res) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: 500 }, (r) => {
      r.resume();
      res(r.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => res(false));
    req.end();
  });
}

function loadImage(socket: string, tar: string): Promise<void> {
  return new Promise((res, rej) => {
    const req = request({ socketPath: socket, method: 'POST', path: '/images/load?quiet=1', headers: { 'content-type': 'application/x-tar' } }, (r) => {
      let text = '';
      r.on('data', (c: Buffer) => (text += c.toString()));
      r.on('end', () => (r.statusCode === 200 && !text.includes('"error"') ? res() : rej(new Error(`loading ${tar} failed: ${r.statusCode ?? '?'} ${text}`))));
    });
    req.on('error', rej);
    createReadStream(tar).pipe(req);
  });
}

function exited(p: ChildProcess, ms: number): Promise<boolean> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(true);
  return new Promise((res) => {
    const t = setTimeout(() => res(false), ms);
    p.once('exit', () => {
      clearTimeout(t);
      res(true);
    });
  });
}

/** Unmounts whatever the daemon left mounted under its folder (only after it stopped). */
function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m]);
}

export interface DockerdOptions {
  /**
   * Images and layer cache kept here across runs (default: the temporary folder, removed at stop).
   * One daemon at a time may use it (two would share its databases): a second waits its turn.
   */
  readonly dataRoot?: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Takes `<dataRoot>.lock` (a folder: made atomically) for this process, waiting while another live one holds it. */
async function lockDataRoot(dataRoot: string): Promise<() => void> {
  const lock = `${dataRoot}.lock`;
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      let held = true;
      return () => {
        if (held) rmSync(lock, { recursive: true, force: true });
        held = false;
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = 0;
    try {
      holder = Number(readFileSync(join(lock, 'pid'), 'utf8'));
    } catch {
      // being made or removed right now
    }
    if (holder > 0 && !alive(holder)) rmSync(lock, { recursive: true, force: true });
    else if (Date.now() > deadline) throw new Error(`${dataRoot} still in use by process ${holder} after 20 min (${lock})`);
    else await new Promise((r) => setTimeout(r, 500));
  }
}

export async function startDockerd(opts: DockerdOptions = {}): Promise<PrivateDockerd> {
  const unlock = opts.dataRoot ? await lockDataRoot(opts.dataRoot) : (): void => undefined;
  try {
    return await startDaemon(opts, unlock);
  } catch (e) {
    unlock();
    throw e;
  }
}

async function startDaemon(opts: DockerdOptions, unlock: () => void): Promise<PrivateDockerd> {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-dockerd-'));
  const socket = join(dir, 'docker.sock');
  const logFile = join(dir, 'dockerd.log');
  const fd = openSync(logFile, 'a');
  const args = ['--host', `unix://${socket}`, '--data-root', opts.dataRoot ?? join(dir, 'root'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'docker.pid'), '--iptables=false', '--ip-forward=false', '--ip-masq=false', '--bridge=none'];
  const proc = spawn('/usr/sbin/dockerd', args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  proc.on('error', () => undefined);
  // If the test process ends without `stop` (a crash, --test-force-exit), the daemon still goes.
  const onExit = (): void => void proc.kill('SIGTERM');
  process.once('exit', onExit);
  const log = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '');
  const stop = async (): Promise<void> => {
    process.removeListener('exit', onExit);
    if (await ping(socket)) {
      // A container that ignores SIGTERM would hold the daemon's shutdown for 10 s: kill them first.
      const list = await dockerCall(socket, 'GET', '/containers/json?all=1').catch(() => null);
      for (const c of list?.status === 200 ? (JSON.parse(list.text) as { Id: string }[]) : []) {
        await dockerCall(socket, 'DELETE', `/containers/${c.Id}?force=1`).catch(() => undefined);
      }
    }
    proc.kill('SIGTERM');
    if (!(await exited(proc, 15_000))) {
      proc.kill('SIGKILL');
      await exited(proc, 5_000);
    }
    unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
    unlock();
  };
  const deadline = Date.now() + 20_000;
  while (!(await ping(socket))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      const why = `dockerd did not answer on ${socket} (${proc.exitCode !== null ? `exited ${proc.exitCode}` : 'timed out'}); its log:\n${log()}`;
      await stop();
      throw new Error(why);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    await loadImage(socket, imageTar());
  } catch (e) {
    await stop();
    throw e;
  }
  return { dir, socket, host: `unix://${socket}`, log, stop };
}
