/**
 * A service's rollout as the control plane drives it: the pure machine (serve/rollout/
 * canary-rollout.ts) plus the two specs it moves between, how many replicas each revision
 * should have in each phase, and what the machine is shown each tick.
 *
 * - canary: the old revision keeps the autoscaler's count; the new one runs one replica.
 * - promoting: the new revision gets the autoscaler's count; the old one's count falls by one
 *   for each new replica Ready (its replicas drain: open streams finish).
 * - done / rolled back, or no rollout: only the service's current revision runs.
 */
import type { JobRow } from '../../adapters/store/store.js';
import { CanaryRollout, type RolloutObservation, type RolloutState } from '../../serve/rollout/canary-rollout.js';
import type { RevisionTraffic } from '../../serve/router/service-route.js';
import { replicaRevision, validateServiceFile, type ServiceFile } from '../../spec/service-spec.js';

export interface LiveRollout {
  readonly machine: CanaryRollout;
  readonly fromSpec: ServiceFile;
  toSpec: ServiceFile;
  /** Replicas of the new revision that ended without being asked to. */
  newEnded: number;
}

export interface RevisionTarget {
  readonly spec: ServiceFile;
  readonly count: number;
}

export function beginRollout(fromSpec: ServiceFile, toSpec: ServiceFile, now: number): LiveRollout {
  const machine = new CanaryRollout(replicaRevision(fromSpec), replicaRevision(toSpec), toSpec.rollout, { ttftP99Ms: toSpec.objective.ttftP99Ms, latencyP99Ms: toSpec.objective.latencyP99Ms }, now);
  return { machine, fromSpec, toSpec, newEnded: 0 };
}

/** A rollout as it is stored (service_rollouts): the machine's state and the two specs. */
export interface StoredRollout {
  readonly machine: RolloutState;
  readonly fromSpec: ServiceFile;
  readonly toSpec: ServiceFile;
  readonly newEnded: number;
}

export function storedRollout(r: LiveRollout): StoredRollout {
  return { machine: r.machine.state(), fromSpec: r.fromSpec, toSpec: r.toSpec, newEnded: r.newEnded };
}

const PHASES = new Set(['canary', 'promoting', 'done', 'rolled-back']);

/** A stored rollout back in memory; null when it does not load (then the stored spec alone is the service). */
export function restoreRollout(stored: unknown): LiveRollout | null {
  try {
    const s = stored as StoredRollout;
    if (!s?.machine || !PHASES.has(s.machine.phase) || typeof s.machine.from !== 'string' || typeof s.machine.to !== 'string') return null;
    const fromSpec = validateServiceFile(s.fromSpec);
    const toSpec = validateServiceFile(s.toSpec);
    if (replicaRevision(fromSpec) !== s.machine.from || replicaRevision(toSpec) !== s.machine.to) return null;
    return { machine: CanaryRollout.restore(s.machine), fromSpec, toSpec, newEnded: Number(s.newEnded) || 0 };
  } catch {
    return null;
  }
}

/** The revision a replica job runs (jobs started before revisions existed: the service's). */
export function revisionOf(j: JobRow, fallback: string): string {
  return j.spec.env['GANTRY_SERVICE_REVISION'] ?? fallback;
}

/** How many replicas each revision should have now; a revision not named has none. */
export function revisionTargets(spec: ServiceFile, revision: string, desired: number, rollout: LiveRollout | null, newReady: number): Map<string, RevisionTarget> {
  const m = rollout?.machine;
  if (!rollout || !m?.active) return new Map([[revision, { spec, count: desired }]]);
  if (m.phase === 'canary') return new Map([[m.from, { spec: rollout.fromSpec, count: desired }], [m.to, { spec: rollout.toSpec, count: 1 }]]);
  return new Map([[m.to, { spec: rollout.toSpec, count: desired }], [m.from, { spec: rollout.fromSpec, count: Math.max(0, desired - newReady) }]]);
}

/** What the machine sees: the new revision's Ready replicas and traffic, the other replicas left. */
export function observe(r: LiveRollout, now: number, desired: number, newReady: number, otherReplicas: number, t: RevisionTraffic): RolloutObservation {
  return { now, desired, newReady, newEnded: r.newEnded, oldReplicas: otherReplicas, figures: { requests: t.requests, errors5xx: t.errors5xx, ttftP99Ms: t.ttftMs.quantile(0.99), latencyP99Ms: t.latencyMs.quantile(0.99) } };
}

/** The rollout as `gantry get svc/NAME` shows it. */
export function rolloutView(r: LiveRollout | null, t: RevisionTraffic | null): Record<string, unknown> | null {
  if (!r) return null;
  const m = r.machine;
  const q = (v: number | null): number | null => (v === null ? null : Math.round(v * 100) / 100);
  return {
    phase: m.phase,
    strategy: m.policy.strategy,
    from: m.from,
    to: m.to,
    canaryWeight: m.phase === 'canary' ? m.weight() : 0,
    startedAt: new Date(m.startedAt).toISOString(),
    reason: m.reason,
    newRevision: { requests: t?.requests ?? 0, errors5xx: t?.errors5xx ?? 0, ttftP99Ms: q(t?.ttftMs.quantile(0.99) ?? null), latencyP99Ms: q(t?.latencyMs.quantile(0.99) ?? null) },
  };
}
