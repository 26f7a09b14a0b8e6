/**
 * The local process executor. Each worker runs under a tiny /bin/sh wrapper in a new process
 * group (detached), with stdout and stderr appended to a log file (not a pipe: the worker must
 * survive a crash of the control plane). The wrapper traps TERM/INT/USR1/HUP only so that it
 * lives on to write the worker's exit code to a file once the worker ends; the worker itself
 * gets default signal handling. A restarted control plane reads the exit file, or checks the
 * pid together with its kernel start time (so a reused pid is not mistaken for the worker).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ContainerSpec } from './container-runner.js';
import type { WorkerRecord } from '../store/store.js';
import type { ExitStatus, Executor, LaunchSpec, StopSignal } from './executor.js';

const WRAPPER = 'trap : TERM INT USR1 HUP; printf "%s" "$$" > "$GANTRY_PID_FILE.tmp" && mv -f "$GANTRY_PID_FILE.tmp" "$GANTRY_PID_FILE"; "$@"; c=$?; printf "%s" "$c" > "$GANTRY_EXIT_FILE.tmp" && mv -f "$GANTRY_EXIT_FILE.tmp" "$GANTRY_EXIT_FILE"; exit $c';

/** Kernel start time of a process (field 22 of /proc/PID/stat), null where /proc is absent. */
export function processStartTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); field 22 is rest[19].
    if (rest[0] === 'Z') return -1;
    return Number(rest[19]);
  } catch {
    return null;
  }
}

export function isProcessAlive(pid: number, startTicks: number | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  const ticks = processStartTicks(pid);
  if (ticks === -1) return false; // zombie
  if (startTicks === null || ticks === null) return true;
  return ticks === startTicks;
}

const RUNNER = fileURLToPath(new URL('./container-runner.js', import.meta.url));

/**
 * A worker that names an image runs as `node container-runner.js SPEC`: the runner talks to
 * the Docker daemon and stands in for the process, so pid files, exit files, signals and
 * restart adoption work as for any worker.
 */
function containerArgv(spec: LaunchSpec): string[] {
  const c = spec.container;
  if (spec.image === undefined || c === undefined) throw new Error(`worker ${spec.rank} of ${spec.jobId} names no image or container settings`);
  const cs: ContainerSpec = {
    socket: c.socket,
    name: `gantry-${spec.jobId}-${spec.rank}-${Date.now().toString(36)}`,
    image: spec.image,
    command: spec.command,
    env: spec.env,
    cwd: spec.cwd,
    binds: c.binds,
    allowedRoots: c.allowedRoots,
    hiddenPaths: c.hiddenPaths,
    gpuUuids: c.gpuUuids,
    stopGraceSeconds: c.stopGraceSeconds,
    labels: { 'gantry.dev/job': spec.jobId, 'gantry.dev/rank': String(spec.rank) },
    network: c.network,
    ...(spec.limits ? { limits: spec.limits } : {}),
    ...(spec.identity ? { user: `${spec.identity.uid}:${spec.identity.gid}` } : {}),
    exitFile: spec.exitFile,
  };
  const file = `${spec.exitFile}.container.json`;
  writeFileSync(file, JSON.stringify(cs));
  return [process.execPath, RUNNER, file];
}

export class LocalExecutor implements Executor {
  readonly kind = 'local';
  private readonly exits = new Map<number, ExitStatus>();
  private readonly listeners: (() => void)[] = [];

  start(spec: LaunchSpec): WorkerRecord {
    const argv = spec.image !== undefined ? containerArgv(spec) : typeof spec.command === 'string' ? ['/bin/sh', '-c', spec.command] : [...spec.command];
    const fd = openSync(spec.logPath, 'a', 0o640);
    try {
      const child = spawn('/bin/sh', ['-c', WRAPPER, 'gantry-worker', ...argv], {
        cwd: spec.cwd,
        env: { ...spec.env, GANTRY_EXIT_FILE: spec.exitFile, GANTRY_PID_FILE: spec.pidFile },
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      if (child.pid === undefined) throw new Error(`could not start worker ${spec.rank} of ${spec.jobId}`);
      const pid = child.pid;
      child.on('error', () => undefined);
      child.on('exit', (code, signal) => {
        this.exits.set(pid, { code, signal });
        for (const l of this.listeners) l();
      });
      child.unref();
      return { rank: spec.rank, node: spec.node, pid, startTicks: processStartTicks(pid), logPath: spec.logPath, exitFile: spec.exitFile, exitCode: null, signal: null };
    } finally {
      closeSync(fd);
    }
  }

  signal(w: WorkerRecord, sig: StopSignal): void {
    if (!isProcessAlive(w.pid, w.startTicks) && !this.exits.has(w.pid)) return;
    try {
      process.kill(-w.pid, sig);
    } catch {
      // Already gone.
    }
  }

  status(w: WorkerRecord): ExitStatus | 'running' | 'lost' {
    if (existsSync(w.exitFile)) {
      const text = readFileSync(w.exitFile, 'utf8').trim();
      const code = Number(text);
      if (text !== '' && Number.isInteger(code)) return { code, signal: code > 128 ? signalName(code - 128) : null };
    }
    const seen = this.exits.get(w.pid);
    if (seen) return seen;
    if (isProcessAlive(w.pid, w.startTicks)) return 'running';
    // Not ours and gone without an exit file: killed by SIGKILL, or the wrapper died with it.
    return 'lost';
  }

  reapOrphans(jobId: string, pidFiles: readonly string[]): number {
    let killed = 0;
    for (const f of pidFiles) {
      let pid: number;
      try {
        pid = Number(readFileSync(f, 'utf8').trim());
      } catch {
        continue;
      }
      if (!Number.isInteger(pid) || pid <= 1) continue;
      // Only a process that is this job's worker: its environment names the job.
      let environ = '';
      try {
        environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      } catch {
        continue;
      }
      if (!environ.split('\0').includes(`GANTRY_JOB=${jobId}`)) continue;
      try {
        process.kill(-pid, 'SIGKILL');
        killed++;
      } catch {
        // gone
      }
    }
    return killed;
  }

  onExit(listener: () => void): void {
    this.listeners.push(listener);
  }
}

function signalName(n: number): string | null {
  const names: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 9: 'SIGKILL', 10: 'SIGUSR1', 15: 'SIGTERM' };
  return names[n] ?? null;
}
