/**
 * The cost ledger's rows in memory, column by column, so that a report reads a million attempts
 * in tens of milliseconds instead of a second of SQL (docs/cost.md, "Reports"). SQLite stays the
 * store: `CostLedger` writes there first and then here, and fills these columns from the file
 * once (cost-columns-load.ts). Nothing else writes them.
 *
 * An attempt row is one GPU model's part of one attempt of a job; an idle row is one minute of
 * such a part's GPUs held idle. Text columns (team, queue, owner, model) are stored as codes of
 * one dictionary each, and the job as a dense index (jobs.seqs maps it back), so a report sums
 * into arrays indexed by group.
 */

import { grown } from '../../core/scheduler/running-columns.js';

/** Strings (or job numbers) as dense small integers, and back. */
export class Dictionary<K extends string | number = string> {
  private readonly codes = new Map<K, number>();
  readonly names: K[] = [];

  code(name: K): number {
    let c = this.codes.get(name);
    if (c === undefined) {
      c = this.names.length;
      this.codes.set(name, c);
      this.names.push(name);
    }
    return c;
  }

  find(name: K): number | undefined {
    return this.codes.get(name);
  }
}

export interface LedgerDictionaries {
  readonly team: Dictionary;
  readonly queue: Dictionary;
  readonly owner: Dictionary;
  readonly model: Dictionary;
  readonly job: Dictionary<number>;
}

export function ledgerDictionaries(): LedgerDictionaries {
  return { team: new Dictionary(), queue: new Dictionary(), owner: new Dictionary(), model: new Dictionary(), job: new Dictionary<number>() };
}

/** An attempt row, as `CostLedger` writes it. */
export interface AttemptRow {
  readonly jobSeq: number;
  readonly attempt: number;
  readonly model: string;
  readonly team: string;
  readonly queue: string;
  readonly owner: string;
  readonly gpus: number;
  readonly priceMicros: number;
  readonly startedAt: number;
  readonly endedAt: number | null;
  readonly outcome: string | null;
}

/** An idle row (one part's GPUs held idle in one minute). */
export interface IdleRow {
  readonly jobSeq: number;
  readonly attempt: number;
  readonly model: string;
  readonly minute: number;
  readonly team: string;
  readonly queue: string;
  readonly owner: string;
  readonly priceMicros: number;
  readonly gpuMs: number;
}

/** The columns every row kind has: its job and text keys as codes, its attempt and its price. */
class KeyedRows {
  size = 0;
  capacity = 1024;
  job = new Int32Array(1024);
  team = new Int32Array(1024);
  queue = new Int32Array(1024);
  owner = new Int32Array(1024);
  model = new Int32Array(1024);
  attempt = new Int32Array(1024);
  price = new Float64Array(1024);

  constructor(readonly dicts: LedgerDictionaries) {}

  /** Room for one more row: every column doubles together. */
  protected next(): number {
    if (this.size === this.capacity) {
      this.capacity *= 2;
      this.grow(this.capacity);
    }
    return this.size++;
  }

  protected grow(n: number): void {
    this.job = grown(this.job, n);
    this.team = grown(this.team, n);
    this.queue = grown(this.queue, n);
    this.owner = grown(this.owner, n);
    this.model = grown(this.model, n);
    this.attempt = grown(this.attempt, n);
    this.price = grown(this.price, n);
  }

  protected keys(i: number, r: { jobSeq: number; attempt: number; priceMicros: number; team: string; queue: string; owner: string; model: string }): void {
    const d = this.dicts;
    this.job[i] = d.job.code(r.jobSeq);
    this.team[i] = d.team.code(r.team);
    this.queue[i] = d.queue.code(r.queue);
    this.owner[i] = d.owner.code(r.owner);
    this.model[i] = d.model.code(r.model);
    this.attempt[i] = r.attempt;
    this.price[i] = r.priceMicros;
  }
}

/** Outcome codes; -1 while running. */
const OUTCOMES = ['succeeded', 'failed', 'cancelled', 'preempted', 'interrupted'];
export const PREEMPTED = OUTCOMES.indexOf('preempted');
const RUNNING = -1;
const UNKNOWN = -2;

export class AttemptColumns extends KeyedRows {
  gpus = new Float64Array(1024);
  started = new Float64Array(1024);
  /** NaN while the attempt runs. */
  ended = new Float64Array(1024);
  /** An index in OUTCOMES; -1 while running, -2 for an outcome this build does not know. */
  outcome = new Int32Array(1024);
  /** Rows still running, by job: the rows an attempt's end closes and idle time is added to. */
  readonly openByJob = new Map<number, number[]>();

  protected override grow(n: number): void {
    super.grow(n);
    this.gpus = grown(this.gpus, n);
    this.started = grown(this.started, n);
    this.ended = grown(this.ended, n);
    this.outcome = grown(this.outcome, n);
  }

  add(r: AttemptRow): number {
    const i = this.next();
    this.keys(i, r);
    this.gpus[i] = r.gpus;
    this.started[i] = r.startedAt;
    this.ended[i] = r.endedAt ?? NaN;
    this.outcome[i] = r.outcome === null ? RUNNING : outcomeCode(r.outcome);
    if (r.endedAt === null) {
      const open = this.openByJob.get(r.jobSeq);
      if (open) open.push(i);
      else this.openByJob.set(r.jobSeq, [i]);
    }
    return i;
  }

  /** Ends the job's running rows (those the SQL update closed). */
  close(jobSeq: number, at: number, outcome: string): void {
    for (const i of this.openByJob.get(jobSeq) ?? []) {
      this.ended[i] = at;
      this.outcome[i] = outcomeCode(outcome);
    }
    this.openByJob.delete(jobSeq);
  }

  /** The job's running row on `model`, if any. */
  openRow(jobSeq: number, model: string): number | undefined {
    const m = this.dicts.model.find(model);
    return this.openByJob.get(jobSeq)?.find((i) => this.model[i] === m);
  }

}

function outcomeCode(outcome: string): number {
  const c = OUTCOMES.indexOf(outcome);
  return c < 0 ? UNKNOWN : c;
}

export class IdleColumns extends KeyedRows {
  minute = new Float64Array(1024);
  gpuMs = new Float64Array(1024);
  /** Idle rows of running parts, by attempt row then minute: where the next sample adds. */
  private readonly openRows = new Map<number, Map<number, number>>();

  protected override grow(n: number): void {
    super.grow(n);
    this.minute = grown(this.minute, n);
    this.gpuMs = grown(this.gpuMs, n);
  }

  /**
   * Adds idle time of running attempt row `part` to its row of that minute, or makes that row
   * with the part's keys and price (the SQL upsert's twin).
   */
  addTo(part: number, parts: AttemptColumns, minute: number, gpuMs: number): void {
    let minutes = this.openRows.get(part);
    if (!minutes) this.openRows.set(part, (minutes = new Map()));
    const at = minutes.get(minute);
    if (at !== undefined) {
      this.gpuMs[at] = (this.gpuMs[at] as number) + gpuMs;
      return;
    }
    const i = this.next();
    for (const c of ['job', 'team', 'queue', 'owner', 'model', 'attempt'] as const) this[c][i] = parts[c][part] as number;
    this.price[i] = parts.price[part] as number;
    this.minute[i] = minute;
    this.gpuMs[i] = gpuMs;
    minutes.set(minute, i);
  }

  add(r: IdleRow): number {
    const i = this.next();
    this.keys(i, r);
    this.minute[i] = r.minute;
    this.gpuMs[i] = r.gpuMs;
    return i;
  }

  /** The attempt rows ended: their idle rows take no more samples. */
  forget(parts: readonly number[]): void {
    for (const p of parts) this.openRows.delete(p);
  }
}
