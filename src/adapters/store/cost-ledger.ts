/**
 * Cost accounting in the server's SQLite file: prices per GPU-hour per GPU model, and one row
 * per attempt of a job per GPU model it held (its GPUs as a fraction: a share counts its
 * milli-GPU, a MIG slice its compute sevenths). An attempt's row carries the price in force
 * when it started; its cost is computed when a report asks, clipped to the report's window,
 * and rounded per row to micro-units, so any grouping of the same rows adds up to the same
 * total to the micro-unit (the sum over teams equals the sum over jobs).
 *
 * Reports read the rows from memory (cost-columns.ts: the file read once, by `warm` at the
 * server's start or at the first report, then kept up to date by this class, their only writer). Budgets ask the file: `spent` reads
 * the covering index of its team or queues (attempts_by_team, attempts_by_queue).
 */
import type Database from 'better-sqlite3';
import type { AttemptColumns, AttemptRow, IdleColumns } from './cost-columns.js';
import { COLUMNS_CHUNK_ROWS, LedgerColumnsLoad, type LedgerColumns } from './cost-columns-load.js';
import { columnsReport, type ServiceIndex } from './cost-columns-report.js';

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
  CREATE TABLE IF NOT EXISTS attempt_services (job_seq INTEGER PRIMARY KEY, service TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS attempt_services_by_service ON attempt_services(service);`;

/**
 * A later step: reports read memory now (cost-columns.ts), so the indexes only the SQL reports
 * read go; budgets still read attempts_by_team and attempts_by_queue.
 */
export const COST_REPORT_INDEX_MIGRATION = `
  DROP INDEX IF EXISTS attempts_by_owner;
  DROP INDEX IF EXISTS attempts_by_model;
  DROP INDEX IF EXISTS idle_use_by_minute;`;

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

/** An attempt row's GPU-milliseconds inside [since, until] (a running attempt counts up to `until`). */
const GPU_MS = 'gpus * (MIN(COALESCE(ended_at, @until), @until) - MAX(started_at, @since))';
/** Its cost in micro-units, rounded per row (so every grouping of the rows has one total). */
const COST = `CAST(ROUND(${GPU_MS} * price_micros / 3600000.0) AS INTEGER)`;
const IN_WINDOW = 'started_at < @until AND (ended_at IS NULL OR ended_at > @since)';
const MINUTE = 60_000;

export class CostLedger {
  private readonly stmts;
  /** The rows in memory, once a report or `warm` has started reading them; every write after that goes to both. */
  private load: LedgerColumnsLoad | undefined;

  /** `chunkRows`: rows `warm` reads between two turns of the event loop. */
  constructor(private readonly db: Database.Database, private readonly chunkRows = COLUMNS_CHUNK_ROWS) {
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
    const rows = this.db.transaction(() => {
      const rows: AttemptRow[] = [];
      for (const p of a.parts) {
        const price = (this.stmts.price.get(p.model) as number | undefined) ?? 0;
        const r = this.stmts.open.run(a.jobSeq, a.attempt, p.model, a.team, a.queue, a.owner, p.gpus, price, a.startedAt);
        if (r.changes > 0) rows.push({ jobSeq: a.jobSeq, attempt: a.attempt, model: p.model, team: a.team, queue: a.queue, owner: a.owner, gpus: p.gpus, priceMicros: price, startedAt: a.startedAt, endedAt: null, outcome: null });
      }
      if (a.service !== undefined) this.stmts.service.run(a.jobSeq, a.service);
      return rows;
    })();
    this.mirror((c) => {
      for (const r of rows) c.attempts.add(r);
      if (a.service !== undefined) c.services.ofJob.set(a.jobSeq, c.services.dict.code(a.service));
    });
  }

  /**
   * GPU-milliseconds a running attempt held idle on GPUs of `model`, added to the minute of `at`
   * at the attempt's price (nothing when the job has no open attempt on that model).
   */
  addIdle(idle: readonly { jobSeq: number; model: string; gpuMs: number }[], at: number): void {
    const minute = at - (at % MINUTE);
    const added = this.db.transaction(() => idle.filter((i) => i.gpuMs > 0 && this.stmts.idle.run({ jobSeq: i.jobSeq, model: i.model, minute, gpuMs: i.gpuMs }).changes > 0))();
    this.mirror(({ attempts, idle: idleRows }) => {
      for (const i of added) {
        const part = attempts.openRow(i.jobSeq, i.model);
        if (part !== undefined) idleRows.addTo(part, attempts, minute, i.gpuMs);
      }
    });
  }

  /** Ends the job's open attempt, if any (a second call closes nothing); returns the rows closed. */
  close(jobSeq: number, at: number, outcome: AttemptOutcome): ClosedPart[] {
    const closed = this.stmts.close.all(at, outcome, jobSeq) as ClosedPart[];
    if (closed.length > 0) {
      this.mirror(({ attempts, idle }) => {
        idle.forget(attempts.openByJob.get(jobSeq) ?? []);
        attempts.close(jobSeq, at, outcome);
      });
    }
    return closed;
  }

  /**
   * Cost by group over [since, until], most expensive first, and the total over every group:
   * read from the ledger's columns in memory (cost-columns.ts), what is not read yet read now.
   */
  report(q: CostQuery): CostReport {
    return columnsReport(q, ...this.columns());
  }

  /**
   * Reads the ledger into memory a chunk at a time, the event loop free between chunks (the
   * server calls it at start, so that its first report does not wait for the read).
   */
  async warm(): Promise<void> {
    try {
      const load = this.loading();
      while (!load.step()) await new Promise((resolve) => setImmediate(resolve));
    } catch (e) {
      this.load = undefined; // the next report reads the file again, with what changed since
      throw e;
    }
  }

  private loading(): LedgerColumnsLoad {
    this.load ??= new LedgerColumnsLoad(this.db, this.chunkRows);
    return this.load;
  }

  /** The ledger in memory: what is not read yet is read now. */
  private columns(): [AttemptColumns, IdleColumns, ServiceIndex] {
    try {
      const c = this.loading().finish();
      return [c.attempts, c.idle, c.services];
    } catch (e) {
      this.load = undefined;
      throw e;
    }
  }

  /** A change to mirror in memory: now if the columns are read, after the read if it is under way, not at all before it starts. */
  private mirror(change: (c: LedgerColumns) => void): void {
    this.load?.after(change);
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
