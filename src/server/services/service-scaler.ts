/**
 * A service's autoscaler as the control plane runs it: the policy the spec names, built from
 * the spec's windows and bounds, fed every period with a sample made of the router's traffic,
 * the replicas' states and (where they serve it) the replicas' own count of requests.
 */
import { DEFAULT_LLM_ENGINE_PROFILE } from '../../serve/llm-model/engine-profile.js';
import { KpaAutoscaler } from '../../serve/autoscaler/kpa-autoscaler.js';
import { SloAutoscaler } from '../../serve/autoscaler/slo-autoscaler.js';
import type { Autoscaler, ScaleSample } from '../../serve/autoscaler/scale-signals.js';
import type { TrafficSample } from '../../serve/router/service-route.js';
import type { ServiceFile } from '../../spec/service-spec.js';

export const SCALE_PERIOD_SECONDS = 2;

export function createServiceAutoscaler(s: Pick<ServiceFile, 'autoscaler' | 'replicas' | 'objective'>): Autoscaler {
  const a = s.autoscaler;
  const bounds = { minReplicas: s.replicas.min, maxReplicas: s.replicas.max };
  if (a.policy === 'kpa') return new KpaAutoscaler({ ...bounds, targetConcurrency: a.targetInFlight, stableSeconds: a.stableSeconds, panicSeconds: a.panicSeconds });
  return new SloAutoscaler({
    ...bounds,
    profile: { ...DEFAULT_LLM_ENGINE_PROFILE, ...a.profile } as typeof DEFAULT_LLM_ENGINE_PROFILE,
    ttftObjectiveMs: s.objective.ttftP99Ms ?? 1000,
    periodSeconds: SCALE_PERIOD_SECONDS,
    stableSeconds: a.stableSeconds,
    panicSeconds: a.panicSeconds,
    tolerance: a.tolerance,
    scaleDownDelaySeconds: a.scaleDownDelaySeconds,
  });
}

/**
 * The sample of one period. In flight: what the router dispatched and not finished, or what the
 * replicas report when they say more (requests they queue that the router counts as answered
 * cannot exist, but a replica also called directly can), plus the requests held.
 */
export function scaleSample(now: number, ready: number, starting: number, traffic: TrafficSample, serverReported: number | null): ScaleSample {
  return {
    now,
    ready,
    starting,
    inFlight: Math.max(traffic.inFlight, serverReported ?? 0) + traffic.held,
    arrivedPromptTokens: traffic.arrivedPromptTokens,
    arrivedOutputTokens: traffic.arrivedOutputTokens,
    firstTokenMs: traffic.firstTokenMs,
  };
}
