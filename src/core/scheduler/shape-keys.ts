/**
 * One copy of each request shape key. Every job keeps its members' shape keys and its gang's
 * (strings of ~20-250 characters: resources, selectors, tolerations as JSON); jobs of one shape
 * are the rule, so without this each running job held its own copies (~200-400 bytes per job,
 * docs/benchmarks.md, "Scheduler memory"). The table is bounded: past MAX_KEYS distinct keys it
 * starts again (sharing is only a saving; a key that is not shared is still equal).
 */
import type { PreparedRequest } from '../framework/plugin.js';

const MAX_KEYS = 4096;

export class ShapeKeys {
  private readonly keys = new Map<string, string>();

  intern(key: string): string {
    const known = this.keys.get(key);
    if (known !== undefined) return known;
    if (this.keys.size >= MAX_KEYS) this.keys.clear();
    this.keys.set(key, key);
    return key;
  }

  /** `p` with its shape key shared with every request of the same shape. */
  prepared(p: PreparedRequest): PreparedRequest {
    // The fields in prepareRequest's order: the same hidden class as every other prepared request.
    return { req: p.req, shapeKey: this.intern(p.shapeKey), milliGpu: p.milliGpu, allowed: p.allowed, migByModel: p.migByModel };
  }
}
