/** What `Scheduler.queueStatus` reports per queue: quota, usage, deserved share, job counts. */
import type { QueueNode, QueueTree } from './queues.js';
import type { JobRecord } from './job.js';

export interface QueueStatus {
  readonly name: string;
  readonly parent: string | null;
  readonly guaranteedGpu: number;
  readonly limitGpu: number | null;
  readonly weight: number;
  /** milli-GPU in use, deserved now, and pending demand. */
  readonly usedGpu: number;
  readonly deservedGpu: number;
  readonly pendingGpu: number;
  readonly running: number;
  readonly pending: number;
  /** Per GPU model the queue has a quota for or uses: milli-GPU guaranteed, limit and used. */
  readonly gpuModels: Readonly<Record<string, ModelQuotaStatus>>;
}

export interface ModelQuotaStatus {
  readonly guaranteedGpu: number | null;
  readonly limitGpu: number | null;
  readonly usedGpu: number;
}

function modelQuotaStatus(q: QueueNode): Record<string, ModelQuotaStatus> {
  const g = q.spec.guaranteed?.gpuByModel ?? {};
  const l = q.spec.limit?.gpuByModel ?? {};
  const used = q.usage.gpuByModel;
  const out: Record<string, ModelQuotaStatus> = {};
  for (const m of [...new Set([...Object.keys(g), ...Object.keys(l), ...Object.keys(used).filter((k) => (used[k] ?? 0) > 0)])].sort()) {
    out[m] = { guaranteedGpu: g[m] ?? null, limitGpu: l[m] ?? null, usedGpu: used[m] ?? 0 };
  }
  return out;
}

/** Each queue's quota, usage, deserved share and job counts (a parent's include its children's). */
export function queueStatus(queues: QueueTree, jobs: Iterable<JobRecord>): QueueStatus[] {
const all = [...jobs];
  const counts = new Map<string, { running: number; pending: number }>();
  for (const j of all) {
    for (const q of queues.get(j.spec.queue)?.chain() ?? []) {
      const c = counts.get(q.name) ?? { running: 0, pending: 0 };
      if (j.state === 'pending') c.pending++;
      else c.running++;
      counts.set(q.name, c);
    }
  }
  const pendingOf = (name: string): number => {
    let sum = 0;
    for (const j of all) {
      if (j.state !== 'pending') continue;
      for (const q of queues.get(j.spec.queue)?.chain() ?? []) if (q.name === name) sum += j.resources.gpu;
    }
    return sum;
  };
  return queues.all().map((q) => ({
    name: q.name,
    parent: q.parent?.name ?? null,
    guaranteedGpu: q.guaranteed('gpu'),
    limitGpu: q.spec.limit?.gpu ?? null,
    weight: q.weight,
    usedGpu: q.usage.gpu,
    deservedGpu: q.deserved.gpu,
    pendingGpu: pendingOf(q.name),
    running: counts.get(q.name)?.running ?? 0,
    pending: counts.get(q.name)?.pending ?? 0,
    gpuModels: modelQuotaStatus(q),
  }));
}
