/**
 * Cumulative latency histograms the router fills on its hot path (one array write per
 * observation, no labels hashed, no allocation) and `/metrics` reads at scrape time. Bucket
 * bounds follow vLLM's own histograms for the same quantities, widened down to a millisecond
 * because the router also carries short requests, so a dashboard built for vLLM's
 * `time_to_first_token_seconds` or `e2e_request_latency_seconds` reads these the same way.
 */

/** Seconds. `vllm:e2e_request_latency_seconds`' bounds, with 1 ms to 250 ms added. */
export const REQUEST_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60, 120, 240, 480, 960] as const;
/** Seconds. `vllm:time_to_first_token_seconds`' bounds. */
export const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80] as const;
/** Seconds. `vllm:inter_token_latency_seconds`' bounds, with 1 ms to 5 ms added. */
export const ITL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80] as const;

export class BucketHistogram {
  /** Observations per bucket (not cumulative); the last one is above every bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.sum += seconds;
    this.count++;
  }

  /** Cumulative counts per bound, then +Inf, as Prometheus exposes them. */
  cumulative(): number[] {
    const out: number[] = [];
    let acc = 0;
    for (const c of this.counts) out.push((acc += c));
    return out;
  }
}

/** A request's latency histograms: whole request, first byte of a stream, and between chunks of a stream. */
export class RequestHistograms {
  readonly latency = new BucketHistogram(REQUEST_LATENCY_BUCKETS);
  readonly ttft = new BucketHistogram(TTFT_BUCKETS);
  readonly itl = new BucketHistogram(ITL_BUCKETS);
}
