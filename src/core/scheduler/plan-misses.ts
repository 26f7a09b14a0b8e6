/**
 * Victim searches that found nothing, kept across cycles so that a search is not repeated
 * while nothing it depends on has changed: the running set or the nodes (the job table's
 * epoch), demand (its demand epoch), or the pool of candidate victims (a job passing the
 * minimum runtime joins it at `until`). Keyed by action, queue and gang shape.
 */
export interface PlanMiss {
  readonly epoch: number;
  readonly demandEpoch: number;
  /** When the next running job becomes a candidate victim (passes the minimum runtime). */
  readonly until: number;
  /** The highest priority that searched and found nothing. */
  readonly prio: number;
  readonly at: number;
}

/** How long a miss holds at most: priorities that follow attained service and checkpoint ages drift slowly. */
const MISS_TTL_MS = 60_000;

/** The misses, read and written by one cycle at the table's epochs when it began. */
export class CycleMisses {
  constructor(
    private readonly misses: Map<string, PlanMiss>,
    private readonly now: number,
    private readonly epoch: number,
    private readonly demandEpoch: number,
  ) {}

  /**
   * A victim search under `key` found nothing, and nothing it depends on has changed since:
   * not the running set or the nodes (epoch), no job has aged past the minimum runtime into
   * the pool (`until`), not demand when `withDemand` (fair shares), and it searched at a
   * priority at least `prio`. Evictions since only shrink the pool.
   */
  recent(key: string, prio: number, withDemand: boolean): boolean {
    const m = this.misses.get(key);
    if (m === undefined || m.epoch !== this.epoch || this.now >= m.until || this.now - m.at >= MISS_TTL_MS || prio > m.prio) return false;
    return !withDemand || m.demandEpoch === this.demandEpoch;
  }

  /** Records a miss that holds until `until` at the latest (when the next job joins the pool). */
  note(key: string, prio: number, until: number): void {
    const m = this.misses.get(key);
    const same = m !== undefined && m.epoch === this.epoch && m.demandEpoch === this.demandEpoch && this.now < m.until;
    this.misses.set(key, { epoch: this.epoch, demandEpoch: this.demandEpoch, until: same ? Math.min(until, m.until) : until, prio: same ? Math.max(prio, m.prio) : prio, at: same ? m.at : this.now });
  }
}

/** Forgets misses that no longer hold (taken at another epoch, or expired), once there are many. */
export function pruneMisses(misses: Map<string, PlanMiss>, epoch: number, now: number): void {
  if (misses.size > 256) for (const [k, m] of misses) if (m.epoch !== epoch || now - m.at >= MISS_TTL_MS) misses.delete(k);
}
