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

/**
 * Records made before their bytes were synced (cache-durability.ts), each with the boot id of
 * the machine when it was made: a verified file of a fill or of a complete copy (`path`), or a
 * complete copy's final rename (`path` = ''). A row is deleted once its bytes are synced.
 * A table of its own, so the step is idempotent (renumbered safely when migrations merge).
 */
export const DATASET_UNSYNCED_MIGRATION = `
  CREATE TABLE IF NOT EXISTS dataset_cache_unsynced (node TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, path TEXT NOT NULL,
    boot TEXT NOT NULL, PRIMARY KEY (node, name, version, path)) WITHOUT ROWID;`;

export interface UnsyncedRow {
  readonly name: string;
  readonly version: number;
  /** '' = the copy's final rename. */
  readonly path: string;
  readonly boot: string;
}

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

  /**
   * Runs a write of cache records without waiting for the disk (synchronous=NORMAL for its
   * commit; WAL order still holds, and the next FULL commit makes it durable). On ext4 any fsync
   * also writes out the fill's dirty pages, so a FULL commit inside a fill waits for the whole
   * copy to reach the disk (measured: 600-850 ms of a 1.5 s fill). A cache record lost in a
   * crash of the machine costs a copy or a check again, never a wrong answer: what may be
   * trusted after a reboot is decided by the unsynced tags (cache-durability.ts).
   */
  private lazily<T>(write: () => T): T {
    const prev = this.db.pragma('synchronous', { simple: true }) as number;
    if (prev <= 1 || this.db.inTransaction) return write();
    this.db.pragma('synchronous = NORMAL');
    try {
      return write();
    } finally {
      this.db.pragma(`synchronous = ${prev}`);
    }
  }

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
    this.lazily(() => {
      this.db
        .prepare(`INSERT INTO dataset_cache (node, name, version, state, total_bytes, started_at, ready_at, last_used_at) VALUES (?, ?, ?, 'filling', ?, ?, NULL, ?)
          ON CONFLICT (node, name, version) DO UPDATE SET last_used_at = excluded.last_used_at`)
        .run(node, name, version, totalBytes, at, at);
    });
  }
  /** The copy is complete; its final rename is recorded unsynced in `boot` (the files' own tags stay). */
  markReady(node: string, name: string, version: number, at: number, boot: string): void {
    this.lazily(() => {
      this.db.transaction(() => {
        this.db.prepare(`UPDATE dataset_cache SET state = 'ready', ready_at = ?, last_used_at = ? WHERE node = ? AND name = ? AND version = ?`).run(at, at, node, name, version);
        this.db.prepare('DELETE FROM dataset_cache_files WHERE node = ? AND name = ? AND version = ?').run(node, name, version);
        this.db.prepare(`INSERT OR REPLACE INTO dataset_cache_unsynced (node, name, version, path, boot) VALUES (?, ?, ?, '', ?)`).run(node, name, version, boot);
      }).immediate();
    });
  }
  touch(node: string, name: string, version: number, at: number): void {
    this.db.prepare('UPDATE dataset_cache SET last_used_at = ? WHERE node = ? AND name = ? AND version = ?').run(at, node, name, version);
  }
  dropCache(node: string, name: string, version: number): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM dataset_cache WHERE node = ? AND name = ? AND version = ?').run(node, name, version);
      this.db.prepare('DELETE FROM dataset_cache_files WHERE node = ? AND name = ? AND version = ?').run(node, name, version);
      this.db.prepare('DELETE FROM dataset_cache_unsynced WHERE node = ? AND name = ? AND version = ?').run(node, name, version);
    }).immediate();
  }
  /** Files of a fill in progress that were copied and verified (synced or not: see unsyncedRows). */
  verifiedFiles(node: string, name: string, version: number): Set<string> {
    return new Set(this.db.prepare('SELECT path FROM dataset_cache_files WHERE node = ? AND name = ? AND version = ?').pluck().all(node, name, version) as string[]);
  }
  /** Records verified files, not yet synced, in one transaction (one commit for the batch). */
  addVerified(node: string, name: string, version: number, paths: readonly string[], boot: string): void {
    this.lazily(() => {
      if (paths.length === 0) return;
      const st = this.db.prepare('INSERT OR IGNORE INTO dataset_cache_files (node, name, version, path) VALUES (?, ?, ?, ?)');
      const un = this.db.prepare('INSERT OR REPLACE INTO dataset_cache_unsynced (node, name, version, path, boot) VALUES (?, ?, ?, ?, ?)');
      this.db.transaction(() => {
        for (const p of paths) {
          st.run(node, name, version, p);
          un.run(node, name, version, p, boot);
        }
      }).immediate();
    });
  }
  /** Files of a complete copy written again (repaired), not yet synced. */
  addUnsynced(node: string, name: string, version: number, paths: readonly string[], boot: string): void {
    this.lazily(() => {
      const st = this.db.prepare('INSERT OR REPLACE INTO dataset_cache_unsynced (node, name, version, path, boot) VALUES (?, ?, ?, ?, ?)');
      this.db.transaction(() => {
        for (const p of paths) st.run(node, name, version, p, boot);
      }).immediate();
    });
  }
  /** Every record of the node not yet synced, with the boot it was made in. */
  unsyncedRows(node: string): UnsyncedRow[] {
    return this.db.prepare('SELECT name, version, path, boot FROM dataset_cache_unsynced WHERE node = ? ORDER BY name, version, path').all(node) as UnsyncedRow[];
  }
  /** The unsynced records of one copy, path -> boot ('' = its final rename). */
  unsyncedOf(node: string, name: string, version: number): Map<string, string> {
    const rows = this.db.prepare('SELECT path, boot FROM dataset_cache_unsynced WHERE node = ? AND name = ? AND version = ?').all(node, name, version) as { path: string; boot: string }[];
    return new Map(rows.map((r) => [r.path, r.boot]));
  }
  hasUnsynced(node: string, name: string, version: number): boolean {
    return this.db.prepare('SELECT 1 FROM dataset_cache_unsynced WHERE node = ? AND name = ? AND version = ? LIMIT 1').get(node, name, version) !== undefined;
  }
  /** Clears the tags of records whose bytes are now synced (a row re-recorded in another boot meanwhile keeps its tag). */
  markSynced(node: string, rows: readonly UnsyncedRow[]): void {
    this.lazily(() => {
      if (rows.length === 0) return;
      const st = this.db.prepare('DELETE FROM dataset_cache_unsynced WHERE node = ? AND name = ? AND version = ? AND path = ? AND boot = ?');
      this.db.transaction(() => {
        for (const r of rows) st.run(node, r.name, r.version, r.path, r.boot);
      }).immediate();
    });
  }
  /** A copy checked again after a reboot: its records (all, or `paths`) now count as made in `boot`. */
  retagUnsynced(node: string, name: string, version: number, boot: string, paths?: readonly string[]): void {
    this.lazily(() => {
      if (paths === undefined) {
        this.db.prepare('UPDATE dataset_cache_unsynced SET boot = ? WHERE node = ? AND name = ? AND version = ?').run(boot, node, name, version);
        return;
      }
      const st = this.db.prepare('UPDATE dataset_cache_unsynced SET boot = ? WHERE node = ? AND name = ? AND version = ? AND path = ?');
      this.db.transaction(() => {
        for (const p of paths) st.run(boot, node, name, version, p);
      }).immediate();
    });
  }
}
