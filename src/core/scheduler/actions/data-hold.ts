/**
 * Delay scheduling for data (Zaharia et al., EuroSys'10), opt-in through
 * `SchedulerConfig.locality.holdMs`: a job whose placement now would put a member where its
 * data is not, while some other node holds that data, waits up to `holdMs` since it became
 * pending for a node with its data to have room. A held job waits for data, not for room: it
 * triggers no preemption. Jobs without datasets are never held.
 */
import type { Binding } from '../../model/cluster.js';
import { localityShare } from '../../plugins/score/data-locality.js';
import type { JobRecord } from '../job.js';
import type { Session } from '../session.js';

export function holdsForData(s: Session, job: JobRecord, bindings: readonly Binding[]): boolean {
  const hold = s.config.locality?.holdMs ?? 0;
  if (hold <= 0 || s.now - job.pendingSince >= hold) return false;
  for (const m of job.spec.members) {
    if (!m.datasets || m.datasets.length === 0) continue;
    if (!m.datasets.some((d) => s.cluster.holdersOf(d) > 0)) continue;
    const b = bindings.find((x) => x.podId === m.id);
    const node = b ? s.cluster.node(b.node) : undefined;
    if (node && localityShare(m, node, 0) < 1) return true;
  }
  return false;
}
