/**
 * Why each job waits, as one cycle finds out: every job given a reason keeps it in its pending
 * fields (PendingFields.cycleReasons, stamped with the cycle in waitedIn) and in `waits` by id, the map
 * the cycle returns. In a busy cycle thousands of jobs wait for one reason, one after the
 * other: they share one list (copied before a second reason is added), found without a lookup.
 */
import type { JobRecord } from './job.js';
import type { WaitReason } from './types.js';

export class CycleWaits {
  readonly waits = new Map<string, WaitReason[]>();
  /** The jobs given a reason this cycle (their reasons also in PendingFields.cycleReasons). */
  readonly waiting: JobRecord[] = [];
  /** One-reason lists shared by every job waiting for the same reason (copied before a second reason). */
  private readonly sharedLists = new Map<WaitReason, WaitReason[]>();
  private lastReason: WaitReason | null = null;
  private lastShared: WaitReason[] | undefined = undefined;
  private readonly isShared = new WeakSet<WaitReason[]>();

  /** `cycle`: the session's number (stamped in PendingFields.waitedIn). */
  constructor(private readonly cycle: number) {}

  /** Whether `job` waits this cycle because it does not fit (or its gang does not): what `waits` holds for it, read from the record. */
  waitsForRoom(job: JobRecord): boolean {
    const p = job.pending;
    if (p === null || p.waitedIn !== this.cycle) return false;
    for (const w of p.cycleReasons) if (w.kind === 'fit' || w.kind === 'gang') return true;
    return false;
  }

  /** Whether `job` waits this cycle for its queue's quota (or a budget): what `waits` holds for it, read from the record. */
  waitsForQuota(job: JobRecord): boolean {
    const p = job.pending;
    if (p === null || p.waitedIn !== this.cycle) return false;
    for (const w of p.cycleReasons) if (w.kind === 'quota') return true;
    return false;
  }

  /** Records why a job waits; a plan in progress (preempting, reservation) is listed first. */
  wait(job: JobRecord, reason: WaitReason): void {
    const p = job.pending;
    if (p === null) {
      this.waitNotPending(job, reason);
      return;
    }
    if (p.waitedIn !== this.cycle) {
      // The job's first reason this cycle (the stamp spares a lookup). The common case in a
      // busy cycle: thousands of jobs waiting for one reason, one after the other, share a list.
      p.waitedIn = this.cycle;
      let shared = reason === this.lastReason ? this.lastShared : this.sharedLists.get(reason);
      if (!shared) {
        shared = [reason];
        this.sharedLists.set(reason, shared);
        this.isShared.add(shared);
      }
      this.lastReason = reason;
      this.lastShared = shared;
      this.waits.set(job.id, shared);
      p.cycleReasons = shared;
      this.waiting.push(job);
      return;
    }
    let list = this.waits.get(job.id) as WaitReason[];
    if (list.some((r) => r.kind === reason.kind && r.message === reason.message)) return;
    if (this.isShared.has(list)) {
      list = [...list];
      this.waits.set(job.id, list);
      p.cycleReasons = list;
    }
    add(list, reason);
  }

  /** A job that is not pending (the actions give reasons to pending jobs only): its reasons are only listed in `waits`. */
  private waitNotPending(job: JobRecord, reason: WaitReason): void {
    let list = this.waits.get(job.id);
    if (!list) this.waits.set(job.id, (list = []));
    else if (list.some((r) => r.kind === reason.kind && r.message === reason.message)) return;
    add(list, reason);
  }

  /** `job` was bound: it waits no longer. */
  started(job: JobRecord): void {
    this.waits.delete(job.id);
    if (job.pending !== null) job.pending.waitedIn = 0;
  }
}

/** A plan in progress (preempting, reservation) is listed first. */
function add(list: WaitReason[], reason: WaitReason): void {
  if (reason.kind === 'preempting' || reason.kind === 'reservation') list.unshift(reason);
  else list.push(reason);
}
