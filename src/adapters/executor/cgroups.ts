/**
 * One cgroup per local worker: it holds every process the worker starts (background children,
 * setsid, double forks cannot leave it without privileges), so "stop the job" and "has the job
 * ended" mean all of them, and its CPU/memory limits are the job's requests. Supports cgroup v1
 * (a directory per controller: freezer, memory, cpu, pids) and v2 (one unified directory).
 * Workers are recorded by their absolute directories, so a restarted server (in whatever cgroup
 * it now runs) still finds, kills and removes them.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CgroupLimits {
  /** 0 = no CPU limit. */
  readonly milliCpu: number;
  /** 0 = no memory limit. */
  readonly memoryMiB: number;
}

/** Every worker's cgroup gets this process cap (a fork bomb stays inside its job). */
export const DEFAULT_PIDS_MAX = 4096;

const ROOT = '/sys/fs/cgroup';
const V1_CONTROLLERS = ['freezer', 'memory', 'cpu', 'pids'] as const;

export class Cgroups {
  constructor(
    readonly version: 1 | 2,
    /** v1: controller -> the gantry base directory under it; v2: '' -> the base directory. */
    private readonly bases: ReadonlyMap<string, string>,
    /** Whether memory/cpu/pids limits can be set (v2 needs the controllers delegated). */
    readonly limits: boolean,
  ) {}

  /**
   * The machine's cgroups, when this process may create them (root, a writable hierarchy with a
   * freezer on v1); null otherwise. `tag` names this server's subtree (two servers never collide).
   */
  static detect(tag: string, root = ROOT): Cgroups | null {
    if (process.getuid?.() !== 0) return null;
    try {
      const own = ownPaths();
      if (existsSync(join(root, 'cgroup.controllers'))) return detectV2(root, own.get('') ?? '/', tag);
      const bases = new Map<string, string>();
      for (const c of V1_CONTROLLERS) {
        const mount = join(root, c);
        if (!existsSync(join(mount, 'cgroup.procs'))) continue;
        const base = join(mount, own.get(c) ?? '/', `gantry-${tag}`);
        mkdirSync(base, { recursive: true });
        bases.set(c, base);
      }
      if (!bases.has('freezer')) return null;
      const cg = new Cgroups(1, bases, bases.has('memory') && bases.has('cpu') && bases.has('pids'));
      cg.sweep();
      return cg;
    } catch {
      return null;
    }
  }

  describe(): string {
    return `cgroup v${this.version}${this.limits ? ' (cpu, memory, pids limits)' : ' (no limit controllers delegated: processes tracked, not limited)'}`;
  }

  /** Creates the worker's cgroup and sets its limits; returns its directories (freezer first on v1). */
  create(name: string, limits: CgroupLimits | undefined): string[] {
    const dirs = [...this.bases.values()].map((b) => join(b, name));
    for (const d of dirs) mkdirSync(d, { recursive: true });
    if (this.limits) applyLimits(this.version, dirs, limits);
    return dirs;
  }

  /**
   * Removes this server's cgroup subtree when no worker is left in it (server stop). Worker
   * cgroups are not swept here: one still empty may belong to a worker that is starting (its
   * wrapper has not joined it yet) and must outlive the server; the next start sweeps the
   * cgroups of workers that ended meanwhile.
   */
  tidy(): void {
    for (const b of this.bases.values()) {
      try {
        rmdirSync(b);
      } catch {
        // Workers still running (they outlive the server) or already gone.
      }
    }
  }

  /**
   * Removes the cgroups of workers that ended unobserved (killed while the server was down):
   * they are empty, and the kernel refuses to remove one that still holds a process.
   */
  sweep(): void {
    for (const b of this.bases.values()) {
      let names: string[] = [];
      try {
        names = readdirSync(b, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
      } catch {
        continue;
      }
      for (const n of names) {
        try {
          rmdirSync(join(b, n));
        } catch {
          // Still in use.
        }
      }
    }
  }

  /** Directories of this server's worker cgroups whose name starts with `prefix` (orphan reaping). */
  find(prefix: string): string[][] {
    const first = [...this.bases.values()][0];
    if (first === undefined) return [];
    let names: string[] = [];
    try {
      names = readdirSync(first).filter((n) => n.startsWith(prefix));
    } catch {
      return [];
    }
    return names.map((n) => [...this.bases.values()].map((b) => join(b, n)));
  }
}

function detectV2(root: string, own: string, tag: string): Cgroups | null {
  const parent = join(root, own);
  const base = join(parent, `gantry-${tag}`);
  mkdirSync(base, { recursive: true });
  // Limits need the controllers enabled down to the workers; the kernel refuses that where the
  // parent still holds processes (our own cgroup usually does), and then we only track.
  let limits = true;
  for (const dir of [parent, base]) {
    try {
      writeFileSync(join(dir, 'cgroup.subtree_control'), '+memory +cpu +pids');
    } catch {
      limits = false;
    }
  }
  const cg = new Cgroups(2, new Map([['', base]]), limits);
  cg.sweep();
  return cg;
}

/** This process's cgroup path per v1 controller ('' = the v2 path). */
function ownPaths(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    for (const c of (m[1] ?? '').split(',')) out.set(c, m[2] ?? '/');
  }
  return out;
}

function applyLimits(version: 1 | 2, dirs: readonly string[], l: CgroupLimits | undefined): void {
  const at = (file: string): string | undefined => dirs.find((d) => existsSync(join(d, file)));
  const set = (file: string, value: string): void => {
    const d = at(file);
    if (d !== undefined) writeFileSync(join(d, file), value);
  };
  const bytes = l && l.memoryMiB > 0 ? l.memoryMiB * 1024 * 1024 : 0;
  if (version === 1) {
    set('pids.max', String(DEFAULT_PIDS_MAX));
    if (bytes > 0) {
      set('memory.limit_in_bytes', String(bytes));
      // Memory plus swap at the same cap: a job over its memory is killed, not swapped out.
      try {
        set('memory.memsw.limit_in_bytes', String(bytes));
      } catch {
        // No swap accounting on this kernel.
      }
    }
    if (l && l.milliCpu > 0) {
      set('cpu.cfs_period_us', '100000');
      set('cpu.cfs_quota_us', String(Math.max(1000, l.milliCpu * 100)));
    }
  } else {
    set('pids.max', String(DEFAULT_PIDS_MAX));
    if (bytes > 0) {
      set('memory.max', String(bytes));
      try {
        set('memory.swap.max', '0');
      } catch {
        // No swap controller.
      }
    }
    if (l && l.milliCpu > 0) set('cpu.max', `${Math.max(1000, l.milliCpu * 100)} 100000`);
  }
}

/** The processes in a worker's cgroup (empty when it is gone). */
export function cgroupPids(dirs: readonly string[]): number[] {
  const d = dirs[0];
  if (d === undefined) return [];
  try {
    return readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The file the kernel counts OOM kills in (v1 memory.oom_control, v2 memory.events), if any. */
export function oomCounterFile(dirs: readonly string[]): string | undefined {
  for (const d of dirs) {
    for (const f of ['memory.oom_control', 'memory.events']) if (existsSync(join(d, f))) return join(d, f);
  }
  return undefined;
}

/** OOM kills inside the worker's cgroup so far. */
export function oomKills(dirs: readonly string[]): number {
  const f = oomCounterFile(dirs);
  if (f === undefined) return 0;
  try {
    const m = /^oom_kill (\d+)$/m.exec(readFileSync(f, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Sends `sig` to every process of the cgroup. For SIGKILL the cgroup is frozen first, so no
 * process can fork a child between our reading the list and the kill (v2's cgroup.kill does the
 * same in the kernel). Returns how many processes were signalled; call again until 0.
 */
export function signalCgroup(dirs: readonly string[], sig: NodeJS.Signals): number {
  const d = dirs[0];
  if (d === undefined) return 0;
  if (sig === 'SIGKILL' && existsSync(join(d, 'cgroup.kill'))) {
    const n = cgroupPids(dirs).length;
    tryWrite(join(d, 'cgroup.kill'), '1');
    return n;
  }
  const freeze = sig !== 'SIGKILL' ? null : existsSync(join(d, 'freezer.state')) ? (['freezer.state', 'FROZEN', 'THAWED'] as const) : existsSync(join(d, 'cgroup.freeze')) ? (['cgroup.freeze', '1', '0'] as const) : null;
  if (freeze) tryWrite(join(d, freeze[0]), freeze[1]);
  const pids = cgroupPids(dirs);
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // Gone already.
    }
  }
  // Killed tasks die once thawed.
  if (freeze) tryWrite(join(d, freeze[0]), freeze[2]);
  return pids.length;
}

/** Removes the worker's (empty) cgroup; false while processes remain. */
export function removeCgroup(dirs: readonly string[]): boolean {
  let ok = true;
  for (const d of dirs) {
    try {
      rmdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') ok = false;
    }
  }
  return ok;
}

function tryWrite(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch {
    // The cgroup went away meanwhile.
  }
}
