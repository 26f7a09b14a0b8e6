/**
 * Data movement in the job simulator. Each node has an LRU cache (NodeLru) of a set capacity;
 * a job starting on a node waits until its dataset is there (dataWait), and holds its GPUs
 * meanwhile. Where the copy comes from sets how long it takes:
 *  - already on the node: no wait (or the rest of a fill under way);
 *  - a ready copy on another node of the rack: at the node's disk bandwidth, the uplink untouched;
 *  - otherwise from the source through the rack's uplink, shared evenly by the rack's remote
 *    fills under way when it starts (a fill keeps the rate it started with), at most the disk's.
 * Every member of a gang needs the whole dataset on its node. A copy that cannot fit (pinned
 * data fills the cache) is streamed: it costs the same time and bytes and stays nowhere.
 * Metrics: bytes moved (onto nodes, from the rack or the source), the byte hit rate (bytes
 * found on the node / bytes jobs needed at their starts), and the wait per start.
 */
import type { Binding } from '../../../core/model/cluster.js';
import type { NodeSpec } from '../../../core/model/node.js';
import type { NodeCacheReport } from '../../../core/model/node-cache.js';
import { NodeLru } from './node-lru.js';

export interface DataSettings {
  readonly cacheBytes: number;
  readonly diskBytesPerSec: number;
  readonly uplinkBytesPerSec: number;
}

export interface JobData {
  readonly key: string;
  readonly bytes: number;
}

export interface DataMetrics {
  readonly bytesMoved: number;
  /** Of bytesMoved, what came through rack uplinks from the source. */
  readonly bytesFromSource: number;
  readonly cacheHitRate: number;
  /**
   * Why bytes moved: `cold` held by no node, `rack` a ready copy in the node's rack,
   * `elsewhere` held only on other racks; of all of them, `refetch` this node held before and
   * evicted (eviction thrash) and `gang` for members of multi-node starts.
   */
  readonly bytesMovedBy: { readonly cold: number; readonly rack: number; readonly elsewhere: number; readonly refetch: number; readonly gang: number };
  readonly dataWaitSeconds: { readonly mean: number; readonly p99: number };
}

export class DataMovement {
  private readonly caches = new Map<string, NodeLru>();
  private readonly rackOf = new Map<string, string>();
  private readonly racks = new Map<string, string[]>();
  /** End times of the remote fills under way per rack. */
  private readonly remoteFills = new Map<string, number[]>();
  private readonly pinned = new Map<string, { node: string; key: string }[]>();
  private bytesMoved = 0;
  private bytesFromSource = 0;
  private bytesNeeded = 0;
  private bytesHit = 0;
  private readonly movedBy = { cold: 0, rack: 0, elsewhere: 0, refetch: 0, gang: 0 };
  /** Per node, the keys it evicted (to count refetches). */
  private readonly evictedFrom = new Map<string, Set<string>>();
  private readonly waits: number[] = [];

  constructor(
    nodes: readonly NodeSpec[],
    private readonly s: DataSettings,
    /** Called with the nodes whose cache changed (the scheduler's NodeCacheReport input). */
    private readonly report?: (r: readonly NodeCacheReport[]) => void,
  ) {
    for (const n of nodes) {
      this.caches.set(n.name, new NodeLru(s.cacheBytes));
      const rack = n.rack ?? '';
      this.rackOf.set(n.name, rack);
      if (rack !== '') this.racks.set(rack, [...(this.racks.get(rack) ?? []), n.name]);
    }
  }

  /** A job starts with these bindings: fills what is missing; returns its data wait in ms. */
  start(jobId: string, data: JobData, bindings: readonly Binding[], now: number): number {
    const changed = new Set<string>();
    const pins: { node: string; key: string }[] = [];
    let wait = 0;
    for (const b of bindings) {
      const cache = this.caches.get(b.node);
      if (!cache) continue;
      this.bytesNeeded += data.bytes;
      let copy = cache.get(data.key);
      if (copy) {
        this.bytesHit += data.bytes;
        wait = Math.max(wait, copy.readyAt - now);
        cache.touch(data.key);
      } else {
        this.classifyMiss(b.node, data);
        if (bindings.length > 1) this.movedBy.gang += data.bytes;
        const ms = this.fillMs(b.node, data, now);
        wait = Math.max(wait, ms);
        this.bytesMoved += data.bytes;
        const evicted = cache.admit(data.key, data.bytes, now + ms);
        if (evicted) {
          changed.add(b.node);
          const gone = this.evictedFrom.get(b.node) ?? new Set<string>();
          for (const k of evicted) gone.add(k);
          gone.delete(data.key);
          this.evictedFrom.set(b.node, gone);
        }
        copy = cache.get(data.key);
      }
      if (copy) {
        copy.pins++;
        pins.push({ node: b.node, key: data.key });
      }
    }
    this.pinned.set(jobId, [...(this.pinned.get(jobId) ?? []), ...pins]);
    this.waits.push(Math.max(0, wait));
    if (changed.size > 0 && this.report) this.report([...changed].map((node) => ({ node, held: (this.caches.get(node) as NodeLru).holdings() })));
    return Math.max(0, wait);
  }

  /** The job stopped or ended: its copies may be evicted again. */
  end(jobId: string): void {
    for (const p of this.pinned.get(jobId) ?? []) {
      const c = this.caches.get(p.node)?.get(p.key);
      if (c && c.pins > 0) c.pins--;
    }
    this.pinned.delete(jobId);
  }

  private classifyMiss(node: string, data: JobData): void {
    if (this.evictedFrom.get(node)?.has(data.key)) this.movedBy.refetch += data.bytes;
    const rack = this.rackOf.get(node) ?? '';
    let heldElsewhere = false;
    for (const [other, cache] of this.caches) if (other !== node && cache.get(data.key)) heldElsewhere = true;
    const inRack = (this.racks.get(rack) ?? []).some((o) => o !== node && this.caches.get(o)?.get(data.key));
    if (inRack) this.movedBy.rack += data.bytes;
    else if (heldElsewhere) this.movedBy.elsewhere += data.bytes;
    else this.movedBy.cold += data.bytes;
  }

  private fillMs(node: string, data: JobData, now: number): number {
    const rack = this.rackOf.get(node) ?? '';
    const disk = this.s.diskBytesPerSec;
    for (const other of this.racks.get(rack) ?? []) {
      if (other === node) continue;
      const c = this.caches.get(other)?.get(data.key);
      if (c && c.readyAt <= now) return (data.bytes / disk) * 1000;
    }
    const fills = (this.remoteFills.get(rack) ?? []).filter((end) => end > now);
    const rate = Math.min(disk, this.s.uplinkBytesPerSec / (fills.length + 1));
    const ms = (data.bytes / rate) * 1000;
    fills.push(now + ms);
    this.remoteFills.set(rack, fills);
    this.bytesFromSource += data.bytes;
    return ms;
  }

  metrics(): DataMetrics {
    const w = [...this.waits].sort((a, b) => a - b);
    const mean = w.length ? w.reduce((a, b) => a + b, 0) / w.length : 0;
    const p99 = w.length ? (w[Math.min(w.length - 1, Math.floor(0.99 * w.length))] as number) : 0;
    return {
      bytesMoved: this.bytesMoved,
      bytesFromSource: this.bytesFromSource,
      cacheHitRate: this.bytesNeeded > 0 ? this.bytesHit / this.bytesNeeded : 0,
      bytesMovedBy: { ...this.movedBy },
      dataWaitSeconds: { mean: mean / 1000, p99: p99 / 1000 },
    };
  }
}
