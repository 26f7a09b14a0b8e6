/**
 * The executor port: starts a job's workers and tells how they end. The local adapter runs
 * each worker as a process in its own process group; a Docker adapter would run containers.
 * Workers outlive the control plane (a restart finds them again by pid), so every fact the
 * executor needs is in the WorkerRecord the store keeps.
 */
import type { WorkerRecord } from '../store/store.js';

export interface LaunchSpec {
  readonly jobId: string;
  readonly rank: number;
  readonly node: string;
  /** A shell command line, or an argument vector. */
  readonly command: string | readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly logPath: string;
  readonly exitFile: string;
  /** The wrapper writes its pid here before anything else (finds workers started just before a crash). */
  readonly pidFile: string;
  /** The unprivileged identity the worker runs as; absent = single-tenant mode (runs as the server). */
  readonly identity?: { readonly uid: number; readonly gid: number };
  /** CPU and memory limits (the job's requests), enforced by a cgroup or the container runtime. */
  readonly limits?: { readonly milliCpu: number; readonly memoryMiB: number };
  /** Run the command in this image, through the Docker Engine API (container-runner.ts). */
  readonly image?: string;
  readonly container?: {
    readonly socket: string;
    /** GPU UUIDs to pass through to the container (none for a simulated inventory). */
    readonly gpuUuids: readonly string[];
    /** Host directories mounted at the same path (working directory, job directory). */
    readonly binds: readonly string[];
    /** The job's own folders: a bind must be one of them or lie inside one (checked again by the runner). */
    readonly allowedRoots: readonly string[];
    /** Host paths no bind may contain (the server's data directory). */
    readonly hiddenPaths: readonly string[];
    readonly stopGraceSeconds: number;
    readonly network: 'none' | 'host';
  };
}

export interface ExitStatus {
  /** Exit code; null when the worker was killed before it could report one. */
  readonly code: number | null;
  readonly signal: string | null;
  readonly oomKilled?: boolean;
}

export type StopSignal = 'SIGTERM' | 'SIGKILL' | 'SIGUSR1' | 'SIGINT';

export interface Executor {
  readonly kind: string;
  /** Starts a worker; throws a UserError-free Error when it cannot. */
  start(spec: LaunchSpec): WorkerRecord;
  /** Sends a signal to the worker's whole process group (no error if it is gone). */
  signal(w: WorkerRecord, sig: StopSignal): void;
  /** How the worker ended, or null while it runs. `lost` = neither running nor a recorded exit. */
  status(w: WorkerRecord): ExitStatus | 'running' | 'lost';
  /** Kills workers known only by their pid files (started, but not yet recorded, when the server died). */
  reapOrphans(jobId: string, pidFiles: readonly string[]): number;
  /**
   * Kills whatever still runs as a job's uid (processes that left their worker's process group
   * or cgroup); returns how many there were: the job has ended only once this returns 0.
   */
  stragglers?(uid: number): number;
  /** Called when a worker started by this process exits (a hint to look sooner). */
  onExit(listener: () => void): void;
}
