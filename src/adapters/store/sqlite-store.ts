/**
 * The SQLite store: one file, WAL journal, `synchronous=FULL` so that a commit that returned
 * survives a crash of the process or the machine (a dataset cache record may name bytes not yet
 * synced: it carries the boot id, see datacache/cache-durability.ts). Schema changes are numbered migrations
 * recorded in `PRAGMA user_version`. The audit table is append-only (triggers refuse
 * UPDATE and DELETE).
 */
import Database from 'better-sqlite3';
import type { AuditEntry, GpuHealthRow, JobQuery, JobRow, JobState, ModelQuota, NewJob, NodeStateRow, QueueRow, Store, TeamRow, TokenRow, UnreadableJob, UserRow } from './store.js';
import { jobIdOf, seqOfJobId } from './store.js';
import { DATASET_MIGRATION, DATASET_UNSYNCED_MIGRATION } from '../datacache/dataset-catalog.js';
import { COST_DETAIL_MIGRATION, COST_REPORT_INDEX_MIGRATION, COST_MIGRATION } from './cost-ledger.js';
import { HISTORY_MIGRATION } from './history-store.js';
import { SERVICE_MIGRATION, SERVICE_ROLLOUT_MIGRATION } from './service-records.js';

export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE teams (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
   CREATE TABLE users (name TEXT PRIMARY KEY, team TEXT NOT NULL REFERENCES teams(name), admin INTEGER NOT NULL, created_at INTEGER NOT NULL);
   CREATE TABLE tokens (hash TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name), created_at INTEGER NOT NULL);
   CREATE TABLE queues (name TEXT PRIMARY KEY, team TEXT, parent TEXT, guaranteed_gpus REAL, limit_gpus REAL, weight REAL NOT NULL, priority_ordering INTEGER NOT NULL);
   CREATE TABLE jobs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     name TEXT NOT NULL, team TEXT NOT NULL, owner TEXT NOT NULL, queue TEXT NOT NULL,
     state TEXT NOT NULL, reason TEXT, spec TEXT NOT NULL,
     submitted_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER,
     attempts INTEGER NOT NULL, retries INTEGER NOT NULL, preemptions INTEGER NOT NULL, not_before INTEGER NOT NULL,
     bindings TEXT, workers TEXT NOT NULL, exit_code INTEGER, last_checkpoint_at INTEGER, progress TEXT,
     idempotency_key TEXT, request_hash TEXT);
   CREATE UNIQUE INDEX jobs_idempotency ON jobs(owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
   CREATE INDEX jobs_active ON jobs(state) WHERE state IN ('queued','running','preempting','cancelling');
   CREATE INDEX jobs_team ON jobs(team, seq);
   CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, source TEXT NOT NULL, detail TEXT);
   CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
   CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
   CREATE TABLE node_state (name TEXT PRIMARY KEY, cordoned INTEGER NOT NULL, draining INTEGER NOT NULL);`,
  // Tokens gain a public id (for listing and revoking), an expiry and a revocation time.
  // Tokens issued before have no expiry; their id derives from the hash they already have.
  `ALTER TABLE tokens ADD COLUMN id TEXT;
   ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
   ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;
   UPDATE tokens SET id = 'tok_' || substr(hash, 1, 16);
   CREATE UNIQUE INDEX tokens_id ON tokens(id);`,
  // Job counts per team and state, kept by triggers in the same transaction as the change:
  // /metrics and the per-team queue cap read a few rows instead of scanning every job.
  `CREATE TABLE job_counts (team TEXT NOT NULL, state TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (team, state)) WITHOUT ROWID;
   INSERT INTO job_counts (team, state, n) SELECT team, state, COUNT(*) FROM jobs GROUP BY team, state;
   CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs BEGIN
     INSERT INTO job_counts (team, state, n) VALUES (NEW.team, NEW.state, 1) ON CONFLICT (team, state) DO UPDATE SET n = n + 1;
   END;
   CREATE TRIGGER job_counts_update AFTER UPDATE OF state ON jobs WHEN OLD.state <> NEW.state BEGIN
     UPDATE job_counts SET n = n - 1 WHERE team = OLD.team AND state = OLD.state;
     INSERT INTO job_counts (team, state, n) VALUES (NEW.team, NEW.state, 1) ON CONFLICT (team, state) DO UPDATE SET n = n + 1;
   END;
   CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs BEGIN
     UPDATE job_counts SET n = n - 1 WHERE team = OLD.team AND state = OLD.state;
   END;`,
  // GPU health set by an admin (telemetry's view is not stored: it is measured again at start).
  // IF NOT EXISTS: this step may be renumbered when migrations from parallel branches merge.
  `CREATE TABLE IF NOT EXISTS gpu_health (node TEXT NOT NULL, uuid TEXT NOT NULL, healthy INTEGER NOT NULL, at INTEGER NOT NULL, by TEXT NOT NULL, PRIMARY KEY (node, uuid));`,
  // Per-GPU-model quotas of a queue (GPUs). A table of its own, so the step is idempotent.
  `CREATE TABLE IF NOT EXISTS queue_gpu_models (queue TEXT NOT NULL, model TEXT NOT NULL, guaranteed_gpus REAL, limit_gpus REAL, PRIMARY KEY (queue, model));`,
  // Dataset versions (immutable) and node dataset caches (src/adapters/datacache/).
  DATASET_MIGRATION,
  // GPU prices, per-attempt GPU use and budgets (src/server/cost/).
  COST_MIGRATION,
  // Inference services and their autoscaler decisions (service-records.ts).
  SERVICE_MIGRATION,
  // Each service's newest rollout (service-records.ts).
  SERVICE_ROLLOUT_MIGRATION,
  // Idle reserved GPU time and the service of replica attempts (cost-ledger.ts).
  COST_DETAIL_MIGRATION,
  // Use over time, downsampled (history-store.ts).
  HISTORY_MIGRATION,
  // Cost reports read memory: the indexes only they read go (cost-ledger.ts).
  COST_REPORT_INDEX_MIGRATION,
  // Cache records made before their bytes were synced, with the boot id (dataset-catalog.ts).
  DATASET_UNSYNCED_MIGRATION,
];

interface TokenDbRow {
  id: string;
  user: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

function toToken(r: TokenDbRow): TokenRow {
  return { id: r.id, user: r.user, createdAt: r.created_at, expiresAt: r.expires_at, revokedAt: r.revoked_at };
}

/** A token's public id: a prefix of its hash (the hash of a random token reveals nothing of it). */
export function tokenIdOf(hash: string): string {
  return `tok_${hash.slice(0, 16)}`;
}

interface JobDbRow {
  seq: number;
  name: string;
  team: string;
  owner: string;
  queue: string;
  state: string;
  reason: string | null;
  spec: string;
  submitted_at: number;
  started_at: number | null;
  finished_at: number | null;
  attempts: number;
  retries: number;
  preemptions: number;
  not_before: number;
  bindings: string | null;
  workers: string;
  exit_code: number | null;
  last_checkpoint_at: number | null;
  progress: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
}

function toJob(r: JobDbRow): JobRow {
  return {
    id: jobIdOf(r.seq),
    seq: r.seq,
    name: r.name,
    team: r.team,
    owner: r.owner,
    queue: r.queue,
    state: r.state as JobState,
    reason: r.reason,
    spec: JSON.parse(r.spec) as JobRow['spec'],
    submittedAt: r.submitted_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    attempts: r.attempts,
    retries: r.retries,
    preemptions: r.preemptions,
    notBefore: r.not_before,
    bindings: r.bindings === null ? null : (JSON.parse(r.bindings) as JobRow['bindings']),
    workers: JSON.parse(r.workers) as JobRow['workers'],
    exitCode: r.exit_code,
    lastCheckpointAt: r.last_checkpoint_at,
    progress: r.progress === null ? null : (JSON.parse(r.progress) as JobRow['progress']),
    idempotencyKey: r.idempotency_key,
    requestHash: r.request_hash,
  };
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly stmts;

  /** `path` is a file, or ":memory:" for tests. */
  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    const d = this.db;
    this.stmts = {
      insertJob: d.prepare(`INSERT INTO jobs (name, team, owner, queue, state, reason, spec, submitted_at, started_at, finished_at, attempts, retries, preemptions, not_before, bindings, workers, exit_code, last_checkpoint_at, progress, idempotency_key, request_hash)
        VALUES (@name, @team, @owner, @queue, @state, @reason, @spec, @submitted_at, @started_at, @finished_at, @attempts, @retries, @preemptions, @not_before, @bindings, @workers, @exit_code, @last_checkpoint_at, @progress, @idempotency_key, @request_hash)`),
      updateJob: d.prepare(`UPDATE jobs SET state=@state, reason=@reason, started_at=@started_at, finished_at=@finished_at, attempts=@attempts, retries=@retries, preemptions=@preemptions, not_before=@not_before, bindings=@bindings, workers=@workers, exit_code=@exit_code, last_checkpoint_at=@last_checkpoint_at, progress=@progress WHERE seq=@seq`),
      getJob: d.prepare('SELECT * FROM jobs WHERE seq = ?'),
      jobByKey: d.prepare('SELECT * FROM jobs WHERE owner = ? AND idempotency_key = ?'),
      active: d.prepare(`SELECT * FROM jobs WHERE state IN ('queued','running','preempting','cancelling') ORDER BY seq`),
      countByState: d.prepare('SELECT state, SUM(n) AS n FROM job_counts GROUP BY state'),
      countOf: d.prepare('SELECT n FROM job_counts WHERE team = ? AND state = ?').pluck(),
      appendAudit: d.prepare('INSERT INTO audit (at, actor, action, target, source, detail) VALUES (?, ?, ?, ?, ?, ?)'),
      listAudit: d.prepare('SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?'),
      userByToken: d.prepare('SELECT u.* FROM tokens t JOIN users u ON u.name = t.user WHERE t.hash = ?'),
    };
  }

  /** The connection, for adapters that keep their own tables in this file (datacache/dataset-catalog.ts). */
  get connection(): Database.Database {
    return this.db;
  }

  /** Prepared statements, compiled once. */
  private readonly cache = new Map<string, Database.Statement>();
  private stmt(sql: string): Database.Statement {
    let st = this.cache.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.cache.set(sql, st);
    }
    return st;
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v] as string);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /**
   * BEGIN IMMEDIATE: the write lock is taken up front, so a transaction that reads and then
   * writes waits (busy_timeout) for another connection instead of failing with BUSY_SNAPSHOT.
   * Nested calls become savepoints.
   */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  close(): void {
    this.db.close();
  }

  createTeam(name: string, at: number): void {
    this.stmt('INSERT INTO teams (name, created_at) VALUES (?, ?)').run(name, at);
  }
  getTeam(name: string): TeamRow | undefined {
    const r = this.stmt('SELECT * FROM teams WHERE name = ?').get(name) as { name: string; created_at: number } | undefined;
    return r && { name: r.name, createdAt: r.created_at };
  }
  listTeams(): TeamRow[] {
    return (this.stmt('SELECT * FROM teams ORDER BY name').all() as { name: string; created_at: number }[]).map((r) => ({ name: r.name, createdAt: r.created_at }));
  }

  createUser(u: UserRow): void {
    this.stmt('INSERT INTO users (name, team, admin, created_at) VALUES (?, ?, ?, ?)').run(u.name, u.team, u.admin ? 1 : 0, u.createdAt);
  }
  private static toUser(r: { name: string; team: string; admin: number; created_at: number }): UserRow {
    return { name: r.name, team: r.team, admin: r.admin === 1, createdAt: r.created_at };
  }
  getUser(name: string): UserRow | undefined {
    const r = this.stmt('SELECT * FROM users WHERE name = ?').get(name) as Parameters<typeof SqliteStore.toUser>[0] | undefined;
    return r && SqliteStore.toUser(r);
  }
  listUsers(): UserRow[] {
    return (this.stmt('SELECT * FROM users ORDER BY name').all() as Parameters<typeof SqliteStore.toUser>[0][]).map(SqliteStore.toUser);
  }
  addToken(hash: string, user: string, at: number, expiresAt: number | null = null): string {
    const id = tokenIdOf(hash);
    this.stmt('INSERT INTO tokens (hash, user, created_at, id, expires_at) VALUES (?, ?, ?, ?, ?)').run(hash, user, at, id, expiresAt);
    return id;
  }
  tokenByHash(hash: string): { token: TokenRow; user: UserRow } | undefined {
    const t = this.stmt('SELECT * FROM tokens WHERE hash = ?').get(hash) as TokenDbRow | undefined;
    const u = t && this.getUser(t.user);
    return t && u ? { token: toToken(t), user: u } : undefined;
  }
  getToken(id: string): TokenRow | undefined {
    const r = this.stmt('SELECT * FROM tokens WHERE id = ?').get(id) as TokenDbRow | undefined;
    return r && toToken(r);
  }
  listTokens(user?: string): TokenRow[] {
    const rows = user === undefined ? this.stmt('SELECT * FROM tokens ORDER BY created_at, id').all() : this.stmt('SELECT * FROM tokens WHERE user = ? ORDER BY created_at, id').all(user);
    return (rows as TokenDbRow[]).map(toToken);
  }
  revokeToken(id: string, at: number): void {
    this.stmt('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id);
  }
  userByTokenHash(hash: string): UserRow | undefined {
    const r = this.stmts.userByToken.get(hash) as Parameters<typeof SqliteStore.toUser>[0] | undefined;
    return r && SqliteStore.toUser(r);
  }

  putQueue(q: QueueRow): void {
    this.db.transaction(() => {
      this.db
        .prepare('INSERT OR REPLACE INTO queues (name, team, parent, guaranteed_gpus, limit_gpus, weight, priority_ordering) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(q.name, q.team, q.parent, q.guaranteedGpus, q.limitGpus, q.weight, q.priorityOrdering ? 1 : 0);
      this.stmt('DELETE FROM queue_gpu_models WHERE queue = ?').run(q.name);
      const put = this.stmt('INSERT INTO queue_gpu_models (queue, model, guaranteed_gpus, limit_gpus) VALUES (?, ?, ?, ?)');
      for (const [model, m] of Object.entries(q.gpuModels ?? {})) put.run(q.name, model, m.guaranteedGpus, m.limitGpus);
    })();
  }
  private static toQueue(r: { name: string; team: string | null; parent: string | null; guaranteed_gpus: number | null; limit_gpus: number | null; weight: number; priority_ordering: number }, models: Readonly<Record<string, ModelQuota>>): QueueRow {
    return { name: r.name, team: r.team, parent: r.parent, guaranteedGpus: r.guaranteed_gpus, limitGpus: r.limit_gpus, weight: r.weight, priorityOrdering: r.priority_ordering === 1, gpuModels: models };
  }
  /** Per-model quotas of every queue (or of one), by queue then model. */
  private modelQuotas(queue?: string): Map<string, Record<string, ModelQuota>> {
    const rows = (queue === undefined ? this.stmt('SELECT * FROM queue_gpu_models ORDER BY queue, model').all() : this.stmt('SELECT * FROM queue_gpu_models WHERE queue = ? ORDER BY model').all(queue)) as { queue: string; model: string; guaranteed_gpus: number | null; limit_gpus: number | null }[];
    const out = new Map<string, Record<string, ModelQuota>>();
    for (const r of rows) {
      const m = out.get(r.queue) ?? {};
      m[r.model] = { guaranteedGpus: r.guaranteed_gpus, limitGpus: r.limit_gpus };
      out.set(r.queue, m);
    }
    return out;
  }
  getQueue(name: string): QueueRow | undefined {
    const r = this.stmt('SELECT * FROM queues WHERE name = ?').get(name) as Parameters<typeof SqliteStore.toQueue>[0] | undefined;
    return r && SqliteStore.toQueue(r, this.modelQuotas(name).get(name) ?? {});
  }
  listQueues(): QueueRow[] {
    const models = this.modelQuotas();
    return (this.stmt('SELECT * FROM queues ORDER BY name').all() as Parameters<typeof SqliteStore.toQueue>[0][]).map((r) => SqliteStore.toQueue(r, models.get(r.name) ?? {}));
  }

  private static params(j: NewJob | JobRow): Record<string, unknown> {
    return {
      name: j.name,
      team: j.team,
      owner: j.owner,
      queue: j.queue,
      state: j.state,
      reason: j.reason,
      spec: JSON.stringify(j.spec),
      submitted_at: j.submittedAt,
      started_at: j.startedAt,
      finished_at: j.finishedAt,
      attempts: j.attempts,
      retries: j.retries,
      preemptions: j.preemptions,
      not_before: j.notBefore,
      bindings: j.bindings === null ? null : JSON.stringify(j.bindings),
      workers: JSON.stringify(j.workers),
      exit_code: j.exitCode,
      last_checkpoint_at: j.lastCheckpointAt,
      progress: j.progress === null ? null : JSON.stringify(j.progress),
      idempotency_key: j.idempotencyKey,
      request_hash: j.requestHash,
    };
  }

  insertJob(job: NewJob): JobRow {
    const r = this.stmts.insertJob.run(SqliteStore.params(job));
    const seq = Number(r.lastInsertRowid);
    return { ...job, id: jobIdOf(seq), seq };
  }
  getJob(id: string): JobRow | undefined {
    const seq = seqOfJobId(id);
    if (seq === null) return undefined;
    const r = this.stmts.getJob.get(seq) as JobDbRow | undefined;
    return r && toJob(r);
  }
  jobByIdempotencyKey(owner: string, key: string): JobRow | undefined {
    const r = this.stmts.jobByKey.get(owner, key) as JobDbRow | undefined;
    return r && toJob(r);
  }
  listJobs(q: JobQuery): JobRow[] {
    const { sql, args } = SqliteStore.jobQuery('*', q);
    return (this.stmt(sql).all(...args) as JobDbRow[]).map(toJob);
  }
  listJobIds(q: JobQuery): string[] {
    const { sql, args } = SqliteStore.jobQuery('seq', q);
    return (this.stmt(sql).pluck().all(...args) as number[]).map(jobIdOf);
  }
  private static jobQuery(columns: string, q: JobQuery): { sql: string; args: unknown[] } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.team !== undefined) {
      where.push('team = ?');
      args.push(q.team);
    }
    if (q.states && q.states.length > 0) {
      where.push(`state IN (${q.states.map(() => '?').join(',')})`);
      args.push(...q.states);
    }
    if (q.queue !== undefined) {
      where.push('queue = ?');
      args.push(q.queue);
    }
    if (q.beforeSeq !== undefined) {
      where.push('seq < ?');
      args.push(q.beforeSeq);
    }
    args.push(q.limit);
    return { sql: `SELECT ${columns} FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`, args };
  }
  activeJobs(): JobRow[] {
    return (this.stmts.active.all() as JobDbRow[]).map(toJob);
  }
  scanActiveJobs(): { jobs: JobRow[]; unreadable: UnreadableJob[] } {
    const jobs: JobRow[] = [];
    const unreadable: UnreadableJob[] = [];
    for (const r of this.stmts.active.all() as JobDbRow[]) {
      try {
        jobs.push(toJob(r));
      } catch (e) {
        unreadable.push({ id: jobIdOf(r.seq), queue: r.queue, state: r.state, error: (e as Error).message });
      }
    }
    return { jobs, unreadable };
  }
  updateJob(job: JobRow): void {
    this.stmts.updateJob.run({ ...SqliteStore.params(job), seq: job.seq });
  }
  countJobsByState(): Map<JobState, number> {
    const m = new Map<JobState, number>();
    for (const r of this.stmts.countByState.all() as { state: JobState; n: number }[]) m.set(r.state, r.n);
    return m;
  }

  countJobs(team: string, state: JobState): number {
    return (this.stmts.countOf.get(team, state) as number | undefined) ?? 0;
  }

  appendAudit(e: Omit<AuditEntry, 'id'>): void {
    this.stmts.appendAudit.run(e.at, e.actor, e.action, e.target, e.source, e.detail === null ? null : JSON.stringify(e.detail));
  }
  listAudit(afterId: number, limit: number): AuditEntry[] {
    return (this.stmts.listAudit.all(afterId, limit) as { id: number; at: number; actor: string; action: string; target: string; source: string; detail: string | null }[]).map((r) => ({
      ...r,
      detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
    }));
  }

  setNodeState(s: NodeStateRow): void {
    this.stmt('INSERT OR REPLACE INTO node_state (name, cordoned, draining) VALUES (?, ?, ?)').run(s.name, s.cordoned ? 1 : 0, s.draining ? 1 : 0);
  }
  nodeStates(): NodeStateRow[] {
    return (this.stmt('SELECT * FROM node_state').all() as { name: string; cordoned: number; draining: number }[]).map((r) => ({ name: r.name, cordoned: r.cordoned === 1, draining: r.draining === 1 }));
  }

  setGpuHealth(h: GpuHealthRow): void {
    this.stmt('INSERT OR REPLACE INTO gpu_health (node, uuid, healthy, at, by) VALUES (?, ?, ?, ?, ?)').run(h.node, h.uuid, h.healthy ? 1 : 0, h.at, h.by);
  }
  gpuHealth(): GpuHealthRow[] {
    return (this.stmt('SELECT * FROM gpu_health ORDER BY node, uuid').all() as { node: string; uuid: string; healthy: number; at: number; by: string }[]).map((r) => ({ node: r.node, uuid: r.uuid, healthy: r.healthy === 1, at: r.at, by: r.by }));
  }

  getMeta(key: string): string | undefined {
    return (this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }
  setMeta(key: string, value: string): void {
    this.stmt('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
  }
}
