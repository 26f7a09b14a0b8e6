/**
 * Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection: of
 * several replicas only the holder schedules. A candidate takes the Lease when it is free or
 * when its holder has not renewed it for `leaseDuration` (measured on the candidate's own
 * monotonic clock from when it last saw the record change, so clock skew between replicas does
 * not matter). Writes use optimistic concurrency (resourceVersion): of two racing candidates one
 * gets 409.
 *
 * Fencing: the holder may write (`mayWrite`) only while less than `renewDeadline` has passed,
 * on its monotonic clock, since it *sent* its last successful renewal. Every other replica waits
 * at least `leaseDuration` from when it saw that renewal, which it can see only after it was
 * sent; renewDeadline < leaseDuration, so the holder's right to write ends before anyone else
 * can take the Lease, even when the holder was paused (SIGSTOP, a long GC) and its timers and
 * queued calls run late. A holder that cannot renew steps down at the deadline (a timer, not
 * the next renewal attempt, which may hang) and keeps campaigning as a standby.
 */
import type { ClusterWrites, LeaseRecord } from './api.js';
import { withDeadline } from './deadline.js';

export interface LeaderOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  /** Wall clock, for the times written into the Lease record. */
  readonly now?: () => number;
  /** Monotonic clock (ms) for every duration; it keeps running while the process is paused. */
  readonly monotonic?: () => number;
  readonly log?: (msg: string) => void;
}

/** A leadership term: the Lease's transition count when this replica took it. */
export interface LeaderEpoch {
  readonly holder: string;
  readonly transitions: number;
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private observed: { record: string; at: number } | null = null;
  /** Monotonic time at which the last successful renewal (or acquisition) was sent. */
  private lastRenewSent = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private deadline: NodeJS.Timeout | null = null;
  private term: LeaderEpoch | null = null;
  private readonly now: () => number;
  private readonly mono: () => number;

  constructor(
    private readonly api: Pick<ClusterWrites, 'getLease' | 'writeLease'>,
    private readonly opts: LeaderOptions,
    private readonly onStart: () => void,
    private readonly onStop: () => void,
  ) {
    if (!(opts.renewDeadlineMs < opts.leaseDurationMs)) throw new Error('renew deadline must be shorter than the lease duration');
    this.now = opts.now ?? Date.now;
    this.mono = opts.monotonic ?? (() => performance.now());
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** True while this replica holds a Lease that nobody else can have taken yet. */
  get mayWrite(): boolean {
    return this.leading && this.mono() - this.lastRenewSent < this.opts.renewDeadlineMs;
  }

  /** The current term while leading. */
  get epoch(): LeaderEpoch | null {
    return this.leading ? this.term : null;
  }

  start(): void {
    this.stopped = false;
    void this.tick();
  }

  /** Stops campaigning; a leader releases the Lease so that a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
    if (this.leading) {
      this.leading = false;
      this.onStop();
      try {
        const cur = await this.api.getLease(this.opts.namespace, this.opts.name);
        if (cur && cur.holder === this.opts.identity) {
          const t = this.now();
          await this.api.writeLease(this.opts.namespace, this.opts.name, { ...cur, holder: '', durationSeconds: 1, renewTime: t }, cur.resourceVersion);
        }
      } catch {
        // best effort: the Lease expires on its own
      }
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.opts.retryPeriodMs);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const sent = this.mono();
    let ok = false;
    try {
      // A call that hangs (a paused or partitioned apiserver) counts as failed after the deadline.
      ok = await withDeadline(this.tryAcquireOrRenew(), this.opts.renewDeadlineMs, 'no answer within the renew deadline');
    } catch (e) {
      this.opts.log?.(`lease ${this.opts.namespace}/${this.opts.name}: ${(e as Error).message}`);
    }
    if (this.stopped) return;
    if (ok) {
      this.lastRenewSent = sent;
      this.armDeadline();
      if (!this.leading && this.mayWriteAt(this.mono())) {
        this.leading = true;
        this.opts.log?.(`${this.opts.identity} became the leader (epoch ${this.term?.transitions ?? 0})`);
        this.onStart();
      }
    }
    this.checkDeadline();
    this.schedule();
  }

  private mayWriteAt(t: number): boolean {
    return t - this.lastRenewSent < this.opts.renewDeadlineMs;
  }

  /** Steps down at the renew deadline even while a renewal call is still hanging. */
  private armDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    const wait = Math.max(0, this.lastRenewSent + this.opts.renewDeadlineMs - this.mono());
    this.deadline = setTimeout(() => {
      this.deadline = null;
      this.checkDeadline();
    }, wait + 1);
  }

  private checkDeadline(): void {
    if (!this.leading || this.mayWriteAt(this.mono())) return;
    this.leading = false;
    this.opts.log?.(`${this.opts.identity} lost the lease (no renewal for ${Math.round(this.mono() - this.lastRenewSent)} ms); standing by`);
    this.onStop();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    const t = this.now();
    const durationSeconds = Math.ceil(this.opts.leaseDurationMs / 1000);
    const cur = await this.api.getLease(namespace, name);
    if (cur === null) {
      const ok = await this.write({ holder: identity, durationSeconds, renewTime: t, acquireTime: t, transitions: 0 }, null);
      if (ok) this.term = { holder: identity, transitions: 0 };
      return ok;
    }
    const seenAt = this.mono();
    const record = `${cur.holder}|${cur.renewTime}|${cur.resourceVersion}`;
    if (this.observed?.record !== record) this.observed = { record, at: seenAt };
    // Our own record, but from a term we no longer trust (we stepped down): take it as a new term.
    const mine = cur.holder === identity && this.leading;
    const expired = cur.holder === '' || cur.holder === identity || this.observed.at + cur.durationSeconds * 1000 <= seenAt;
    if (!mine && !expired) return false;
    const next: Omit<LeaseRecord, 'resourceVersion'> = mine
      ? { ...cur, durationSeconds, renewTime: t }
      : { holder: identity, durationSeconds, renewTime: t, acquireTime: t, transitions: cur.transitions + 1 };
    const ok = await this.write(next, cur.resourceVersion);
    if (ok) this.term = { holder: identity, transitions: next.transitions };
    return ok;
  }

  private async write(l: Omit<LeaseRecord, 'resourceVersion'>, rv: string | null): Promise<boolean> {
    try {
      await this.api.writeLease(this.opts.namespace, this.opts.name, l, rv);
      return true;
    } catch (e) {
      const status = (e as { status?: number }).status;
      if (status === 409) return false; // someone else wrote first
      throw e;
    }
  }
}
