/**
 * Failpoints for crash tests: `GANTRY_FAILPOINT=<name>:<n>` makes the server kill itself with
 * SIGKILL the n-th time it passes the named point, so a test can crash the control plane at
 * an exact step (for example between two workers of a gang start) instead of hoping a random
 * kill lands there. Unset (always, outside tests) it costs one comparison.
 */
const spec = /^([a-z-]+):(\d+)$/.exec(process.env['GANTRY_FAILPOINT'] ?? '');
const armed = spec ? { name: spec[1] as string, at: Number(spec[2]) } : null;
let hits = 0;

/**
 * Names of the points: `gang-start` = after the first worker of a multi-worker job started;
 * `dataset-fill-flush` = after a dataset fill recorded a batch of verified files.
 */
export type Failpoint = 'gang-start' | 'dataset-fill-flush';

export function failpoint(name: Failpoint): void {
  if (armed === null || armed.name !== name) return;
  hits++;
  if (hits === armed.at) process.kill(process.pid, 'SIGKILL');
}
