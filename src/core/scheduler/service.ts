/**
 * What the scheduler learns about how long jobs run, from history only (never a job's own
 * future): the run times of jobs that ended, per class (by default the queue), and the
 * service already attained by jobs still active (censored observations). From those, a
 * Kaplan-Meier estimate of the run-time distribution per class, and its Gittins index: for a
 * job that has run `a`, the best ratio, over horizons D, of the chance it ends within D to the
 * expected service it uses until then,
 *
 *     G(a) = max_D  P(T <= a + D | T > a) / E[min(T - a, D) | T > a].
 *
 * Ordering by G (per GPU) minimises mean completion time for unknown sizes drawn from the
 * distribution: for heavy-tailed classes it behaves like least-attained-service (new jobs
 * first), for classes whose jobs tend to run a typical time it keeps jobs close to the end
 * running instead of preempting them for new ones. A class with too few samples uses all
 * classes together; with too few of those, least-attained-service (G = 1 / (a + 1 min)).
 *
 * Run times are binned on a log scale, so a refresh costs O(classes x bins x grid) whatever
 * the history's size.
 */

/** Bin edges: log-spaced from 1 s to ~200 days. */
const BINS = 256;
const T_MIN = 1_000;
const T_MAX = 200 * 86_400_000;
const LOG_STEP = Math.log(T_MAX / T_MIN) / BINS;
/** Where the index is tabulated: attained service, log-spaced (first point 0). */
const GRID = 96;
const LAS_OFFSET_MS = 60_000;

function binOf(ms: number): number {
  if (ms <= T_MIN) return 0;
  return Math.min(BINS - 1, Math.floor(Math.log(ms / T_MIN) / LOG_STEP));
}

/** A representative time for a bin (its geometric middle). */
function binTime(b: number): number {
  return T_MIN * Math.exp((b + 0.5) * LOG_STEP);
}

function gridTime(k: number): number {
  return k === 0 ? 0 : T_MIN * Math.exp(((k - 1) * Math.log(T_MAX / T_MIN)) / (GRID - 2));
}

function gridOf(ms: number): number {
  if (ms <= 0) return 0;
  if (ms <= T_MIN) return 1;
  return Math.min(GRID - 1, 1 + Math.floor((Math.log(ms / T_MIN) * (GRID - 2)) / Math.log(T_MAX / T_MIN)));
}

export interface ServiceModelOptions {
  /** Completed samples a class needs before its own distribution is used. */
  readonly minSamples: number;
  /** Most recent samples kept per class. */
  readonly maxSamples: number;
  /**
   * Service a job is sure to get once started (the scheduler's minimum runtime): the index of
   * a job that waits counts only horizons at least this long (see `index`). 0 = none.
   */
  readonly commitMs?: number;
}

/** The class every job belongs to (the fallback distribution). */
const ALL = '\u0000all';

export interface ActiveService {
  /** The job's classes, most specific first (as given to record and index). */
  readonly classes: readonly string[];
  /** Run time attained so far (ms of wall time on its GPUs). */
  readonly attainedMs: number;
}

/** The Gittins index per grid point, or null where no completion is known beyond it. */
type Table = Float64Array;

export class ServiceModel {
  private readonly samples = new Map<string, number[]>();
  private readonly tables = new Map<string, Table>();
  private global: Table | null = null;
  private dirty = true;
  private readonly commit: number;

  constructor(private readonly o: ServiceModelOptions) {
    this.commit = o.commitMs ?? 0;
  }

  /** A job of each of `classes` ended on its own after running `runMs`. */
  record(classes: readonly string[], runMs: number): void {
    for (const cls of classes) this.recordOne(cls, runMs);
    this.recordOne(ALL, runMs);
  }

  private recordOne(cls: string, runMs: number): void {
    const cap = cls === ALL ? this.o.maxSamples * 16 : this.o.maxSamples;
    let list = this.samples.get(cls);
    if (!list) this.samples.set(cls, (list = []));
    list.push(runMs);
    if (list.length > cap) list.splice(0, list.length - cap);
    this.dirty = true;
  }

  /** Completed samples known for a class. */
  sampleCount(cls: string): number {
    return this.samples.get(cls)?.length ?? 0;
  }

  /** Rebuilds the tables from the samples and the active jobs' attained service. */
  refresh(active: Iterable<ActiveService>, force = false): void {
    if (!this.dirty && !force) return;
    this.dirty = false;
    const done = new Map<string, Float64Array>();
    const cens = new Map<string, Float64Array>();
    for (const [cls, list] of this.samples) {
      const d = new Float64Array(BINS);
      for (const t of list) {
        const b = binOf(t);
        d[b] = (d[b] as number) + 1;
      }
      done.set(cls, d);
    }
    const censor = (cls: string, b: number): void => {
      let c = cens.get(cls);
      if (!c) cens.set(cls, (c = new Float64Array(BINS)));
      c[b] = (c[b] as number) + 1;
    };
    for (const a of active) {
      if (a.attainedMs <= 0) continue;
      const b = binOf(a.attainedMs);
      for (const cls of a.classes) censor(cls, b);
      censor(ALL, b);
    }
    this.tables.clear();
    for (const [cls, d] of done) {
      if (cls === ALL || (this.samples.get(cls)?.length ?? 0) < this.o.minSamples) continue;
      this.tables.set(cls, buildTable(d, cens.get(cls) ?? new Float64Array(BINS), this.commit));
    }
    const all = done.get(ALL);
    this.global = all && (this.samples.get(ALL)?.length ?? 0) >= this.o.minSamples ? buildTable(all, cens.get(ALL) ?? new Float64Array(BINS), this.commit) : null;
  }

  /**
   * Gittins index per GPU-ms for a job with `gpus` GPUs that has run `attainedMs`, from the
   * first of `classes` (most specific first) with enough samples, else from all jobs.
   * `waiting`: the job is not running, and starting it commits `commitMs` of service (it
   * cannot be stopped sooner), so only horizons at least that long count: a class whose jobs
   * often end within a minute but otherwise run for hours no longer looks short to a scheduler
   * that must give each start ten minutes.
   */
  index(classes: readonly string[], attainedMs: number, gpus: number, waiting = false): number {
    let t: Table | null = null;
    for (const c of classes) if ((t = this.tables.get(c) ?? null)) break;
    t ??= this.global;
    const g = Math.max(gpus, 0.001);
    if (t) {
      const v = t[gridOf(attainedMs) + (waiting && this.commit > 0 ? GRID : 0)] as number;
      if (v > 0) return v / g;
      // Beyond every known run time: assume it runs about as long again as it has.
      return 0.5 / ((attainedMs + LAS_OFFSET_MS) * g);
    }
    return 1 / ((attainedMs + LAS_OFFSET_MS) * g);
  }
}

/**
 * Kaplan-Meier over binned completions (`d`) and censored attained times (`c`), then G per
 * grid point: GRID values over all horizons, then (with `commit` > 0) GRID values over
 * horizons of at least `commit`.
 */
function buildTable(d: Float64Array, c: Float64Array, commit = 0): Table {
  // Survival just after each bin.
  let atRisk = 0;
  for (let b = 0; b < BINS; b++) atRisk += (d[b] as number) + (c[b] as number);
  const mass = new Float64Array(BINS); // probability of ending in bin b
  let s = 1;
  for (let b = 0; b < BINS; b++) {
    const db = d[b] as number;
    if (atRisk > 0 && db > 0) {
      const next = s * (1 - db / atRisk);
      mass[b] = s - next;
      s = next;
    }
    atRisk -= db + (c[b] as number);
  }
  // Survival function as steps at bin times: S(t) = sum of mass with binTime > t, plus the tail s.
  const tail = s;
  const times = new Float64Array(BINS);
  for (let b = 0; b < BINS; b++) times[b] = binTime(b);
  const table = new Float64Array(commit > 0 ? 2 * GRID : GRID);
  let first = 0;
  for (let k = 0; k < GRID; k++) {
    const a = gridTime(k);
    // First bin whose time is beyond a (grid times increase: the search resumes).
    while (first < BINS && (times[first] as number) <= a) first++;
    let surv = tail;
    for (let b = first; b < BINS; b++) surv += mass[b] as number;
    if (surv <= 1e-12 || surv - tail <= 1e-12) {
      table[k] = 0;
      continue;
    }
    // Sweep horizons: after each bin with mass, ratio = P(end by then) / E[service until then].
    // Committed: the same from the horizon a + commit on (the ratio falls between bins, so the
    // best is at a + commit itself or after a later bin).
    const until = a + commit;
    let committed = commit <= 0;
    let bestC = 0;
    let ended = 0;
    let integral = 0;
    let prev = a;
    let sLeft = surv; // survival (unnormalised) at the start of the current segment
    let best = 0;
    for (let b = first; b < BINS; b++) {
      const m = mass[b] as number;
      if (m <= 0) continue;
      const t = times[b] as number;
      if (!committed && t >= until) {
        committed = true;
        if (ended > 0) bestC = ended / (integral + sLeft * (until - prev));
      }
      integral += sLeft * (t - prev);
      prev = t;
      ended += m;
      sLeft -= m;
      const ratio = ended / integral;
      if (ratio > best) best = ratio;
      if (committed && ratio > bestC) bestC = ratio;
    }
    table[k] = best;
    if (commit > 0) table[GRID + k] = committed ? bestC : ended / (integral + sLeft * (until - prev));
  }
  return table;
}
