/**
 * Cost accounting in the server's SQLite file: prices per GPU-hour per GPU model, and one row
 * per attempt of a job per GPU model it held (its GPUs as a fraction: a share counts its
 * milli-GPU, a MIG slice its compute sevenths). An attempt's row carries the price in force
 * when it started; its cost is computed when a report asks, clipped to the report's window,
 * and rounded per row to micro-units, so any grouping of the same rows adds up to the same
 * total to the micro-unit (the sum over teams equals the sum over jobs).
 *
 * The attempts table is clustered by job (WITHOUT ROWID, key job_seq, attempt, model): a
 * report by job reads it in key order and groups without sorting. Each other grouping has a
 * covering index led by its key (attempts_by_team, ..._queue, ..._owner, ..._model) that it
 * reads in order, so no grouping sorts a million rows; budgets read the team and queue ones.
 */
import type Database from 'better-sqlite3';

/** The migration step (see sqlite-store.ts MIGRATIONS); idempotent, so renumbering on merge is safe. */
export const COST_MIGRATION = `
  CREATE TABLE IF NOT EXISTS gpu_prices (model TEXT PRIMARY KEY, price_micros INTEGER NOT NULL, set_at INTEGER NOT NULL, set_by TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS attempts (job_seq INTEGER NOT NULL, attempt INTEGER NOT NULL, model TEXT NOT NULL,
    team TEXT NOT NULL, queue TEXT NOT NULL, owner TEXT NOT NULL, gpus REAL NOT NULL, price_micros INTEGER NOT NULL,
    started_at INTEGER NOT NULL, ended_at INTEGER, outcome TEXT,
    PRIMARY KEY (job_seq, attempt, model)) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS attempts_open ON attempts(job_seq) WHERE ended_at IS NULL;
  CREATE INDEX IF NOT EXISTS attempts_by_team ON attempts(team, ended_at, started_at, gpus, price_micros, outcome);
  CREATE INDEX IF NOT EXISTS attempts_by_queue ON attempts(queue, ended_at, started_at, gpus, price_micros, outcome);
  CREATE INDEX IF NOT EXISTS attempts_by_owner ON attempts(owner, ended_at, started_at, gpus, price_micros, outcome);
  CREATE INDEX IF NOT EXISTS attempts_by_model ON attempts(model, ended_at, started_at, gpus, price_micros, outcome);
  CREATE TABLE IF NOT EXISTS budgets (scope TEXT NOT NULL, name TEXT NOT NULL, period TEXT NOT NULL, limit_micros INTEGER NOT NULL,
    mode TEXT NOT NULL, set_at INTEGER NOT NULL, set_by TEXT NOT NULL, PRIMARY KEY (scope, name));`;

/**
 * A later step: GPUs held but idle (one row per attempt, GPU model and minute, with the keys
 * and price of its attempt, so a report groups them without a join), and the service a
 * replica job's attempts belong to.
 */
export const COST_DETAIL_MIGRATION = `
  CREATE TABLE IF NOT EXISTS idle_use (job_seq INTEGER NOT NULL, attempt INTEGER NOT NULL, model TEXT NOT NULL, minute INTEGER NOT NULL,
    team TEXT NOT NULL, queue TEXT NOT NULL, owner TEXT NOT NULL, price_micros INTEGER NOT NULL, gpu_ms REAL NOT NULL,
    PRIMARY KEY (job_seq, attempt, model, minute)) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS idle_use_by_minute ON idle_use(minute);
  CREATE TABLE IF NOT EXISTS attempt_services (job_seq INTEGER PRIMARY KEY, service TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS attempt_services_by_service ON attempt_services(service);`;

export const COST_GROUPS = ['team', 'queue', 'user', 'model', 'job', 'service'] as const;
export type CostGroup = (typeof COST_GROUPS)[number];

/** How an attempt ended; `preempted` work is reported apart (it was paid for and redone). */
export type AttemptOutcome = 'succeeded' | 'failed' | 'cancelled' | 'preempted' | 'interrupted';

/** One GPU model's part of an attempt. */
export interface AttemptPart {
  readonly model: string;
  /** GPUs held, as a fraction of whole GPUs (0.5 for a half share, 3/7 for a 3g MIG slice). */
  readonly gpus: number;
}

export interface AttemptStart {
  readonly jobSeq: number;
  readonly attempt: number;
  readonly team: string;
  readonly queue: string;
  readonly owner: string;
  readonly startedAt: number;
  readonly parts: readonly AttemptPart[];
  /** The service whose replica the job is (its GANTRY_SERVICE), if any. */
  readonly service?: string;
}

/** A row an attempt's end closed. */
export interface ClosedPart {
  readonly team: string;
  readonly queue: string;
  readonly model: string;
  readonly gpus: number;
  readonly priceMicros: number;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly outcome: AttemptOutcome;
}

export interface CostLine {
  readonly key: string;
  readonly attempts: number;
  readonly gpuSeconds: number;
  /** Micro-units of the prices' currency. */
  readonly costMicros: number;
  readonly preemptedGpuSeconds: number;
  readonly preemptedCostMicros: number;
  /** Attempts still running (their cost runs up to the report's end). */
  readonly running: number;
  /** Of gpuSeconds, GPUs held while idle (telemetry below the idle threshold), by the minute. */
  readonly idleGpuSeconds: number;
  readonly idleCostMicros: number;
}

export interface CostQuery {
  readonly by: CostGroup;
  readonly since: number;
  readonly until: number;
  /** Only this team's attempts (a member's view); absent = all. */
  readonly team?: string;
  /** At most this many groups, the most expensive first (all groups are in the total). */
  readonly limit: number;
}

export interface CostReport {
  readonly items: readonly CostLine[];
  readonly total: CostLine;
  /** Groups left out by the limit. */
  readonly omitted: number;
}

export interface PriceRow {
  readonly model: string;
  readonly priceMicros: number;
  readonly setAt: number;
  readonly setBy: string;
}

const KEY_COLUMN: Record<CostGroup, string> = { team: 'team', queue: 'queue', user: 'owner', model: 'model', job: 'job_seq', service: 's.service' };

/** An attempt row's GPU-milliseconds inside [since, until] (a running attempt counts up to `until`). */
const GPU_MS = 'gpus * (MIN(COALESCE(ended_at, @until), @until) - MAX(started_at, @since))';
/** Its cost in micro-units, rounded per row (so every grouping of the rows has one total). */
const COST = `CAST(ROUND(${GPU_MS} * price_micros / 3600000.0) AS INTEGER)`;
const IN_WINDOW = 'started_at < @until AND (ended_at IS NULL OR ended_at > @since)';
const SUMS = `COUNT(*) AS attempts, TOTAL(${GPU_MS}) / 1000.0 AS gpuSeconds, TOTAL(${COST}) AS costMicros,
    TOTAL(CASE WHEN outcome = 'preempted' THEN ${GPU_MS} END) / 1000.0 AS preemptedGpuSeconds,
    TOTAL(CASE WHEN outcome = 'preempted' THEN ${COST} END) AS preemptedCostMicros, TOTAL(ended_at IS NULL) AS running`;

function line(r: Record<string, unknown>, key: string): CostLine {
  return {
    key,
    attempts: Number(r['attempts'] ?? 0),
    gpuSeconds: Number(r['gpuSeconds'] ?? 0),
    costMicros: Number(r['costMicros'] ?? 0),
    preemptedGpuSeconds: Number(r['preemptedGpuSeconds'] ?? 0),
    preemptedCostMicros: Number(r['preemptedCostMicros'] ?? 0),
    running: Number(r['running'] ?? 0),
    idleGpuSeconds: 0,
    idleCostMicros: 0,
  };
}

const IDLE_SUMS = 'TOTAL(gpu_ms) / 1000.0 AS idleGpuSeconds, TOTAL(CAST(ROUND(gpu_ms * price_micros / 3600000.0) AS INTEGER)) AS idleCostMicros';
const MINUTE = 60_000;

export class CostLedger {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      setPrice: db.prepare('INSERT OR REPLACE INTO gpu_prices (model, price_micros, set_at, set_by) VALUES (?, ?, ?, ?)'),
      prices: db.prepare('SELECT model, price_micros AS priceMicros, set_at AS setAt, set_by AS setBy FROM gpu_prices ORDER BY model'),
      price: db.prepare('SELECT price_micros FROM gpu_prices WHERE model = ?').pluck(),
      open: db.prepare(`INSERT OR IGNORE INTO attempts (job_seq, attempt, model, team, queue, owner, gpus, price_micros, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      service: db.prepare('INSERT OR REPLACE INTO attempt_services (job_seq, service) VALUES (?, ?)'),
      idle: db.prepare(`INSERT INTO idle_use (job_seq, attempt, model, minute, team, queue, owner, price_micros, gpu_ms)
        SELECT job_seq, attempt, model, @minute, team, queue, owner, price_micros, @gpuMs FROM attempts WHERE job_seq = @jobSeq AND model = @model AND ended_at IS NULL
        ON CONFLICT (job_seq, attempt, model, minute) DO UPDATE SET gpu_ms = gpu_ms + excluded.gpu_ms`),
      close: db.prepare('UPDATE attempts SET ended_at = ?, outcome = ? WHERE job_seq = ? AND ended_at IS NULL RETURNING team, queue, model, gpus, price_micros AS priceMicros, started_at AS startedAt, ended_at AS endedAt, outcome'),
    };
  }

  setPrice(model: string, priceMicros: number, at: number, by: string): void {
    this.stmts.setPrice.run(model, priceMicros, at, by);
  }

  prices(): PriceRow[] {
    return this.stmts.prices.all() as PriceRow[];
  }

  /** Records an attempt's start, one row per GPU model, at the prices in force now. */
  open(a: AttemptStart): void {
    this.db.transaction(() => {
      for (const p of a.parts) {
        const price = (this.stmts.price.get(p.model) as number | undefined) ?? 0;
        this.stmts.open.run(a.jobSeq, a.attempt, p.model, a.team, a.queue, a.owner, p.gpus, price, a.startedAt);
      }
      if (a.service !== undefined) this.stmts.service.run(a.jobSeq, a.service);
    })();
  }

  /**
   * GPU-milliseconds a running attempt held idle on GPUs of `model`, added to the minute of `at`
   * at the attempt's price (nothing when the job has no open attempt on that model).
   */
  addIdle(idle: readonly { jobSeq: number; model: string; gpuMs: number }[], at: number): void {
    const minute = at - (at % MINUTE);
    this.db.transaction(() => {
      for (const i of idle) if (i.gpuMs > 0) this.stmts.idle.run({ jobSeq: i.jobSeq, model: i.model, minute, gpuMs: i.gpuMs });
    })();
  }

  /** Ends the job's open attempt, if any (a second call closes nothing); returns the rows closed. */
  close(jobSeq: number, at: number, outcome: AttemptOutcome): ClosedPart[] {
    return this.stmts.close.all(at, outcome, jobSeq) as ClosedPart[];
  }

  /**
   * Cost by group over [since, until], most expensive first, and the total over every group.
   * One read of the ledger: by team, queue, user or model, the group's covering index
   * (attempts_by_*) in key order, every group returned and the total added here; by job, the
   * table itself in key order (it is clustered by job), each job's line materialized once, the
   * top `limit` and the total read from those.
   */
  report(q: CostQuery): CostReport {
    const col = KEY_COLUMN[q.by];
    const team = q.team !== undefined ? 'AND team = @team' : '';
    const args = { since: q.since, until: q.until, ...(q.team !== undefined ? { team: q.team } : {}) };
    const from = q.by === 'service' ? 'attempt_services s JOIN attempts ON attempts.job_seq = s.job_seq' : 'attempts';
    const grouped = `SELECT ${col} AS key, ${SUMS} FROM ${from} WHERE ${IN_WINDOW} ${team} GROUP BY ${col} ORDER BY costMicros DESC, gpuSeconds DESC, key`;
    const key = (r: Record<string, unknown>): string => (q.by === 'job' ? `job-${String(r['key'])}` : String(r['key']));
    return this.withIdle(this.attemptsReport(q, team, args, grouped, key), q, col, team, key);
  }

  private attemptsReport(q: CostQuery, team: string, args: Record<string, unknown>, grouped: string, key: (r: Record<string, unknown>) => string): CostReport {
    if (q.by === 'job') {
      // One statement: the jobs' lines materialized once, the top `limit` of them, then a last
      // row (key NULL) with the total over all of them and their number.
      const sql = `WITH g AS MATERIALIZED (SELECT job_seq AS key, ${SUMS} FROM attempts NOT INDEXED WHERE ${IN_WINDOW} ${team} GROUP BY job_seq)
        SELECT * FROM (SELECT *, 0 AS groups FROM g ORDER BY costMicros DESC, gpuSeconds DESC, key LIMIT @limit)
        UNION ALL SELECT NULL, TOTAL(attempts), TOTAL(gpuSeconds), TOTAL(costMicros), TOTAL(preemptedGpuSeconds), TOTAL(preemptedCostMicros), TOTAL(running), COUNT(*) FROM g`;
      const rows = this.db.prepare(sql).all({ ...args, limit: q.limit }) as Record<string, unknown>[];
      const t = rows.pop() as Record<string, unknown>;
      return { items: rows.map((r) => line(r, key(r))), total: line(t, 'total'), omitted: Math.max(0, Number(t['groups']) - rows.length) };
    }
    const all = (this.db.prepare(grouped).all(args) as Record<string, unknown>[]).map((r) => line(r, key(r)));
    const sum = (f: keyof CostLine): number => all.reduce((acc, l) => acc + (l[f] as number), 0);
    const total: CostLine = { key: 'total', attempts: sum('attempts'), gpuSeconds: sum('gpuSeconds'), costMicros: sum('costMicros'), preemptedGpuSeconds: sum('preemptedGpuSeconds'), preemptedCostMicros: sum('preemptedCostMicros'), running: sum('running'), idleGpuSeconds: 0, idleCostMicros: 0 };
    return { items: all.slice(0, q.limit), total, omitted: Math.max(0, all.length - q.limit) };
  }

  /**
   * Adds the idle GPU time of each group (the minutes in [since, until)) to its line and to
   * the total; a group's idle cost is rounded per row, as its cost is.
   */
  private withIdle(r: CostReport, q: CostQuery, col: string, team: string, key: (r: Record<string, unknown>) => string): CostReport {
    if (q.by === 'job') return this.withJobIdle(r, q, team);
    const from = q.by === 'service' ? 'attempt_services s JOIN idle_use ON idle_use.job_seq = s.job_seq' : 'idle_use';
    const sql = `SELECT ${col} AS key, ${IDLE_SUMS} FROM ${from} WHERE minute >= @since AND minute < @until ${team} GROUP BY ${col}`;
    const rows = this.db.prepare(sql).all({ since: q.since, until: q.until, ...(q.team !== undefined ? { team: q.team } : {}) }) as Record<string, unknown>[];
    if (rows.length === 0) return r;
    const idle = new Map(rows.map((x) => [key(x), { s: Number(x['idleGpuSeconds']), c: Number(x['idleCostMicros']) }]));
    const add = (l: CostLine, s: number, c: number): CostLine => ({ ...l, idleGpuSeconds: l.idleGpuSeconds + s, idleCostMicros: l.idleCostMicros + c });
    let s = 0;
    let c = 0;
    for (const v of idle.values()) {
      s += v.s;
      c += v.c;
    }
    return { ...r, items: r.items.map((l) => add(l, idle.get(l.key)?.s ?? 0, idle.get(l.key)?.c ?? 0)), total: add(r.total, s, c) };
  }

  /**
   * By job, only the jobs listed need their own idle line, and the total is one sum over the
   * window (rounded per row, so it equals the sum of every job's): no grouping of every idle row
   * into every job's line, of which all but `limit` would be dropped.
   */
  private withJobIdle(r: CostReport, q: CostQuery, team: string): CostReport {
    const args = { since: q.since, until: q.until, ...(q.team !== undefined ? { team: q.team } : {}) };
    const total = this.db.prepare(`SELECT ${IDLE_SUMS} FROM idle_use WHERE minute >= @since AND minute < @until ${team}`).get(args) as Record<string, unknown>;
    const seqs = r.items.map((l) => Number(l.key.slice('job-'.length)));
    const rows = this.db.prepare(`SELECT job_seq AS key, ${IDLE_SUMS} FROM idle_use WHERE job_seq IN (SELECT value FROM json_each(@seqs)) AND minute >= @since AND minute < @until ${team} GROUP BY job_seq`).all({ ...args, seqs: JSON.stringify(seqs) }) as Record<string, unknown>[];
    const idle = new Map(rows.map((x) => [`job-${String(x['key'])}`, { s: Number(x['idleGpuSeconds']), c: Number(x['idleCostMicros']) }]));
    const add = (l: CostLine, s: number, c: number): CostLine => ({ ...l, idleGpuSeconds: l.idleGpuSeconds + s, idleCostMicros: l.idleCostMicros + c });
    return { ...r, items: r.items.map((l) => add(l, idle.get(l.key)?.s ?? 0, idle.get(l.key)?.c ?? 0)), total: add(r.total, Number(total['idleGpuSeconds'] ?? 0), Number(total['idleCostMicros'] ?? 0)) };
  }

  /** Cost (micro-units) since `since` of a team's or of some queues' attempts, running ones up to `until`. */
  spent(scope: { team: string } | { queues: readonly string[] }, since: number, until: number): number {
    const params: Record<string, unknown> = { since, until };
    let where: string;
    if ('team' in scope) {
      params['team'] = scope.team;
      where = 'team = @team';
    } else {
      scope.queues.forEach((q, k) => (params[`q${k}`] = q));
      where = `queue IN (${scope.queues.map((_, k) => `@q${k}`).join(',') || "''"})`;
    }
    const sql = `SELECT TOTAL(${COST}) FROM attempts WHERE ${where} AND ${IN_WINDOW}`;
    return this.db.prepare(sql).pluck().get(params) as number;
  }

}
