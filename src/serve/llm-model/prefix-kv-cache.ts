/**
 * KV cache blocks with a prefix cache, as vLLM's automatic prefix caching works: a prompt's full
 * blocks are named by a chained hash of their tokens; a block held by no running sequence stays
 * cached until its space is needed (least recently used first), so a later prompt with the same
 * leading blocks skips their prefill. Partial blocks and generated tokens use anonymous blocks.
 * Pure bookkeeping: the caller passes the time used for recency.
 */
export interface BlockLease {
  /** Named blocks this sequence references (shared with other sequences and the cache). */
  readonly named: number[];
  /** Anonymous blocks this sequence owns (partial prompt block, generated tokens). */
  anonymous: number;
}

interface NamedBlock {
  refs: number;
  lastUse: number;
}

export class PrefixKvCache {
  /** Named blocks, in least-recently-released order among those with refs 0 (Map keeps order). */
  private readonly named = new Map<number, NamedBlock>();
  private readonly idle = new Map<number, true>();
  private usedBlocks = 0;
  private hits = 0;
  private lookups = 0;

  constructor(readonly capacityBlocks: number) {}

  /** Leading blocks of `hashes` already cached: their prefill is (almost) free. */
  cachedPrefix(hashes: readonly number[]): number {
    let n = 0;
    while (n < hashes.length && this.named.has(hashes[n]!)) n++;
    return n;
  }

  /** Blocks free now or freeable by evicting idle cached blocks. */
  available(): number {
    return this.capacityBlocks - this.usedBlocks + this.idle.size;
  }

  /**
   * Takes the blocks a prompt needs: its named blocks (shared when cached) plus `anonymous`
   * blocks. Returns null and changes nothing when they do not fit.
   */
  acquire(hashes: readonly number[], anonymous: number, now: number): BlockLease | null {
    const cached = this.cachedPrefix(hashes);
    // Cached blocks that are idle stop being evictable once acquired: count them as needed space.
    let idleReused = 0;
    for (let i = 0; i < cached; i++) if (this.idle.has(hashes[i]!)) idleReused++;
    const fresh = hashes.length - cached + anonymous;
    if (fresh > this.available() - idleReused) return null;
    this.lookups += hashes.length;
    this.hits += cached;
    for (let i = 0; i < hashes.length; i++) {
      const h = hashes[i]!;
      const block = this.named.get(h);
      if (block) {
        block.refs++;
        block.lastUse = now;
        this.idle.delete(h);
      } else {
        this.makeRoom(1);
        this.named.set(h, { refs: 1, lastUse: now });
        this.usedBlocks++;
      }
    }
    this.makeRoom(anonymous);
    this.usedBlocks += anonymous;
    return { named: [...hashes], anonymous };
  }

  /** One more anonymous block for a growing sequence; false when the cache is full. */
  grow(lease: BlockLease): boolean {
    if (this.available() < 1) return false;
    this.makeRoom(1);
    this.usedBlocks++;
    lease.anonymous++;
    return true;
  }

  /** Gives a sequence's blocks back; its named blocks stay cached until their space is needed. */
  release(lease: BlockLease, now: number): void {
    for (const h of lease.named) {
      const block = this.named.get(h);
      if (!block) continue;
      block.refs--;
      block.lastUse = now;
      if (block.refs === 0) this.idle.set(h, true);
    }
    this.usedBlocks -= lease.anonymous;
    lease.anonymous = 0;
    lease.named.length = 0;
  }

  /** Share of blocks held by running sequences (vLLM's gpu_cache_usage_perc, as a ratio). */
  usage(): number {
    return (this.usedBlocks - this.idle.size) / this.capacityBlocks;
  }

  stats(): { hitBlocks: number; lookupBlocks: number; cachedBlocks: number } {
    return { hitBlocks: this.hits, lookupBlocks: this.lookups, cachedBlocks: this.named.size };
  }

  private makeRoom(blocks: number): void {
    let over = this.usedBlocks + blocks - this.capacityBlocks;
    for (const h of this.idle.keys()) {
      if (over <= 0) break;
      this.idle.delete(h);
      this.named.delete(h);
      this.usedBlocks--;
      over--;
    }
  }
}
