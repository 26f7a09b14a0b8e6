/**
 * Per-user request rate limits: a token bucket per user, refilled at `perSecond` up to `burst`.
 * A request that finds the bucket empty is refused (429 RATE_LIMITED) with the seconds until a
 * token is back, for the Retry-After header. Buckets live in memory: a restart refills them.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly perSecond: number,
    readonly burst: number,
    private readonly clock: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.perSecond > 0;
  }

  /** Takes one token for `key`; returns 0 when allowed, else the whole seconds to wait. */
  take(key: string): number {
    if (!this.enabled) return 0;
    const now = this.clock();
    let b = this.buckets.get(key);
    if (!b) {
      // Users come and go; a bucket that has been full for a while carries no information.
      if (this.buckets.size > 100_000) this.buckets.clear();
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.perSecond) / 1000);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond));
  }
}
