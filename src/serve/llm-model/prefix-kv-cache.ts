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
  readonly hash: number;
  refs: number;
  lastUse: number;
  /** Links in the idle list (blocks with refs 0), least recently released first. */
  prev: NamedBlock | null;
  next: NamedBlock | null;
}

/**
 * Idle blocks in release order, as an intrusive doubly linked list: O(1) to append, to take out
 * and to pop the oldest. (A Map used as a queue slows down as deleted entries pile up at its head.)
 */
class IdleList {
  private head: NamedBlock | null = null;
  private tail: NamedBlock | null = null;
  size = 0;

  append(b: NamedBlock): void {
    b.prev = this.tail;
    b.next = null;
    if (this.tail) this.tail.next = b;
    else this.head = b;
    this.tail = b;
    this.size++;
  }

  remove(b: NamedBlock): void {
    if (b.prev) b.prev.next = b.next;
    else this.head = b.next;
    if (b.next) b.next.prev = b.prev;
    else this.tail = b.prev;
    b.prev = null;
    b.next = null;
    this.size--;
  }

  oldest(): NamedBlock | null {
    return this.head;
  }
}

export class PrefixKvCache {
  private readonly named = new Map<number, NamedBlock>();
  private readonly idle = new IdleList();
  private usedBlocks = 0;
  private hits = 0;
  private lookups = 0;
  /** Bumped whenever blocks are given back: an acquire that failed may succeed only after that. */
  private releases = 0;

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
    for (let i = 0; i < cached; i++) if (this.named.get(hashes[i]!)!.refs === 0) idleReused++;
    const fresh = hashes.length - cached + anonymous;
    if (fresh > this.available() - idleReused) return null;
    this.lookups += hashes.length;
    this.hits += cached;
    for (let i = 0; i < hashes.length; i++) {
      const h = hashes[i]!;
      const block = this.named.get(h);
      if (block) {
        if (block.refs === 0) this.idle.remove(block);
        block.refs++;
        block.lastUse = now;
      } else {
        this.makeRoom(1);
        this.named.set(h, { hash: h, refs: 1, lastUse: now, prev: null, next: null });
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
      if (block.refs === 0) this.idle.append(block);
    }
    this.usedBlocks -= lease.anonymous;
    lease.anonymous = 0;
    lease.named.length = 0;
    this.releases++;
  }

  /** Changes whenever blocks are released (see LlmEngine's admission). */
  get releaseCount(): number {
    return this.releases;
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
    while (over > 0) {
      const b = this.idle.oldest();
      if (!b) break;
      this.idle.remove(b);
      this.named.delete(b.hash);
      this.usedBlocks--;
      over--;
    }
  }
}
