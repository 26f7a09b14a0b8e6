/**
 * Datasets in `gantry up`: the catalogue of immutable versions, the local node's cache, and
 * the glue to jobs. A job that names a registered dataset gets the version pinned at
 * submission (provenance); when the scheduler places it, the data gate starts (or joins) the
 * fill and holds the job back until the copy is complete, then hands the job its read-only
 * local folder. Eviction never takes a copy a running job, or a job waiting for its data,
 * reads.
 */
import type { Binding } from '../core/model/cluster.js';
import { UserError } from '../core/errors.js';
import type { JobRow } from '../adapters/store/store.js';
import { DatasetCatalog, type DatasetVersion } from '../adapters/datacache/dataset-catalog.js';
import { type DatasetSource, describeSource, type SourceSpec } from '../adapters/datacache/dataset-source.js';
import { scanSource } from '../adapters/datacache/dataset-scan.js';
import { keyOf, NodeCache } from '../adapters/datacache/node-cache.js';
import { openSource } from '../adapters/datacache/open-source.js';
import type { JobFile } from '../spec/job-spec.js';
import type { NodeCacheReport } from '../core/model/node-cache.js';
import type { DataGateResult } from './controller.js';
import { failpoint } from './failpoints.js';
import type Database from 'better-sqlite3';
import { join } from 'node:path';

export interface DatasetServiceOptions {
  readonly db: Database.Database;
  readonly node: string;
  readonly cacheDir: string;
  /** Simulated nodes beyond `node` (`--sim-nodes`): each gets its own cache, in `<cacheDir>/.nodes/<node>`. */
  readonly extraNodes?: readonly string[];
  readonly capacityBytes: number;
  readonly streams?: number;
  readonly clock?: () => number;
  readonly log?: (line: string) => void;
  /** Tests substitute a source (e.g. one that fails mid-way); default: the real adapters. */
  readonly openSource?: (s: SourceSpec) => DatasetSource;
}

/** A managed copy's state for one job: see DatasetService.dataState. */
export interface DataState {
  readonly state: 'cached' | 'repairing' | 'filling' | 'waiting-for-space' | 'failed' | 'interrupted' | 'not-cached';
  readonly bytesDone: number;
  readonly totalBytes: number;
  readonly bytesPerSecond: number | null;
  readonly etaSeconds: number | null;
  /** The state in a sentence (filling 40% (...), ETA 12 s). */
  readonly message: string;
}
export type JobDataView = { name: string; version: number | null; path: string | null; state: 'external' | 'unresolved' } | ({ name: string; version: number; path: string | null } & DataState);

const RUNNING = new Set(['running', 'preempting', 'cancelling']);

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export class DatasetService {
  readonly catalog: DatasetCatalog;
  /** The local node's cache. */
  readonly cache: NodeCache;
  /** Every node's cache, the local one first. */
  readonly caches = new Map<string, NodeCache>();
  private jobs: () => readonly JobRow[] = () => [];
  private kick: () => void = () => undefined;
  /** Jobs held back for their data, and the copies they wait for (`node|key`, pinned against eviction). */
  private readonly waiting = new Map<string, string[]>();
  /** The queued jobs prefetched for (the last prefetch call), and their copies (`node|key`, pinned too). */
  private readonly prefetching = new Map<string, string[]>();
  /** Copies warmed for a service's next replica (`node|key` by service; weights-prefetch.ts). */
  private readonly warming = new Map<string, string>();
  private predictable: (id: string) => boolean = () => true;
  private predictNode: (id: string) => string | null = () => this.cache.node;
  private readonly clock: () => number;
  private readonly open: (s: SourceSpec) => DatasetSource;

  constructor(o: DatasetServiceOptions) {
    this.clock = o.clock ?? Date.now;
    this.open = o.openSource ?? openSource;
    this.catalog = new DatasetCatalog(o.db);
    const cacheOn = (node: string, dir: string): NodeCache =>
      new NodeCache(this.catalog, {
        node,
        dir,
        capacityBytes: o.capacityBytes,
        ...(o.streams !== undefined ? { streams: o.streams } : {}),
        clock: this.clock,
        ...(o.log ? { log: o.log } : {}),
        pinned: () => this.pinned(node),
        openSource: this.open,
        onFillEnd: () => this.kick(),
        onVerifiedBatch: () => failpoint('dataset-fill-flush'),
      });
    this.cache = cacheOn(o.node, o.cacheDir);
    this.caches.set(o.node, this.cache);
    for (const n of o.extraNodes ?? []) this.caches.set(n, cacheOn(n, join(o.cacheDir, '.nodes', n)));
  }

  /** A node's cache (undefined for a node without one). */
  cacheOf(node: string): NodeCache | undefined {
    return this.caches.get(node);
  }

  /** What each node's cache holds (bytes per `name@version`, a fill in progress counting what it verified): the core's input. */
  reports(): NodeCacheReport[] {
    return [...this.caches.values()].map((c) => ({ node: c.node, held: Object.fromEntries(c.entries().filter((e) => e.bytesDone > 0).map((e) => [keyOf(e.name, e.version), e.state === 'ready' ? e.totalBytes : e.bytesDone])) }));
  }

  /** Bytes of a version (0 when unknown): what a request's locality counts. */
  bytesOf(name: string, version: number): number {
    return this.catalog.get(name, version)?.totalBytes ?? 0;
  }

  async close(): Promise<void> {
    await Promise.all([...this.caches.values()].map((c) => c.close()));
  }

  /**
   * The controller's jobs, how to wake its scheduler when a fill ends, and whether a queued
   * job's start is blocked only by capacity or its turn (then its placement is predictable).
   */
  connect(jobs: () => readonly JobRow[], kick: () => void, predictable?: (id: string) => boolean, predictNode?: (id: string) => string | null): void {
    this.jobs = jobs;
    this.kick = kick;
    if (predictable) this.predictable = predictable;
    if (predictNode) this.predictNode = predictNode;
  }

  /** Copies on `node` that a running job there reads, a placed job waits for, or a prefetch stages. */
  private pinned(node: string): Set<string> {
    const out = new Set<string>();
    const live = new Set<string>();
    const mine = (nk: string): void => {
      const bar = nk.indexOf('|');
      if (nk.slice(0, bar) === node) out.add(nk.slice(bar + 1));
    };
    for (const j of this.jobs()) {
      live.add(j.id);
      if (!RUNNING.has(j.state) || !(j.bindings ?? []).some((b) => b.node === node)) continue;
      for (const d of j.spec.datasets) if (d.path === undefined && d.version !== undefined) out.add(keyOf(d.name, d.version));
    }
    for (const [id, keys] of this.waiting) {
      if (!live.has(id)) this.waiting.delete(id);
      else keys.forEach(mine);
    }
    for (const [id, keys] of this.prefetching) if (live.has(id)) keys.forEach(mine);
    for (const nk of this.warming.values()) mine(nk);
    return out;
  }

  /**
   * Stages `v` on `node` for a holder (a service's next replica), pinned until the holder's next
   * call or `unwarm`. Returns true when a fill started.
   */
  warm(holder: string, node: string, v: DatasetVersion): boolean {
    const cache = this.caches.get(node);
    if (!cache) return false;
    this.warming.set(holder, `${node}|${keyOf(v.name, v.version)}`);
    return this.startFillIfDue(cache, v);
  }

  unwarm(holder: string): void {
    this.warming.delete(holder);
  }

  /** Starts a fill unless the copy is ready or filling, or its last fill failed a moment ago. */
  private startFillIfDue(cache: NodeCache, v: DatasetVersion): boolean {
    if (cache.entry(v.name, v.version)?.state === 'ready' || cache.isFilling(v.name, v.version)) return false;
    const err = cache.lastError(v.name, v.version);
    if (err && this.clock() - err.at < (err.code === 'DATASET_CACHE_FULL' ? 2_000 : 30_000)) return false;
    cache.startFill(v);
    return true;
  }

  /** A version that exists and is not removed, or a DATASET_NOT_FOUND / DATASET_REMOVED error. */
  version(name: string, version?: number): DatasetVersion {
    const v = this.catalog.get(name, version);
    if (!v) {
      const known = this.catalog.list(name);
      if (known.length === 0) throw new UserError('DATASET_NOT_FOUND', `no dataset "${name}" (gantry datasets add registers one)`);
      if (version !== undefined) throw new UserError('DATASET_NOT_FOUND', `dataset ${name} has no version ${version} (versions: ${known.map((k) => k.version).join(', ')})`);
      throw new UserError('DATASET_REMOVED', `every version of dataset ${name} was removed`);
    }
    if (v.removedAt !== null) throw new UserError('DATASET_REMOVED', `${keyOf(name, v.version)} was removed at ${new Date(v.removedAt).toISOString()}`);
    return v;
  }

  /** Registers the next version of `name` from its source; unchanged content returns the newest version instead. */
  async add(name: string, source: SourceSpec, by: string): Promise<{ version: DatasetVersion; created: boolean }> {
    let files: Awaited<ReturnType<typeof scanSource>>;
    let src: DatasetSource | null = null;
    try {
      src = this.open(source);
      files = await scanSource(src);
    } catch (e) {
      // Whatever the source's client throws (a bad endpoint or region, a transport error) is the
      // source's fault, not the server's: say so with the code, never a 500.
      if (e instanceof UserError) throw e;
      throw new UserError('DATASET_SOURCE_UNREADABLE', `${name}: cannot read the source: ${(e as Error).message?.slice(0, 300) ?? String(e)}`);
    } finally {
      src?.close?.();
    }
    const last = this.catalog.get(name);
    if (last && last.removedAt === null && JSON.stringify(last.source) === JSON.stringify(source) && last.files.length === files.length && last.files.every((f, i) => f.path === files[i]?.path && f.sha256 === files[i]?.sha256)) {
      return { version: last, created: false };
    }
    const v = this.catalog.addVersion({ name, source, files, totalBytes: files.reduce((s, f) => s + f.size, 0), createdAt: this.clock(), createdBy: by });
    return { version: v, created: true };
  }

  /** Marks a version removed (kept for provenance) and drops its cached copy unless a job reads it. */
  async remove(name: string, version: number): Promise<{ evicted: boolean }> {
    const v = this.version(name, version);
    const inUse = this.jobs().filter((j) => j.spec.datasets.some((d) => d.name === name && d.version === version && d.path === undefined));
    if (inUse.length > 0) throw new UserError('DATASET_IN_USE', `${keyOf(name, version)} is named by ${inUse.length} queued or running job(s) (${inUse.slice(0, 5).map((j) => j.id).join(', ')}); remove it once they finish`);
    if ([...this.caches.values()].some((c) => c.isFilling(name, version))) throw new UserError('DATASET_IN_USE', `${keyOf(name, version)} is filling; wait for the fill to end`);
    this.catalog.markRemoved(v.name, v.version, this.clock());
    let evicted = false;
    for (const cache of this.caches.values()) {
      if (!this.catalog.cacheRow(cache.node, name, version)) continue;
      await cache.evict(name, version);
      evicted = true;
    }
    return { evicted };
  }

  /** The job file with each registered dataset's version pinned (the newest when it names none). */
  pinVersions(spec: JobFile): JobFile {
    if (spec.datasets.every((d) => d.path !== undefined)) return spec;
    return { ...spec, datasets: spec.datasets.map((d) => (d.path !== undefined ? d : { ...d, version: this.version(d.name, d.version).version })) };
  }

  /**
   * Prefetch: the next `limit` queued jobs in line (priority, then submission) that name
   * registered datasets and whose start is blocked only by capacity or their turn (not quota, a
   * budget or a policy) get their copies filled before they are placed, on the node they are
   * predicted to run on (with one node, that node). Their copies are pinned like a placed job's,
   * so prefetching for one never evicts another's, nor a running job's; least recently used
   * copies no job needs may go. The pins are recomputed on every call. Returns the fills started.
   */
  prefetch(limit = 8): string[] {
    const out: string[] = [];
    const queued = this.jobs()
      .filter((j) => j.state === 'queued' && j.spec.datasets.some((d) => d.path === undefined && d.version !== undefined) && this.predictable(j.id))
      .sort((a, b) => b.spec.priority - a.spec.priority || a.seq - b.seq)
      .slice(0, limit);
    this.prefetching.clear();
    for (const j of queued) {
      const node = this.predictNode(j.id);
      const cache = node === null ? undefined : this.caches.get(node);
      if (!cache) continue;
      const wanted = j.spec.datasets.filter((d) => d.path === undefined && d.version !== undefined);
      this.prefetching.set(j.id, wanted.map((d) => `${cache.node}|${keyOf(d.name, d.version as number)}`));
      for (const d of wanted) {
        const v = this.catalog.get(d.name, d.version as number);
        if (v && this.startFillIfDue(cache, v)) out.push(keyOf(d.name, v.version) + (this.caches.size > 1 ? ` on ${cache.node}` : ''));
      }
    }
    return out;
  }

  /** The controller's data gate (see ControllerOptions.dataGate). */
  gate(row: JobRow, bindings: readonly Binding[]): DataGateResult {
    const wanted = row.spec.datasets.filter((d) => d.path === undefined && d.version !== undefined);
    if (wanted.length === 0) return { ready: true, dirs: {}, release: () => undefined };
    const nodes = new Set(bindings.map((b) => b.node));
    const waits: string[] = [];
    const dirs: Record<string, string> = {};
    const releases: (() => void)[] = [];
    for (const d of wanted) {
      const version = d.version as number;
      const key = keyOf(d.name, version);
      for (const node of nodes) {
        const cache = this.caches.get(node);
        if (!cache) {
          waits.push(`${key}: node ${node} has no dataset cache`);
          continue;
        }
        const v = this.catalog.get(d.name, version);
        if (!v) {
          waits.push(`${key}: no such dataset version`);
          continue;
        }
        if (cache.entry(d.name, version)?.state === 'ready') {
          // Written since it was verified (a corrupted shard): re-hash those files first.
          const changed = cache.isRepairing(d.name, version) ? null : cache.changedFiles(v);
          if (changed === null || changed.length > 0) {
            if (changed !== null) cache.startRepair(v, changed);
            waits.push(`${key} checking ${changed === null ? 'changed' : changed.length} file(s) written since the copy was verified`);
            continue;
          }
          const dir = cache.readyPath(d.name, version);
          if (dir !== null) {
            // Each node's copy has its own folder; a job's members all run on this machine.
            dirs[d.name] = dir;
            releases.push(cache.hold(d.name, version));
            continue;
          }
        }
        // A failed fill is tried again after a pause (space may free up at any moment).
        this.startFillIfDue(cache, v);
        waits.push(this.describeWait(d.name, version, node));
      }
    }
    if (waits.length === 0) {
      this.waiting.delete(row.id);
      return { ready: true, dirs, release: () => releases.forEach((r) => r()) };
    }
    for (const r of releases) r();
    this.waiting.set(row.id, [...nodes].flatMap((n) => wanted.map((d) => `${n}|${keyOf(d.name, d.version as number)}`)));
    return { ready: false, reason: `waiting for data: ${waits.join('; ')}` };
  }

  /** One copy's state on a node (default the local one): cached, repairing, filling (bytes, rate, ETA), waiting for space, failed, or not started. */
  dataState(name: string, version: number, node = this.cache.node): DataState {
    const key = keyOf(name, version);
    const cache = this.caches.get(node) ?? this.cache;
    const e = cache.entry(name, version);
    const total = e?.totalBytes ?? this.catalog.get(name, version)?.totalBytes ?? 0;
    const base = { bytesDone: e?.bytesDone ?? 0, totalBytes: total, bytesPerSecond: null, etaSeconds: null };
    if (e?.state === 'ready' && cache.isRepairing(name, version)) return { ...base, state: 'repairing', message: `${key} repairing files written since it was verified` };
    if (e?.state === 'ready') return { ...base, state: 'cached', message: `${key} cached` };
    if (e?.state === 'filling') {
      const pct = e.totalBytes > 0 ? Math.floor((100 * e.bytesDone) / e.totalBytes) : 100;
      const rate = e.bytesPerSecond !== null ? `, ${formatBytes(e.bytesPerSecond)}/s` : '';
      return { ...base, bytesPerSecond: e.bytesPerSecond, etaSeconds: e.etaSeconds, state: 'filling', message: `${key} filling ${pct}% (${formatBytes(e.bytesDone)} of ${formatBytes(e.totalBytes)}${rate}${e.etaSeconds !== null ? `, ETA ${e.etaSeconds} s` : ''})` };
    }
    const err = cache.lastError(name, version);
    if (err?.code === 'DATASET_CACHE_FULL') return { ...base, state: 'waiting-for-space', message: `${key} waiting for space in the cache of ${cache.node} (${err.message})` };
    if (err) return { ...base, state: 'failed', message: `${key} fill failed (${err.code}: ${err.message}); retrying` };
    return { ...base, state: e ? 'interrupted' : 'not-cached', message: e ? `${key} fill interrupted; it resumes when a job needs it` : `${key} not cached yet` };
  }

  /** One copy's state in a sentence: filling with progress, rate and ETA, waiting for space, or failed. */
  describeWait(name: string, version: number, node = this.cache.node): string {
    const m = this.dataState(name, version, node).message;
    return this.caches.size > 1 ? `${m} on ${node}` : m;
  }

  /** Data state of a job's datasets (for gantry get / explain), on the node it is placed on (else the local one). */
  jobData(row: JobRow): JobDataView[] {
    const node = row.bindings?.[0]?.node ?? this.cache.node;
    const cache = this.caches.get(node) ?? this.cache;
    return row.spec.datasets.map((d) => {
      if (d.path !== undefined) return { name: d.name, version: null, path: d.path, state: 'external' };
      const version = d.version ?? null;
      if (version === null) return { name: d.name, version, path: null, state: 'unresolved' };
      const st = this.dataState(d.name, version, cache.node);
      return { name: d.name, version, path: cache.entry(d.name, version)?.path ?? null, ...st };
    });
  }

  describe(v: DatasetVersion): string {
    return `${keyOf(v.name, v.version)} (${v.files.length} files, ${formatBytes(v.totalBytes)}, from ${describeSource(v.source)})`;
  }
}
