/**
 * Who a job runs as, when the server is root: its own unprivileged uid (one per job, the same
 * for every attempt, returned to the pool when the job finishes) and its team's gid (one per
 * team, for good). Both are persisted in the store's meta table, so a restarted server knows
 * which uid each running job has. A job's uid owns nothing but the job's own folders, so it can
 * neither read another team's files nor signal another job, the wrapper or the server.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface Identity {
  readonly uid: number;
  readonly gid: number;
}

export interface MetaStore {
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
}

const JOB_UIDS = 'identity.job-uids';
const TEAM_GIDS = 'identity.team-gids';

export class JobIdentities {
  private readonly uids: Map<string, number>;
  private readonly gids: Map<string, number>;

  /** uids and gids come from [base, base + count): far above any account a distribution makes. */
  constructor(
    private readonly store: MetaStore,
    readonly base = 200_000,
    readonly count = 65_536,
  ) {
    if (!Number.isInteger(base) || base < 1000 || !Number.isInteger(count) || count < 1 || base + count > 2 ** 32 - 2) throw new Error(`identity range ${base}+${count} is not a valid unprivileged uid range`);
    this.uids = new Map(Object.entries(parse(store.getMeta(JOB_UIDS))));
    this.gids = new Map(Object.entries(parse(store.getMeta(TEAM_GIDS))));
  }

  /** The job's identity, allocating its uid (and its team's gid) on first use. */
  forJob(jobId: string, team: string): Identity {
    return { uid: this.uidOf(jobId) ?? this.allocate(jobId), gid: this.teamGid(team) };
  }

  uidOf(jobId: string): number | undefined {
    return this.uids.get(jobId);
  }

  teamGid(team: string): number {
    const known = this.gids.get(team);
    if (known !== undefined) return known;
    const used = new Set(this.gids.values());
    let gid = this.base;
    while (used.has(gid)) gid++;
    if (gid >= this.base + this.count) throw new Error(`no free gid left in ${this.base}..${this.base + this.count - 1}`);
    this.gids.set(team, gid);
    this.store.setMeta(TEAM_GIDS, JSON.stringify(Object.fromEntries(this.gids)));
    return gid;
  }

  /** The job finished: its uid may be given to another job. */
  release(jobId: string): void {
    if (!this.uids.delete(jobId)) return;
    this.store.setMeta(JOB_UIDS, JSON.stringify(Object.fromEntries(this.uids)));
  }

  private allocate(jobId: string): number {
    const used = new Set(this.uids.values());
    let uid = this.base;
    while (used.has(uid)) uid++;
    if (uid >= this.base + this.count) throw new Error(`no free uid left in ${this.base}..${this.base + this.count - 1} (one per unfinished job)`);
    this.uids.set(jobId, uid);
    this.store.setMeta(JOB_UIDS, JSON.stringify(Object.fromEntries(this.uids)));
    return uid;
  }
}

function parse(text: string | undefined): Record<string, number> {
  if (text === undefined) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null) return {};
    return Object.fromEntries(Object.entries(v).filter(([, n]) => Number.isInteger(n))) as Record<string, number>;
  } catch {
    return {};
  }
}

/** Pids whose real uid is `uid` (from /proc; empty where /proc is absent). */
export function processesOf(uid: number): number[] {
  const out: number[] = [];
  let names: string[] = [];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${n}/status`, 'utf8'));
      if (m && Number(m[1]) === uid) out.push(Number(n));
    } catch {
      // Exited meanwhile.
    }
  }
  return out;
}

/**
 * SIGKILLs every process of `uid` (kill(-1) as that uid: the kernel walks them all at once, so a
 * forking process cannot outrun it). Returns how many there were; call again until 0.
 */
export function killAllOf(uid: number): number {
  const before = processesOf(uid).length;
  if (before > 0) spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', 'kill', '-KILL', '--', '-1'], { stdio: 'ignore', timeout: 5000 });
  return before;
}
