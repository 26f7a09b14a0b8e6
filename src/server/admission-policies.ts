/**
 * The admission policies `gantry up` enforces (docs/policies.md): the applied policy file,
 * kept in the data dir (`policies.json`, written whole and renamed into place, so a crash
 * leaves the old or the new file, never half of one), with a revision that each apply raises.
 * Jobs are judged at submission (`admit`) and before every start (the controller's gate).
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describeDenial, evaluate, jobGpuMilli } from '../core/admission-policy/evaluate.js';
import { EMPTY_POLICY_SET, type PolicyDenial, type PolicySet, type PolicyVerdict } from '../core/admission-policy/types.js';
import type { JobRow } from '../adapters/store/store.js';
import type { JobFile } from '../spec/job-spec.js';
import { jobPolicySubject } from '../spec/job-policy-subject.js';
import { validatePolicyFile } from '../spec/policy-file.js';
import { ApiError } from './errors.js';

export interface AppliedPolicies {
  readonly set: PolicySet;
  /** The file as it was applied (JSON), shown back by `gantry policies ls`. */
  readonly document: unknown;
  /** 0: none applied yet. */
  readonly revision: number;
  readonly appliedAt: number | null;
  readonly appliedBy: string | null;
}

/** A job the policies refuse: who, and each refusal. */
export interface PolicyRefusal {
  readonly job: JobRow;
  readonly denials: readonly PolicyDenial[];
}

const NONE: AppliedPolicies = { set: EMPTY_POLICY_SET, document: null, revision: 0, appliedAt: null, appliedBy: null };

export function policyDeniedError(denials: readonly PolicyDenial[]): ApiError {
  const first = denials[0];
  const more = denials.length > 1 ? ` (and ${denials.length - 1} more: see details.denials)` : '';
  return new ApiError('POLICY_DENIED', `${first ? describeDenial(first).replace(/^POLICY_DENIED: /, '') : 'refused by policy'}${more}`, { denials: denials.map((d) => ({ policy: d.policy, rule: d.rule, message: d.message })) });
}

export class AdmissionPolicies {
  private applied: AppliedPolicies = NONE;
  private readonly file: string;

  /** Loads the applied file; one that no longer validates is reported in `problems` and not enforced. */
  constructor(dataDir: string, readonly problems: string[] = []) {
    this.file = join(dataDir, 'policies.json');
    if (!existsSync(this.file)) return;
    try {
      const saved = JSON.parse(readFileSync(this.file, 'utf8')) as { document: unknown; revision: number; appliedAt: number; appliedBy: string };
      this.applied = { set: validatePolicyFile(saved.document), document: saved.document, revision: saved.revision, appliedAt: saved.appliedAt, appliedBy: saved.appliedBy };
    } catch (e) {
      problems.push(`${this.file}: the applied admission policies cannot be read (${(e as Error).message}); no policy is enforced until a valid file is applied`);
    }
  }

  current(): AppliedPolicies {
    return this.applied;
  }

  /** Validates (POLICY_INVALID) and stores a policy file; answers what is now applied. */
  apply(document: unknown, by: string, now: number): AppliedPolicies {
    const set = validatePolicyFile(document);
    const next: AppliedPolicies = { set, document, revision: this.applied.revision + 1, appliedAt: now, appliedBy: by };
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify({ document, revision: next.revision, appliedAt: now, appliedBy: by }) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    this.applied = next;
    return next;
  }

  /** At submission: throws POLICY_DENIED naming every refusal. A user's running work is not counted here. */
  admit(spec: JobFile, team: string, user: string): void {
    const v = evaluate(this.applied.set, jobPolicySubject(spec, team, user));
    if (!v.allowed) throw policyDeniedError(v.denials);
  }

  /** Before a start: the verdict with the user's other running work counted. */
  judgeStart(row: JobRow, userGpuMilli: number): PolicyVerdict {
    return evaluate(this.applied.set, jobPolicySubject(row.spec, row.team, row.owner), { userGpuMilli });
  }
}

/**
 * The dry run: which of `jobs` (active ones) a policy set would refuse. Running work is
 * counted per user in start order (the first jobs are the ones a user keeps), so a per-user
 * limit refuses the running jobs that take the user past it; a queued job is judged as at
 * submission.
 */
export function wouldRefuse(set: PolicySet, jobs: readonly JobRow[]): PolicyRefusal[] {
  const held = new Map<string, number>();
  const running = jobs.filter((j) => j.state !== 'queued').sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0) || a.seq - b.seq);
  const queued = jobs.filter((j) => j.state === 'queued').sort((a, b) => a.seq - b.seq);
  const out: PolicyRefusal[] = [];
  for (const j of [...running, ...queued]) {
    const subject = jobPolicySubject(j.spec, j.team, j.owner);
    const usage = j.state === 'queued' ? 0 : (held.get(j.owner) ?? 0);
    const v = evaluate(set, subject, { userGpuMilli: usage });
    if (j.state !== 'queued') held.set(j.owner, usage + jobGpuMilli(subject));
    if (!v.allowed) out.push({ job: j, denials: v.denials });
  }
  return out.sort((a, b) => a.job.seq - b.job.seq);
}
