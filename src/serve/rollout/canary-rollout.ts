/**
 * A service's rollout from one replica revision to another, as a pure state machine: the
 * caller (the service manager, or a test) observes the replicas and the router's figures for
 * the new revision and calls `step` with the time; the machine answers its phase changes with
 * their reasons. No I/O, no clock of its own.
 *
 *   canary ──(Ready, analysisSeconds passed, >= minRequests, 5xx rate and p99s hold)──> promoting ──(old replicas gone)──> done
 *     └──(replica ended, not Ready in time, 5xx rate or p99 over the objective)──> rolled-back
 *   promoting ──(a replica of the new revision ended)──> rolled-back
 *
 * The `replace` strategy starts in `promoting`: new replicas come up, old ones drain as they do.
 */
export type RolloutPhase = 'canary' | 'promoting' | 'done' | 'rolled-back';

export interface RolloutPolicy {
  readonly strategy: 'canary' | 'replace';
  readonly canaryPercent: number;
  readonly analysisSeconds: number;
  readonly maxErrorRate: number;
  readonly minRequests: number;
  readonly readyTimeoutSeconds: number;
}

/** The p99s the new revision must hold (ms); an absent one is not judged. */
export interface RolloutObjective {
  readonly ttftP99Ms?: number | undefined;
  readonly latencyP99Ms?: number | undefined;
}

/** The new revision's traffic since the rollout began, as the router measured it. */
export interface RevisionFigures {
  readonly requests: number;
  readonly errors5xx: number;
  readonly ttftP99Ms: number | null;
  readonly latencyP99Ms: number | null;
}

export interface RolloutObservation {
  /** ms (the caller's clock). */
  readonly now: number;
  /** Replicas the autoscaler wants (0: a service scaled to zero is done without a Ready replica). */
  readonly desired: number;
  /** Ready replicas of the new revision. */
  readonly newReady: number;
  /** Replicas of the new revision that ended without being asked to. */
  readonly newEnded: number;
  /** Replicas of the old revision still running or draining. */
  readonly oldReplicas: number;
  readonly figures: RevisionFigures;
}

export interface RolloutStep {
  readonly phase: RolloutPhase;
  readonly reason: string;
}

const pct = (x: number): string => `${Math.round(x * 10_000) / 100}%`;
const ms = (x: number | null): string => (x === null ? '-' : `${Math.round(x)} ms`);

/** Everything the machine holds, for storing it (a rollout survives a restart of the control plane). */
export interface RolloutState {
  readonly from: string;
  readonly to: string;
  readonly policy: RolloutPolicy;
  readonly objective: RolloutObjective;
  readonly startedAt: number;
  readonly phase: RolloutPhase;
  readonly reason: string;
  readonly readyAt: number | null;
  readonly waitingNoted: boolean;
  readonly endedBefore: number;
}

export class CanaryRollout {
  phase: RolloutPhase;
  reason: string;
  /** When the first new replica was Ready (ms), or null. */
  readyAt: number | null = null;
  private waitingNoted = false;
  /** Replicas of the new revision that had ended when promotion began. */
  private endedBefore = 0;

  constructor(
    readonly from: string,
    readonly to: string,
    readonly policy: RolloutPolicy,
    readonly objective: RolloutObjective,
    readonly startedAt: number,
  ) {
    this.phase = policy.strategy === 'canary' ? 'canary' : 'promoting';
    this.reason = policy.strategy === 'canary' ? `canary: one replica of ${to} starts; it gets ${policy.canaryPercent}% of requests once Ready` : `replace: replicas of ${to} start, those of ${from} drain as they become Ready`;
  }

  /** The machine as it stands (see `restore`). */
  state(): RolloutState {
    return { from: this.from, to: this.to, policy: this.policy, objective: this.objective, startedAt: this.startedAt, phase: this.phase, reason: this.reason, readyAt: this.readyAt, waitingNoted: this.waitingNoted, endedBefore: this.endedBefore };
  }

  /** A machine where `state()` left one. */
  static restore(s: RolloutState): CanaryRollout {
    const m = new CanaryRollout(s.from, s.to, s.policy, s.objective, s.startedAt);
    m.phase = s.phase;
    m.reason = s.reason;
    m.readyAt = s.readyAt;
    m.waitingNoted = s.waitingNoted;
    m.endedBefore = s.endedBefore;
    return m;
  }

  /** True until done or rolled back. */
  get active(): boolean {
    return this.phase === 'canary' || this.phase === 'promoting';
  }

  /** The share of requests (percent) the new revision should get while both have Ready replicas. */
  weight(): number {
    if (this.phase === 'canary') return this.policy.canaryPercent;
    return this.phase === 'rolled-back' ? 0 : 100;
  }

  /** Advances on one observation; the step taken, or null when nothing changed. */
  step(o: RolloutObservation): RolloutStep | null {
    if (this.phase === 'canary') return this.canary(o);
    if (this.phase === 'promoting' && o.newEnded > this.endedBefore) return this.go('rolled-back', `rolled back: a replica of ${this.to} ended without being asked to while promoting`);
    if (this.phase === 'promoting' && o.oldReplicas === 0 && (o.newReady > 0 || o.desired === 0)) return this.go('done', `promoted: ${o.newReady} replica(s) of ${this.to} Ready, every replica of ${this.from} drained`);
    return null;
  }

  /** Ends the rollout from outside (e.g. the previous revision was applied again). */
  abandon(reason: string): RolloutStep {
    return this.go('rolled-back', reason);
  }

  private canary(o: RolloutObservation): RolloutStep | null {
    const p = this.policy;
    if (o.newEnded > 0) return this.go('rolled-back', `rolled back: the canary replica of ${this.to} ended without being asked to`);
    if (this.readyAt === null) {
      if (o.newReady > 0) {
        this.readyAt = o.now;
        return this.note(`canary Ready: ${p.canaryPercent}% of requests to ${this.to} for ${p.analysisSeconds} s of analysis`);
      }
      if (o.now - this.startedAt >= p.readyTimeoutSeconds * 1000) return this.go('rolled-back', `rolled back: the canary replica of ${this.to} was not Ready within ${p.readyTimeoutSeconds} s`);
      return null;
    }
    const f = o.figures;
    const errorRate = f.requests > 0 ? f.errors5xx / f.requests : 0;
    const figures = `${f.requests} requests, 5xx ${pct(errorRate)}, p99 first byte ${ms(f.ttftP99Ms)}, p99 latency ${ms(f.latencyP99Ms)}`;
    if (f.requests >= p.minRequests && errorRate > p.maxErrorRate) return this.go('rolled-back', `rolled back: 5xx rate ${pct(errorRate)} > maxErrorRate ${pct(p.maxErrorRate)} (${figures})`);
    if (o.now - this.readyAt < p.analysisSeconds * 1000) return null;
    if (f.requests < p.minRequests) {
      if (this.waitingNoted) return null;
      this.waitingNoted = true;
      return this.note(`analysis window passed with ${f.requests} of the ${p.minRequests} requests needed; the canary waits for more`);
    }
    const obj = this.objective;
    if (obj.ttftP99Ms !== undefined && f.ttftP99Ms !== null && f.ttftP99Ms > obj.ttftP99Ms) return this.go('rolled-back', `rolled back: p99 first byte ${ms(f.ttftP99Ms)} > objective ${obj.ttftP99Ms} ms (${figures})`);
    if (obj.latencyP99Ms !== undefined && f.latencyP99Ms !== null && f.latencyP99Ms > obj.latencyP99Ms) return this.go('rolled-back', `rolled back: p99 latency ${ms(f.latencyP99Ms)} > objective ${obj.latencyP99Ms} ms (${figures})`);
    this.endedBefore = o.newEnded;
    return this.go('promoting', `promoting ${this.to}: it held the objective for ${p.analysisSeconds} s (${figures})`);
  }

  private go(phase: RolloutPhase, reason: string): RolloutStep {
    this.phase = phase;
    this.reason = reason;
    return { phase, reason };
  }

  private note(reason: string): RolloutStep {
    this.reason = reason;
    return { phase: this.phase, reason };
  }
}
