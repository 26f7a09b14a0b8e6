/**
 * One MPS control daemon per GPU that holds shares (../shared/reference/gpu.md, 2). Started
 * before the first share's worker on a GPU: `nvidia-cuda-mps-control -d` with
 * CUDA_VISIBLE_DEVICES = that GPU's UUID and its own pipe and log folders; stopped with
 * `echo quit | nvidia-cuda-mps-control` (same environment) once the GPU has no share left.
 * Clients find their daemon through CUDA_MPS_PIPE_DIRECTORY / CUDA_MPS_LOG_DIRECTORY in the
 * worker's environment; their limits (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE,
 * CUDA_MPS_PINNED_DEVICE_MEM_LIMIT) are set there too (worker-env.ts).
 *
 * Folders: `<state>/mps/<gpu-uuid>/pipe` is 0711 (a job's uid may traverse it and open the
 * daemon's named pipes, never list or change it; the pipe files' own modes are MPS's), the
 * log folder 0700 (the daemon's). Every folder above must be traversable by job uids too.
 *
 * Daemons outlive a restart of the server (running jobs keep using them): a marker file says
 * one was started, so the next server neither starts a second one nor forgets to stop it.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export const MPS_CONTROL = 'nvidia-cuda-mps-control';

/** The path of a program on PATH, or null. */
export function onPath(program: string, path = process.env['PATH'] ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, program);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

export interface MpsDirs {
  readonly pipe: string;
  readonly log: string;
}

export class MpsDaemonError extends Error {}

export class MpsDaemons {
  private readonly root: string;

  constructor(stateDir: string, private readonly log: (line: string) => void = () => undefined) {
    this.root = join(stateDir, 'mps');
  }

  dirs(gpuUuid: string): MpsDirs {
    const base = join(this.root, gpuUuid.replace(/[^A-Za-z0-9._-]/g, '_'));
    return { pipe: join(base, 'pipe'), log: join(base, 'log') };
  }

  private marker(gpuUuid: string): string {
    return join(this.dirs(gpuUuid).pipe, '..', 'daemon-started');
  }

  /** GPUs whose daemon this server started or adopted. */
  private readonly known = new Set<string>();

  running(): string[] {
    return [...this.known].filter((u) => existsSync(this.marker(u)));
  }

  /** Adopts daemons a previous server started (their GPU UUIDs), so `sync` can stop them. */
  adopt(gpuUuids: readonly string[]): void {
    for (const u of gpuUuids) if (existsSync(this.marker(u))) this.known.add(u);
  }

  private env(gpuUuid: string): NodeJS.ProcessEnv {
    const d = this.dirs(gpuUuid);
    return { ...process.env, CUDA_VISIBLE_DEVICES: gpuUuid, CUDA_MPS_PIPE_DIRECTORY: d.pipe, CUDA_MPS_LOG_DIRECTORY: d.log };
  }

  /** The daemon's folders for a GPU, starting the daemon first if it is not running. */
  ensure(gpuUuid: string): MpsDirs {
    const d = this.dirs(gpuUuid);
    this.known.add(gpuUuid);
    if (existsSync(this.marker(gpuUuid))) return d;
    mkdirSync(this.root, { recursive: true, mode: 0o711 });
    chmodSync(this.root, 0o711);
    mkdirSync(join(d.pipe, '..'), { recursive: true, mode: 0o711 });
    chmodSync(join(d.pipe, '..'), 0o711);
    mkdirSync(d.pipe, { recursive: true, mode: 0o711 });
    chmodSync(d.pipe, 0o711);
    mkdirSync(d.log, { recursive: true, mode: 0o700 });
    const r = spawnSync(MPS_CONTROL, ['-d'], { env: this.env(gpuUuid), stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000, encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      const why = r.error ? r.error.message : (r.stderr || r.stdout || `exit code ${r.status ?? '?'}`).trim();
      throw new MpsDaemonError(`the MPS control daemon for GPU ${gpuUuid} did not start: ${why}`);
    }
    writeFileSync(this.marker(gpuUuid), `${Date.now()}\n`);
    this.log(`MPS control daemon started for GPU ${gpuUuid} (pipes in ${d.pipe})`);
    return d;
  }

  /** Stops the daemons of GPUs that no longer hold a share. */
  sync(gpusWithShares: ReadonlySet<string>): void {
    for (const u of this.running()) if (!gpusWithShares.has(u)) this.stop(u);
  }

  stop(gpuUuid: string): void {
    const r = spawnSync(MPS_CONTROL, [], { env: this.env(gpuUuid), input: 'quit\n', stdio: ['pipe', 'pipe', 'pipe'], timeout: 10_000, encoding: 'utf8' });
    if (r.error || r.status !== 0) this.log(`MPS control daemon for GPU ${gpuUuid} did not take "quit": ${r.error?.message ?? (r.stderr || `exit code ${r.status ?? '?'}`).trim()}`);
    rmSync(this.marker(gpuUuid), { force: true });
    this.known.delete(gpuUuid);
    this.log(`MPS control daemon stopped for GPU ${gpuUuid} (no share left)`);
  }
}
