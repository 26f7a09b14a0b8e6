/**
 * The admission policy routes (docs/policies.md): `GET /v1/policies` for anyone (the rules a
 * job is judged by are no secret), `PUT /v1/policies` and the dry run `POST
 * /v1/policies/test` for admins. A body that is not a valid policy file is 422
 * POLICY_INVALID with each problem's where and why, and changes nothing.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JobRow, UserRow } from '../adapters/store/store.js';
import type { PolicySet } from '../core/admission-policy/types.js';
import { validatePolicyFile } from '../spec/policy-file.js';
import { ApiError } from './errors.js';
import type { OperationId } from './contract/operations.js';
import { wouldRefuse, type AdmissionPolicies, type AppliedPolicies } from './admission-policies.js';

export interface PolicyRouteDeps {
  readonly policies: AdmissionPolicies;
  readonly activeJobs: () => readonly JobRow[];
  readonly admin: (req: FastifyRequest) => UserRow;
  readonly clock: () => number;
  /** The change and its audit entry, in one transaction. */
  readonly audited: <T>(u: UserRow, req: FastifyRequest, action: string, target: string, detail: Record<string, unknown> | null, change: () => T) => T;
  readonly route: (id: OperationId, handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => void;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function appliedView(a: AppliedPolicies): Record<string, unknown> {
  return {
    revision: a.revision,
    appliedAt: iso(a.appliedAt),
    appliedBy: a.appliedBy,
    document: a.document as Record<string, unknown> | null,
    policies: a.set.policies.map((p) => ({ name: p.name, description: p.description ?? null, match: p.match, rules: Object.keys(p.rules) })),
  };
}

function dryRun(set: PolicySet, jobs: readonly JobRow[]): Record<string, unknown> {
  return {
    checked: jobs.length,
    refused: wouldRefuse(set, jobs).map((r) => ({
      id: r.job.id, name: r.job.name, team: r.job.team, owner: r.job.owner, queue: r.job.queue, state: r.job.state,
      denials: r.denials.map((d) => ({ policy: d.policy, rule: d.rule, message: d.message })),
    })),
  };
}

/** A required body, validated as a policy file (POLICY_INVALID). */
function policyBody(req: FastifyRequest): { document: unknown; set: PolicySet } {
  if (req.body === undefined || req.body === null) throw new ApiError('POLICY_INVALID', 'this request needs a policy file as its JSON body (version and policies)', { issues: [{ where: '(top level)', why: 'no body' }] });
  return { document: req.body, set: validatePolicyFile(req.body) };
}

export function registerPolicyRoutes(deps: PolicyRouteDeps): void {
  deps.route('getPolicies', async () => appliedView(deps.policies.current()));
  deps.route('applyPolicies', async (req) => {
    const user = deps.admin(req);
    const { document, set } = policyBody(req);
    const applied = deps.audited(user, req, 'policy.apply', 'policies', { policies: set.policies.map((p) => p.name) }, () => deps.policies.apply(document, user.name, deps.clock()));
    return { ...appliedView(applied), wouldRefuse: dryRun(applied.set, deps.activeJobs()) };
  });
  deps.route('testPolicies', async (req) => {
    deps.admin(req);
    return dryRun(policyBody(req).set, deps.activeJobs());
  });
}
