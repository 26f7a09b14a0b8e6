/**
 * Judges a piece of work against the admission policies (pure). Every policy whose match
 * selects the work is checked, every rule of it; the verdict lists every refusal, each naming
 * its policy and rule, so a user fixes all of them at once. See docs/policies.md.
 */
import { findGpuModel, modelsWithMigProfile } from '../model/gpu-catalog.js';
import { requestMilliGpu } from '../model/request.js';
import type { AdmissionPolicy, PolicyDenial, PolicyMatch, PolicyRules, PolicySet, PolicySubject, PolicyUsage, PolicyVerdict, RuleName, SharingMode, Trust } from './types.js';

const NO_USAGE: PolicyUsage = { userGpuMilli: 0 };

export function trustOf(set: PolicySet, team: string): Trust {
  return set.teams[team] ?? set.defaultTrust;
}

export function matches(set: PolicySet, match: PolicyMatch, s: PolicySubject): boolean {
  if (match.teams && !match.teams.includes(s.team)) return false;
  if (match.queues && !match.queues.includes(s.queue)) return false;
  if (match.trust && trustOf(set, s.team) !== match.trust) return false;
  return true;
}

/** The sharing mode of a request. */
export function sharingModeOf(s: PolicySubject): SharingMode {
  return s.gpu.kind;
}

/** milli-GPU of the whole job: every worker's request. */
export function jobGpuMilli(s: PolicySubject): number {
  return requestMilliGpu(s.gpu) * s.workers;
}

const gpus = (milli: number): string => `${Math.round(milli) / 1000}`;

/** `*` matches any text (slashes too), `?` one character; the whole image must match. */
export function imageMatches(pattern: string, image: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(image);
}

/** Canonical names of the models a request may land on; null: any model. */
function possibleModels(s: PolicySubject): string[] | null {
  if (s.gpuModels.length > 0) return s.gpuModels.map((m) => findGpuModel(m)?.name ?? m);
  if (s.gpu.kind === 'mig') return modelsWithMigProfile(s.gpu.profile);
  return null;
}

type Check = (value: never, s: PolicySubject, usage: PolicyUsage) => string | null;

/** One check per rule: the refusal's text, or null when the work passes. */
const CHECKS: { readonly [R in RuleName]-?: (value: NonNullable<PolicyRules[R]>, s: PolicySubject, usage: PolicyUsage) => string | null } = {
  maxGpusPerJob: (max, s) => {
    const milli = jobGpuMilli(s);
    return milli > max * 1000 ? `the job asks for ${gpus(milli)} GPUs, more than the ${max} a job may have` : null;
  },
  maxGpusPerUser: (max, s, usage) => {
    const milli = jobGpuMilli(s);
    if (milli === 0 || usage.userGpuMilli + milli <= max * 1000) return null;
    if (usage.userGpuMilli === 0) return `the job asks for ${gpus(milli)} GPUs, more than the ${max} one user may hold`;
    return `user ${s.user} holds ${gpus(usage.userGpuMilli)} GPUs; with this job's ${gpus(milli)} that is more than the ${max} one user may hold`;
  },
  maxRuntime: (max, s) => {
    if (s.runtimeSeconds === undefined) return `the job declares no runtime; declare one of at most ${max} s (expectedDurationSeconds, or activeDeadlineSeconds on a pod)`;
    return s.runtimeSeconds > max ? `the job declares ${s.runtimeSeconds} s of runtime, more than the ${max} s allowed` : null;
  },
  allowedGpuModels: (allowed, s) => {
    if (s.gpu.kind === 'none') return null;
    const models = possibleModels(s);
    if (models === null) return `the job may run on any GPU model; limit it to ${allowed.join(', ')} (resources.gpuModels, or the gantry.dev/gpu-models annotation)`;
    const bad = models.filter((m) => !allowed.includes(m));
    return bad.length > 0 ? `GPU model${bad.length > 1 ? 's' : ''} ${bad.join(', ')} ${bad.length > 1 ? 'are' : 'is'} not allowed here (allowed: ${allowed.join(', ')})` : null;
  },
  allowedImages: (patterns, s) => {
    if (s.images.length === 0) return `the job runs no container image; only images matching ${patterns.join(', ')} are allowed`;
    const bad = s.images.filter((i) => !patterns.some((p) => imageMatches(p, i)));
    return bad.length > 0 ? `image ${bad.join(', ')} matches none of ${patterns.join(', ')}` : null;
  },
  requiredLabels: (keys, s) => {
    const missing = keys.filter((k) => (s.labels[k] ?? '') === '');
    return missing.length > 0 ? `the job lacks the label${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` : null;
  },
  requireCheckpointAboveGpus: (above, s) => {
    const milli = jobGpuMilli(s);
    return s.preemptible && !s.checkpoints && milli > above * 1000 ? `a preemptible job above ${above} GPUs must checkpoint (it asks for ${gpus(milli)} and sets no checkpoint)` : null;
  },
  allowedSharing: (modes, s) => {
    const mode = sharingModeOf(s);
    return modes.includes(mode) ? null : `${mode === 'none' ? 'work without a GPU' : `a ${mode === 'whole' ? 'whole-GPU' : mode === 'mig' ? 'MIG' : 'shared-GPU'} request`} is not allowed here (allowed: ${modes.join(', ')})`;
  },
};

const USAGE_RULES: ReadonlySet<RuleName> = new Set(['maxGpusPerUser']);

/** Every refusal of one policy (none when it does not select the work). */
export function evaluatePolicy(set: PolicySet, p: AdmissionPolicy, s: PolicySubject, usage: PolicyUsage = NO_USAGE): PolicyDenial[] {
  if (!matches(set, p.match, s)) return [];
  const out: PolicyDenial[] = [];
  for (const rule of Object.keys(CHECKS) as RuleName[]) {
    const value = p.rules[rule];
    if (value === undefined) continue;
    const message = (CHECKS[rule] as Check)(value as never, s, usage);
    if (message !== null) out.push({ policy: p.name, rule, message, usage: USAGE_RULES.has(rule) });
  }
  return out;
}

/** The verdict on the work under every policy of the set. */
export function evaluate(set: PolicySet, s: PolicySubject, usage: PolicyUsage = NO_USAGE): PolicyVerdict {
  const denials = set.policies.flatMap((p) => evaluatePolicy(set, p, s, usage));
  return denials.length === 0 ? { allowed: true } : { allowed: false, denials };
}

/** One line for a refusal: `POLICY_DENIED: policy P, rule R: why`. */
export function describeDenial(d: PolicyDenial): string {
  return `POLICY_DENIED: policy ${d.policy}, rule ${d.rule}: ${d.message}`;
}
