/**
 * The local process executor. Each worker runs under a tiny /bin/sh wrapper in a new process
 * group (detached), with stdout and stderr appended to a log file the server opened (not a pipe:
 * the worker must survive a crash of the control plane). The wrapper stays the server's identity
 * (the job can neither signal it nor write its files): it records its pid, puts the job into the
 * worker's cgroup, drops to the job's uid:gid (setpriv, no supplementary groups, no new
 * privileges), waits, notes an OOM kill from the cgroup's counter and writes the exit code into
 * the server's private state directory. It traps TERM/INT/USR1/HUP only to live on to do that;
 * the job gets default signal handling. A restarted control plane reads the exit file, or checks
 * the pid together with its kernel start time (so a reused pid is not mistaken for the worker).
 * A worker has ended only when nothing of it runs any more: after the main process exits, the
 * rest of its cgroup (or process group) is killed, and the worker reads as running until empty.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fchownSync, openSync, readFileSync, writeFileSync, constants } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ContainerSpec } from './container-runner.js';
import type { WorkerRecord } from '../store/store.js';
import type { ExitStatus, Executor, LaunchSpec, StopSignal } from './executor.js';
import { oomKills, oomCounterFile, removeCgroup, signalCgroup, type Cgroups } from './cgroups.js';
import { killAllOf } from './job-identity.js';

// $1 pid file, $2 exit file, $3 cgroup dirs (space-separated, may be empty), $4 OOM counter file
// (may be empty); the rest is the command. The inner sh joins the cgroup before it execs the
// job, so every process the job starts is born inside it.
const WRAPPER = [
  'trap : TERM INT USR1 HUP',
  'umask 077',
  'p=$1 x=$2 cg=$3 oom=$4',
  'shift 4',
  'printf "%s" "$$" > "$p.tmp" && mv -f "$p.tmp" "$p"',
  `/bin/sh -c 'for d in $1; do printf "%s" "$$" > "$d/cgroup.procs" || exit 125; done; shift; umask 002; exec "$@"' gantry-job "$cg" "$@"`,
  'c=$?',
  'if [ -n "$oom" ] && grep -Eq "^oom_kill [1-9]" "$oom" 2>/dev/null; then : > "$x.oom"; fi',
  'printf "%s" "$c" > "$x.tmp" && mv -f "$x.tmp" "$x"',
  'exit $c',
].join('\n');

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

/** The exit status the wrapper recorded (its exit file, written whole), or undefined. */
function exitFileStatus(exitFile: string): ExitStatus | undefined {
  const text = readSmall(exitFile);
  if (text === null || text === '') return undefined;
  const code = Number(text);
  return Number.isInteger(code) ? { code, signal: code > 128 ? signalName(code - 128) : null } : undefined;
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
 * restart adoption work as for any worker. The runner stays the server's identity; the
 * container runs as the job's (identity) within its limits.
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
  writeFileSync(file, JSON.stringify(cs), { mode: 0o600 });
  return [process.execPath, RUNNER, file];
}

/**
 * Drops to the job's identity: its uid, its team's gid, no supplementary groups, no setuid
 * gains. It enters its working directory only then, as itself: entered as root, a folder the job
 * may not reach (its ancestors closed to it) would be its cwd all the same.
 */
function asIdentity(identity: LaunchSpec['identity'], cwd: string, argv: readonly string[]): string[] {
  if (!identity) return [...argv];
  return ['setpriv', `--reuid=${identity.uid}`, `--regid=${identity.gid}`, '--clear-groups', '--no-new-privs', '--', '/bin/sh', '-c', 'cd -- "$0" || exit 126; exec "$@"', cwd, ...argv];
}

export interface LocalExecutorOptions {
  /** Where workers get a cgroup each (null or absent: process groups and uids only). */
  readonly cgroups?: Cgroups | null;
}

export class LocalExecutor implements Executor {
  readonly kind = 'local';
  private readonly exits = new Map<number, ExitStatus>();
  private readonly listeners: (() => void)[] = [];
  private readonly cgroups: Cgroups | null;

  constructor(opts: LocalExecutorOptions = {}) {
    this.cgroups = opts.cgroups ?? null;
  }

  start(spec: LaunchSpec): WorkerRecord {
    const container = spec.image !== undefined;
    const argv = container ? containerArgv(spec) : asIdentity(spec.identity, spec.cwd, typeof spec.command === 'string' ? ['/bin/sh', '-c', spec.command] : [...spec.command]);
    // Containers live in the runtime's cgroups; the runner itself must survive to remove them.
    const cgroups = !container && this.cgroups ? this.cgroups.create(cgroupName(spec), spec.limits) : [];
    // Opened here, as the server: the job writes through the descriptor, and cannot swap the file.
    const fd = openSync(spec.logPath, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640);
    try {
      if (spec.identity && process.getuid?.() === 0) fchownSync(fd, 0, spec.identity.gid);
      const child = spawn('/bin/sh', ['-c', WRAPPER, 'gantry-worker', spec.pidFile, spec.exitFile, cgroups.join(' '), oomCounterFile(cgroups) ?? '', ...argv], {
        cwd: spec.identity && !container ? '/' : spec.cwd,
        env: { ...spec.env },
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
      return {
        rank: spec.rank,
        node: spec.node,
        pid,
        startTicks: processStartTicks(pid),
        logPath: spec.logPath,
        exitFile: spec.exitFile,
        ...(cgroups.length > 0 ? { cgroups } : {}),
        ...(spec.identity && !container ? { uid: spec.identity.uid } : {}),
        exitCode: null,
        signal: null,
      };
    } catch (e) {
      if (cgroups.length > 0) removeCgroup(cgroups);
      throw e;
    } finally {
      closeSync(fd);
    }
  }

  signal(w: WorkerRecord, sig: StopSignal): void {
    // Processes that left the process group (setsid, daemons) still get TERM and KILL.
    if ((sig === 'SIGTERM' || sig === 'SIGKILL') && w.cgroups) signalCgroup(w.cgroups, sig);
    if (!isProcessAlive(w.pid, w.startTicks) && !this.exits.has(w.pid)) return;
    try {
      process.kill(-w.pid, sig);
    } catch {
      // Already gone.
    }
  }

  status(w: WorkerRecord): ExitStatus | 'running' | 'lost' {
    const ended = this.mainStatus(w);
    if (ended === 'running') return ended;
    // The main process ended: the worker has ended once nothing it started runs any more.
    if (w.cgroups) {
      if (signalCgroup(w.cgroups, 'SIGKILL') > 0) return 'running';
      if (oomKills(w.cgroups) > 0 && !existsSync(`${w.exitFile}.oom`)) writeFileSync(`${w.exitFile}.oom`, '', { mode: 0o600 });
      removeCgroup(w.cgroups);
    } else if (w.uid !== undefined && groupAlive(w.pid)) {
      try {
        process.kill(-w.pid, 'SIGKILL');
      } catch {
        // gone
      }
      return 'running';
    }
    if (ended === 'lost') return ended;
    return existsSync(`${w.exitFile}.oom`) ? { ...ended, oomKilled: true } : ended;
  }

  private mainStatus(w: WorkerRecord): ExitStatus | 'running' | 'lost' {
    const recorded = exitFileStatus(w.exitFile) ?? this.exits.get(w.pid);
    if (recorded) return recorded;
    if (isProcessAlive(w.pid, w.startTicks)) return 'running';
    // The wrapper may have written its exit file and ended between the read above and the
    // liveness check (seen under load: a job that succeeded was called lost); a process that
    // is gone has written all it ever will, so read again.
    const late = exitFileStatus(w.exitFile) ?? this.exits.get(w.pid);
    if (late) return late;
    // Not ours and gone without an exit file: killed by SIGKILL, or the wrapper died with it.
    return 'lost';
  }

  stragglers(uid: number): number {
    return killAllOf(uid);
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
    // Workers started just before a crash have a cgroup no record names.
    for (const dirs of this.cgroups?.find(`${jobId}.`) ?? []) {
      killed += signalCgroup(dirs, 'SIGKILL');
      removeCgroup(dirs);
    }
    return killed;
  }

  onExit(listener: () => void): void {
    this.listeners.push(listener);
  }
}

/** The worker's cgroup name: job, attempt and rank (from its unique exit file name). */
function cgroupName(spec: LaunchSpec): string {
  return `${spec.jobId}.${basename(spec.exitFile).replace(/^exit-/, '')}`;
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A short file in the private state directory (null when absent). */
function readSmall(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

function signalName(n: number): string | null {
  const names: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 9: 'SIGKILL', 10: 'SIGUSR1', 15: 'SIGTERM' };
  return names[n] ?? null;
}
