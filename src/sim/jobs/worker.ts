/** Worker thread for `gantry sim jobs`: simulates one policy. */
import { parentPort, workerData } from 'node:worker_threads';
import { prepare, runPolicy, type JobPolicy, type JobsSpec } from './experiment.js';

const { spec, policy } = workerData as { spec: JobsSpec; policy: JobPolicy };
try {
  const prepared = prepare(spec);
  const result = runPolicy(policy, spec, prepared, (done, total) => parentPort?.postMessage({ kind: 'progress', done, total }));
  parentPort?.postMessage({ kind: 'done', result });
} catch (e) {
  parentPort?.postMessage({ kind: 'error', error: (e as Error).message });
}
