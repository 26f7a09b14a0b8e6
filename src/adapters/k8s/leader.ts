/**
 * Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection: of
 * several replicas only the holder schedules. A candidate takes the Lease when it is free or
 * when its holder has not renewed it for `leaseDuration` (measured on the candidate's own clock
 * from when it last saw the record change, so clock skew between replicas does not matter).
 * Writes use optimistic concurrency (resourceVersion): of two racing candidates one gets 409.
 * The holder renews every `retryPeriod`; if it cannot renew within `renewDeadline` it stops
 * leading (renewDeadline < leaseDuration, so it stops before anyone else may take over).
 */
import type { ClusterWrites, LeaseRecord } from './api.js';

export interface LeaderOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly now?: () => number;
  readonly log?: (msg: string) => void;
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private observed: { record: string; at: number } | null = null;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(
    private readonly api: Pick<ClusterWrites, 'getLease' | 'writeLease'>,
    private readonly opts: LeaderOptions,
    private readonly onStart: () => void,
    private readonly onStop: () => void,
  ) {
    if (!(opts.renewDeadlineMs < opts.leaseDurationMs)) throw new Error('renew deadline must be shorter than the lease duration');
    this.now = opts.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.leading;
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
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (e) {
      this.opts.log?.(`lease ${this.opts.namespace}/${this.opts.name}: ${(e as Error).message}`);
    }
    if (this.stopped) return;
    const t = this.now();
    if (ok) {
      this.lastRenew = t;
      if (!this.leading) {
        this.leading = true;
        this.opts.log?.(`${this.opts.identity} became the leader`);
        this.onStart();
      }
    } else if (this.leading && t - this.lastRenew >= this.opts.renewDeadlineMs) {
      this.leading = false;
      this.opts.log?.(`${this.opts.identity} lost the lease (no renewal for ${t - this.lastRenew} ms)`);
      this.onStop();
    }
    this.schedule();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    const t = this.now();
    const durationSeconds = Math.ceil(this.opts.leaseDurationMs / 1000);
    const cur = await this.api.getLease(namespace, name);
    if (cur === null) {
      await this.write({ holder: identity, durationSeconds, renewTime: t, acquireTime: t, transitions: 0 }, null);
      return true;
    }
    const record = `${cur.holder}|${cur.renewTime}|${cur.resourceVersion}`;
    if (this.observed?.record !== record) this.observed = { record, at: t };
    const mine = cur.holder === identity;
    const expired = cur.holder === '' || this.observed.at + cur.durationSeconds * 1000 <= t;
    if (!mine && !expired) return false;
    const next: Omit<LeaseRecord, 'resourceVersion'> = mine
      ? { ...cur, durationSeconds, renewTime: t }
      : { holder: identity, durationSeconds, renewTime: t, acquireTime: t, transitions: cur.transitions + 1 };
    return this.write(next, cur.resourceVersion);
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
