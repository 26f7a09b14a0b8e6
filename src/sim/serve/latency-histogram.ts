/** Log-bucketed latency histogram (1 % wide buckets from 0.01 ms): quantiles in O(buckets), memory O(1). */
const GROWTH = Math.log(1.01);
const FLOOR_MS = 0.01;

export class LatencyHistogram {
  private readonly counts = new Map<number, number>();
  private n = 0;

  add(ms: number): void {
    const b = ms <= FLOOR_MS ? 0 : Math.floor(Math.log(ms / FLOOR_MS) / GROWTH) + 1;
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.n++;
  }

  get count(): number {
    return this.n;
  }

  /** The q-quantile (0..1), as the upper edge of its bucket; NaN when empty. */
  quantile(q: number): number {
    if (this.n === 0) return NaN;
    const rank = Math.ceil(q * this.n);
    let seen = 0;
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) {
      seen += this.counts.get(b)!;
      if (seen >= rank) return b === 0 ? FLOOR_MS : FLOOR_MS * Math.exp(b * GROWTH);
    }
    return NaN;
  }
}
