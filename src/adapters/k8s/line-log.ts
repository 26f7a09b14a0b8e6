/**
 * The scheduler's log: timestamped lines to stderr, gathered into one write per turn of the
 * event loop. The scheduler logs a line per bind; at hundreds of binds per second a write per
 * line cost a tenth of its CPU (a profile of the 1,000-node benchmark, docs/benchmarks.md), and
 * stderr is a pipe, written synchronously.
 */
export function batchedLineLog(write: (text: string) => void = (t) => void process.stderr.write(t), clock: () => Date = () => new Date()): (msg: string) => void {
  let pending: string[] = [];
  const flush = (): void => {
    const text = pending.join('');
    pending = [];
    write(text);
  };
  return (msg) => {
    if (pending.length === 0) setImmediate(flush);
    pending.push(`${clock().toISOString()} ${msg}\n`);
  };
}
