/**
 * What a job's container may see and use, decided by the controller from the job's spec: its
 * own folders only (the working directory and the job directory, never the host's root or the
 * server's data directory), its network mode, and only the GPUs it was granted.
 */
import { bindProblems } from '../adapters/executor/container-binds.js';
import type { LaunchSpec } from '../adapters/executor/executor.js';
import type { JobFile } from '../spec/job-spec.js';

export interface ContainerContext {
  readonly socket: string;
  readonly jobDir: string;
  /** The worker's working directory: the job's workingDir, or a folder inside the job directory. */
  readonly cwd: string;
  readonly dataDir: string;
  /** The worker's environment: NVIDIA_VISIBLE_DEVICES names its GPUs or MIG slices by UUID. */
  readonly env: Readonly<Record<string, string>>;
  /** A simulated inventory has no devices to pass through: the environment says which GPUs. */
  readonly simulated: boolean;
  readonly stopGraceMs: number;
}

/** Why a container job's working directory may not be mounted (checked at submission). */
export function workingDirProblems(spec: Pick<JobFile, 'workingDir'>, dataDir: string): string[] {
  return spec.workingDir === undefined ? [] : bindProblems([spec.workingDir], [spec.workingDir], [dataDir]);
}

/** Throws (a message for the job's reason) when the job's folders may not be mounted. */
export function containerSettings(spec: Pick<JobFile, 'network'>, c: ContainerContext): NonNullable<LaunchSpec['container']> {
  // The working directory (the job's own, or the job directory's default one) and the job directory.
  const roots = c.cwd === c.jobDir || c.cwd.startsWith(`${c.jobDir}/`) ? [c.jobDir] : [c.jobDir, c.cwd];
  const problems = bindProblems(roots, roots, [c.dataDir]);
  if (problems.length > 0) throw new Error(`refusing to start the container: ${problems.join('; ')}`);
  const devices = c.env['NVIDIA_VISIBLE_DEVICES'] ?? '';
  return {
    socket: c.socket,
    gpuUuids: c.simulated ? [] : devices.split(',').filter((u) => u !== '' && u !== 'void'),
    binds: roots,
    allowedRoots: roots,
    hiddenPaths: [c.dataDir],
    stopGraceSeconds: c.stopGraceMs / 1000,
    // Jobs stored before `network` existed have none: the default.
    network: spec.network ?? 'none',
  };
}
