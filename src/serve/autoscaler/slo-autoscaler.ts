/**
 * Gantry's autoscaler: sizes a service from the work its requests bring, against its latency
 * objective, rather than from a fixed concurrency target.
 *
 * Work: every arriving request brings prefill work (prompt tokens x the replica's prefill cost)
 * and decode work (output tokens x the per-token cost at a reference batch; not at the batch the
 * replicas run now, which would shrink as replicas are added and ask for more still). The
 * replicas needed are work per second / utilisation target, over a 60 s stable window and a 6 s
 * panic window; scaling up follows the larger of the two at once, scaling down follows the stable
 * window only after it has stayed lower for `scaleDownDelaySeconds`, outside a tolerance band.
 *
 * Both windows divide by the same target: it is the per-replica capacity measured against the
 * objective (below), so a step of k x the load asks for k x the replicas the fleet needed before,
 * at once. An earlier version let the 6 s window run replicas 1.35x hotter (a constant): a 4x
 * step then asked for 4 replicas where 5 held the objective, and the 5th came only when the 60 s
 * window caught up, 40 s later (docs/benchmarks.md, "Does the autoscaler scale too late?").
 *
 * Objective: the utilisation target is corrected by what the replicas deliver (as Dynamo's SLA
 * planner corrects its estimates): when the p99 time to first token nears the objective the
 * target falls, when it stays well under the target rises, within bounds. So the same code holds
 * a tight objective on a slow model and spends few GPUs on a loose one.
 */
import type { LlmEngineProfile } from '../llm-model/engine-profile.js';
import { SampleWindow, clampReplicas, type Autoscaler, type ScaleBounds, type ScaleDecision, type ScaleSample } from './scale-signals.js';

export interface SloAutoscalerOptions extends ScaleBounds {
  /** The replicas' timing model (the simulator knows it; `gantry up` fits it from the server's metrics). */
  readonly profile: Pick<LlmEngineProfile, 'prefillMsPerToken' | 'decodeBaseMs' | 'decodeMsPerSequence'>;
  readonly ttftObjectiveMs: number;
  /** Decision period in seconds (the sample spacing). */
  readonly periodSeconds?: number;
  readonly initialUtilization?: number;
  readonly stableSeconds?: number;
  readonly panicSeconds?: number;
  readonly tolerance?: number;
  readonly scaleDownDelaySeconds?: number;
  /** Batch size at which decode work is costed. */
  readonly referenceBatch?: number;
}

const UTIL_MIN = 0.35;
const UTIL_MAX = 0.85;
/** The share of the target the fleet must run at for good latency to raise the target. */
const RAISE_EVIDENCE = 0.6;

/** Replicas whose work at `utilization` covers these token rates (per second). */
export function replicasForWork(profile: SloAutoscalerOptions['profile'], promptTokensPerSecond: number, outputTokensPerSecond: number, utilization: number, referenceBatch = 32): number {
  const msPerOutputToken = profile.decodeBaseMs / referenceBatch + profile.decodeMsPerSequence;
  return (promptTokensPerSecond * profile.prefillMsPerToken + outputTokensPerSecond * msPerOutputToken) / 1000 / utilization;
}

export class SloAutoscaler implements Autoscaler {
  readonly name = 'gantry';
  private readonly stable: SampleWindow;
  private readonly panicWindow: SampleWindow;
  private readonly recentTtft: SampleWindow;
  private readonly downHistory: Array<{ now: number; want: number }> = [];
  private utilization: number;
  private lastTraffic = -Infinity;
  private lastUpAt = -Infinity;

  constructor(private readonly o: SloAutoscalerOptions) {
    this.stable = new SampleWindow(o.stableSeconds ?? 60);
    this.panicWindow = new SampleWindow(o.panicSeconds ?? 6);
    this.recentTtft = new SampleWindow(20);
    this.utilization = o.initialUtilization ?? 0.6;
  }

  /** The utilisation target now (after corrections from the objective). */
  get target(): number {
    return this.utilization;
  }

  decide(s: ScaleSample): ScaleDecision {
    const period = this.o.periodSeconds ?? 2;
    this.stable.push(s);
    this.panicWindow.push(s);
    this.recentTtft.push(s);
    if (s.inFlight > 0 || s.arrivedPromptTokens > 0) this.lastTraffic = s.now;
    // Latency while replicas are still starting says how fast starts are, not what utilisation
    // the objective allows: correct only on a settled fleet.
    if (s.starting === 0 && s.now - this.lastUpAt >= 30) this.correct();
    // The replicas there are (Ready or starting; not draining) are what a decision moves from.
    const current = s.ready + s.starting;
    const need = (w: SampleWindow, utilization: number): number =>
      replicasForWork(this.o.profile, w.rate((x) => x.arrivedPromptTokens, period), w.rate((x) => x.arrivedOutputTokens, period), utilization, this.o.referenceBatch);
    const stableNeed = need(this.stable, this.utilization);
    const panicNeed = need(this.panicWindow, this.utilization);
    const tol = this.o.tolerance ?? 0.1;
    // A step raises the requests in flight with the work; a 6 s rise in work alone (a few long
    // prompts) is noise, and the scale-down delay would hold what it asked for 2 minutes.
    const [inFlightPanic, inFlightStable] = [this.panicWindow.mean((x) => x.inFlight), this.stable.mean((x) => x.inFlight)];
    const stepped = inFlightPanic > inFlightStable * (1 + tol);
    const up = Math.ceil(Math.max(stableNeed, stepped ? panicNeed : 0) - 1e-9);
    const delay = this.o.scaleDownDelaySeconds ?? 120;
    // Scale-down goes only as far as the highest want (either window) over the whole delay.
    this.downHistory.push({ now: s.now, want: up });
    while (this.downHistory.length > 0 && this.downHistory[0]!.now <= s.now - delay) this.downHistory.shift();
    const figures = `${stableNeed.toFixed(2)} replicas of work over 60 s, ${panicNeed.toFixed(2)} over 6 s at utilisation ${this.utilization.toFixed(2)}; in flight ${inFlightStable.toFixed(1)} over 60 s, ${inFlightPanic.toFixed(1)} over 6 s`;
    let desired = current;
    let reason = `hold: ${figures}`;
    let panic = false;
    if (up > current && up > current * (1 + tol) - 1e-9) {
      desired = up;
      this.lastUpAt = s.now;
      panic = stepped && panicNeed > stableNeed;
      reason = `up: ${figures}`;
    } else {
      // Down only outside the band.
      const sustained = Math.max(...this.downHistory.map((h) => h.want));
      const coveredDelay = this.downHistory[0]!.now <= s.now - delay + period + 1e-9;
      if (coveredDelay && sustained < current && sustained < current * (1 - tol) + 1e-9) {
        desired = sustained;
        reason = `down: ${figures}, for ${delay} s`;
      }
    }
    if (desired === 0 && s.now - this.lastTraffic < (this.o.stableSeconds ?? 60) + 30) desired = Math.max(desired, 1);
    if (s.inFlight > 0) desired = Math.max(desired, 1);
    return { desired: clampReplicas(desired, this.o), reason, panic };
  }

  /**
   * Moves the utilisation target by what the objective says of the last 20 s (at least 20
   * requests). It falls whenever the p99 nears the objective. It rises only on evidence: the p99
   * well under the objective while the Ready replicas ran near the target (work over 20 s at
   * least `RAISE_EVIDENCE` of it). A fleet held up by the rounding, the minimum or the scale-down
   * delay runs cooler than its target, and its good latency says nothing of the target: without
   * this the target crept up in quiet minutes until a step found no slack.
   */
  private correct(): void {
    const ttft = this.recentTtft.all((x) => x.firstTokenMs);
    if (ttft.length < 20) return;
    ttft.sort((a, b) => a - b);
    const p99 = ttft[Math.ceil(0.99 * ttft.length) - 1]!;
    const objective = this.o.ttftObjectiveMs;
    if (p99 > 0.9 * objective) this.utilization = Math.max(UTIL_MIN, this.utilization * 0.98);
    else if (p99 < 0.5 * objective && this.observedUtilization() >= RAISE_EVIDENCE * this.utilization) this.utilization = Math.min(UTIL_MAX, this.utilization * 1.005);
  }

  /** Work per Ready replica over the last 20 s (1 = a replica fully busy by the work model). */
  private observedUtilization(): number {
    const period = this.o.periodSeconds ?? 2;
    const ready = this.recentTtft.mean((x) => x.ready);
    if (ready <= 0) return 0;
    return replicasForWork(this.o.profile, this.recentTtft.rate((x) => x.arrivedPromptTokens, period), this.recentTtft.rate((x) => x.arrivedOutputTokens, period), 1, this.o.referenceBatch) / ready;
  }
}
