/**
 * Dataset versions and node cache records in the server's SQLite file (tables created by the
 * store's migrations). A version row is immutable once written: triggers refuse any change to
 * its name, files or source and any delete, so a job that names `imagenet@3` can always be
 * traced back to exactly the bytes it read. `rm` only marks a version removed.
 */
import type Database from 'better-sqlite3';
import type { DatasetFile, SourceSpec } from './dataset-source.js';

/** The migration step (see sqlite-store.ts MIGRATIONS); idempotent, so renumbering on merge is safe. */
export const DATASET_MIGRATION = `
  CREATE TABLE IF NOT EXISTS dataset_versions (name TEXT NOT NULL, version INTEGER NOT NULL, source TEXT NOT NULL, files TEXT NOT NULL,
    total_bytes INTEGER NOT NULL, file_count INTEGER NOT NULL, created_at INTEGER NOT NULL, created_by TEXT NOT NULL, removed_at INTEGER,
    PRIMARY KEY (name, version));
  CREATE TRIGGER IF NOT EXISTS dataset_versions_immutable BEFORE UPDATE OF name, version, source, files, total_bytes, file_count, created_at, created_by ON dataset_versions
    BEGIN SELECT RAISE(ABORT, 'dataset versions are immutable'); END;
  CREATE TRIGGER IF NOT EXISTS dataset_versions_kept BEFORE DELETE ON dataset_versions
    BEGIN SELECT RAISE(ABORT, 'dataset versions are kept for provenance'); END;
  CREATE TABLE IF NOT EXISTS dataset_cache (node TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, state TEXT NOT NULL,
    total_bytes INTEGER NOT NULL, started_at INTEGER NOT NULL, ready_at INTEGER, last_used_at INTEGER NOT NULL, PRIMARY KEY (node, name, version));
  CREATE TABLE IF NOT EXISTS dataset_cache_files (node TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, path TEXT NOT NULL,
    PRIMARY KEY (node, name, version, path)) WITHOUT ROWID;`;

export interface DatasetVersion {
  readonly name: string;
  readonly version: number;
  readonly source: SourceSpec;
  readonly files: readonly DatasetFile[];
  readonly totalBytes: number;
  readonly createdAt: number;
  readonly createdBy: string;
  readonly removedAt: number | null;
}

export type CacheState = 'filling' | 'ready';

export interface CacheRow {
  readonly node: string;
  readonly name: string;
  readonly version: number;
  readonly state: CacheState;
  readonly totalBytes: number;
  readonly startedAt: number;
  readonly readyAt: number | null;
  readonly lastUsedAt: number;
}

interface VersionDbRow {
  name: string;
  version: number;
  source: string;
  files: string;
  total_bytes: number;
  created_at: number;
  created_by: string;
  removed_at: number | null;
}
interface CacheDbRow {
  node: string;
  name: string;
  version: number;
  state: string;
  total_bytes: number;
  started_at: number;
  ready_at: number | null;
  last_used_at: number;
}

/** Files are stored compactly: [path, size, sha256, etag ('' = none), crc32?]. */
type PackedFile = [string, number, string, string?, string?];

function toVersion(r: VersionDbRow, withFiles: boolean): DatasetVersion {
  const files = withFiles ? (JSON.parse(r.files) as PackedFile[]).map(([path, size, sha256, etag, crc32]) => ({ path, size, sha256, ...(crc32 ? { crc32 } : {}), ...(etag ? { etag } : {}) })) : [];
  return { name: r.name, version: r.version, source: JSON.parse(r.source) as SourceSpec, files, totalBytes: r.total_bytes, createdAt: r.created_at, createdBy: r.created_by, removedAt: r.removed_at };
}
function toCache(r: CacheDbRow): CacheRow {
  return { node: r.node, name: r.name, version: r.version, state: r.state as CacheState, totalBytes: r.total_bytes, startedAt: r.started_at, readyAt: r.ready_at, lastUsedAt: r.last_used_at };
}

export class DatasetCatalog {
  constructor(private readonly db: Database.Database) {}

  /** Stores the next version of `name` (1 for a new dataset) and returns it. */
  addVersion(v: Omit<DatasetVersion, 'version' | 'removedAt'>): DatasetVersion {
    return this.db.transaction(() => {
      const last = (this.db.prepare('SELECT MAX(version) FROM dataset_versions WHERE name = ?').pluck().get(v.name) as number | null) ?? 0;
      const packed: PackedFile[] = v.files.map((f) => (f.crc32 ? [f.path, f.size, f.sha256, f.etag ?? '', f.crc32] : f.etag ? [f.path, f.size, f.sha256, f.etag] : [f.path, f.size, f.sha256]));
      this.db
        .prepare('INSERT INTO dataset_versions (name, version, source, files, total_bytes, file_count, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(v.name, last + 1, JSON.stringify(v.source), JSON.stringify(packed), v.totalBytes, v.files.length, v.createdAt, v.createdBy);
      return { ...v, version: last + 1, removedAt: null };
    }).immediate();
  }

  /** A version with its file list; `version` undefined = the newest not removed. */
  get(name: string, version?: number): DatasetVersion | undefined {
    const r = (
      version === undefined
        ? this.db.prepare('SELECT * FROM dataset_versions WHERE name = ? AND removed_at IS NULL ORDER BY version DESC LIMIT 1').get(name)
        : this.db.prepare('SELECT * FROM dataset_versions WHERE name = ? AND version = ?').get(name, version)
    ) as VersionDbRow | undefined;
    return r && toVersion(r, true);
  }

  /** Every version (without file lists), by name then version. */
  list(name?: string): DatasetVersion[] {
    const rows = (name === undefined ? this.db.prepare('SELECT * FROM dataset_versions ORDER BY name, version').all() : this.db.prepare('SELECT * FROM dataset_versions WHERE name = ? ORDER BY version').all(name)) as VersionDbRow[];
    return rows.map((r) => toVersion(r, false));
  }

  markRemoved(name: string, version: number, at: number): void {
    this.db.prepare('UPDATE dataset_versions SET removed_at = ? WHERE name = ? AND version = ? AND removed_at IS NULL').run(at, name, version);
  }

  cacheRows(node: string): CacheRow[] {
    return (this.db.prepare('SELECT * FROM dataset_cache WHERE node = ? ORDER BY name, version').all(node) as CacheDbRow[]).map(toCache);
  }
  cacheRow(node: string, name: string, version: number): CacheRow | undefined {
    const r = this.db.prepare('SELECT * FROM dataset_cache WHERE node = ? AND name = ? AND version = ?').get(node, name, version) as CacheDbRow | undefined;
    return r && toCache(r);
  }
  startFill(node: string, name: string, version: number, totalBytes: number, at: number): void {
    this.db
      .prepare(`INSERT INTO dataset_cache (node, name, version, state, total_bytes, started_at, ready_at, last_used_at) VALUES (?, ?, ?, 'filling', ?, ?, NULL, ?)
        ON CONFLICT (node, name, version) DO UPDATE SET last_used_at = excluded.last_used_at`)
      .run(node, name, version, totalBytes, at, at);
  }
  markReady(node: string, name: string, version: number, at: number): void {
    this.db.transaction(() => {
      this.db.prepare(`UPDATE dataset_cache SET state = 'ready', ready_at = ?, last_used_at = ? WHERE node = ? AND name = ? AND version = ?`).run(at, at, node, name, version);
      this.db.prepare('DELETE FROM dataset_cache_files WHERE node = ? AND name = ? AND version = ?').run(node, name, version);
    }).immediate();
  }
  touch(node: string, name: string, version: number, at: number): void {
    this.db.prepare('UPDATE dataset_cache SET last_used_at = ? WHERE node = ? AND name = ? AND version = ?').run(at, node, name, version);
  }
  dropCache(node: string, name: string, version: number): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM dataset_cache WHERE node = ? AND name = ? AND version = ?').run(node, name, version);
      this.db.prepare('DELETE FROM dataset_cache_files WHERE node = ? AND name = ? AND version = ?').run(node, name, version);
    }).immediate();
  }
  /** Files of a fill in progress that were copied, fsynced and verified. */
  verifiedFiles(node: string, name: string, version: number): Set<string> {
    return new Set(this.db.prepare('SELECT path FROM dataset_cache_files WHERE node = ? AND name = ? AND version = ?').pluck().all(node, name, version) as string[]);
  }
  /** Records verified files in one transaction (one fsync for the batch). */
  addVerified(node: string, name: string, version: number, paths: readonly string[]): void {
    if (paths.length === 0) return;
    const st = this.db.prepare('INSERT OR IGNORE INTO dataset_cache_files (node, name, version, path) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const p of paths) st.run(node, name, version, p);
    }).immediate();
  }
}
