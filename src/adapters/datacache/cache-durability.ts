/**
 * How a node cache's records relate to the disk (node-cache.ts). A fill records verified files
 * and the complete copy in SQLite without waiting for their bytes to reach the disk, tagged with
 * the machine's boot id: within one boot the page cache holds what was written (a kill -9 of
 * the server loses nothing of it), so an unsynced record is as good as a synced one. The
 * BackgroundSync below syncs what was recorded, off the fill path, and then clears the tags.
 * A record still tagged with another boot was made before a crash of the machine and may
 * name bytes that never reached the disk: node-cache.ts checksums those files again before it
 * keeps or serves them.
 *
 * Marker files (`<dir>/.unsynced/<name>@<version>`, holding the boot id) say the same to
 * readers that do not open SQLite (`gantry k8s wait-data`): a copy whose marker exists and
 * names another boot (or nothing: its bytes were lost) is not complete yet.
 */
import { promises as fsp, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { DatasetCatalog, UnsyncedRow } from './dataset-catalog.js';
import { newChecksum } from './checksum.js';
import type { ChecksumKind } from './dataset-source.js';

let bootIdCache: string | null = null;
/**
 * The kernel's id of this boot (Linux: /proc/sys/kernel/random/boot_id, the same inside a
 * container). Without one, an id per process: every restart then counts as a reboot (safe,
 * slower: unsynced copies are checksummed again).
 */
export function currentBootId(): string {
  if (bootIdCache !== null) return bootIdCache;
  try {
    bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || randomUUID();
  } catch {
    bootIdCache = `process-${randomUUID()}`;
  }
  return bootIdCache;
}

export const MARKER_DIR = '.unsynced';

export function markerPath(cacheDir: string, key: string): string {
  return join(cacheDir, MARKER_DIR, key);
}

/** fsync of a folder (its entries: creations, renames); false when the folder is gone (moved meanwhile). */
export async function syncDir(dir: string): Promise<boolean> {
  const fh = await fsp.open(dir, 'r').catch(() => null);
  if (!fh) return false;
  try {
    await fh.sync();
    return true;
  } finally {
    await fh.close();
  }
}

/** Makes a file's bytes durable (through a read-only descriptor: a copy may carry the source's mode). */
export async function syncFile(p: string): Promise<void> {
  const fh = await fsp.open(p, 'r');
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** Writes the marker of `key` (boot id) durably: the marker must exist on disk before the copy's final rename can. */
export async function writeMarker(cacheDir: string, key: string, boot: string): Promise<void> {
  const p = markerPath(cacheDir, key);
  await fsp.mkdir(dirname(p), { recursive: true, mode: 0o755 });
  await fsp.writeFile(p, boot, { mode: 0o644 });
  await syncFile(p);
  await syncDir(dirname(p));
}

export async function removeMarker(cacheDir: string, key: string): Promise<void> {
  await fsp.rm(markerPath(cacheDir, key), { force: true });
}

/**
 * True when a copy named `key` in `cacheDir` may be read: no marker, or a marker of this boot.
 * A marker of another boot, or an empty one (its bytes lost in a crash), means the cache has
 * not checked the copy again since the machine restarted.
 */
export function copyTrusted(cacheDir: string, key: string, boot = currentBootId()): boolean {
  let m: string;
  try {
    m = readFileSync(markerPath(cacheDir, key), 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
  return m.trim() === boot;
}

/** The checksum (`kind`) of a file as it is on disk, or null when it cannot be read. */
export async function hashFile(p: string, kind: ChecksumKind): Promise<string | null> {
  const h = newChecksum(kind);
  let fh;
  try {
    fh = await fsp.open(p, 'r');
  } catch {
    return null;
  }
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    for (let pos = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    return h.digest();
  } catch {
    return null;
  } finally {
    await fh.close();
  }
}

export interface BackgroundSyncOptions {
  readonly node: string;
  readonly catalog: DatasetCatalog;
  readonly boot: string;
  readonly cacheDir: string;
  /** Where a recorded file is now (its copy may have moved from staging to ready), or null when the copy is gone. */
  readonly locate: (row: UnsyncedRow) => string | null;
  /** The folders whose entries hold a copy's final rename (the cache folder, its staging folder). */
  readonly copyDirs: readonly string[];
  /** Wait after a record before syncing (more files per pass; default 1000 ms). */
  readonly delayMs?: number;
  /** True while a fill runs: the sync waits for it (up to maxWaitMs), so that it does not compete with the fill for the disk and the libuv threads. */
  readonly busy?: () => boolean;
  /** The longest a record waits for its sync while fills run (default 30 s). */
  readonly maxWaitMs?: number;
  /**
   * Bytes recorded unsynced since the last pass started; a pass runs during fills once they
   * reach maxBacklogBytes. This bounds the dirty data the server's own SQLite commits (which
   * fsync, and on ext4 write out other files' dirty pages with them) can be made to wait for.
   */
  readonly backlogBytes?: () => number;
  /** Default SYNC_BACKLOG_BYTES. */
  readonly maxBacklogBytes?: number;
  /** A pass starts: what was recorded until now is in it (the backlog restarts from 0). */
  readonly onPassStart?: () => void;
  readonly log: (line: string) => void;
}

/**
 * Syncs what fills recorded unsynced in this boot and clears the tags, once no fill runs (or,
 * during long ones, every maxWaitMs or once maxBacklogBytes were recorded since the last pass:
 * the kernel writes dirty pages back meanwhile anyway, so little is left to wait for by then). One pass at a time, one file at a time (a sync holds a libuv thread while the disk writes: one leaves the others
 * to the fills). A file that moved or vanished mid-pass keeps its tag for the next pass.
 */
/** Unsynced bytes fills may leave behind them before a pass runs during them (1 GiB). */
export const SYNC_BACKLOG_BYTES = 1024 * 1024 * 1024;

export class BackgroundSync {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private readonly delayMs: number;
  /** When the oldest record not yet taken by a pass was made (null: none). */
  private pendingSince: number | null = null;

  constructor(private readonly o: BackgroundSyncOptions) {
    this.delayMs = o.delayMs ?? 1000;
  }

  /** Something was recorded unsynced: a pass runs after the delay. */
  kick(): void {
    if (this.stopped) return;
    this.pendingSince ??= Date.now();
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.behind()) {
      // Fills have left too much unsynced behind them: sync now, fills or not.
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      void this.run();
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.o.busy?.() === true && Date.now() - (this.pendingSince ?? 0) < (this.o.maxWaitMs ?? 30_000)) this.kick();
      else void this.run();
    }, this.delayMs);
    this.timer.unref();
  }

  private behind(): boolean {
    return (this.o.backlogBytes?.() ?? 0) >= (this.o.maxBacklogBytes ?? SYNC_BACKLOG_BYTES);
  }

  /** Runs passes now until nothing of this boot is left unsynced (tests, shutdown). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (let i = 0; i < 10; i++) {
      if (this.running) await this.running;
      else await this.run();
      if (this.pending().length === 0) return;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private pending(): UnsyncedRow[] {
    try {
      return this.o.catalog.unsyncedRows(this.o.node).filter((r) => r.boot === this.o.boot);
    } catch {
      return []; // the store was closed
    }
  }

  private run(): Promise<void> {
    this.pendingSince = null;
    this.o.onPassStart?.();
    this.running = this.pass()
      .catch((e: unknown) => this.o.log(`dataset cache ${this.o.node}: background sync failed (tried again later): ${(e as Error).message}`))
      .finally(() => {
        this.running = null;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
    return this.running;
  }

  private async pass(): Promise<void> {
    const rows = this.pending();
    if (rows.length === 0) return;
    const done: UnsyncedRow[] = [];
    const dirs = new Map<string, UnsyncedRow[]>();
    const copies: UnsyncedRow[] = [];
    for (const r of rows) {
      if (this.stopped) return;
      if (r.path === '') {
        copies.push(r);
        continue;
      }
      const p = this.o.locate(r);
      if (p === null) continue;
      try {
        await syncFile(p);
      } catch {
        continue; // moved (staging -> ready) or removed meanwhile: the next pass
      }
      const d = dirname(p);
      const inDir = dirs.get(d);
      if (inDir) inDir.push(r);
      else dirs.set(d, [r]);
    }
    // A file counts as synced once the folder holding its name is too; a folder moved meanwhile
    // (staging -> ready) leaves its files for the next pass.
    for (const [d, rs] of dirs) if (await syncDir(d)) for (const r of rs) done.push(r);
    // A copy's own row stands for its final rename: the cache folder's entries, synced after
    // its files (a copy that became ready was renamed before this pass read its row).
    if (copies.length > 0) for (const d of this.o.copyDirs) await syncDir(d);
    done.push(...copies);
    if (this.stopped) return;
    try {
      this.o.catalog.markSynced(this.o.node, done);
    } catch {
      return; // the store was closed: the next start syncs them
    }
    for (const c of copies) if (!this.o.catalog.hasUnsynced(this.o.node, c.name, c.version)) await removeMarker(this.o.cacheDir, `${c.name}@${c.version}`);
  }
}
