/**
 * The audit of refused attempts (401, 403, 429, and reads of another team's jobs). A refusal
 * changes nothing, so it needs no transaction of its own: refusals are buffered and written
 * together every `flushMs` in one commit, and identical ones (same actor, route, code and
 * source) in one window become one entry with a count. A flood of refused requests therefore
 * costs the store a few rows a second, not one fsync each.
 */
import type { Store } from '../adapters/store/store.js';

export interface Denial {
  readonly actor: string;
  readonly method: string;
  readonly route: string;
  readonly target: string;
  readonly code: string;
  readonly source: string;
}

export class DenialLog {
  private pending = new Map<string, { d: Denial; count: number; at: number }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    private readonly clock: () => number,
    private readonly log: (line: string) => void,
    private readonly flushMs = 100,
  ) {}

  add(d: Denial): void {
    const key = `${d.actor}\0${d.method}\0${d.route}\0${d.target}\0${d.code}\0${d.source}`;
    const cur = this.pending.get(key);
    if (cur) cur.count++;
    else this.pending.set(key, { d, count: 1, at: this.clock() });
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    try {
      this.store.transaction(() => {
        for (const { d, count, at } of batch) {
          this.store.appendAudit({ at, actor: d.actor, action: 'denied', target: d.target, source: d.source, detail: { method: d.method, route: d.route, code: d.code, ...(count > 1 ? { count } : {}) } });
        }
      });
    } catch (e) {
      this.log(`could not write ${batch.length} refused-attempt audit entries: ${(e as Error).message}`);
    }
  }
}
