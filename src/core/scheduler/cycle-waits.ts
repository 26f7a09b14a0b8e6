/**
 * Why each job waits, as one cycle finds out: every job given a reason keeps it on its record
 * (JobRecord.cycleReasons, stamped with the cycle in waitedIn) and in `waits` by id, the map
 * the cycle returns. In a busy cycle thousands of jobs wait for one reason, one after the
 * other: they share one list (copied before a second reason is added), found without a lookup.
 */
import type { JobRecord } from './job.js';
import type { WaitReason } from './types.js';

export class CycleWaits {
  readonly waits = new Map<string, WaitReason[]>();
  /** The jobs given a reason this cycle (their reasons also in JobRecord.cycleReasons). */
  readonly waiting: JobRecord[] = [];
  /** One-reason lists shared by every job waiting for the same reason (copied before a second reason). */
  private readonly sharedLists = new Map<WaitReason, WaitReason[]>();
  private lastReason: WaitReason | null = null;
  private lastShared: WaitReason[] | undefined = undefined;
  private readonly isShared = new WeakSet<WaitReason[]>();

  /** `cycle`: the session's number (stamped in JobRecord.waitedIn). */
  constructor(private readonly cycle: number) {}

  /** Whether `job` waits this cycle because it does not fit (or its gang does not): what `waits` holds for it, read from the record. */
  waitsForRoom(job: JobRecord): boolean {
    if (job.waitedIn !== this.cycle) return false;
    for (const w of job.cycleReasons) if (w.kind === 'fit' || w.kind === 'gang') return true;
    return false;
  }

  /** Records why a job waits; a plan in progress (preempting, reservation) is listed first. */
  wait(job: JobRecord, reason: WaitReason): void {
    if (job.waitedIn !== this.cycle) {
      // The job's first reason this cycle (the stamp spares a lookup). The common case in a
      // busy cycle: thousands of jobs waiting for one reason, one after the other, share a list.
      job.waitedIn = this.cycle;
      let shared = reason === this.lastReason ? this.lastShared : this.sharedLists.get(reason);
      if (!shared) {
        shared = [reason];
        this.sharedLists.set(reason, shared);
        this.isShared.add(shared);
      }
      this.lastReason = reason;
      this.lastShared = shared;
      this.waits.set(job.id, shared);
      job.cycleReasons = shared;
      this.waiting.push(job);
      return;
    }
    let list = this.waits.get(job.id) as WaitReason[];
    if (list.some((r) => r.kind === reason.kind && r.message === reason.message)) return;
    if (this.isShared.has(list)) {
      list = [...list];
      this.waits.set(job.id, list);
      job.cycleReasons = list;
    }
    if (reason.kind === 'preempting' || reason.kind === 'reservation') list.unshift(reason);
    else list.push(reason);
  }

  /** `job` was bound: it waits no longer. */
  started(job: JobRecord): void {
    this.waits.delete(job.id);
    job.waitedIn = 0;
  }
}
