/**
 * Preloaded (`node --expose-gc --import <this>`) into the scheduler process under benchmark: on
 * the IPC message 'heap' it collects garbage and answers with its heap and RSS, so that the
 * benchmark measures what the scheduler keeps, not what it has yet to collect.
 */
const collect = (globalThis as { gc?: () => void }).gc;

process.on('message', (m: unknown) => {
  if (m !== 'heap' || !process.send) return;
  collect?.();
  collect?.();
  const u = process.memoryUsage();
  process.send({ heapUsed: u.heapUsed, rss: u.rss, external: u.external, gcForced: collect !== undefined });
});
// The channel must not keep the process alive once the scheduler stops.
process.channel?.unref();
