/** Memory of a process under benchmark: the heap after a forced GC (heap-probe.ts) and the RSS. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';

export interface MemorySample {
  heapUsed: number;
  rss: number;
}

/** Heap (after GC) and RSS of a process started with heap-probe.ts preloaded and an IPC channel. */
export function probeHeap(p: ChildProcess, timeoutMs?: number): Promise<MemorySample> {
  const dir = process.env['GANTRY_BENCH_HEAP_SNAPSHOTS'];
  // Writing a snapshot of ~50 MB takes more than 30 s on a loaded machine.
  timeoutMs ??= dir ? 300_000 : 30_000;
  if (dir) p.send(`snapshot:${join(dir, `gantry-${p.pid ?? 0}-${Date.now()}.heapsnapshot`)}`);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      p.off('message', on);
      reject(new Error('no heap answer from the scheduler'));
    }, timeoutMs);
    const on = (m: unknown): void => {
      const s = m as { heapUsed?: number; rss?: number };
      if (typeof s.heapUsed !== 'number' || typeof s.rss !== 'number') return;
      clearTimeout(t);
      p.off('message', on);
      resolve({ heapUsed: s.heapUsed, rss: s.rss });
    };
    p.on('message', on);
    p.send('heap');
  });
}

/** RSS in bytes of any process (Linux /proc), or NaN. */
export function rssOf(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Least-squares line y = a + b x. */
export function fitLine(xs: readonly number[], ys: readonly number[]): { intercept: number; slope: number } {
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += ((xs[i] ?? 0) - mx) * ((ys[i] ?? 0) - my);
    sxx += ((xs[i] ?? 0) - mx) ** 2;
  }
  const slope = sxx === 0 ? NaN : sxy / sxx;
  return { intercept: my - slope * mx, slope };
}
