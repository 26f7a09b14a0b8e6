/**
 * A small HTTP load generator for the router benchmark, measuring each request's latency with
 * the monotonic clock in microseconds (autocannon reports whole milliseconds, too coarse for a
 * 1 ms target). Requests go over keep-alive connections (an undici Pool) through `dispatch`,
 * so the generator's own cost per request stays small.
 *
 * - `openLoop`: a fixed rate, whatever the answers take (requests due are sent every
 *   millisecond); latency runs from the send to the last byte of the answer.
 * - `closedLoop`: `connections` requests always outstanding, each sent as the previous
 *   answer ends: the most requests per second the path serves.
 */
import { Pool, type Dispatcher } from 'undici';

export interface LoadResult {
  readonly requests: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly seconds: number;
  readonly rps: number;
  /** Latency quantiles in microseconds. */
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
}

interface Sample {
  latencies: Float64Array;
  count: number;
  non2xx: number;
  errors: number;
}

const newSample = (capacity: number): Sample => ({ latencies: new Float64Array(capacity), count: 0, non2xx: 0, errors: 0 });

function send(pool: Pool, path: string, s: Sample, done: () => void): void {
  const start = process.hrtime.bigint();
  let status = 0;
  const handler: Dispatcher.DispatchHandler = {
    // Its presence marks the handler as undici's current (controller) kind.
    onRequestStart() {},
    onResponseStart(_c, code) {
      status = code;
    },
    onResponseData() {
      // The body is counted by its arrival only.
    },
    onResponseEnd() {
      const us = Number(process.hrtime.bigint() - start) / 1000;
      if (s.count < s.latencies.length) s.latencies[s.count] = us;
      s.count++;
      if (status < 200 || status >= 300) s.non2xx++;
      done();
    },
    onResponseError() {
      s.errors++;
      done();
    },
  };
  pool.dispatch({ path, method: 'GET', headers: null }, handler);
}

function summarise(s: Sample, seconds: number): LoadResult {
  const n = Math.min(s.count, s.latencies.length);
  const sorted = s.latencies.subarray(0, n).sort();
  const q = (p: number): number => (n === 0 ? 0 : Math.round(sorted[Math.min(n - 1, Math.ceil(p * n) - 1)] ?? 0));
  return { requests: s.count, non2xx: s.non2xx, errors: s.errors, seconds, rps: Math.round(s.count / seconds), p50Us: q(0.5), p90Us: q(0.9), p99Us: q(0.99), p999Us: q(0.999), maxUs: q(1) };
}

export function makePool(origin: string, connections: number): Pool {
  return new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
}

/** `rate` requests per second for `seconds`, sent whether or not earlier ones were answered. */
export async function openLoop(pool: Pool, path: string, rate: number, seconds: number): Promise<LoadResult> {
  const s = newSample(Math.ceil(rate * seconds) + 16);
  let sent = 0;
  let open = 0;
  const total = Math.round(rate * seconds);
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    const finished = (): void => {
      open--;
      if (sent >= total && open === 0) resolve();
    };
    const timer = setInterval(() => {
      const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
      const due = Math.min(total, Math.floor(elapsed * rate));
      for (; sent < due; sent++) {
        open++;
        send(pool, path, s, finished);
      }
      if (sent >= total) clearInterval(timer);
    }, 1);
  });
  return summarise(s, Number(process.hrtime.bigint() - t0) / 1e9);
}

/** `connections` requests kept outstanding for `seconds`. */
export async function closedLoop(pool: Pool, path: string, connections: number, seconds: number): Promise<LoadResult> {
  const s = newSample(2_000_000);
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(Math.round(seconds * 1e9));
  let open = 0;
  await new Promise<void>((resolve) => {
    const next = (): void => {
      if (process.hrtime.bigint() >= end) {
        open--;
        if (open === 0) resolve();
        return;
      }
      send(pool, path, s, next);
    };
    for (let i = 0; i < connections; i++) {
      open++;
      next();
    }
  });
  return summarise(s, Number(process.hrtime.bigint() - t0) / 1e9);
}
