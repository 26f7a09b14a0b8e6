/**
 * The store port: everything the standalone control plane keeps on disk. One adapter today
 * (SQLite, sqlite-store.ts); every adapter must pass test/adapters/store-conformance.test.ts.
 * All methods are synchronous and each is atomic; `transaction` groups several into one
 * durable commit (the server batches concurrent submissions through it).
 */
import type { Binding } from '../../core/model/cluster.js';
import type { JobFile } from '../../spec/job-spec.js';

export type JobState = 'queued' | 'running' | 'preempting' | 'cancelling' | 'succeeded' | 'failed' | 'cancelled';
export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];
export const ACTIVE_STATES: readonly JobState[] = ['queued', 'running', 'preempting', 'cancelling'];
export const JOB_STATES: readonly JobState[] = [...ACTIVE_STATES, ...TERMINAL_STATES];

export interface WorkerRecord {
  readonly rank: number;
  readonly node: string;
  /** Process id of the worker's wrapper (also its process group id). */
  readonly pid: number;
  /** Kernel start time of the process (clock ticks since boot), to tell a reused pid apart. */
  readonly startTicks: number | null;
  readonly logPath: string;
  readonly exitFile: string;
  /** The worker's cgroup directories (absolute), when it runs in one. */
  readonly cgroups?: readonly string[];
  /** The uid it runs as, when not the server's. */
  readonly uid?: number;
  /** Its cgroup (or container) counted an out-of-memory kill. */
  oomKilled?: boolean;
  exitCode: number | null;
  /** Signal name when the process was killed by a signal. */
  signal?: string | null;
}

export interface Progress {
  readonly step?: number;
  readonly loss?: number;
  readonly samplesPerSec?: number;
  readonly at: number;
}

export interface JobRow {
  readonly id: string;
  readonly seq: number;
  readonly name: string;
  readonly team: string;
  readonly owner: string;
  readonly queue: string;
  readonly spec: JobFile;
  readonly submittedAt: number;
  state: JobState;
  /** Why the job is in its state (last transition), for people. */
  reason: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** How many times the job was started. */
  attempts: number;
  /** Failures retried so far (counts against spec.retries.limit). */
  retries: number;
  preemptions: number;
  /** Not started before this time (retry backoff). */
  notBefore: number;
  bindings: Binding[] | null;
  workers: WorkerRecord[];
  exitCode: number | null;
  lastCheckpointAt: number | null;
  progress: Progress | null;
  readonly idempotencyKey: string | null;
  /** Hash of the submitted body, to refuse a reused key with a different body. */
  readonly requestHash: string | null;
}

export type NewJob = Omit<JobRow, 'id' | 'seq'>;

export interface TeamRow {
  readonly name: string;
  readonly createdAt: number;
}

export interface UserRow {
  readonly name: string;
  readonly team: string;
  readonly admin: boolean;
  readonly createdAt: number;
}

/** An API token's record (the token itself is never stored, only its SHA-256 hash). */
export interface TokenRow {
  /** Public handle for listing and revoking (derived from the hash; reveals nothing of the token). */
  readonly id: string;
  readonly user: string;
  readonly createdAt: number;
  /** null = never expires. */
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
}

/** An active job row that no longer reads back (its JSON is damaged), reported and left untouched. */
export interface UnreadableJob {
  readonly id: string;
  readonly queue: string;
  readonly state: string;
  readonly error: string;
}

export interface QueueRow {
  readonly name: string;
  /** The team that owns the queue; null = any team may use it. */
  readonly team: string | null;
  readonly parent: string | null;
  readonly guaranteedGpus: number | null;
  readonly limitGpus: number | null;
  readonly weight: number;
  readonly priorityOrdering: boolean;
  /** Per-GPU-model quotas in GPUs, by canonical model name (absent or empty: none). */
  readonly gpuModels?: Readonly<Record<string, ModelQuota>>;
}

export interface ModelQuota {
  readonly guaranteedGpus: number | null;
  readonly limitGpus: number | null;
}

export interface AuditEntry {
  readonly id: number;
  readonly at: number;
  readonly actor: string;
  readonly action: string;
  readonly target: string;
  readonly source: string;
  readonly detail: Record<string, unknown> | null;
}

export interface NodeStateRow {
  readonly name: string;
  readonly cordoned: boolean;
  readonly draining: boolean;
}

/** A GPU's health as an admin set it (by UUID: it survives a change of index). */
export interface GpuHealthRow {
  readonly node: string;
  readonly uuid: string;
  readonly healthy: boolean;
  readonly at: number;
  readonly by: string;
}

export interface JobQuery {
  /** Only this team's jobs; absent = all. */
  readonly team?: string;
  readonly states?: readonly JobState[];
  readonly queue?: string;
  /** Newest first: only jobs with seq below this. */
  readonly beforeSeq?: number;
  readonly limit: number;
}

export interface Store {
  transaction<T>(fn: () => T): T;
  close(): void;

  createTeam(name: string, at: number): void;
  getTeam(name: string): TeamRow | undefined;
  listTeams(): TeamRow[];

  createUser(user: UserRow): void;
  getUser(name: string): UserRow | undefined;
  listUsers(): UserRow[];
  /** Stores a token's hash; returns the token's id. */
  addToken(hash: string, user: string, at: number, expiresAt?: number | null): string;
  /** The user a token names, whatever the token's expiry or revocation (see tokenByHash). */
  userByTokenHash(hash: string): UserRow | undefined;
  tokenByHash(hash: string): { token: TokenRow; user: UserRow } | undefined;
  getToken(id: string): TokenRow | undefined;
  /** Tokens of one user (or all), oldest first. */
  listTokens(user?: string): TokenRow[];
  /** Marks the token revoked (idempotent: a second call keeps the first time). */
  revokeToken(id: string, at: number): void;

  putQueue(q: QueueRow): void;
  getQueue(name: string): QueueRow | undefined;
  listQueues(): QueueRow[];

  insertJob(job: NewJob): JobRow;
  getJob(id: string): JobRow | undefined;
  jobByIdempotencyKey(owner: string, key: string): JobRow | undefined;
  listJobs(q: JobQuery): JobRow[];
  /** The ids `listJobs` would return, in the same order, without reading the rows (callers that hold some rows in memory read only the others). */
  listJobIds(q: JobQuery): string[];
  /** Jobs not yet finished, oldest first. */
  activeJobs(): JobRow[];
  /** Like activeJobs, but a row that does not read back is reported instead of throwing. */
  scanActiveJobs(): { jobs: JobRow[]; unreadable: UnreadableJob[] };
  updateJob(job: JobRow): void;
  /** Jobs by state, all teams (reads kept counts: O(teams), not O(jobs)). */
  countJobsByState(): Map<JobState, number>;
  /** One team's jobs in one state (a kept count). */
  countJobs(team: string, state: JobState): number;

  appendAudit(e: Omit<AuditEntry, 'id'>): void;
  listAudit(afterId: number, limit: number): AuditEntry[];

  setNodeState(s: NodeStateRow): void;
  nodeStates(): NodeStateRow[];

  setGpuHealth(h: GpuHealthRow): void;
  gpuHealth(): GpuHealthRow[];

  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
}

export function jobIdOf(seq: number): string {
  return `job-${seq}`;
}

export function seqOfJobId(id: string): number | null {
  const m = /^job-([1-9][0-9]{0,14})$/.exec(id);
  return m ? Number(m[1]) : null;
}
