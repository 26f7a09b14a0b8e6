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
  readonly services: ServiceIndex & { readonly ofJob: Map<number, number> };
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

/**
 * The rows of `table` in its key order, `chunk` at a time (keyset paging on its primary key, the
 * first `keyColumns` columns selected), yielding between chunks; all at once when `chunk` is 0.
 */
function* pages(conn: Database.Database, table: string, columns: readonly string[], keyColumns: number, chunk: number): Generator<unknown[][], void, void> {
  const key = columns.slice(0, keyColumns).join(', ');
  const stmt = conn.prepare(`SELECT ${columns.join(', ')} FROM ${table} WHERE (${key}) > (${columns.slice(0, keyColumns).map(() => '?').join(', ')}) ORDER BY ${key} LIMIT ${chunk || -1}`).raw(true);
  let after: unknown[] = [-Infinity, ...Array<unknown>(keyColumns - 1).fill('')];
  for (;;) {
    const rows = stmt.all(...after) as unknown[][];
    yield rows;
    const last = rows[rows.length - 1];
    if (!chunk || !last || rows.length < chunk) return;
    after = last.slice(0, keyColumns);
  }
}

function* read(db: Database.Database, chunkRows: number): Generator<void, LedgerColumns> {
  const own = !db.memory;
  const conn = own ? new Database(db.name, { readonly: true, fileMustExist: true }) : db;
  const chunk = own ? chunkRows : 0;
  try {
    // A deferred transaction takes its snapshot at its first read: the first chunk below.
    if (own) conn.exec('BEGIN');
    const dicts = ledgerDictionaries();
    const attempts = new AttemptColumns(dicts);
    const idle = new IdleColumns(dicts);
    const services = { ofJob: new Map<number, number>(), dict: new Dictionary() };
    for (const rows of pages(conn, 'attempts', ['job_seq', 'attempt', 'model', 'team', 'queue', 'owner', 'gpus', 'price_micros', 'started_at', 'ended_at', 'outcome'], 3, chunk)) {
      for (const [jobSeq, attempt, model, team, queue, owner, gpus, priceMicros, startedAt, endedAt, outcome] of rows) {
        attempts.add({ jobSeq, attempt, model, team, queue, owner, gpus, priceMicros, startedAt, endedAt, outcome } as AttemptRow);
      }
      if (own) yield;
    }
    for (const rows of pages(conn, 'idle_use', ['job_seq', 'attempt', 'model', 'minute', 'team', 'queue', 'owner', 'price_micros', 'gpu_ms'], 4, chunk)) {
      for (const [jobSeq, attempt, model, minute, team, queue, owner, priceMicros, gpuMs] of rows) {
        // A running part's minutes take later samples: they are kept by part and minute.
        const part = attempts.openRow(jobSeq as number, model as string);
        if (part !== undefined && attempts.attempt[part] === attempt) idle.addTo(part, attempts, minute as number, gpuMs as number);
        else idle.add({ jobSeq, attempt, model, minute, team, queue, owner, priceMicros, gpuMs } as IdleRow);
      }
      if (own) yield;
    }
    for (const [jobSeq, service] of conn.prepare('SELECT job_seq, service FROM attempt_services').raw(true).all() as unknown[][]) {
      services.ofJob.set(jobSeq as number, services.dict.code(service as string));
    }
    return { attempts, idle, services };
  } finally {
    if (own) conn.close();
  }
}
