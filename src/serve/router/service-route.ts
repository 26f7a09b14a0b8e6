/**
 * One service's view in the router: its replicas (each an undici connection pool to the
 * replica's port), which of them take requests (Ready and not draining), the requests in flight
 * on each, counted at dispatch, the requests held while none is Ready, and the traffic figures
 * the autoscaler reads every period (`takeSample`). During a canary rollout, a share of the
 * requests goes to the new revision's replicas (`setSplit`, drawn with an injected Rng), and
 * requests, 5xx and latencies are also counted per revision (`revisionTraffic`).
 */
import { Pool } from 'undici';
import { createRng, type Rng } from '../../core/rng.js';
import { RequestHistograms } from './request-histograms.js';
import { createRoutePolicy, type ReplicaLoad, type RoutePolicy, type RoutePolicyName } from './route-policies.js';
import { admitsPrompt, notePromptAnswered, notePromptSent, queuedPromptTokens, type PrefillQueue } from './prefill-gate.js';

export interface RouteReplica extends ReplicaLoad, PrefillQueue {
  readonly id: string;
  readonly origin: string;
  /** The replica template it runs (see replicaRevision). */
  readonly revision: string;
  readonly pool: Pool;
  inFlight: number;
  ready: boolean;
  draining: boolean;
  served: number;
}

export interface TrafficSample {
  /** Requests dispatched and not finished. */
  readonly inFlight: number;
  /** Requests waiting for a Ready replica. */
  readonly held: number;
  readonly arrivedPromptTokens: number;
  readonly arrivedOutputTokens: number;
  /** Times to first byte of streamed answers (ms) since the last sample. */
  readonly firstTokenMs: readonly number[];
}

export interface ServiceRouteOptions {
  readonly policy: RoutePolicyName;
  readonly loadBound?: number;
  /** Tokens per prompt block (the replicas' KV block size). */
  readonly blockTokens?: number;
  /** How long a request may wait for a Ready replica (default 120 s), then 503. */
  readonly holdTimeoutMs?: number;
  /**
   * Prompt tokens a replica may have been sent and not yet answered (prefill-gate.ts); beyond
   * it requests wait in the router, oldest first. Undefined or Infinity: no bound.
   */
  readonly promptQueueTokens?: number;
  /** Called when a request is held (the service may be at zero: scale it up now). */
  readonly onHeld?: () => void;
  readonly seed?: number;
  /** Draws the canary split (default: seeded from `seed`). */
  readonly rng?: Rng;
}

/** `percent` of requests go to replicas of `revision` while it and another revision have some taking requests. */
export interface RevisionSplit {
  readonly revision: string;
  readonly percent: number;
}

/** A request placed on a replica: the replica, and the prompt tokens counted in its queue. */
export interface RouteTicket {
  readonly replica: RouteReplica;
  /** Give these back to `answered` / `release` (the prompt less the prefix the replica holds). */
  readonly queuedTokens: number;
}

interface Waiter {
  readonly prefixBlocks: readonly number[];
  readonly promptTokens: number;
  readonly resolve: (r: RouteTicket | null) => void;
  readonly timer: NodeJS.Timeout;
}

/** Latencies kept for the figures `gantry serve get` shows (the newest, in ms). */
const KEPT = 2048;

export class Recent {
  private readonly values: number[] = [];
  private next = 0;
  add(v: number): void {
    if (this.values.length < KEPT) this.values.push(v);
    else this.values[this.next] = v;
    this.next = (this.next + 1) % KEPT;
  }
  quantile(q: number): number | null {
    if (this.values.length === 0) return null;
    const s = [...this.values].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? null;
  }
}

/** One revision's traffic as the router measured it. */
export class RevisionTraffic {
  requests = 0;
  errors5xx = 0;
  readonly latencyMs = new Recent();
  readonly ttftMs = new Recent();
  /** Since the revision's first request (or its reset), for /metrics. */
  readonly histograms = new RequestHistograms();
  /** Answers by status code. */
  readonly byStatus = new Map<number, number>();
}

export class ServiceRoute {
  readonly replicas = new Map<string, RouteReplica>();
  readonly blockTokens: number;
  private policy: RoutePolicy;
  private readonly waiters: Waiter[] = [];
  private readonly drainWaits = new Map<string, Array<() => void>>();
  private arrivedPrompt = 0;
  private arrivedOutput = 0;
  private firstTokens: number[] = [];
  readonly latencyMs = new Recent();
  readonly ttftMs = new Recent();
  requests = 0;
  errors5xx = 0;
  /** Answers by status of requests no replica answered. */
  readonly unrouted = new Map<number, number>();
  private routed = 0;
  private heldTotal = 0;
  private retried = 0;
  private available: RouteReplica[] = [];
  private split: RevisionSplit | null = null;
  private readonly splitRng: Rng;
  private readonly byRevision = new Map<string, RevisionTraffic>();

  constructor(readonly name: string, private opts: ServiceRouteOptions) {
    this.policy = createRoutePolicy(opts.policy, createRng(opts.seed ?? 1), { loadBound: opts.loadBound ?? 8 });
    this.blockTokens = opts.blockTokens ?? 16;
    this.splitRng = opts.rng ?? createRng((opts.seed ?? 1) + 1);
  }

  /** Sends `percent` of requests to one revision (a canary), or stops splitting (null). */
  setSplit(split: RevisionSplit | null): void {
    this.split = split;
  }

  /** The traffic counted for a revision (a new, empty one if none yet). */
  revisionTraffic(revision: string): RevisionTraffic {
    let t = this.byRevision.get(revision);
    if (!t) this.byRevision.set(revision, (t = new RevisionTraffic()));
    return t;
  }

  /** Forgets a revision's figures (a rollout to it starts afresh). */
  resetRevision(revision: string): void {
    this.byRevision.delete(revision);
  }

  /** A new routing policy (a re-applied service); affinity starts afresh. */
  configure(opts: ServiceRouteOptions): void {
    if (opts.policy !== this.opts.policy || opts.loadBound !== this.opts.loadBound) this.policy = createRoutePolicy(opts.policy, createRng(opts.seed ?? 1), { loadBound: opts.loadBound ?? 8 });
    this.opts = opts;
    this.pump();
  }

  /** Adds a replica (not Ready until `setReady`). */
  addReplica(id: string, origin: string, revision = ''): void {
    if (this.replicas.has(id)) return;
    this.replicas.set(id, { id, origin, revision, pool: new Pool(origin, { connections: 256, keepAliveTimeout: 30_000 }), inFlight: 0, awaiting: 0, awaitingTokens: 0, ready: false, draining: false, served: 0 });
  }

  setReady(id: string, ready: boolean): void {
    const r = this.replicas.get(id);
    if (!r || r.ready === ready) return;
    r.ready = ready;
    this.refresh();
  }

  /** No new requests for the replica; resolves once its open requests finished. */
  drain(id: string): Promise<void> {
    const r = this.replicas.get(id);
    if (!r) return Promise.resolve();
    r.draining = true;
    this.policy.forget?.(id);
    this.refresh();
    if (r.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaits.set(id, [...(this.drainWaits.get(id) ?? []), resolve]));
  }

  removeReplica(id: string): void {
    const r = this.replicas.get(id);
    if (!r) return;
    this.replicas.delete(id);
    this.policy.forget?.(id);
    for (const w of this.drainWaits.get(id) ?? []) w();
    this.drainWaits.delete(id);
    this.refresh();
    void r.pool.close().catch(() => undefined);
  }

  /** Replicas that take requests now. */
  takingRequests(): readonly RouteReplica[] {
    return this.available;
  }

  /**
   * Picks a replica and counts the request on it, or holds the request until one takes it (null:
   * none in time). Held requests go oldest first; a new one waits behind them. `exclude` (a retry
   * after a refused connection) never waits.
   */
  acquire(prefixBlocks: readonly number[], exclude?: string, promptTokens = 0): RouteTicket | null | Promise<RouteTicket | null> {
    if (exclude !== undefined || this.waiters.length === 0) {
      const pick = this.pick(prefixBlocks, promptTokens, exclude);
      if (pick || exclude !== undefined) return pick;
    }
    this.heldTotal++;
    const held = new Promise<RouteTicket | null>((resolve) => {
      const waiter: Waiter = {
        prefixBlocks,
        promptTokens,
        resolve,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve(null);
        }, this.opts.holdTimeoutMs ?? 120_000),
      };
      this.waiters.push(waiter);
    });
    if (this.available.length === 0) this.opts.onHeld?.();
    return held;
  }

  /** The replica sent the first byte of its answer to a request of `promptTokens`. */
  answered(r: RouteReplica, promptTokens: number): void {
    notePromptAnswered(r, promptTokens);
    this.pump();
  }

  /** The request on `r` finished (answered, failed or abandoned); `answered`: its first byte came. */
  release(r: RouteReplica, promptTokens = 0, answered = true): void {
    r.inFlight--;
    if (!answered) notePromptAnswered(r, promptTokens);
    if (r.inFlight === 0 && r.draining) {
      for (const w of this.drainWaits.get(r.id) ?? []) w();
      this.drainWaits.delete(r.id);
    }
    if (!answered) this.pump();
  }

  noteArrival(promptTokens: number, outputTokens: number): void {
    this.requests++;
    this.arrivedPrompt += promptTokens;
    this.arrivedOutput += outputTokens;
  }

  noteFirstByte(ms: number, streamed: boolean, revision?: string): void {
    if (!streamed) return;
    this.ttftMs.add(ms);
    if (revision !== undefined) {
      const t = this.revisionTraffic(revision);
      t.ttftMs.add(ms);
      t.histograms.ttft.observe(ms / 1000);
    }
    if (this.firstTokens.length < 100_000) this.firstTokens.push(ms);
  }

  /** Time between two chunks of a streamed answer (a token apart, for a server that flushes each). */
  noteChunkGap(ms: number, revision: string): void {
    this.revisionTraffic(revision).histograms.itl.observe(ms / 1000);
  }

  /** A request ended; `revision` null: no replica answered it (held too long, or none reachable). */
  noteDone(ms: number, status: number, revision?: string | null): void {
    this.latencyMs.add(ms);
    if (status >= 500) this.errors5xx++;
    if (revision === undefined || revision === null) {
      this.unrouted.set(status, (this.unrouted.get(status) ?? 0) + 1);
      return;
    }
    const t = this.revisionTraffic(revision);
    t.requests++;
    t.latencyMs.add(ms);
    t.histograms.latency.observe(ms / 1000);
    t.byStatus.set(status, (t.byStatus.get(status) ?? 0) + 1);
    if (status >= 500) t.errors5xx++;
  }

  /** Every revision's traffic counted so far. */
  revisions(): ReadonlyMap<string, RevisionTraffic> {
    return this.byRevision;
  }

  /** Requests that got prefix affinity (load-prefix routing), and all routed ones. */
  routingCounts(): { routed: number; prefixHits: number; held: number; retried: number } {
    return { routed: this.routed, prefixHits: this.policy.prefixHits ?? 0, held: this.heldTotal, retried: this.retried };
  }

  /** The traffic since the last call (the autoscaler's period). */
  takeSample(): TrafficSample {
    let inFlight = 0;
    for (const r of this.replicas.values()) inFlight += r.inFlight;
    const s = { inFlight, held: this.waiters.length, arrivedPromptTokens: this.arrivedPrompt, arrivedOutputTokens: this.arrivedOutput, firstTokenMs: this.firstTokens };
    this.arrivedPrompt = 0;
    this.arrivedOutput = 0;
    this.firstTokens = [];
    return s;
  }

  held(): number {
    return this.waiters.length;
  }

  close(): void {
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(null);
    }
    for (const id of [...this.replicas.keys()]) this.removeReplica(id);
  }

  private pick(prefixBlocks: readonly number[], promptTokens: number, exclude?: string): RouteTicket | null {
    if (exclude !== undefined) this.retried++;
    let list = exclude === undefined ? this.available : this.available.filter((r) => r.id !== exclude);
    const bound = this.opts.promptQueueTokens ?? Infinity;
    // What the request would add to each replica's prompt queue: less where it holds the prefix.
    const held = bound !== Infinity && prefixBlocks.length > 0 ? this.policy.heldBlocks?.(prefixBlocks) : undefined;
    const queued = (r: RouteReplica): number => queuedPromptTokens(promptTokens, held?.get(r.id) ?? 0, this.blockTokens);
    if (bound !== Infinity) list = list.filter((r) => admitsPrompt(r, queued(r), bound));
    if (list.length === 0) return null;
    const split = this.split;
    if (split) {
      const canary = list.filter((r) => r.revision === split.revision);
      if (canary.length > 0 && canary.length < list.length) list = this.splitRng.next() * 100 < split.percent ? canary : list.filter((r) => r.revision !== split.revision);
    }
    const r = list[this.policy.choose(list, { prefixBlocks })]!;
    const queuedTokens = queued(r);
    r.inFlight++;
    notePromptSent(r, queuedTokens);
    r.served++;
    this.routed++;
    return { replica: r, queuedTokens };
  }

  /** Held requests go, oldest first, while a replica takes them. */
  private pump(): void {
    while (this.waiters.length > 0) {
      const w = this.waiters[0]!;
      const t = this.pick(w.prefixBlocks, w.promptTokens);
      if (!t) return;
      this.waiters.shift();
      clearTimeout(w.timer);
      w.resolve(t);
    }
  }

  private refresh(): void {
    this.available = [...this.replicas.values()].filter((r) => r.ready && !r.draining).sort((a, b) => a.id.localeCompare(b.id));
    this.pump();
  }
}
