/**
 * Use over time (GPUs, queues, jobs, the fleet) in the server's SQLite file, bounded and
 * downsampled. Each sample is folded, as it is written, into one bucket per tier (count, sum,
 * min, max): 10 s buckets kept 6 h, 5 min buckets kept 7 days, 1 h buckets kept 90 days. So a
 * series never holds more than ~6,300 rows whatever the server's uptime, no compaction job
 * rewrites anything, and old buckets are dropped by `prune` (one indexed delete per tier).
 *
 * A range query reads the finest tier that still covers its start, and merges that tier's
 * buckets into steps so that at most `points` come back (a step is a whole number of buckets).
 */
import type Database from 'better-sqlite3';

/** The migration step (see sqlite-store.ts MIGRATIONS); idempotent, so renumbering on merge is safe. */
export const HISTORY_MIGRATION = `
  CREATE TABLE IF NOT EXISTS history_series (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, metric TEXT NOT NULL, team TEXT,
    UNIQUE (kind, key, metric));
  CREATE TABLE IF NOT EXISTS history_points (series INTEGER NOT NULL, tier INTEGER NOT NULL, at INTEGER NOT NULL,
    n INTEGER NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, PRIMARY KEY (series, tier, at)) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS history_points_age ON history_points(tier, at);`;

export interface HistoryTier {
  /** Bucket width (ms). */
  readonly resolutionMs: number;
  /** Buckets older than this (ms) are dropped. */
  readonly retentionMs: number;
}

const HOUR = 3_600_000;
export const HISTORY_TIERS: readonly HistoryTier[] = [
  { resolutionMs: 10_000, retentionMs: 6 * HOUR },
  { resolutionMs: 300_000, retentionMs: 7 * 24 * HOUR },
  { resolutionMs: HOUR, retentionMs: 90 * 24 * HOUR },
];

export const HISTORY_KINDS = ['fleet', 'gpu', 'queue', 'job'] as const;
export type HistoryKind = (typeof HISTORY_KINDS)[number];

/** One sampled value of a series. */
export interface HistorySample {
  readonly kind: HistoryKind;
  readonly key: string;
  readonly metric: string;
  /** The team that owns the series (a job's), or null for a series anyone may read. */
  readonly team: string | null;
  readonly value: number;
}

export interface HistoryQuery {
  readonly kind: HistoryKind;
  /** Only these keys (absent: every key of the kind). */
  readonly keys?: readonly string[];
  /** Only these metrics (absent: all). */
  readonly metrics?: readonly string[];
  readonly since: number;
  readonly until: number;
  /** At most this many steps. */
  readonly points: number;
  /** Only series of this team or of no team (a member's view); absent = all. */
  readonly team?: string;
  /** At most this many series. */
  readonly limit: number;
}

export interface HistorySeriesData {
  readonly kind: HistoryKind;
  readonly key: string;
  readonly metric: string;
  /** Per step: the mean of the samples in it (null: none), and the highest. */
  readonly avg: (number | null)[];
  readonly max: (number | null)[];
}

export interface HistoryResult {
  readonly resolutionMs: number;
  readonly stepMs: number;
  /** Each step's start (ms), oldest first. */
  readonly times: number[];
  readonly series: HistorySeriesData[];
  /** Series matched beyond `limit`. */
  readonly omitted: number;
}

/** The finest tier whose retention reaches back to `since` (the coarsest when none does). */
export function tierFor(since: number, now: number, tiers: readonly HistoryTier[] = HISTORY_TIERS): number {
  const i = tiers.findIndex((t) => now - t.retentionMs <= since);
  return i === -1 ? tiers.length - 1 : i;
}

/** A step of whole buckets such that [since, until) holds at most `points` of them. */
export function stepFor(since: number, until: number, resolutionMs: number, points: number): number {
  const buckets = Math.ceil((until - since) / resolutionMs);
  return Math.max(1, Math.ceil(buckets / Math.max(1, points))) * resolutionMs;
}

interface PointRow {
  series: number;
  step: number;
  n: number;
  sum: number;
  max: number;
}

export class HistoryStore {
  private readonly ids = new Map<string, number>();
  private readonly stmts;

  constructor(
    private readonly db: Database.Database,
    private readonly tiers: readonly HistoryTier[] = HISTORY_TIERS,
  ) {
    this.stmts = {
      series: db.prepare('INSERT INTO history_series (kind, key, metric, team) VALUES (?, ?, ?, ?) ON CONFLICT (kind, key, metric) DO UPDATE SET team = excluded.team RETURNING id').pluck(),
      fold: db.prepare(`INSERT INTO history_points (series, tier, at, n, sum, min, max) VALUES (?, ?, ?, 1, ?, ?, ?)
        ON CONFLICT (series, tier, at) DO UPDATE SET n = n + 1, sum = sum + excluded.sum, min = MIN(min, excluded.min), max = MAX(max, excluded.max)`),
      prune: db.prepare('DELETE FROM history_points WHERE tier = ? AND at < ?'),
      orphans: db.prepare('DELETE FROM history_series WHERE NOT EXISTS (SELECT 1 FROM history_points p WHERE p.series = history_series.id)'),
    };
  }

  /** Folds one sample of each series, taken at `at`, into every tier's bucket (one transaction). */
  record(at: number, samples: readonly HistorySample[]): void {
    if (samples.length === 0) return;
    this.db.transaction(() => {
      for (const s of samples) {
        if (!Number.isFinite(s.value)) continue;
        const id = this.seriesId(s);
        this.tiers.forEach((t, tier) => this.stmts.fold.run(id, tier, at - (at % t.resolutionMs), s.value, s.value, s.value));
      }
    })();
  }

  /** Drops buckets past each tier's retention, then series left without any; returns rows dropped. */
  prune(now: number): number {
    let dropped = 0;
    this.db.transaction(() => {
      this.tiers.forEach((t, tier) => (dropped += this.stmts.prune.run(tier, now - t.retentionMs).changes));
      if (dropped > 0 && this.stmts.orphans.run().changes > 0) this.ids.clear();
    })();
    return dropped;
  }

  query(q: HistoryQuery, now: number): HistoryResult {
    const tier = tierFor(q.since, now, this.tiers);
    const res = (this.tiers[tier] as HistoryTier).resolutionMs;
    // Steps are aligned to their width, so the first may start before `since`: one more bucket
    // per step when that makes one step too many.
    let stepMs = stepFor(q.since, q.until, res, q.points);
    while (Math.ceil((q.until - (q.since - (q.since % stepMs))) / stepMs) > q.points) stepMs += res;
    const first = q.since - (q.since % stepMs);
    const times: number[] = [];
    for (let t = first; t < q.until; t += stepMs) times.push(t);
    const args: Record<string, unknown> = { kind: q.kind };
    const where = ['kind = @kind'];
    if (q.team !== undefined) {
      where.push('(team IS NULL OR team = @team)');
      args['team'] = q.team;
    }
    const list = (name: string, values: readonly string[] | undefined, column: string): void => {
      if (values === undefined) return;
      values.forEach((v, i) => (args[`${name}${i}`] = v));
      where.push(`${column} IN (${values.map((_, i) => `@${name}${i}`).join(',') || "''"})`);
    };
    list('k', q.keys, 'key');
    list('m', q.metrics, 'metric');
    const matched = this.db.prepare(`SELECT id, key, metric FROM history_series WHERE ${where.join(' AND ')} ORDER BY key, metric`).all(args) as { id: number; key: string; metric: string }[];
    const kept = matched.slice(0, q.limit);
    const byId = new Map(kept.map((s) => [s.id, { kind: q.kind, key: s.key, metric: s.metric, avg: times.map(() => null), max: times.map(() => null) } as HistorySeriesData]));
    if (kept.length > 0 && times.length > 0) {
      const ids = kept.map((s) => s.id);
      const rows = this.db
        .prepare(
          `SELECT series, CAST((at - @first) / @step AS INTEGER) AS step, SUM(n) AS n, SUM(sum) AS sum, MAX(max) AS max FROM history_points
           WHERE series IN (${ids.map(() => '?').join(',')}) AND tier = @tier AND at >= @from AND at < @until GROUP BY series, step`,
        )
        .all(...ids, { first, step: stepMs, tier, from: first, until: q.until }) as PointRow[];
      for (const r of rows) {
        const s = byId.get(r.series);
        if (!s || r.step < 0 || r.step >= times.length) continue;
        s.avg[r.step] = r.sum / r.n;
        s.max[r.step] = r.max;
      }
    }
    return { resolutionMs: res, stepMs, times, series: [...byId.values()], omitted: matched.length - kept.length };
  }

  private seriesId(s: HistorySample): number {
    const k = `${s.kind}\u0000${s.key}\u0000${s.metric}`;
    let id = this.ids.get(k);
    if (id === undefined) {
      id = this.stmts.series.get(s.kind, s.key, s.metric, s.team) as number;
      this.ids.set(k, id);
    }
    return id;
  }
}
