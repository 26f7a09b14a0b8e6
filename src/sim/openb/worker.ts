/** Worker thread for the openb experiment: loads the trace once, replays (policy, seed) tasks. */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { loadOpenbNodes, loadOpenbPods } from './trace.js';
import { replay, type NodeOrder, type WorkloadMode } from './replay.js';
import type { PolicyName } from '../../core/policies.js';
import { generateFamily, type FamilySpec } from './families.js';

const { nodesFile, podsFile, family } = workerData as { nodesFile: string; podsFile: string; family: FamilySpec | null };
const nodes = loadOpenbNodes(nodesFile);
const pods = family ? generateFamily(loadOpenbPods(podsFile), nodes, family) : loadOpenbPods(podsFile);

parentPort?.on('message', (task: { policy: PolicyName; seed: number; inflate: number; nodeOrder: NodeOrder; workload: WorkloadMode }) => {
  try {
    const r = replay({ nodes, pods, policy: task.policy, seed: task.seed, inflate: task.inflate, nodeOrder: task.nodeOrder, workload: task.workload, now: () => performance.now() });
    parentPort?.postMessage({
      kind: 'done',
      run: { policy: r.policy, seed: r.seed, curve: Array.from(r.curve), decisions: r.decisions, seconds: r.seconds, placed: r.placed, failed: r.failed },
    });
  } catch (e) {
    parentPort?.postMessage({ kind: 'error', error: (e as Error).message });
  }
});
