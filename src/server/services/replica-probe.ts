/**
 * What the control plane asks a replica over HTTP: its readiness probe (a 2xx on the spec's
 * path within the timeout), and, where it serves them, its own load figures from `/metrics`
 * (vLLM's `num_requests_running` and `num_requests_waiting`; servers without them give null).
 */
import { request } from 'undici';

export async function probeReady(origin: string, path: string, timeoutMs: number): Promise<boolean> {
  try {
    const r = await request(origin + path, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    await r.body.dump();
    return r.statusCode >= 200 && r.statusCode < 300;
  } catch {
    return false;
  }
}

const RUNNING = /^vllm:num_requests_running(?:\{[^}]*\})?\s+([0-9.eE+-]+)/m;
const WAITING = /^vllm:num_requests_waiting(?:\{[^}]*\})?\s+([0-9.eE+-]+)/m;

/** Requests the server says it holds (running + waiting), or null when it does not say. */
export function requestsInServer(metricsText: string): number | null {
  const run = RUNNING.exec(metricsText);
  const wait = WAITING.exec(metricsText);
  if (!run && !wait) return null;
  return Number(run?.[1] ?? 0) + Number(wait?.[1] ?? 0);
}

export async function scrapeLoad(origin: string, timeoutMs: number): Promise<number | null> {
  try {
    const r = await request(`${origin}/metrics`, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    if (r.statusCode !== 200) {
      await r.body.dump();
      return null;
    }
    return requestsInServer(await r.body.text());
  } catch {
    return null;
  }
}
