/**
 * A Knative-like autoscaler (KPA), the baseline users of KServe know: desired replicas =
 * ceil(average concurrency / (target per replica x target utilisation 0.7)) over a 60 s stable
 * window; when the 6 s panic window asks for at least twice the ready replicas it scales on that
 * and never scales down until the panic has been over for a stable window; scale-down follows
 * the stable window; scale to zero only after no traffic for the stable window plus 30 s.
 */
import { SampleWindow, clampReplicas, type Autoscaler, type ScaleBounds, type ScaleDecision, type ScaleSample } from './scale-signals.js';

export interface KpaOptions extends ScaleBounds {
  /** In-flight requests one replica should hold (Knative's container concurrency target). */
  readonly targetConcurrency: number;
  readonly targetUtilization?: number;
  readonly stableSeconds?: number;
  readonly panicSeconds?: number;
  readonly panicThreshold?: number;
  readonly scaleToZeroGraceSeconds?: number;
}

export class KpaAutoscaler implements Autoscaler {
  readonly name = 'kpa';
  private readonly stable: SampleWindow;
  private readonly panicWindow: SampleWindow;
  private panicUntil = -Infinity;
  private lastTraffic = 0;
  private current = 0;

  constructor(private readonly o: KpaOptions) {
    this.stable = new SampleWindow(o.stableSeconds ?? 60);
    this.panicWindow = new SampleWindow(o.panicSeconds ?? 6);
  }

  decide(s: ScaleSample): ScaleDecision {
    this.stable.push(s);
    this.panicWindow.push(s);
    if (s.inFlight > 0) this.lastTraffic = s.now;
    const per = this.o.targetConcurrency * (this.o.targetUtilization ?? 0.7);
    const stableWant = Math.ceil(this.stable.mean((x) => x.inFlight) / per);
    const panicWant = Math.ceil(this.panicWindow.mean((x) => x.inFlight) / per);
    const ready = Math.max(1, s.ready);
    let desired: number;
    let reason: string;
    let panic = false;
    if (panicWant >= (this.o.panicThreshold ?? 2) * ready || s.now < this.panicUntil) {
      if (panicWant >= (this.o.panicThreshold ?? 2) * ready) this.panicUntil = s.now + (this.o.stableSeconds ?? 60);
      panic = true;
      desired = Math.max(this.current, panicWant);
      reason = `panic: ${this.panicWindow.mean((x) => x.inFlight).toFixed(1)} in flight over 6 s needs ${panicWant} (target ${per.toFixed(1)} per replica)`;
    } else {
      desired = stableWant;
      reason = `stable: ${this.stable.mean((x) => x.inFlight).toFixed(1)} in flight over 60 s needs ${stableWant} (target ${per.toFixed(1)} per replica)`;
    }
    const zeroAfter = (this.o.stableSeconds ?? 60) + (this.o.scaleToZeroGraceSeconds ?? 30);
    if (desired === 0 && s.now - this.lastTraffic < zeroAfter) desired = 1;
    this.current = clampReplicas(desired, this.o);
    return { desired: this.current, reason, panic };
  }
}
