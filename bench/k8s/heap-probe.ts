/**
 * Preloaded (`node --expose-gc --import <this>`) into the scheduler process under benchmark: on
 * the IPC message 'heap' it collects garbage and answers with its heap and RSS, so that the
 * benchmark measures what the scheduler keeps, not what it has yet to collect. On
 * 'snapshot:<file>' it writes a heap snapshot there (to see what the heap holds).
 */
import { writeHeapSnapshot } from 'node:v8';

const collect = (globalThis as { gc?: () => void }).gc;

process.on('message', (m: unknown) => {
  // GANTRY_BENCH_HEAP_SNAPSHOTS=<dir>: the benchmark also asks for a heap snapshot at each sample.
  if (typeof m === 'string' && m.startsWith('snapshot:')) {
    writeHeapSnapshot(m.slice('snapshot:'.length));
    return;
  }
  if (m !== 'heap' || !process.send) return;
  collect?.();
  collect?.();
  const u = process.memoryUsage();
  process.send({ heapUsed: u.heapUsed, rss: u.rss, external: u.external, gcForced: collect !== undefined });
});
// The channel must not keep the process alive once the scheduler stops.
process.channel?.unref();
