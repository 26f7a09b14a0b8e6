/**
 * The node cache agent (`gantry k8s cache-agent`, a DaemonSet): the dataset cache of one
 * Kubernetes node, driven through its Node object. Every `intervalMs` it reconciles:
 *  - wanted = the datasets of the pods bound to this node and not finished (annotation
 *    `gantry.dev/datasets`) plus those the scheduler asks it to prefetch
 *    (`gantry.dev/cache-prefetch`); each is filled (the newest version of its source, scanned
 *    and recorded on first use) and pinned: LRU eviction to make room never takes it;
 *  - names listed in `gantry.dev/cache-evict` are evicted unless pinned;
 *  - what the cache holds is written to `gantry.dev/cached-datasets` (node-cache-status.ts),
 *    which the scheduler reads into its node state and scores on.
 * A pass never waits on a source: scans run beside it, so the node is read and the annotation
 * written every pass however slow the store is. A failed scan or fill is tried again after a
 * back-off (RETRY_FIRST_MS, doubling to RETRY_MAX_MS), shown in the error it reports. The
 * annotation is compared with what the node holds at every pass, so a report whose patch failed
 * (or that something else overwrote) is written again on the next one.
 * The cache itself (fills verified, resumable after kill -9, read-only copies) is NodeCache;
 * versions and fill progress live in SQLite inside the cache folder.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { DATASET_MIGRATION, DATASET_UNSYNCED_MIGRATION, DatasetCatalog } from '../datacache/dataset-catalog.js';
import type { DatasetSource, SourceSpec } from '../datacache/dataset-source.js';
import { scanSource } from '../datacache/dataset-scan.js';
import { keyOf, NodeCache } from '../datacache/node-cache.js';
import { openSource } from '../datacache/open-source.js';
import { ANN_DATASETS, ANN_NODE_CACHE_EVICT, ANN_NODE_CACHE_PREFETCH, ANN_NODE_CACHED_DATASETS } from './names.js';
import { type NodeCacheStatus, parseEvictRequest, parsePrefetchRequest } from './node-cache-status.js';
import { datasetNames } from './pods.js';

export interface CacheAgentOptions {
  readonly kubeConfig: KubeConfig;
  readonly node: string;
  readonly cacheDir: string;
  readonly capacityBytes: number;
  /** The dataset sources by name (read again at every reconcile: a mounted ConfigMap may change). */
  readonly sources: () => ReadonlyMap<string, SourceSpec>;
  readonly intervalMs?: number;
  readonly streams?: number;
  readonly log?: (line: string) => void;
  readonly openSource?: (s: SourceSpec) => DatasetSource;
  readonly clock?: () => number;
  /** After each batch of verified files is recorded (a crash-test failpoint). */
  readonly onVerifiedBatch?: () => void;
}

/** A pod still holds its node's resources (and reads its data) until it finishes. */
function live(p: V1Pod): boolean {
  return p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
}

/** The first retry of a failed scan or fill waits this long; each further failure doubles it, up to RETRY_MAX_MS. */
export const RETRY_FIRST_MS = 1000;
export const RETRY_MAX_MS = 30_000;

/** How long after its `failures`-th failure in a row a scan or fill is tried again. */
export function retryDelayMs(failures: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.max(0, Math.min(failures, 20) - 1));
}

const SLOW_PASS_MS = 10_000;

/** What a report says, without its timestamp (a new timestamp alone is no change). */
function reportKey(s: NodeCacheStatus): string {
  return JSON.stringify({ ...s, updatedAt: '' });
}

/** The key of the report the node holds now ('' when it holds none, or one that is not ours). */
function heldReportKey(raw: string | undefined): string {
  try {
    return raw === undefined ? '' : reportKey(JSON.parse(raw) as NodeCacheStatus);
  } catch {
    return '';
  }
}

interface Problem {
  readonly code: string;
  readonly message: string;
  /** Failures in a row (scans and fills), and when the next try starts. */
  readonly failures?: number;
  readonly retryAt?: number;
}

/** Failures in a row of one dataset's scan or fill: when the next try may start. */
interface RetryState {
  readonly failures: number;
  /** When the failure counted last happened (a fill's error is counted once). */
  readonly failedAt: number;
  readonly nextAt: number;
}

export class CacheAgent {
  readonly cache: NodeCache;
  private readonly db: Database.Database;
  private readonly catalog: DatasetCatalog;
  private readonly api: CoreV1Api;
  private readonly log: (line: string) => void;
  private readonly open: (s: SourceSpec) => DatasetSource;
  /** Names wanted on this node at the last reconcile: their cached versions are pinned. */
  private wanted = new Set<string>();
  /** Source scans under way, by name (scanning reads the whole dataset once): never awaited by a pass. */
  private readonly scans = new Map<string, Promise<void>>();
  private readonly problems = new Map<string, Problem>();
  private readonly retries = new Map<string, RetryState>();
  private readonly clock: () => number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  /** How long each apiserver call of the pass in progress took (said when the pass is slow). */
  private steps: string[] = [];
  private again = false;
  private stopped = false;

  constructor(private readonly o: CacheAgentOptions) {
    mkdirSync(o.cacheDir, { recursive: true });
    this.db = new Database(join(o.cacheDir, '.gantry-agent.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.exec(DATASET_MIGRATION);
    this.db.exec(DATASET_UNSYNCED_MIGRATION);
    this.catalog = new DatasetCatalog(this.db);
    this.api = o.kubeConfig.makeApiClient(CoreV1Api);
    this.log = o.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.open = o.openSource ?? openSource;
    this.clock = o.clock ?? Date.now;
    this.cache = new NodeCache(this.catalog, {
      node: o.node,
      dir: o.cacheDir,
      capacityBytes: o.capacityBytes,
      ...(o.streams !== undefined ? { streams: o.streams } : {}),
      log: this.log,
      openSource: this.open,
      clock: this.clock,
      pinned: () => this.pinnedKeys(),
      onFillEnd: () => this.soon(),
      ...(o.onVerifiedBatch ? { onVerifiedBatch: o.onVerifiedBatch } : {}),
    });
  }

  private pinnedKeys(): Set<string> {
    const out = new Set<string>();
    for (const r of this.catalog.cacheRows(this.o.node)) if (this.wanted.has(r.name)) out.add(keyOf(r.name, r.version));
    return out;
  }

  /** Resumes interrupted fills, then reconciles every intervalMs until stop(). */
  start(): void {
    const resumed = this.cache.resumeInterrupted((n, v) => this.catalog.get(n, v));
    if (resumed.length > 0) this.log(`cache agent ${this.o.node}: resuming interrupted fills: ${resumed.join(', ')}`);
    this.soon();
  }

  /** Reconciles after `delayMs` (one pass at a time: a request during a pass runs right after it). */
  private soon(delayMs = 0): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      const t0 = this.clock();
      this.steps = [];
      this.running = this.reconcile()
        .catch((e: unknown) => this.log(`cache agent ${this.o.node}: ${(e as Error).message}`))
        .finally(() => {
          // A pass is a few apiserver calls: a slow one says the agent is starved or a call hung.
          const ms = this.clock() - t0;
          if (ms > SLOW_PASS_MS) this.log(`cache agent ${this.o.node}: a pass took ${(ms / 1000).toFixed(1)} s (${this.steps.join(', ')})`);
          this.running = null;
          const again = this.again;
          this.again = false;
          this.soon(again ? 0 : (this.o.intervalMs ?? 5000));
        });
    }, delayMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    // A scan that outlives this records nothing (it checks `stopped`); the next start scans again.
    await Promise.race([Promise.allSettled(this.scans.values()), new Promise((r) => setTimeout(r, 2000).unref())]);
    await this.cache.close();
    this.db.close();
  }

  /** One pass: read the node and its pods, fill what is wanted, evict what is asked, report. */
  async reconcile(): Promise<void> {
    const node = await this.timed('reading the node', this.api.readNode({ name: this.o.node }));
    const ann = node.metadata?.annotations ?? {};
    const pods = await this.timed('listing its pods', this.api.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.o.node}` }));
    const wanted = new Set(parsePrefetchRequest(ann[ANN_NODE_CACHE_PREFETCH]));
    for (const p of pods.items) if (live(p)) for (const d of datasetNames(p.metadata?.annotations?.[ANN_DATASETS])) wanted.add(d);
    this.wanted = wanted;
    const sources = this.o.sources();
    for (const name of wanted) this.want(name, sources.get(name));
    for (const name of parseEvictRequest(ann[ANN_NODE_CACHE_EVICT])) await this.evictByName(name);
    await this.report(ann[ANN_NODE_CACHED_DATASETS]);
  }

  private async timed<T>(what: string, call: Promise<T>): Promise<T> {
    const t0 = this.clock();
    try {
      return await call;
    } finally {
      this.steps.push(`${what} ${((this.clock() - t0) / 1000).toFixed(1)} s`);
    }
  }

  /**
   * Starts the scan of `name`'s source (no version recorded yet, or the source changed) or the
   * fill of its newest version, unless one is under way, the copy is complete, or the last
   * failure's back-off has not run out.
   */
  private want(name: string, source: SourceSpec | undefined): void {
    if (!source) {
      this.problems.set(name, { code: 'DATASET_NOT_FOUND', message: `no source for dataset ${name} in the agent's catalogue` });
      return;
    }
    const v = this.catalog.get(name);
    if (!v || JSON.stringify(v.source) !== JSON.stringify(source)) {
      this.startScan(name, source);
      return;
    }
    const entry = this.cache.entry(name, v.version);
    if (entry?.state === 'ready') {
      this.problems.delete(name);
      this.retries.delete(name);
      return;
    }
    if (this.cache.isFilling(name, v.version)) return;
    const err = this.cache.lastError(name, v.version);
    if (err && !this.mayRetry(name, err.at, err.code, err.message)) return;
    this.log(`cache agent ${this.o.node}: filling ${keyOf(name, v.version)}`);
    this.cache.startFill(v);
  }

  /** Scans the source beside the passes; the outcome (a version, or a failure and its back-off) shows at the next pass. */
  private startScan(name: string, source: SourceSpec): void {
    if (this.scans.has(name)) return;
    const last = this.retries.get(name);
    if (last && this.clock() < last.nextAt) return;
    const scan = (async (): Promise<void> => {
      await Promise.resolve(); // the map holds the scan before anything of it can end
      let src: DatasetSource | null = null;
      try {
        src = this.open(source);
        const files = await scanSource(src);
        if (this.stopped) return;
        const v = this.catalog.addVersion({ name, source, files, totalBytes: files.reduce((s, f) => s + f.size, 0), createdAt: this.clock(), createdBy: `cache-agent/${this.o.node}` });
        this.log(`cache agent ${this.o.node}: recorded ${keyOf(name, v.version)} (${files.length} files, ${v.totalBytes} bytes)`);
        this.problems.delete(name);
        this.retries.delete(name);
      } catch (e) {
        if (this.stopped) return;
        this.mayRetry(name, this.clock(), (e as { code?: string }).code ?? 'DATASET_SOURCE_UNREADABLE', (e as Error).message ?? String(e), 'scan of the source');
      } finally {
        src?.close?.();
      }
    })()
      .catch((e: unknown) => this.log(`cache agent ${this.o.node}: scan of ${name}: ${(e as Error).message}`))
      .finally(() => {
        this.scans.delete(name);
        this.soon();
      });
    this.scans.set(name, scan);
  }

  /**
   * Counts a failure of `name`'s scan or fill (once per failure: `at` tells them apart), reports
   * it with its back-off, and says whether the next try may start now.
   */
  private mayRetry(name: string, at: number, code: string, message: string, what = 'fill'): boolean {
    let r = this.retries.get(name);
    if (r?.failedAt !== at) {
      const failures = (r?.failures ?? 0) + 1;
      r = { failures, failedAt: at, nextAt: at + retryDelayMs(failures) };
      this.retries.set(name, r);
      this.log(`cache agent ${this.o.node}: ${what} of ${name} failed (${failures} in a row): ${code}: ${message}; trying again in ${((r.nextAt - at) / 1000).toFixed(0)} s`);
    }
    this.problems.set(name, { code, message, failures: r.failures, retryAt: r.nextAt });
    return this.clock() >= r.nextAt;
  }

  private async evictByName(name: string): Promise<void> {
    if (this.wanted.has(name)) {
      this.problems.set(name, { code: 'DATASET_IN_USE', message: `${name} is read or awaited by a pod on ${this.o.node}; not evicted` });
      return;
    }
    for (const r of this.catalog.cacheRows(this.o.node)) {
      if (r.name !== name || r.state !== 'ready') continue;
      await this.cache.evict(r.name, r.version).catch((e: unknown) => this.problems.set(name, { code: (e as { code?: string }).code ?? 'DATASET_IN_USE', message: (e as Error).message }));
      if (!this.catalog.cacheRow(this.o.node, r.name, r.version)) this.log(`cache agent ${this.o.node}: evicted ${keyOf(r.name, r.version)} on request`);
    }
  }

  /** What the cache holds, as the node annotation says it. */
  status(): NodeCacheStatus {
    const entries = this.cache.entries();
    for (const e of entries) if (e.lastError && !this.problems.has(e.name)) this.problems.set(e.name, { code: e.lastError.code, message: e.lastError.message });
    const error = ([name, p]: [string, Problem]): NodeCacheStatus['errors'][number] => ({
      name,
      code: p.code,
      message: p.message,
      ...(p.failures !== undefined ? { failures: p.failures } : {}),
      ...(p.retryAt !== undefined ? { retryAt: new Date(p.retryAt).toISOString() } : {}),
    });
    return {
      capacityBytes: this.cache.capacityBytes,
      usedBytes: this.cache.usedBytes(),
      updatedAt: new Date(this.clock()).toISOString(),
      datasets: entries.map((e) => ({ name: e.name, version: e.version, state: e.state === 'ready' ? 'ready' : 'filling', bytes: e.totalBytes, bytesDone: e.bytesDone, pinned: e.pinned })),
      errors: [...this.problems].filter(([n]) => this.wanted.has(n)).map(error),
    };
  }

  /**
   * Patches the node annotation unless the node (`held`, read at the start of this pass) already
   * says the same: a patch that failed, or a report lost since, is written again next pass.
   */
  private async report(held: string | undefined): Promise<void> {
    const s = this.status();
    if (reportKey(s) === heldReportKey(held)) return;
    try {
      await this.timed('writing the report', this.api.patchNode({ name: this.o.node, body: { metadata: { annotations: { [ANN_NODE_CACHED_DATASETS]: JSON.stringify(s) } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)));
    } catch (e) {
      throw new Error(`reporting the cache on node ${this.o.node} failed (written again next pass): ${(e as Error).message}`);
    }
  }
}
