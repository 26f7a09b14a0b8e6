/**
 * Orders of candidate victims, cheapest to disrupt first: the cost keys of a list of jobs
 * (VictimKeys), a list sorted lazily as it is read (LazyOrder), and where a list's jobs sit in
 * their queue's running columns (ColumnsRef), so a victim search can read them from there.
 */
import { riskKey, workAtRisk, type JobRecord } from './job.js';
import { grown, type RunningColumns } from './running-columns.js';
/** The victim-cost keys of a list of jobs (see VictimPool.cheapestFirst), filled by index. */
export class VictimKeys {
  risk: Float64Array;
  prio: Float64Array;
  served: Float64Array;
  start: Float64Array;

  constructor(capacity: number) {
    this.risk = new Float64Array(capacity);
    this.prio = new Float64Array(capacity);
    this.served = new Float64Array(capacity);
    this.start = new Float64Array(capacity);
  }

  set(i: number, v: JobRecord, prio: number, now: number): void {
    if (i >= this.risk.length) this.grow(Math.max(16, this.risk.length * 2));
    this.risk[i] = riskKey(workAtRisk(v, now));
    this.prio[i] = prio;
    this.served[i] = -v.attainedGpuMs;
    this.start[i] = -(v.startedAt ?? 0);
  }

  /** As `set`, from the numbers (read from RunningColumns): `risk` is riskKey of the work at risk. */
  setRaw(i: number, risk: number, prio: number, attainedGpuMs: number, startedAt: number): void {
    if (i >= this.risk.length) this.grow(Math.max(16, this.risk.length * 2));
    this.risk[i] = risk;
    this.prio[i] = prio;
    this.served[i] = -attainedGpuMs;
    this.start[i] = -startedAt;
  }

  /** Cheaper first (< 0): work at risk, then priority, then more service attained, then started later, then index. */
  compare(a: number, b: number): number {
    return (
      (this.risk[a] as number) - (this.risk[b] as number) ||
      (this.prio[a] as number) - (this.prio[b] as number) ||
      (this.served[a] as number) - (this.served[b] as number) ||
      (this.start[a] as number) - (this.start[b] as number) ||
      a - b
    );
  }

  private grow(n: number): void {
    this.risk = grown(this.risk, n);
    this.prio = grown(this.prio, n);
    this.served = grown(this.served, n);
    this.start = grown(this.start, n);
  }
}

/** Where the jobs of a list are in their RunningColumns: `idx[k]` for the list's k-th job. */
export interface ColumnsRef {
  readonly cols: RunningColumns;
  readonly idx: Int32Array;
  /** cols.layout when `idx` was taken (the indices hold while it is unchanged). */
  readonly layout: number;
}

/**
 * Candidate victims as a victim search reads them: in order (cheapest first), by position,
 * and, when they came from one queue's running columns, where they sit there (a search then
 * reads a job with one binding from the columns instead of its record).
 */
export interface Candidates extends Iterable<JobRecord> {
  readonly length: number;
  /** The jobs in no particular order (reading them does not sort anything). */
  readonly items: readonly JobRecord[];
  /** The i-th in order. */
  at(i: number): JobRecord | undefined;
  /** The index in `items` of the i-th in order; call at(i) first. */
  origin(i: number): number;
  /** Where the jobs are in their RunningColumns, or null. */
  readonly columns: ColumnsRef | null;
}

/** A list already in order, as Candidates. */
class InOrder implements Candidates {
  readonly columns = null;
  constructor(readonly items: readonly JobRecord[]) {}

  get length(): number {
    return this.items.length;
  }

  at(i: number): JobRecord | undefined {
    return this.items[i];
  }

  origin(i: number): number {
    return i;
  }

  [Symbol.iterator](): Iterator<JobRecord> {
    return this.items[Symbol.iterator]();
  }
}

/** One view per list: what a search keeps per candidate list stays with the list. */
const inOrderOf = new WeakMap<readonly JobRecord[], InOrder>();

/** `list` (candidates already in order, or Candidates) as Candidates. */
export function asCandidates(list: Candidates | readonly JobRecord[]): Candidates {
  if (!Array.isArray(list)) return list as Candidates;
  const jobs = list as readonly JobRecord[];
  let view = inOrderOf.get(jobs);
  if (view === undefined) inOrderOf.set(jobs, (view = new InOrder(jobs)));
  return view;
}

/** A list sorted on demand (see VictimPool.cheapestFirst). */
export class LazyOrder implements Candidates {
  private readonly heap: Int32Array;
  private size: number;
  private readonly keys: VictimKeys | null = null;
  private readonly less: ((a: number, b: number) => boolean) | null = null;
  private readonly out: JobRecord[] = [];
  /** The list index of each job in `out`. */
  private readonly outIdx: number[] = [];

  /**
   * `order`: a less-than over indices into `jobs`, or victim-cost keys by index (compared in
   * place: no call through a closure per comparison).
   */
  constructor(
    private readonly jobs: readonly JobRecord[],
    order: ((a: number, b: number) => boolean) | VictimKeys,
    /** Where the jobs are in their columns, when they came from one queue's RunningColumns. */
    readonly columns: ColumnsRef | null = null,
  ) {
    if (order instanceof VictimKeys) this.keys = order;
    else this.less = order;
    const n = jobs.length;
    this.heap = new Int32Array(n);
    for (let i = 0; i < n; i++) this.heap[i] = i;
    this.size = n;
    for (let i = (n >> 1) - 1; i >= 0; i--) this.down(i);
  }

  get length(): number {
    return this.jobs.length;
  }

  /** The jobs in no particular order (reading them does not sort anything). */
  get items(): readonly JobRecord[] {
    return this.jobs;
  }

  *[Symbol.iterator](): Iterator<JobRecord> {
    for (let i = 0; ; i++) {
      if (i >= this.out.length && !this.next()) return;
      yield this.out[i] as JobRecord;
    }
  }

  /** The i-th in order (sorting only as far as that). */
  at(i: number): JobRecord | undefined {
    while (i >= this.out.length) if (!this.next()) return undefined;
    return this.out[i];
  }

  /** The list index (in `items`) of the i-th in order; call at(i) first. */
  origin(i: number): number {
    return this.outIdx[i] as number;
  }

  private next(): boolean {
    if (this.size === 0) return false;
    const top = this.heap[0] as number;
    this.heap[0] = this.heap[--this.size] as number;
    this.down(0);
    this.out.push(this.jobs[top] as JobRecord);
    this.outIdx.push(top);
    return true;
  }

  private lt(a: number, b: number): boolean {
    const k = this.keys;
    return k !== null ? k.compare(a, b) < 0 : (this.less as (a: number, b: number) => boolean)(a, b);
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.size) return;
      let m = l;
      const r = l + 1;
      if (r < this.size && this.lt(h[r] as number, h[l] as number)) m = r;
      if (!this.lt(h[m] as number, h[i] as number)) return;
      const t = h[i] as number;
      h[i] = h[m] as number;
      h[m] = t;
      i = m;
    }
  }
}
