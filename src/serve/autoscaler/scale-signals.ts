/**
 * What an autoscaler sees every decision period (2 s): one sample of a service's load, as the
 * router and the replicas report it. Pure data, the same in `gantry up` and the simulator.
 */
export interface ScaleSample {
  /** Seconds since the service started (monotonic). */
  readonly now: number;
  /** Replicas Ready and not draining. */
  readonly ready: number;
  /** Replicas asked for and not Ready yet (waiting for a GPU or loading). */
  readonly starting: number;
  /** Requests routed and not finished, plus those held while no replica is Ready. */
  readonly inFlight: number;
  /** Prompt tokens and output tokens (max_tokens) of the requests that arrived since the last sample. */
  readonly arrivedPromptTokens: number;
  readonly arrivedOutputTokens: number;
  /** Times to first token (ms) of the requests that got their first token since the last sample. */
  readonly firstTokenMs: readonly number[];
}

export interface ScaleDecision {
  /** Replicas wanted (ready + starting after the decision). */
  readonly desired: number;
  /** Why, in words a person reads in `gantry explain svc/NAME`. */
  readonly reason: string;
  /** True while the fast (panic) window drives the decision. */
  readonly panic: boolean;
}

export interface Autoscaler {
  readonly name: string;
  decide(sample: ScaleSample): ScaleDecision;
}

export interface ScaleBounds {
  readonly minReplicas: number;
  readonly maxReplicas: number;
}

/** Samples of the last `seconds`, oldest first. */
export class SampleWindow {
  private readonly samples: ScaleSample[] = [];
  constructor(readonly seconds: number) {}

  push(s: ScaleSample): void {
    this.samples.push(s);
    while (this.samples.length > 0 && this.samples[0]!.now <= s.now - this.seconds) this.samples.shift();
  }

  mean(read: (s: ScaleSample) => number): number {
    if (this.samples.length === 0) return 0;
    let sum = 0;
    for (const s of this.samples) sum += read(s);
    return sum / this.samples.length;
  }

  /** Sum of a per-sample quantity divided by the time the window covers (a rate per second). */
  rate(read: (s: ScaleSample) => number, period: number): number {
    if (this.samples.length === 0) return 0;
    let sum = 0;
    for (const s of this.samples) sum += read(s);
    return sum / (this.samples.length * period);
  }

  /** Every value of a per-sample list over the window. */
  all(read: (s: ScaleSample) => readonly number[]): number[] {
    const out: number[] = [];
    for (const s of this.samples) out.push(...read(s));
    return out;
  }
}

export function clampReplicas(n: number, b: ScaleBounds): number {
  return Math.max(b.minReplicas, Math.min(b.maxReplicas, n));
}
