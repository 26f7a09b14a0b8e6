/**
 * A node's dataset cache: a folder with a capacity. Layout:
 *   <dir>/<name>@<version>/...          complete copies, read-only (files 0444, folders 0555)
 *   <dir>/.staging/<name>@<version>/... fills in progress; never handed to a job
 * A fill copies the files a few at a time (parallel streams), checksumming while copying. A file
 * is verified (CRC-32, or SHA-256 for older versions, as recorded) and renamed from `.part`;
 * verified files are recorded in SQLite in batches, without waiting for the disk, tagged with
 * the boot id, and synced in the background (cache-durability.ts); a fill interrupted (even by
 * kill -9) resumes with the recorded files kept. The staging folder becomes the complete copy
 * by one rename once every file is verified. After a reboot, records never synced are checked
 * again (checksums) before they are kept or served.
 * Eviction is least recently used and never takes a copy that is pinned (a running or
 * starting job reads it) or filling.
 */
import { promises as fsp, mkdirSync, rmSync, existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../../core/errors.js';
import { BackgroundSync, copyTrusted, currentBootId, hashFile, removeMarker, syncFile, writeMarker } from './cache-durability.js';
import { startCopyPool } from './copy-pool.js';
import type { DatasetCatalog, DatasetVersion } from './dataset-catalog.js';
import { type ChecksumKind, type DatasetFile, type DatasetSource, fillChecksum, type SourceSpec } from './dataset-source.js';

export interface NodeCacheOptions {
  readonly node: string;
  readonly dir: string;
  readonly capacityBytes: number;
  /** Files copied at once (default 4). */
  readonly streams?: number;
  readonly clock?: () => number;
  readonly log?: (line: string) => void;
  /** "name@version" of every copy a running or about-to-start job needs. */
  readonly pinned?: () => ReadonlySet<string>;
  readonly openSource: (s: SourceSpec) => DatasetSource;
  /** Called when a fill ends (ready or failed): the scheduler may start waiting jobs. */
  readonly onFillEnd?: (key: string) => void;
  /** After each batch of verified files is recorded (a crash-test failpoint). */
  readonly onVerifiedBatch?: () => void;
  /** This boot's id (default: the kernel's); tests inject one to stand for a reboot. */
  readonly bootId?: string;
  /** Wait after a record before the background sync (default 1000 ms). */
  readonly syncDelayMs?: number;
  /** Unsynced bytes fills may leave behind them before the background sync runs during them (default SYNC_BACKLOG_BYTES). */
  readonly syncBacklogBytes?: number;
}

export interface FillProgress {
  readonly bytesDone: number;
  readonly filesDone: number;
  readonly startedAt: number;
  /** Bytes copied in this run (not the ones kept from before an interruption). */
  readonly bytesThisRun: number;
}

export interface CacheEntryView {
  readonly name: string;
  readonly version: number;
  readonly state: 'ready' | 'filling' | 'interrupted';
  readonly totalBytes: number;
  readonly bytesDone: number;
  readonly files: number;
  readonly filesDone: number;
  readonly lastUsedAt: number;
  readonly readyAt: number | null;
  readonly path: string | null;
  readonly pinned: boolean;
  readonly bytesPerSecond: number | null;
  readonly etaSeconds: number | null;
  readonly lastError: { code: string; message: string; at: number } | null;
}

/** Verified files are recorded in one SQLite commit per this many ms, or this many files. */
const FLUSH_MS = 200;
const FLUSH_FILES = 256;

export function keyOf(name: string, version: number): string {
  return `${name}@${version}`;
}

/** Folders of the copy writable by the server again (to repair or remove it). */
async function makeWritable(dir: string): Promise<void> {
  await fsp.chmod(dir, 0o755).catch(() => undefined);
  for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await makeWritable(join(dir, e.name));
}
/**
 * A verified file of a complete copy carries this mtime (the epoch): any later write sets the
 * mtime to the present, so one stat tells a file written since it was verified, whatever the
 * clock (changedFiles).
 */
const VERIFIED_MTIME = 0;
async function sealFile(p: string): Promise<void> {
  await fsp.chmod(p, 0o444);
  await fsp.utimes(p, VERIFIED_MTIME, VERIFIED_MTIME);
}
/** Seals the files and makes the folders read-only; `dir` itself too unless `self` is false. */
async function makeReadOnly(dir: string, self = true): Promise<void> {
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await makeReadOnly(p);
    else await sealFile(p);
  }
  if (self) await fsp.chmod(dir, 0o555);
}

interface InFlight {
  promise: Promise<void>;
  progress: { bytesDone: number; filesDone: number; startedAt: number; bytesThisRun: number };
}

export class NodeCache {
  readonly node: string;
  readonly dir: string;
  readonly capacityBytes: number;
  private readonly clock: () => number;
  private readonly log: (line: string) => void;
  private readonly streams: number;
  private readonly inflight = new Map<string, InFlight>();
  private readonly errors = new Map<string, { code: string; message: string; at: number }>();
  /** Copies being read by a job-start in progress: pinned like a running job's. */
  private readonly holds = new Map<string, number>();
  /** Complete copies whose changed files are being re-hashed before a job reads them. */
  private readonly repairs = new Map<string, Promise<void>>();
  private closed = false;
  /** The boot id this process records with. */
  readonly boot: string;
  private readonly syncer: BackgroundSync;
  /** Bytes of files recorded unsynced since the background sync's last pass started. */
  private unsyncedBytes = 0;

  constructor(
    private readonly catalog: DatasetCatalog,
    private readonly o: NodeCacheOptions,
  ) {
    this.node = o.node;
    this.dir = o.dir;
    this.capacityBytes = o.capacityBytes;
    this.clock = o.clock ?? Date.now;
    this.log = o.log ?? (() => undefined);
    this.streams = Math.max(1, o.streams ?? 4);
    mkdirSync(join(this.dir, '.staging'), { recursive: true, mode: 0o755 });
    startCopyPool();
    this.boot = o.bootId ?? currentBootId();
    this.syncer = new BackgroundSync({
      node: this.node,
      catalog,
      boot: this.boot,
      cacheDir: this.dir,
      copyDirs: [this.dir, join(this.dir, '.staging')],
      locate: (r) => {
        const key = keyOf(r.name, r.version);
        const row = catalog.cacheRow(this.node, r.name, r.version);
        if (!row) return null;
        return join(row.state === 'ready' ? this.readyDir(key) : this.stagingDir(key), r.path);
      },
      ...(o.syncDelayMs !== undefined ? { delayMs: o.syncDelayMs } : {}),
      busy: () => this.inflight.size > 0,
      backlogBytes: () => this.unsyncedBytes,
      onPassStart: () => void (this.unsyncedBytes = 0),
      ...(o.syncBacklogBytes !== undefined ? { maxBacklogBytes: o.syncBacklogBytes } : {}),
      log: this.log,
    });
  }

  /** Syncs now what this boot recorded unsynced, and clears the tags (tests; a shutdown may call it). */
  flushSync(): Promise<void> {
    return this.syncer.flush();
  }

  /**
   * A copy holds records made in another boot and never synced (a crash of the machine may have
   * lost their bytes): its files are checksummed again before it is kept or served.
   */
  isUnverifiedSinceReboot(name: string, version: number): boolean {
    for (const boot of this.catalog.unsyncedOf(this.node, name, version).values()) if (boot !== this.boot) return true;
    return false;
  }

  private readyDir(key: string): string {
    return join(this.dir, key);
  }
  private stagingDir(key: string): string {
    return join(this.dir, '.staging', key);
  }

  private pinnedKeys(): Set<string> {
    const s = new Set(this.o.pinned?.() ?? []);
    for (const k of this.holds.keys()) s.add(k);
    return s;
  }

  /** Bytes the cache holds or has reserved for fills. */
  usedBytes(): number {
    return this.catalog.cacheRows(this.node).reduce((s, r) => s + r.totalBytes, 0);
  }

  entries(): CacheEntryView[] {
    const pinned = this.pinnedKeys();
    return this.catalog.cacheRows(this.node).map((r) => this.view(r.name, r.version, pinned) as CacheEntryView);
  }

  entry(name: string, version: number): CacheEntryView | null {
    return this.view(name, version, this.pinnedKeys());
  }

  private view(name: string, version: number, pinned: ReadonlySet<string>): CacheEntryView | null {
    const r = this.catalog.cacheRow(this.node, name, version);
    if (!r) return null;
    const key = keyOf(name, version);
    const f = this.inflight.get(key);
    const now = this.clock();
    let bytesDone = r.totalBytes;
    let filesDone = 0;
    let rate: number | null = null;
    const v = this.catalog.get(name, version);
    const files = v?.files.length ?? 0;
    if (r.state === 'ready') filesDone = files;
    else if (f) {
      bytesDone = f.progress.bytesDone;
      filesDone = f.progress.filesDone;
      const secs = (now - f.progress.startedAt) / 1000;
      rate = secs > 0.2 ? f.progress.bytesThisRun / secs : null;
    } else {
      const done = this.catalog.verifiedFiles(this.node, name, version);
      filesDone = done.size;
      bytesDone = (v?.files ?? []).reduce((s, x) => s + (done.has(x.path) ? x.size : 0), 0);
    }
    const state = r.state === 'ready' ? 'ready' : f ? 'filling' : 'interrupted';
    return {
      name,
      version,
      state,
      totalBytes: r.totalBytes,
      bytesDone,
      files,
      filesDone,
      lastUsedAt: r.lastUsedAt,
      readyAt: r.readyAt,
      path: r.state === 'ready' ? this.readyDir(key) : null,
      pinned: pinned.has(key),
      bytesPerSecond: rate === null ? null : Math.round(rate),
      etaSeconds: rate !== null && rate > 0 ? Math.ceil((r.totalBytes - bytesDone) / rate) : null,
      lastError: this.errors.get(key) ?? null,
    };
  }

  /** The complete copy's folder (and marks it used now), or null when there is none. */
  readyPath(name: string, version: number): string | null {
    const r = this.catalog.cacheRow(this.node, name, version);
    if (r?.state !== 'ready') return null;
    this.catalog.touch(this.node, name, version, this.clock());
    return this.readyDir(keyOf(name, version));
  }

  /** Pins a copy while a job is being started from it; the returned function releases it. */
  hold(name: string, version: number): () => void {
    const key = keyOf(name, version);
    this.holds.set(key, (this.holds.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.holds.get(key) ?? 1) - 1;
      if (n <= 0) this.holds.delete(key);
      else this.holds.set(key, n);
    };
  }

  /** Why the last fill of this version failed (cleared when a fill starts again). */
  lastError(name: string, version: number): { code: string; message: string; at: number } | null {
    return this.errors.get(keyOf(name, version)) ?? null;
  }

  /** Stops fills after the file each stream is copying (they resume at the next start); waits up to `waitMs`. */
  async close(waitMs = 2000): Promise<void> {
    this.closed = true;
    this.syncer.stop();
    const all = Promise.allSettled([...this.inflight.values()].map((f) => f.promise));
    await Promise.race([all, new Promise((r) => setTimeout(r, waitMs).unref())]);
  }

  isFilling(name: string, version: number): boolean {
    return this.inflight.has(keyOf(name, version));
  }

  /**
   * Frees space for `bytes` more by evicting least recently used copies that nothing pins.
   * Returns the keys evicted, or throws DATASET_CACHE_FULL (and evicts nothing) when even
   * evicting every unpinned copy would not make room.
   */
  private async makeRoom(bytes: number, forKey: string): Promise<string[]> {
    const rows = this.catalog.cacheRows(this.node);
    const used = rows.reduce((s, r) => s + r.totalBytes, 0);
    let need = used + bytes - this.capacityBytes;
    if (need <= 0) return [];
    const pinned = this.pinnedKeys();
    const victims = rows.filter((r) => r.state === 'ready' && !pinned.has(keyOf(r.name, r.version)) && !this.inflight.has(keyOf(r.name, r.version))).sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    const evictable = victims.reduce((s, r) => s + r.totalBytes, 0);
    if (evictable < need) {
      const held = rows.filter((r) => !victims.includes(r)).map((r) => keyOf(r.name, r.version));
      throw new UserError('DATASET_CACHE_FULL', `no room for ${forKey} (${bytes} bytes) in the cache of node ${this.node}: capacity ${this.capacityBytes}, in use ${used}, and only ${evictable} bytes are evictable (in use or filling: ${held.join(', ') || 'none'})`, {
        neededBytes: bytes,
        capacityBytes: this.capacityBytes,
        usedBytes: used,
        evictableBytes: evictable,
        held,
      });
    }
    const out: string[] = [];
    for (const r of victims) {
      if (need <= 0) break;
      await this.remove(r.name, r.version);
      this.log(`dataset cache ${this.node}: evicted ${keyOf(r.name, r.version)} (${r.totalBytes} bytes, last used ${new Date(r.lastUsedAt).toISOString()}) to make room for ${forKey}`);
      out.push(keyOf(r.name, r.version));
      need -= r.totalBytes;
    }
    return out;
  }

  private async remove(name: string, version: number): Promise<void> {
    const key = keyOf(name, version);
    for (const d of [this.readyDir(key), this.stagingDir(key)]) {
      if (!existsSync(d)) continue;
      await makeWritable(d);
      rmSync(d, { recursive: true, force: true });
    }
    this.catalog.dropCache(this.node, name, version);
    await removeMarker(this.dir, key);
  }

  /** Removes a copy on request. A pinned or filling copy is refused (DATASET_IN_USE) unless `force` and not pinned. */
  async evict(name: string, version: number): Promise<void> {
    const key = keyOf(name, version);
    if (!this.catalog.cacheRow(this.node, name, version)) throw new UserError('DATASET_NOT_CACHED', `${key} is not in the cache of node ${this.node}`);
    if (this.pinnedKeys().has(key)) throw new UserError('DATASET_IN_USE', `${key} is read by a running or starting job on ${this.node}; it is evicted only once no job needs it`);
    if (this.inflight.has(key)) throw new UserError('DATASET_IN_USE', `${key} is filling on ${this.node}; wait for the fill to end`);
    await this.remove(name, version);
    this.log(`dataset cache ${this.node}: evicted ${key} on request`);
  }

  /**
   * Fills the cache with a version (or resumes an interrupted fill). Resolves when the copy is
   * complete and verified; a second call for the same version joins the first.
   */
  fill(v: DatasetVersion): Promise<void> {
    const key = keyOf(v.name, v.version);
    const running = this.inflight.get(key);
    if (running) return running.promise;
    const existing = this.catalog.cacheRow(this.node, v.name, v.version);
    if (existing?.state === 'ready') {
      this.catalog.touch(this.node, v.name, v.version, this.clock());
      return Promise.resolve();
    }
    const progress = { bytesDone: 0, filesDone: 0, startedAt: this.clock(), bytesThisRun: 0 };
    const entry: InFlight = { progress, promise: Promise.resolve() };
    this.inflight.set(key, entry);
    this.errors.delete(key);
    entry.promise = this.runFill(v, existing !== undefined, progress).then(
      () => {
        this.inflight.delete(key);
        this.o.onFillEnd?.(key);
      },
      (e: unknown) => {
        this.inflight.delete(key);
        const err = e as { code?: string; message?: string };
        this.errors.set(key, { code: typeof err.code === 'string' && err.code.startsWith('DATASET_') ? err.code : 'DATASET_FILL_FAILED', message: err.message ?? String(e), at: this.clock() });
        this.log(`dataset cache ${this.node}: fill of ${key} failed: ${err.message ?? String(e)}`);
        this.o.onFillEnd?.(key);
        throw e;
      },
    );
    return entry.promise;
  }

  /** Starts a fill without waiting for it; its outcome shows in entries() (state, lastError). */
  startFill(v: DatasetVersion): void {
    this.fill(v).catch(() => undefined);
  }

  /**
   * Fills that were running when the server stopped, resumed in the background; complete copies
   * recorded in another boot and never synced are checked again (checksums) in the background,
   * and jobs wait for that (changedFiles). What this boot recorded unsynced is synced.
   */
  resumeInterrupted(get: (name: string, version: number) => DatasetVersion | undefined): string[] {
    const out: string[] = [];
    for (const r of this.catalog.cacheRows(this.node)) {
      const v = get(r.name, r.version);
      if (!v) continue;
      if (r.state === 'ready') {
        if (this.isUnverifiedSinceReboot(r.name, r.version)) this.startRepair(v, v.files);
        else if (!this.catalog.hasUnsynced(this.node, r.name, r.version)) void removeMarker(this.dir, keyOf(r.name, r.version)).catch(() => undefined);
        continue;
      }
      out.push(keyOf(r.name, r.version));
      this.startFill(v);
    }
    this.syncer.kick();
    return out;
  }

  private async runFill(v: DatasetVersion, resuming: boolean, progress: InFlight['progress']): Promise<void> {
    const key = keyOf(v.name, v.version);
    if (!resuming) {
      await this.makeRoom(v.totalBytes, key);
      this.catalog.startFill(this.node, v.name, v.version, v.totalBytes, this.clock());
    }
    const staging = this.stagingDir(key);
    if (resuming && !existsSync(staging) && existsSync(this.readyDir(key))) {
      // Stopped between the final rename and its record: the copy is complete. Its marker says
      // whether it was made in this boot; if not (or if it is unreadable), it is checked before
      // a job reads it, since the records of its files may have been lost with the crash.
      await fsp.chmod(this.readyDir(key), 0o555);
      this.catalog.markReady(this.node, v.name, v.version, this.clock(), copyTrusted(this.dir, key, this.boot) ? this.boot : 'unknown');
      this.syncer.kick();
      return;
    }
    await fsp.mkdir(staging, { recursive: true, mode: 0o755 });
    // The marker must be on disk before the final rename can be (readers without SQLite).
    const marker = writeMarker(this.dir, key, this.boot);
    marker.catch(() => undefined);
    const verified = this.catalog.verifiedFiles(this.node, v.name, v.version);
    const unsynced = resuming ? this.catalog.unsyncedOf(this.node, v.name, v.version) : new Map<string, string>();
    const rechecked: string[] = [];
    const todo: DatasetFile[] = [];
    for (const f of v.files) {
      if (verified.has(f.path)) {
        const boot = unsynced.get(f.path);
        const p = join(staging, f.path);
        // Recorded in another boot and never synced: a crash may have lost its bytes, so it is
        // checksummed again. Otherwise only a missing or resized file (tampering) is copied again.
        const keep = boot !== undefined && boot !== this.boot ? await hashFile(p, fillChecksum(f).kind).then((d) => d === fillChecksum(f).want) : (await fsp.stat(p).catch(() => null))?.size === f.size;
        if (keep) {
          if (boot !== undefined && boot !== this.boot) rechecked.push(f.path);
          progress.bytesDone += f.size;
          progress.filesDone++;
          continue;
        }
      }
      todo.push(f);
    }
    if (rechecked.length > 0) this.catalog.retagUnsynced(this.node, v.name, v.version, this.boot, rechecked);
    if (resuming) this.log(`dataset cache ${this.node}: resuming ${key}: ${progress.filesDone} of ${v.files.length} files kept, ${todo.length} to copy`);
    const source = this.o.openSource(v.source);
    let failed: unknown = null;
    // Verified files are recorded in batches (one SQLite commit per ~200 ms, not per file),
    // without waiting for the disk: the record carries the boot id, and the background sync
    // makes the bytes durable and clears it. Within this boot the page cache holds the bytes
    // (a kill -9 loses none); after a crash of the machine they are checksummed again.
    const sizeOf = new Map(v.files.map((f) => [f.path, f.size]));
    let batch: string[] = [];
    let lastFlush = this.clock();
    let recording: Promise<void> = Promise.resolve();
    const record = async (files: readonly string[]): Promise<void> => {
      try {
        this.catalog.addVerified(this.node, v.name, v.version, files, this.boot);
        for (const p of files) this.unsyncedBytes += sizeOf.get(p) ?? 0;
      } catch (e) {
        if (!this.closed) throw e; // after close the store may be gone: those files are copied again next time
      }
      this.syncer.kick();
      this.o.onVerifiedBatch?.();
    };
    const flush = (): void => {
      const files = batch;
      batch = [];
      lastFlush = this.clock();
      if (files.length === 0) return;
      recording = recording.then(() => record(files));
      recording.catch((e: unknown) => void (failed ??= e));
    };
    const made = new Set<string>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (failed === null && next < todo.length) {
        if (this.closed) {
          failed = new UserError('DATASET_FILL_FAILED', `${key}: the server stopped; the fill resumes at the next start`);
          return;
        }
        const f = todo[next++] as DatasetFile;
        const dest = join(staging, f.path);
        const dir = dirname(dest);
        if (!made.has(dir)) {
          await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
          made.add(dir);
        }
        try {
          await this.copyVerified(source, f, dest, progress, key);
        } catch (e) {
          failed ??= e;
          return;
        }
        batch.push(f.path);
        if (this.clock() - lastFlush >= FLUSH_MS || batch.length >= FLUSH_FILES) flush();
        if (this.closed) return;
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.streams, todo.length) }, worker));
    } finally {
      source.close?.();
    }
    flush();
    await recording.catch(() => undefined);
    if (failed !== null) throw failed;
    // The folder itself becomes read-only after its move: moving a folder to another parent
    // rewrites its ".." entry, which needs write permission on it (EACCES without
    // CAP_DAC_OVERRIDE, as for the cache agent and any non-root server).
    await makeReadOnly(staging, false);
    await marker;
    await fsp.rename(staging, this.readyDir(key));
    await fsp.chmod(this.readyDir(key), 0o555);
    this.catalog.markReady(this.node, v.name, v.version, this.clock(), this.boot);
    this.syncer.kick();
    const secs = (this.clock() - progress.startedAt) / 1000;
    this.log(`dataset cache ${this.node}: ${key} ready (${v.files.length} files, ${v.totalBytes} bytes; ${progress.bytesThisRun} copied in ${secs.toFixed(1)} s)`);
  }

  /**
   * One file into `dest`: copied to `.part`, checksummed, compared, renamed. A mismatch is
   * fetched once more, then refused. A source's fetch creates or truncates `.part` itself (the
   * local copy also replaces a read-only leftover of older versions), so nothing is removed first.
   */
  private async copyVerified(source: DatasetSource, f: DatasetFile, dest: string, progress: InFlight['progress'], key: string, kind?: ChecksumKind): Promise<void> {
    const part = `${dest}.part`;
    const check = kind === 'sha256' ? { kind, want: f.sha256 } : fillChecksum(f);
    for (let attempt = 1; ; attempt++) {
      let got = 0;
      const digest = await source
        .fetch(
          f,
          part,
          (n) => {
            got += n;
            progress.bytesDone += n;
            progress.bytesThisRun += n;
          },
          check.kind,
        )
        .catch((e: unknown) => {
          progress.bytesDone -= got; // a large file reports progress before it is done
          throw e;
        });
      if (digest === check.want) break;
      progress.bytesDone -= got;
      await fsp.rm(part, { force: true });
      const name = check.kind === 'crc32' ? 'CRC-32' : 'SHA-256';
      if (attempt >= 2) throw new UserError('DATASET_CHECKSUM_MISMATCH', `${key}: ${f.path} has ${name} ${digest}, the version recorded ${String(check.want)} (fetched twice); the source changed since the version was added`);
      this.log(`dataset cache ${this.node}: ${key}: ${f.path} failed its checksum; fetching it again`);
    }
    await fsp.rename(part, dest);
    progress.filesDone++;
  }

  /**
   * Files of a complete copy that changed since they were verified: missing, resized, or written
   * (an mtime other than VERIFIED_MTIME). One stat per file, run before a job is handed the copy:
   * it finds writes to the copy, not silent bit rot (verify hashes every byte).
   */
  changedFiles(v: DatasetVersion): DatasetFile[] {
    if (this.catalog.cacheRow(this.node, v.name, v.version)?.state !== 'ready') return [];
    if (this.isUnverifiedSinceReboot(v.name, v.version)) return [...v.files];
    const dir = this.readyDir(keyOf(v.name, v.version));
    return v.files.filter((f) => {
      const st = statSync(join(dir, f.path), { throwIfNoEntry: false });
      return st === undefined || st.size !== f.size || st.mtimeMs !== VERIFIED_MTIME;
    });
  }

  isRepairing(name: string, version: number): boolean {
    return this.repairs.has(keyOf(name, version));
  }

  /**
   * Re-hashes `files` of a complete copy in the background and fetches the corrupted ones again
   * (see verify); a copy not verified since a reboot is checked whole (recheckAfterReboot).
   */
  startRepair(v: DatasetVersion, files: readonly DatasetFile[]): void {
    const key = keyOf(v.name, v.version);
    if (this.repairs.has(key)) return;
    const done = (): void => {
      this.repairs.delete(key);
      this.o.onFillEnd?.(key);
    };
    this.repairs.set(
      key,
      (this.isUnverifiedSinceReboot(v.name, v.version) ? this.recheckAfterReboot(v) : this.verify(v, files)).then(
        (r) => {
          if (r.repaired.length > 0) this.log(`dataset cache ${this.node}: ${key}: repaired ${r.repaired.join(', ')} before a job read it`);
          done();
        },
        (e: unknown) => {
          this.errors.set(key, { code: 'DATASET_FILL_FAILED', message: (e as Error).message ?? String(e), at: this.clock() });
          done();
        },
      ),
    );
  }

  /**
   * A complete copy recorded in another boot and never synced: every file is checksummed (the
   * fill's checksum, CRC-32 where recorded) and those that do not match (lost in a crash of the
   * machine) are fetched again; then its records count as this boot's and are synced in the
   * background. A copy whose final rename was lost is renamed again; one lost whole is dropped.
   */
  private async recheckAfterReboot(v: DatasetVersion): Promise<{ checked: number; repaired: string[] }> {
    const key = keyOf(v.name, v.version);
    const dir = this.readyDir(key);
    if (!existsSync(dir)) {
      const staging = this.stagingDir(key);
      if (!existsSync(staging)) {
        this.catalog.dropCache(this.node, v.name, v.version);
        await removeMarker(this.dir, key);
        this.log(`dataset cache ${this.node}: ${key} was lost in a crash of the machine; it is filled again when needed`);
        return { checked: 0, repaired: [] };
      }
      await fsp.chmod(staging, 0o755);
      await fsp.rename(staging, dir);
    }
    const release = this.hold(v.name, v.version);
    let source: DatasetSource | null = null;
    const repaired: string[] = [];
    try {
      const bad: DatasetFile[] = [];
      for (const f of v.files) {
        const c = fillChecksum(f);
        if ((await hashFile(join(dir, f.path), c.kind)) !== c.want) bad.push(f);
      }
      if (bad.length > 0) {
        await makeWritable(dir);
        source = this.o.openSource(v.source);
        const progress = { bytesDone: 0, filesDone: 0, startedAt: this.clock(), bytesThisRun: 0 };
        for (const f of bad) {
          const p = join(dir, f.path);
          this.log(`dataset cache ${this.node}: ${key}: ${f.path} does not match its checksum after a reboot; fetching it again`);
          await fsp.mkdir(dirname(p), { recursive: true, mode: 0o755 });
          await fsp.rm(p, { force: true });
          await this.copyVerified(source, f, p, progress, key);
          repaired.push(f.path);
        }
        await makeReadOnly(dir);
      }
      await writeMarker(this.dir, key, this.boot);
      this.catalog.retagUnsynced(this.node, v.name, v.version, this.boot);
      if (repaired.length > 0) this.catalog.addUnsynced(this.node, v.name, v.version, repaired, this.boot);
      this.syncer.kick();
    } finally {
      release();
      source?.close?.();
    }
    return { checked: v.files.length, repaired };
  }

  /**
   * Re-hashes a complete copy (or only `only` of its files). A file that no longer matches (a
   * corrupted shard) is fetched again from the source and sealed (read-only, VERIFIED_MTIME).
   * Returns the files repaired.
   */
  async verify(v: DatasetVersion, only?: readonly DatasetFile[]): Promise<{ checked: number; repaired: string[] }> {
    const key = keyOf(v.name, v.version);
    const row = this.catalog.cacheRow(this.node, v.name, v.version);
    if (row?.state !== 'ready') throw new UserError('DATASET_NOT_CACHED', `${key} has no complete copy on node ${this.node}`);
    const dir = this.readyDir(key);
    const repaired: string[] = [];
    let source: DatasetSource | null = null;
    const progress = { bytesDone: 0, filesDone: 0, startedAt: this.clock(), bytesThisRun: 0 };
    const release = this.hold(v.name, v.version);
    try {
      for (const f of only ?? v.files) {
        const p = join(dir, f.path);
        // Missing or unreadable (null): repaired like a corrupted one.
        const sha = await hashFile(p, 'sha256');
        if (sha === f.sha256) {
          if (only) await sealFile(p); // written without a change of content: sealed again
          continue;
        }
        this.log(`dataset cache ${this.node}: ${key}: ${f.path} is corrupted (${sha === null ? 'missing' : `SHA-256 ${sha}`}); fetching it again`);
        source ??= this.o.openSource(v.source);
        const parent = dirname(p);
        await fsp.chmod(parent, 0o755);
        try {
          await fsp.rm(p, { force: true });
          await this.copyVerified(source, f, p, progress, key, 'sha256');
          await syncFile(p);
          await sealFile(p);
        } finally {
          await fsp.chmod(parent, 0o555);
        }
        repaired.push(f.path);
      }
    } finally {
      release();
      source?.close?.();
    }
    if (only === undefined && this.isUnverifiedSinceReboot(v.name, v.version)) {
      // Every byte was just hashed: the copy is this boot's now, like after recheckAfterReboot.
      await writeMarker(this.dir, key, this.boot);
      this.catalog.retagUnsynced(this.node, v.name, v.version, this.boot);
      this.syncer.kick();
    }
    this.catalog.touch(this.node, v.name, v.version, this.clock());
    return { checked: (only ?? v.files).length, repaired };
  }
}
