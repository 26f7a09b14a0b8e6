/**
 * The dashboard's change feed. While someone listens, it compares the controller's state with
 * what it saw last (every `intervalMs`) and publishes what changed: each job whose state,
 * reason, progress or placement moved (finished ones too), and a signal when the GPUs' holders,
 * the nodes' status or the queues' figures changed. Comparing instead of hooking every write
 * keeps the scheduler loop unaware of listeners; with nobody listening it costs nothing.
 */
import type { JobRow } from '../../adapters/store/store.js';

export type FeedEvent =
  | { readonly type: 'job'; readonly seq: number; readonly id: string; readonly team: string; readonly queue: string; readonly name: string; readonly state: string; readonly reason: string | null }
  | { readonly type: 'fleet'; readonly seq: number }
  | { readonly type: 'queues'; readonly seq: number };

/** What the feed reads; the controller and the store provide it (see events-api.ts). */
export interface FeedSource {
  activeJobs(): readonly JobRow[];
  /** A job that is no longer active, as stored (its final state). */
  finishedJob(id: string): JobRow | undefined;
  /** A text that changes whenever a GPU's holders, a node's status or a GPU's health change. */
  fleetDigest(): string;
  /** A text that changes whenever a queue's usage or pending work changes. */
  queueDigest(): string;
}

export type Listener = (e: FeedEvent) => void;

const jobDigest = (j: JobRow): string => `${j.state}|${j.reason ?? ''}|${j.progress?.step ?? ''}|${j.attempts}|${j.bindings?.length ?? 0}`;

export class ChangeFeed {
  private readonly listeners = new Set<Listener>();
  private jobs = new Map<string, string>();
  private fleet = '';
  private queues = '';
  private timer: NodeJS.Timeout | null = null;
  private lastSeq = 0;

  constructor(
    private readonly source: FeedSource,
    private readonly intervalMs = 500,
  ) {}

  get seq(): number {
    return this.lastSeq;
  }

  /** Starts listening; the returned function stops. The first listener starts the comparisons. */
  subscribe(listener: Listener): () => void {
    if (this.listeners.size === 0) {
      this.observe(false); // the baseline: what is there now is not news
      this.timer = setInterval(() => this.observe(true), this.intervalMs);
      this.timer.unref();
    }
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  /** Compares the state with the last one seen and publishes the differences (when `publish`). */
  observe(publish: boolean): void {
    const seen = new Map<string, string>();
    const changed: JobRow[] = [];
    for (const j of this.source.activeJobs()) {
      const d = jobDigest(j);
      seen.set(j.id, d);
      if (this.jobs.get(j.id) !== d) changed.push(j);
    }
    for (const id of this.jobs.keys()) {
      if (seen.has(id)) continue;
      const j = this.source.finishedJob(id);
      if (j) changed.push(j);
    }
    this.jobs = seen;
    const fleet = this.source.fleetDigest();
    const queues = this.source.queueDigest();
    const fleetChanged = fleet !== this.fleet;
    const queuesChanged = queues !== this.queues;
    this.fleet = fleet;
    this.queues = queues;
    if (!publish) return;
    for (const j of changed) this.emit({ type: 'job', seq: ++this.lastSeq, id: j.id, team: j.team, queue: j.queue, name: j.name, state: j.state, reason: j.reason });
    if (fleetChanged) this.emit({ type: 'fleet', seq: ++this.lastSeq });
    if (queuesChanged) this.emit({ type: 'queues', seq: ++this.lastSeq });
  }

  private emit(e: FeedEvent): void {
    for (const l of this.listeners) l(e);
  }
}
