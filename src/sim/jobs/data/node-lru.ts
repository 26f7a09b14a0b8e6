/**
 * A simulated node cache: whole dataset copies up to a capacity in bytes, evicted least
 * recently used first, never a copy a running job pins. A copy being filled is there (its
 * bytes are reserved) but ready only at `readyAt`.
 */
export interface CachedCopy {
  readonly bytes: number;
  readyAt: number;
  pins: number;
}

export class NodeLru {
  /** Insertion order is recency order: a use moves the copy to the end. */
  private readonly copies = new Map<string, CachedCopy>();
  private used = 0;

  constructor(readonly capacity: number) {}

  get(key: string): CachedCopy | undefined {
    return this.copies.get(key);
  }

  /** Marks a use: the copy becomes the most recently used. */
  touch(key: string): void {
    const c = this.copies.get(key);
    if (!c) return;
    this.copies.delete(key);
    this.copies.set(key, c);
  }

  /**
   * Makes room for and records a new copy; evicted keys are returned. Null when it cannot fit
   * even after evicting every unpinned copy (nothing is evicted then).
   */
  admit(key: string, bytes: number, readyAt: number): string[] | null {
    if (bytes > this.capacity) return null;
    let free = this.capacity - this.used;
    const victims: string[] = [];
    if (free < bytes) {
      for (const [k, c] of this.copies) {
        if (c.pins > 0) continue;
        victims.push(k);
        free += c.bytes;
        if (free >= bytes) break;
      }
      if (free < bytes) return null;
    }
    for (const k of victims) this.remove(k);
    this.copies.set(key, { bytes, readyAt, pins: 0 });
    this.used += bytes;
    return victims;
  }

  private remove(key: string): void {
    const c = this.copies.get(key);
    if (!c) return;
    this.copies.delete(key);
    this.used -= c.bytes;
  }

  /** What the node holds, as a NodeCacheReport's `held`. */
  holdings(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, c] of this.copies) out[k] = c.bytes;
    return out;
  }
}
