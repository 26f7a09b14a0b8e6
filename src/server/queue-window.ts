/**
 * The scheduling window of the standalone server: of each queue's queued jobs, only the first
 * `size` in the queue's order (priority, then submission; or submission only) are handed to the
 * scheduler; the rest wait in a backlog, in order, and move up as the window empties. A cycle's
 * cost grows with the jobs it considers, and it runs on the API's event loop: with the window,
 * 100,000 queued jobs cost a cycle what `size` per queue do. (Volcano's enqueue action and
 * Kueue's admission gate jobs the same way.) Invariant: every backlogged job of a queue comes
 * after every windowed one, so the scheduler always sees a prefix of each queue.
 * What it costs: a small job deep in a long queue is not tried before it reaches the window,
 * where without one the scheduler could backfill it early.
 */

export interface WindowEntry {
  readonly id: string;
  readonly queue: string;
  readonly priority: number;
  readonly submittedAt: number;
  /** milli-GPU the job asks for (all workers), for the queue's pending GPU count. */
  readonly gpuMilli: number;
}

export type QueueOrder = 'priority' | 'fifo';

export class SchedulingWindow {
  /** Per queue: the windowed jobs (handed to the scheduler, still queued), in order. */
  private readonly windowed = new Map<string, WindowEntry[]>();
  /** Per queue: the backlog, in order (best first). */
  private readonly backlog = new Map<string, WindowEntry[]>();
  private readonly where = new Map<string, { entry: WindowEntry; inWindow: boolean }>();
  /** Per queue: the backlog's milli-GPU, kept as jobs come and go so that counting costs O(queues), not O(jobs) (/metrics, /v1/queues). */
  private readonly backlogMilli = new Map<string, number>();

  constructor(
    readonly size: number,
    private readonly orderOf: (queue: string) => QueueOrder,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`window size must be a positive integer, got ${size}`);
  }

  /** Queue order: negative when `a` goes first. */
  compare(a: WindowEntry, b: WindowEntry): number {
    if (this.orderOf(a.queue) === 'priority' && a.priority !== b.priority) return b.priority - a.priority;
    return a.submittedAt - b.submittedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }

  /**
   * A queued job arrives (or comes back). It goes straight to the window (true: hand it to the
   * scheduler now) when it goes before the last windowed job of its queue (the window may then
   * hold more than `size`: better jobs never wait behind worse ones); otherwise it joins the
   * backlog, and `refill` moves it up when there is room.
   */
  offer(e: WindowEntry): boolean {
    if (this.where.has(e.id)) throw new Error(`job ${e.id} is already queued`);
    const win = list(this.windowed, e.queue);
    const last = win[win.length - 1];
    const inWindow = last !== undefined && this.compare(e, last) < 0;
    insertSorted(inWindow ? win : list(this.backlog, e.queue), e, (a, b) => this.compare(a, b));
    if (!inWindow) this.addMilli(e.queue, e.gpuMilli);
    this.where.set(e.id, { entry: e, inWindow });
    return inWindow;
  }

  /** The job is no longer queued (it started, was cancelled or removed). */
  leave(id: string): void {
    const w = this.where.get(id);
    if (!w) return;
    this.where.delete(id);
    const l = (w.inWindow ? this.windowed : this.backlog).get(w.entry.queue);
    if (!l) return;
    const i = l.indexOf(w.entry);
    if (i >= 0) {
      l.splice(i, 1);
      if (!w.inWindow) this.addMilli(w.entry.queue, -w.entry.gpuMilli);
    }
  }

  private addMilli(queue: string, milli: number): void {
    this.backlogMilli.set(queue, (this.backlogMilli.get(queue) ?? 0) + milli);
  }

  /** Moves backlogged jobs into the window while it has room; returns them (to hand to the scheduler). */
  refill(): WindowEntry[] {
    const out: WindowEntry[] = [];
    for (const [queue, back] of this.backlog) {
      const win = list(this.windowed, queue);
      const take = Math.min(back.length, this.size - win.length);
      if (take <= 0) continue;
      for (const e of back.splice(0, take)) {
        win.push(e); // (every backlogged job comes after every windowed one: appending keeps the order)
        this.addMilli(queue, -e.gpuMilli);
        (this.where.get(e.id) as { inWindow: boolean }).inWindow = true;
        out.push(e);
      }
    }
    return out;
  }

  /** For a backlogged job: how many queued jobs of its queue go before it. */
  backlogged(id: string): { queue: string; ahead: number } | undefined {
    const w = this.where.get(id);
    if (!w || w.inWindow) return undefined;
    const back = this.backlog.get(w.entry.queue) ?? [];
    return { queue: w.entry.queue, ahead: (this.windowed.get(w.entry.queue)?.length ?? 0) + back.indexOf(w.entry) };
  }

  /** Backlogged jobs and their milli-GPU, per queue. */
  backlogCounts(): Map<string, { jobs: number; gpuMilli: number }> {
    const out = new Map<string, { jobs: number; gpuMilli: number }>();
    for (const [queue, back] of this.backlog) {
      if (back.length === 0) continue;
      out.set(queue, { jobs: back.length, gpuMilli: this.backlogMilli.get(queue) ?? 0 });
    }
    return out;
  }

  /** After a queue's order changed: its backlog is sorted again (the window is the scheduler's to sort). */
  resort(): void {
    for (const back of this.backlog.values()) back.sort((a, b) => this.compare(a, b));
  }
}

function list(m: Map<string, WindowEntry[]>, queue: string): WindowEntry[] {
  let l = m.get(queue);
  if (!l) m.set(queue, (l = []));
  return l;
}

function insertSorted(l: WindowEntry[], e: WindowEntry, cmp: (a: WindowEntry, b: WindowEntry) => number): void {
  let lo = 0;
  let hi = l.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cmp(l[mid] as WindowEntry, e) <= 0) lo = mid + 1;
    else hi = mid;
  }
  l.splice(lo, 0, e);
}
