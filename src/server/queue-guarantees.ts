/**
 * Guarantees against the fleet, checked when a queue is created or changed. Per level:
 * - one queue guaranteed more GPUs than the whole fleet has, or more of a GPU model than the
 *   fleet has of it: refused (GUARANTEE_EXCEEDS_FLEET), it could never be honoured;
 * - children guaranteed more than their parent: refused by the queue tree (core/queues.ts);
 * - top-level queues whose guarantees add up to more than the fleet: accepted with a warning
 *   (GUARANTEES_OVERCOMMITTED). The first start guarantees the default queue the whole
 *   machine, so the first new guarantee always over-commits until the admin lowers the
 *   default; refusing would make that order of steps impossible. While over-committed,
 *   guarantees are honoured in turn and a queue may get less than its guarantee.
 */
import type { QueueRow } from '../adapters/store/store.js';
import { ApiError } from './errors.js';

export interface GuaranteeWarning {
  readonly code: 'GUARANTEES_OVERCOMMITTED';
  readonly message: string;
}

function gpus(n: number): string {
  return `${n} GPU${n === 1 ? '' : 's'}`;
}

/** Throws for a guarantee no fleet of this size could honour; returns warnings for over-commitment. */
export function checkGuarantees(queues: readonly QueueRow[], changed: string, fleetGpus: number, fleetByModel: ReadonlyMap<string, number> = new Map()): GuaranteeWarning[] {
  const q = queues.find((x) => x.name === changed);
  if (q?.guaranteedGpus != null && q.guaranteedGpus > fleetGpus) {
    throw new ApiError('GUARANTEE_EXCEEDS_FLEET', `queue ${changed}: guaranteed ${gpus(q.guaranteedGpus)}, but the fleet has ${gpus(fleetGpus)}; lower --guaranteed to at most ${fleetGpus}`);
  }
  for (const [model, m] of Object.entries(q?.gpuModels ?? {})) {
    const has = fleetByModel.get(model) ?? 0;
    if (m.guaranteedGpus !== null && m.guaranteedGpus > has) {
      throw new ApiError('GUARANTEE_EXCEEDS_FLEET', `queue ${changed}: guaranteed ${gpus(m.guaranteedGpus)} of ${model}, but the fleet has ${gpus(has)} of it; lower its guarantee to at most ${has}`);
    }
  }
  const top = queues.filter((x) => x.parent === null && (x.guaranteedGpus ?? 0) > 0);
  const sum = top.reduce((s, x) => s + (x.guaranteedGpus ?? 0), 0);
  if (sum <= fleetGpus) return [];
  const parts = top.map((x) => `${x.name} ${x.guaranteedGpus ?? 0}`).join(', ');
  const dflt = top.find((x) => x.name === 'default' && x.name !== changed);
  const hint = dflt ? `lower queue default's guarantee to ${Math.max(0, fleetGpus - (sum - (dflt.guaranteedGpus ?? 0)))} (the first start gave it the whole fleet)` : 'lower one of them';
  return [{ code: 'GUARANTEES_OVERCOMMITTED', message: `top-level guarantees add up to ${gpus(sum)} (${parts}) but the fleet has ${gpus(fleetGpus)}, so they cannot all be honoured at once; ${hint}` }];
}
