/**
 * Prefetch for pods blocked only by capacity: a pending pod that waits for room (its reasons
 * are all `fit`, `order` or `reservation`; not quota, budget, a gang or a preemption, which
 * prefetch-requests.ts covers) gets a predicted node (core/placement/predict-data-node.ts: the
 * node closest to fitting it among those it could run on; gang members on distinct nodes),
 * once, and its datasets are asked
 * for there while it waits. Staging the data there makes that node the likely one once it
 * has room, since locality leads the score. A prediction sticks until the pod is bound or
 * gone, so requests do not move from node to node as capacity changes; at most `limit` pods
 * hold one at a time, so a long queue cannot pin every cache.
 */
import type { Scheduler } from '../../core/scheduler/scheduler.js';
import type { WaitReason } from '../../core/scheduler/types.js';
import { predictDataNode } from '../../core/placement/predict-data-node.js';

const CAPACITY_REASONS: ReadonlySet<WaitReason['kind']> = new Set(['fit', 'order', 'reservation']);

export function blockedOnlyByCapacity(reasons: readonly WaitReason[]): boolean {
  return reasons.length > 0 && reasons.every((r) => CAPACITY_REASONS.has(r.kind));
}

export class CapacityPrefetch {
  /** pod key -> predicted node ('' = no node to stage on: data already held, or none fits). */
  private readonly predicted = new Map<string, string>();

  constructor(private readonly limit = 16) {}

  /**
   * After a cycle: drops the pods no longer pending, predicts a node for newly blocked pods,
   * and calls `expect(node, podKey)` for every prediction held.
   */
  plan(core: Scheduler, pending: ReadonlyMap<string, readonly WaitReason[]>, isPending: (podKey: string) => boolean, expect: (node: string, podKey: string) => void): void {
    for (const pk of this.predicted.keys()) if (!isPending(pk)) this.predicted.delete(pk);
    for (const [id, reasons] of pending) {
      if (!blockedOnlyByCapacity(reasons)) continue;
      const members = core.job(id)?.spec.members ?? [];
      const taken = new Set(members.map((m) => this.predicted.get(m.id) ?? '').filter((n) => n !== ''));
      for (const m of members) {
        if (this.predicted.has(m.id) || !m.datasets || m.datasets.length === 0) continue;
        if (this.predicted.size >= this.limit) break;
        const node = predictDataNode(core.cluster, m, taken) ?? '';
        this.predicted.set(m.id, node);
        if (node !== '') taken.add(node);
      }
    }
    for (const [pk, node] of this.predicted) if (node !== '') expect(node, pk);
  }
}
