/**
 * Delay scheduling for data (Zaharia et al., EuroSys'10), opt-in through
 * `SchedulerConfig.locality.holdMs`: a job whose placement now would put a member where its
 * data is not, while some other node holds that data, waits up to `holdMs` since it became
 * pending for a node with its data to have room. With `holdCopyBytesPerSec`, the wait is at
 * most what copying the bytes missing on the node placed now would take at that rate (the
 * time the job would spend filling with its GPUs held anyway): a 10 GB dataset is copied, a
 * 2 TB one waited for. A held job waits for data, not for room: it triggers no preemption.
 * Jobs without datasets are never held.
 */
import type { Binding } from '../../model/cluster.js';
import type { NodeState } from '../../model/node.js';
import type { PodRequest } from '../../model/request.js';
import { localityShare } from '../../plugins/score/data-locality.js';
import { pendingSince, type JobRecord } from '../job.js';
import type { Session } from '../session.js';

/** Bytes of the member's datasets that `node` lacks (unknown sizes count as 0). */
function missingBytes(m: PodRequest, node: NodeState): number {
  let out = 0;
  (m.datasets ?? []).forEach((d, i) => (out += Math.max(0, (m.datasetBytes?.[i] ?? 0) - (node.cachedBytes.get(d) ?? 0))));
  return out;
}

export function holdsForData(s: Session, job: JobRecord, bindings: readonly Binding[]): boolean {
  const hold = s.config.locality?.holdMs ?? 0;
  const waited = s.now - pendingSince(job);
  if (hold <= 0 || waited >= hold) return false;
  const rate = s.config.locality?.holdCopyBytesPerSec ?? 0;
  for (const m of job.spec.members) {
    if (!m.datasets || m.datasets.length === 0) continue;
    if (!m.datasets.some((d) => s.cluster.holdersOf(d) > 0)) continue;
    const b = bindings.find((x) => x.podId === m.id);
    const node = b ? s.cluster.node(b.node) : undefined;
    if (!node || localityShare(m, node, 0) >= 1) continue;
    if (rate <= 0 || waited < (missingBytes(m, node) / rate) * 1000) return true;
  }
  return false;
}
