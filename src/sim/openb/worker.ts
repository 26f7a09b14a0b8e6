/** Worker thread for the openb experiment: loads the trace once, replays (policy, seed) tasks. */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { loadOpenbNodes, loadOpenbPods } from './trace.js';
import { replay, type NodeOrder } from './replay.js';
import type { PolicyName } from '../../core/policies.js';

const { nodesFile, podsFile } = workerData as { nodesFile: string; podsFile: string };
const nodes = loadOpenbNodes(nodesFile);
const pods = loadOpenbPods(podsFile);

parentPort?.on('message', (task: { policy: PolicyName; seed: number; inflate: number; nodeOrder: NodeOrder }) => {
  try {
    const r = replay({ nodes, pods, policy: task.policy, seed: task.seed, inflate: task.inflate, nodeOrder: task.nodeOrder, now: () => performance.now() });
    parentPort?.postMessage({
      kind: 'done',
      run: { policy: r.policy, seed: r.seed, curve: Array.from(r.curve), decisions: r.decisions, seconds: r.seconds, placed: r.placed, failed: r.failed },
    });
  } catch (e) {
    parentPort?.postMessage({ kind: 'error', error: (e as Error).message });
  }
});
