/**
 * One run of the serving simulator: a trace's requests through a router, replicas that run the
 * LlmEngine timing model on a virtual clock, an autoscaler deciding every 2 s, and a fleet shared
 * with preemptible training. The router, autoscalers and engine are the same code `gantry up`
 * runs; only the clock and the processes are simulated.
 */
import { createRng } from '../../core/rng.js';
import { CostTally, type TallyLine } from '../../core/cost-tally.js';
import { LlmEngine } from '../../serve/llm-model/llm-engine.js';
import type { LlmEngineProfile } from '../../serve/llm-model/engine-profile.js';
import { syntheticBlockHashes } from '../../serve/llm-model/prompt-blocks.js';
import { createRoutePolicy, type ReplicaLoad, type RoutePolicyName } from '../../serve/router/route-policies.js';
import { admitsPrompt, notePromptAnswered, notePromptSent, prefillBoundTokens, queuedPromptTokens, type PrefillQueue } from '../../serve/router/prefill-gate.js';
import { KpaAutoscaler } from '../../serve/autoscaler/kpa-autoscaler.js';
import { SloAutoscaler, replicasForWork } from '../../serve/autoscaler/slo-autoscaler.js';
import type { Autoscaler, ScaleSample } from '../../serve/autoscaler/scale-signals.js';
import { LatencyHistogram } from './latency-histogram.js';
import type { LlmTrace } from './llm-trace.js';
import { ServeFleet, type ReplicaPlacement, type ServeFleetSpec } from './serve-fleet.js';
import type { ServePolicyName } from './serve-policies.js';
import { ServeTimeline } from './serve-timeline.js';

export interface SharedPrefixSpec {
  /** Distinct shared prefixes (system prompts), chosen with Zipf popularity. */
  readonly groups: number;
  /** Leading tokens of each prompt that come from its group. */
  readonly tokens: number;
  readonly zipf: number;
}

export interface ServeRunSpec {
  readonly trace: LlmTrace;
  readonly rateScale: number;
  readonly policy: ServePolicyName;
  readonly profile: LlmEngineProfile;
  readonly fleet: ServeFleetSpec;
  readonly seed: number;
  readonly ttftObjectiveMs: number;
  /** static-peak: replicas for the whole run. */
  readonly staticReplicas?: number;
  readonly kpaTargetConcurrency: number;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly sharedPrefix?: SharedPrefixSpec;
  /** Override of the router policy (the shared-prefix benchmark compares routers alone). */
  readonly router?: RoutePolicyName;
  /** Prices per GPU-hour by GPU model, in micro-units (`--prices`); none: cost 0, GPU time still counted. */
  readonly pricesMicros?: Readonly<Record<string, number>>;
  /** gantry: hold requests in the router while every Ready replica's prompt queue is full (default on; router/prefill-gate.ts). */
  readonly prefillGate?: boolean;
  /** Share of the objective a replica's waiting prompts may take (default PREFILL_OBJECTIVE_SHARE). */
  readonly prefillObjectiveShare?: number;
  /** Called after every autoscaler decision (for charts and debugging). */
  readonly onDecision?: (now: number, sample: ScaleSample, desired: number, reason: string) => void;
}

export interface ServeRunResult {
  readonly policy: ServePolicyName;
  readonly router: RoutePolicyName;
  readonly rateScale: number;
  readonly requests: number;
  readonly unserved: number;
  readonly ttftMs: { readonly p50: number; readonly p99: number };
  readonly itlMs: { readonly p50: number; readonly p99: number };
  readonly sloAttainment: number;
  /** p99 TTFT (ms) of each one-minute window of arrivals, in order (NaN: no request served in it). */
  readonly windowTtftP99Ms: readonly number[];
  readonly gpuSeconds: number;
  readonly trainingGpuSecondsLost: number;
  readonly coldStarts: number;
  readonly cachedStarts: number;
  readonly scaleDecisions: number;
  readonly replicas: { readonly mean: number; readonly max: number };
  readonly prefixHitRate: number;
  /** Output tokens per second over the busy period. */
  readonly throughputTokensPerSecond: number;
  readonly durationSeconds: number;
  /**
   * Minute by minute from the first arrival: the GPU-seconds replicas held (one GPU each), and
   * the p99 TTFT of the requests that arrived in that minute (NaN: none served).
   */
  readonly perMinute: { readonly gpuSeconds: readonly number[]; readonly ttftP99Ms: readonly number[] };
  /** Each replica's GPU time billed as the server bills an attempt (core/cost-tally.ts), by GPU model. */
  readonly cost: { readonly byModel: readonly TallyLine[]; readonly total: TallyLine };
}

/** The one service the simulator replays (its replicas' attempts are billed under it). */
export const SIM_SERVICE = 'llm';

const TICK_SECONDS = 2;
const WINDOW_SECONDS = 60;

type ReplicaState = 'starting' | 'ready' | 'draining' | 'gone';

interface Replica extends ReplicaLoad, PrefillQueue {
  readonly id: string;
  readonly engine: LlmEngine;
  readonly gpu: number;
  readonly acquiredAt: number;
  state: ReplicaState;
  inFlight: number;
  stepping: boolean;
}

type SimEvent =
  | { readonly kind: 'arrival'; readonly i: number }
  | { readonly kind: 'step'; readonly r: Replica; readonly tokens: ReadonlyArray<{ id: string; done: boolean }> }
  | { readonly kind: 'ready'; readonly r: Replica }
  | { readonly kind: 'tick' };

function p99(values: number[]): number {
  if (values.length === 0) return NaN;
  values.sort((a, b) => a - b);
  return values[Math.ceil(0.99 * values.length) - 1]!;
}

function zipfSampler(n: number, s: number, next: () => number): () => number {
  const cdf: number[] = [];
  let sum = 0;
  for (let k = 1; k <= n; k++) { sum += 1 / k ** s; cdf.push(sum); }
  return () => {
    const x = next() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid]! < x) lo = mid + 1; else hi = mid; }
    return lo;
  };
}

/** Adds `count` × the seconds of [from, to) to the one-minute buckets they fall in. */
function spreadOverMinutes(buckets: number[], from: number, to: number, count: number): void {
  for (let t = from; t < to; ) {
    const m = Math.floor(t / WINDOW_SECONDS);
    const end = Math.min(to, (m + 1) * WINDOW_SECONDS);
    while (buckets.length <= m) buckets.push(0);
    buckets[m]! += count * (end - t);
    t = end;
  }
}

export function runServeSimulation(spec: ServeRunSpec): ServeRunResult {
  const rng = createRng(spec.seed);
  const fleet = new ServeFleet(spec.fleet, createRng(spec.seed + 1));
  const routerName: RoutePolicyName = spec.router ?? (spec.policy === 'gantry' ? 'load-prefix' : spec.policy === 'kpa' ? 'round-robin' : 'p2c');
  const router = createRoutePolicy(routerName, createRng(spec.seed + 2));
  const placement: ReplicaPlacement = spec.policy === 'gantry' ? 'weights-first' : 'any';
  const bounds = { minReplicas: spec.minReplicas, maxReplicas: Math.min(spec.maxReplicas, fleet.gpus) };
  const autoscaler: Autoscaler | null =
    spec.policy === 'static-peak' ? null
      : spec.policy === 'kpa' ? new KpaAutoscaler({ ...bounds, targetConcurrency: spec.kpaTargetConcurrency })
        : new SloAutoscaler({ ...bounds, profile: spec.profile, ttftObjectiveMs: spec.ttftObjectiveMs });

  const reqs = spec.trace.requests;
  const n = reqs.length;
  const arrival = new Float64Array(n);
  const first = new Float64Array(n).fill(NaN);
  const last = new Float64Array(n);
  /** Prompt tokens each request counts in its replica's queue (less the prefix the replica holds). */
  const queuedOf = new Float64Array(n);
  /** Block hashes of a request waiting to be dispatched (its shared-prefix group drawn once). */
  const blocksOf = new Map<number, readonly number[]>();
  const itl = new LatencyHistogram();
  const pick = spec.sharedPrefix ? zipfSampler(spec.sharedPrefix.groups, spec.sharedPrefix.zipf, () => rng.next()) : null;
  const timeline = new ServeTimeline<SimEvent>();
  for (let i = 0; i < n; i++) {
    arrival[i] = reqs[i]!.at / spec.rateScale;
    timeline.push(arrival[i]!, { kind: 'arrival', i });
  }

  // Requests the router holds, in arrival order (none Ready, or every Ready one's prompt queue full).
  const held: number[] = [];
  let heldHead = 0;
  const gate = spec.policy === 'gantry' && spec.prefillGate !== false ? prefillBoundTokens(spec.ttftObjectiveMs, spec.profile.prefillMsPerToken, spec.prefillObjectiveShare) : Infinity;
  let nextReplica = 0;
  let gpuSeconds = 0;
  let coldStarts = 0;
  let cachedStarts = 0;
  let scaleDecisions = 0;
  let lastDesired = -1;
  let finished = 0;
  let outputTokens = 0;
  let replicaSeconds = 0;
  const replicaSecondsByMinute: number[] = [];
  let maxReplicas = 0;
  let arrivedPrompt = 0;
  let arrivedOutput = 0;
  let tickTtft: number[] = [];
  let now = 0;
  let hitBlocks = 0;
  let lookupBlocks = 0;
  const tally = new CostTally(spec.pricesMicros);

  // Replicas that are not gone; `ready` is the router's view, rebuilt when a state changes.
  let replicas: Replica[] = [];
  let ready: Replica[] = [];
  const changed = (): void => {
    replicas = replicas.filter((r) => r.state !== 'gone');
    ready = replicas.filter((r) => r.state === 'ready');
  };
  const live = (): Replica[] => replicas;
  const routable = (): Replica[] => ready;

  const kick = (r: Replica): void => {
    if (r.stepping) return;
    const st = r.engine.step();
    if (!st) return;
    r.stepping = true;
    timeline.push(now + st.durationMs / 1000, { kind: 'step', r, tokens: st.tokens });
  };
  const retire = (r: Replica, runEnds = false): void => {
    r.state = 'gone';
    const s = r.engine.prefixTokens();
    hitBlocks += s.hit;
    lookupBlocks += s.queried;
    fleet.release(r.gpu, runEnds);
    gpuSeconds += now - r.acquiredAt;
    // A replica is one attempt of one GPU, timed to the millisecond as the ledger times attempts.
    tally.add({ queue: SIM_SERVICE, model: spec.fleet.gpuModel, gpus: 1, ms: Math.round((now - r.acquiredAt) * 1000), outcome: 'succeeded' });
    router.forget?.(r.id);
    changed();
  };
  /** Sends request i to a replica; false when none takes it now (the caller holds it). */
  const dispatch = (i: number): boolean => {
    const q = reqs[i]!;
    let blocks = blocksOf.get(i);
    if (!blocks) {
      const group = pick ? `g${pick()}` : undefined;
      blocks = syntheticBlockHashes(q.promptTokens, spec.profile.blockTokens, `r${i}`, group, spec.sharedPrefix?.tokens ?? 0);
      blocksOf.set(i, blocks);
    }
    // Only a shared prefix can be held by a replica (other prompts' blocks are their own).
    const heldBy = gate === Infinity || !spec.sharedPrefix ? undefined : router.heldBlocks?.(blocks);
    const queued = (r: Replica): number => queuedPromptTokens(q.promptTokens, heldBy?.get(r.id) ?? 0, spec.profile.blockTokens);
    const candidates = gate === Infinity ? ready : ready.filter((r) => admitsPrompt(r, queued(r), gate));
    if (candidates.length === 0) return false;
    blocksOf.delete(i);
    const r = candidates[router.choose(candidates, { prefixBlocks: blocks })]!;
    r.inFlight++;
    queuedOf[i] = queued(r);
    notePromptSent(r, queuedOf[i]!);
    try {
      r.engine.submit({ id: String(i), promptTokens: q.promptTokens, blockHashes: blocks, maxTokens: q.outputTokens });
    } catch {
      // Larger than a replica's KV cache: refused, as the server answers 400.
      r.inFlight--;
      notePromptAnswered(r, queuedOf[i]!);
      finished++;
      return true;
    }
    kick(r);
    return true;
  };
  /** Held requests go, oldest first, while a replica takes them. */
  const release = (): void => {
    while (heldHead < held.length && dispatch(held[heldHead]!)) heldHead++;
    if (heldHead > 1024 && heldHead * 2 > held.length) { held.splice(0, heldHead); heldHead = 0; }
  };
  const addReplica = (initial: boolean): boolean => {
    const lease = fleet.acquire(placement, initial);
    if (!lease) return false;
    const r: Replica = { id: `replica-${nextReplica++}`, engine: new LlmEngine(spec.profile), gpu: lease.gpu, acquiredAt: now, state: initial ? 'ready' : 'starting', inFlight: 0, awaiting: 0, awaitingTokens: 0, stepping: false };
    replicas.push(r);
    changed();
    if (!initial) {
      if (lease.cachedWeights) cachedStarts++;
      else coldStarts++;
      timeline.push(now + lease.startSeconds, { kind: 'ready', r });
    }
    return true;
  };
  const reconcile = (desired: number): void => {
    const active = live().filter((r) => r.state !== 'draining');
    let count = active.length;
    while (count < desired && addReplica(false)) count++;
    if (count <= desired) return;
    // Fewer: cancel replicas still starting first (newest first), then drain Ready ones.
    for (const r of [...active].reverse()) {
      if (count <= desired) break;
      if (r.state === 'starting') { retire(r); count--; }
    }
    const serving = active.filter((r) => r.state === 'ready');
    serving.sort((a, b) => (spec.policy === 'gantry' ? a.inFlight - b.inFlight : b.acquiredAt - a.acquiredAt));
    for (const r of serving) {
      if (count <= desired || (routable().length <= 1 && desired >= 1)) break;
      r.state = 'draining';
      changed();
      count--;
      if (r.inFlight === 0) retire(r);
    }
  };

  // Start-up: static-peak gets its replicas; the autoscaled policies what the first minute needs
  // at a utilisation of 0.6, as if the service had been running (no cold start from nothing).
  let firstPrompt = 0;
  let firstOutput = 0;
  for (let i = 0; i < n && arrival[i]! < 60; i++) { firstPrompt += reqs[i]!.promptTokens; firstOutput += reqs[i]!.outputTokens; }
  const warm = Math.ceil(replicasForWork(spec.profile, firstPrompt / 60, firstOutput / 60, 0.6));
  const initial = spec.policy === 'static-peak' ? spec.staticReplicas ?? 1 : Math.max(spec.minReplicas, Math.min(bounds.maxReplicas, warm));
  for (let k = 0; k < initial; k++) addReplica(true);
  timeline.push(TICK_SECONDS, { kind: 'tick' });

  let ev = timeline.pop();
  while (ev) {
    const prevNow = now;
    now = ev.time;
    replicaSeconds += live().length * (now - prevNow);
    spreadOverMinutes(replicaSecondsByMinute, prevNow, now, live().length);
    const e = ev.item;
    switch (e.kind) {
      case 'arrival': {
        arrivedPrompt += reqs[e.i]!.promptTokens;
        arrivedOutput += reqs[e.i]!.outputTokens;
        if (heldHead < held.length || !dispatch(e.i)) held.push(e.i);
        break;
      }
      case 'step': {
        const r = e.r;
        r.stepping = false;
        for (const t of e.tokens) {
          const i = Number(t.id);
          if (Number.isNaN(first[i]!)) {
            first[i] = now;
            notePromptAnswered(r, queuedOf[i]!);
            tickTtft.push((now - arrival[i]!) * 1000);
          } else {
            itl.add((now - last[i]!) * 1000);
          }
          last[i] = now;
          outputTokens++;
          if (t.done) { r.inFlight--; finished++; }
        }
        if (r.state === 'draining' && r.inFlight === 0) retire(r);
        else kick(r);
        release();
        break;
      }
      case 'ready': {
        if (e.r.state !== 'starting') break;
        e.r.state = 'ready';
        changed();
        release();
        break;
      }
      case 'tick': {
        if (autoscaler) {
          const inFlight = held.length - heldHead + replicas.reduce((s, r) => s + (r.state === 'gone' ? 0 : r.inFlight), 0);
          const sample: ScaleSample = {
            now,
            ready: routable().length,
            starting: replicas.filter((r) => r.state === 'starting').length,
            inFlight,
            arrivedPromptTokens: arrivedPrompt,
            arrivedOutputTokens: arrivedOutput,
            firstTokenMs: tickTtft,
          };
          const d = autoscaler.decide(sample);
          spec.onDecision?.(now, sample, d.desired, d.reason);
          if (d.desired !== lastDesired) { if (lastDesired >= 0) scaleDecisions++; lastDesired = d.desired; }
          reconcile(d.desired);
        }
        arrivedPrompt = 0;
        arrivedOutput = 0;
        tickTtft = [];
        maxReplicas = Math.max(maxReplicas, live().length);
        // Ticks go on while work remains, and give up an hour after the last arrival (nothing can serve it).
        if (finished < n && now < arrival[n - 1]! + 3600) timeline.push(now + TICK_SECONDS, { kind: 'tick' });
        break;
      }
    }
    if (finished >= n && e.kind !== 'tick') break;
    ev = timeline.pop();
  }
  for (const r of [...replicas]) retire(r, true);

  // Objective per one-minute window of arrivals.
  const windows = new Map<number, number[]>();
  const ttfts: number[] = [];
  let unserved = 0;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(first[i]!)) { unserved++; continue; }
    const v = (first[i]! - arrival[i]!) * 1000;
    ttfts.push(v);
    const w = Math.floor(arrival[i]! / WINDOW_SECONDS);
    let list = windows.get(w);
    if (!list) windows.set(w, (list = []));
    list.push(v);
  }
  let met = 0;
  const windowTtftP99Ms: number[] = [];
  const minutes = Math.max(replicaSecondsByMinute.length, windows.size === 0 ? 0 : Math.max(...windows.keys()) + 1);
  const ttftByMinute = new Array<number>(minutes).fill(NaN);
  for (const w of [...windows.keys()].sort((a, b) => a - b)) {
    const v = p99(windows.get(w)!);
    windowTtftP99Ms.push(v);
    ttftByMinute[w] = v;
    if (v <= spec.ttftObjectiveMs) met++;
  }
  while (replicaSecondsByMinute.length < minutes) replicaSecondsByMinute.push(0);
  ttfts.sort((a, b) => a - b);
  const q = (p: number): number => ttfts.length === 0 ? NaN : ttfts[Math.min(ttfts.length - 1, Math.ceil(p * ttfts.length) - 1)]!;
  const duration = now;
  return {
    policy: spec.policy,
    router: routerName,
    rateScale: spec.rateScale,
    requests: n,
    unserved,
    ttftMs: { p50: q(0.5), p99: q(0.99) },
    itlMs: { p50: itl.quantile(0.5), p99: itl.quantile(0.99) },
    sloAttainment: windows.size === 0 ? 0 : met / windows.size,
    windowTtftP99Ms,
    gpuSeconds,
    trainingGpuSecondsLost: fleet.trainingGpuSecondsLost(),
    coldStarts,
    cachedStarts,
    scaleDecisions,
    replicas: { mean: duration > 0 ? replicaSeconds / duration : 0, max: maxReplicas },
    prefixHitRate: lookupBlocks === 0 ? 0 : hitBlocks / lookupBlocks,
    throughputTokensPerSecond: duration > 0 ? outputTokens / duration : 0,
    durationSeconds: duration,
    perMinute: { gpuSeconds: replicaSecondsByMinute, ttftP99Ms: ttftByMinute },
    cost: { byModel: tally.lines('model'), total: tally.total() },
  };
}
