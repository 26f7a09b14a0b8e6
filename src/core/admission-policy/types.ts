/**
 * Admission policies written by operators (docs/policies.md): the rules a piece of work must
 * pass to be accepted (at submission, at every start, and in the Kubernetes webhook). These
 * are the parsed, checked form; src/spec/policy-file.ts reads them from YAML.
 */
import type { GpuRequest } from '../model/request.js';

/** How a request uses a GPU: whole GPUs, a share of one, a MIG slice, or no GPU. */
export type SharingMode = 'whole' | 'share' | 'mig' | 'none';
export const SHARING_MODES: readonly SharingMode[] = ['whole', 'share', 'mig', 'none'];

export type Trust = 'trusted' | 'untrusted';

/** Which work a policy applies to; every field given must match (an empty match: all work). */
export interface PolicyMatch {
  readonly teams?: readonly string[];
  readonly queues?: readonly string[];
  readonly trust?: Trust;
}

/** The rules of one policy; each one given is checked, and a refusal names it. */
export interface PolicyRules {
  /** GPUs of one job (all its workers; a share or MIG slice counts as its fraction). */
  readonly maxGpusPerJob?: number;
  /** GPUs one user's running work may hold at once, this job included. */
  readonly maxGpusPerUser?: number;
  /** Seconds of runtime a job may declare (expectedDurationSeconds; a pod's activeDeadlineSeconds). */
  readonly maxRuntime?: number;
  /** GPU models (canonical catalog names) a GPU job must be limited to. */
  readonly allowedGpuModels?: readonly string[];
  /** Image patterns (`*` any text, `?` one character); work without an image is refused. */
  readonly allowedImages?: readonly string[];
  /** Label keys the work must carry. */
  readonly requiredLabels?: readonly string[];
  /** A preemptible job above this many GPUs must checkpoint. */
  readonly requireCheckpointAboveGpus?: number;
  /** The sharing modes allowed. */
  readonly allowedSharing?: readonly SharingMode[];
}

export type RuleName = keyof PolicyRules;

export interface AdmissionPolicy {
  readonly name: string;
  readonly description?: string;
  readonly match: PolicyMatch;
  readonly rules: PolicyRules;
}

export interface PolicySet {
  /** The file format's version (1). */
  readonly version: 1;
  /** Each team's trust; a team not named has `defaultTrust`. */
  readonly teams: Readonly<Record<string, Trust>>;
  readonly defaultTrust: Trust;
  readonly policies: readonly AdmissionPolicy[];
}

export const EMPTY_POLICY_SET: PolicySet = Object.freeze({ version: 1, teams: {}, defaultTrust: 'trusted', policies: [] });

/** The work being judged, as both `gantry up` and the Kubernetes webhook describe it. */
export interface PolicySubject {
  readonly team: string;
  readonly user: string;
  readonly queue: string;
  /** Container images (none: the work runs as a plain process). */
  readonly images: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  /** Each worker's GPU request. */
  readonly gpu: GpuRequest;
  readonly workers: number;
  /** GPU models the request is limited to (any names the catalog knows; empty: any model). */
  readonly gpuModels: readonly string[];
  readonly preemptible: boolean;
  readonly checkpoints: boolean;
  /** The runtime the work declares, when it declares one. */
  readonly runtimeSeconds?: number;
}

/** What the rules that depend on other work need to know. */
export interface PolicyUsage {
  /** milli-GPU the subject's user holds with other running work (0 at submission). */
  readonly userGpuMilli: number;
}

export interface PolicyDenial {
  readonly policy: string;
  readonly rule: RuleName;
  readonly message: string;
  /** True when the refusal depends on other work (it may pass later, once that work ends). */
  readonly usage: boolean;
}

export type PolicyVerdict = { readonly allowed: true } | { readonly allowed: false; readonly denials: readonly PolicyDenial[] };
