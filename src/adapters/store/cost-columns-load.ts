/**
 * Reading the cost ledger's tables into columns (cost-columns.ts) without stopping the server:
 * a second, read-only connection takes a snapshot of the file (WAL) and reads it a chunk at a
 * time, the event loop free between chunks; every change the ledger makes after the snapshot is
 * kept as a step and applied to the columns once they hold the snapshot, so nothing is counted
 * twice or missed. A report that comes before the end reads the rest at once (`finish`). An
 * in-memory database has no second connection: it is read in one go.
 */
import Database from 'better-sqlite3';
import { AttemptColumns, Dictionary, IdleColumns, ledgerDictionaries, type AttemptRow, type IdleRow } from './cost-columns.js';
import type { ServiceIndex } from './cost-columns-report.js';

export interface LedgerColumns {
  readonly attempts: AttemptColumns;
  readonly idle: IdleColumns;
  readonly services: { readonly ofJob: Map<number, number>; readonly dict: Dictionary } & ServiceIndex;
}

/** Rows read per chunk by default: ~15-20 ms of the event loop each on this machine. */
export const COLUMNS_CHUNK_ROWS = 5000;

export class LedgerColumnsLoad {
  private readonly later: ((c: LedgerColumns) => void)[] = [];
  private readonly steps: Generator<void, LedgerColumns>;
  private done?: LedgerColumns;

  constructor(db: Database.Database, chunkRows = COLUMNS_CHUNK_ROWS) {
    this.steps = read(db, chunkRows);
    // Takes the snapshot now (an in-memory database is read whole): every change from here on is a step for later.
    const first = this.steps.next();
    if (first.done) this.done = first.value;
  }

  /** A change made after the snapshot: applied to the columns once they hold it. */
  after(change: (c: LedgerColumns) => void): void {
    if (this.done) change(this.done);
    else this.later.push(change);
  }

  /** Reads one chunk; true once everything is read and the later changes applied. */
  step(): boolean {
    if (this.done) return true;
    const r = this.steps.next();
    if (!r.done) return false;
    for (const change of this.later.splice(0)) change(r.value);
    this.done = r.value;
    return true;
  }

  /** Reads the rest now. */
  finish(): LedgerColumns {
    while (!this.step());
    return this.done as LedgerColumns;
  }
}

function* read(db: Database.Database, chunk: number): Generator<void, LedgerColumns> {
  const own = !db.memory;
  const conn = own ? new Database(db.name, { readonly: true, fileMustExist: true }) : db;
  try {
    if (own) conn.exec('BEGIN');
    const dicts = ledgerDictionaries();
    const attempts = new AttemptColumns(dicts);
    const idle = new IdleColumns(dicts);
    const services = { ofJob: new Map<number, number>(), dict: new Dictionary() };
    // The first chunk's read starts the snapshot (a deferred transaction reads at its first SELECT).
    const attemptsAfter = conn.prepare(`SELECT job_seq, attempt, model, team, queue, owner, gpus, price_micros, started_at, ended_at, outcome FROM attempts
      WHERE (job_seq, attempt, model) > (?, ?, ?) ORDER BY job_seq, attempt, model LIMIT ${own ? chunk : -1}`).raw(true);
    let key: unknown[] = [-Infinity, 0, ''];
    for (;;) {
      const rows = attemptsAfter.all(...key) as unknown[][];
      for (const [jobSeq, attempt, model, team, queue, owner, gpus, priceMicros, startedAt, endedAt, outcome] of rows) {
        attempts.add({ jobSeq, attempt, model, team, queue, owner, gpus, priceMicros, startedAt, endedAt, outcome } as AttemptRow);
      }
      const last = rows[rows.length - 1];
      if (!own || !last || rows.length < chunk) break;
      key = last.slice(0, 3);
      yield;
    }
    if (own) yield;
    const idleAfter = conn.prepare(`SELECT job_seq, attempt, model, minute, team, queue, owner, price_micros, gpu_ms FROM idle_use
      WHERE (job_seq, attempt, model, minute) > (?, ?, ?, ?) ORDER BY job_seq, attempt, model, minute LIMIT ${own ? chunk : -1}`).raw(true);
    key = [-Infinity, 0, '', 0];
    for (;;) {
      const rows = idleAfter.all(...key) as unknown[][];
      for (const [jobSeq, attempt, model, minute, team, queue, owner, priceMicros, gpuMs] of rows) {
        const row = { jobSeq, attempt, model, minute, team, queue, owner, priceMicros, gpuMs } as IdleRow;
        const part = attempts.openRow(row.jobSeq, row.model);
        if (part !== undefined && attempts.attempt[part] === row.attempt) idle.addTo(part, row);
        else idle.add(row);
      }
      const last = rows[rows.length - 1];
      if (!own || !last || rows.length < chunk) break;
      key = last.slice(0, 4);
      yield;
    }
    for (const [jobSeq, service] of conn.prepare('SELECT job_seq, service FROM attempt_services').raw(true).all() as unknown[][]) {
      services.ofJob.set(jobSeq as number, services.dict.code(service as string));
    }
    return { attempts, idle, services };
  } finally {
    if (own) conn.close();
  }
}
