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
 * The cache itself (fills verified, resumable after kill -9, read-only copies) is NodeCache;
 * versions and fill progress live in SQLite inside the cache folder.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { DATASET_MIGRATION, DatasetCatalog, type DatasetVersion } from '../datacache/dataset-catalog.js';
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
  /** After each batch of verified files is recorded (a crash-test failpoint). */
  readonly onVerifiedBatch?: () => void;
}

/** A pod still holds its node's resources (and reads its data) until it finishes. */
function live(p: V1Pod): boolean {
  return p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
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
  /** Names whose source scan is under way (scanning reads the whole dataset once). */
  private readonly scanning = new Set<string>();
  private readonly problems = new Map<string, { code: string; message: string }>();
  private timer: NodeJS.Timeout | null = null;
  private lastStatus = '';
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(private readonly o: CacheAgentOptions) {
    mkdirSync(o.cacheDir, { recursive: true });
    this.db = new Database(join(o.cacheDir, '.gantry-agent.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.exec(DATASET_MIGRATION);
    this.catalog = new DatasetCatalog(this.db);
    this.api = o.kubeConfig.makeApiClient(CoreV1Api);
    this.log = o.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.open = o.openSource ?? openSource;
    this.cache = new NodeCache(this.catalog, {
      node: o.node,
      dir: o.cacheDir,
      capacityBytes: o.capacityBytes,
      ...(o.streams !== undefined ? { streams: o.streams } : {}),
      log: this.log,
      openSource: this.open,
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
      this.running = this.reconcile()
        .catch((e: unknown) => this.log(`cache agent ${this.o.node}: ${(e as Error).message}`))
        .finally(() => {
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
    await this.cache.close();
    this.db.close();
  }

  /** One pass: read the node and its pods, fill what is wanted, evict what is asked, report. */
  async reconcile(): Promise<void> {
    const node = await this.api.readNode({ name: this.o.node });
    const ann = node.metadata?.annotations ?? {};
    const pods = await this.api.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.o.node}` });
    const wanted = new Set(parsePrefetchRequest(ann[ANN_NODE_CACHE_PREFETCH]));
    for (const p of pods.items) if (live(p)) for (const d of datasetNames(p.metadata?.annotations?.[ANN_DATASETS])) wanted.add(d);
    this.wanted = wanted;
    const sources = this.o.sources();
    for (const name of wanted) await this.want(name, sources.get(name));
    for (const name of parseEvictRequest(ann[ANN_NODE_CACHE_EVICT])) await this.evictByName(name);
    await this.report();
  }

  /** Starts the fill of the newest version of `name` unless it is cached or filling. */
  private async want(name: string, source: SourceSpec | undefined): Promise<void> {
    if (!source) {
      this.problems.set(name, { code: 'DATASET_NOT_FOUND', message: `no source for dataset ${name} in the agent's catalogue` });
      return;
    }
    let v = this.catalog.get(name);
    if (!v || JSON.stringify(v.source) !== JSON.stringify(source)) {
      if (this.scanning.has(name)) return;
      this.scanning.add(name);
      try {
        const files = await scanSource(this.open(source));
        v = this.catalog.addVersion({ name, source, files, totalBytes: files.reduce((s, f) => s + f.size, 0), createdAt: Date.now(), createdBy: `cache-agent/${this.o.node}` });
        this.log(`cache agent ${this.o.node}: recorded ${keyOf(name, v.version)} (${files.length} files, ${v.totalBytes} bytes)`);
      } catch (e) {
        this.problems.set(name, { code: (e as { code?: string }).code ?? 'DATASET_SOURCE_UNREADABLE', message: (e as Error).message });
        return;
      } finally {
        this.scanning.delete(name);
      }
    }
    const version: DatasetVersion = v;
    const entry = this.cache.entry(name, version.version);
    if (entry?.state === 'ready' || this.cache.isFilling(name, version.version)) {
      if (entry?.state === 'ready') this.problems.delete(name);
      return;
    }
    const err = this.cache.lastError(name, version.version);
    if (err && Date.now() - err.at < 5_000) {
      this.problems.set(name, { code: err.code, message: err.message });
      return;
    }
    this.log(`cache agent ${this.o.node}: filling ${keyOf(name, version.version)}`);
    this.cache.startFill(version);
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
    for (const e of entries) if (e.lastError) this.problems.set(e.name, { code: e.lastError.code, message: e.lastError.message });
    return {
      capacityBytes: this.cache.capacityBytes,
      usedBytes: this.cache.usedBytes(),
      updatedAt: new Date().toISOString(),
      datasets: entries.map((e) => ({ name: e.name, version: e.version, state: e.state === 'ready' ? 'ready' : 'filling', bytes: e.totalBytes, bytesDone: e.bytesDone, pinned: e.pinned })),
      errors: [...this.problems].filter(([n]) => this.wanted.has(n)).map(([name, p]) => ({ name, ...p })),
    };
  }

  /** Patches the node annotation when what it says changed (the timestamp alone is no change). */
  private async report(): Promise<void> {
    const s = this.status();
    const key = JSON.stringify({ ...s, updatedAt: '' });
    if (key === this.lastStatus) return;
    await this.api.patchNode({ name: this.o.node, body: { metadata: { annotations: { [ANN_NODE_CACHED_DATASETS]: JSON.stringify(s) } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    this.lastStatus = key;
  }
}
