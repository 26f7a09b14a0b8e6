/**
 * The admission policy file (docs/policies.md): YAML (or the same as JSON), format version 1.
 * Validated with zod; every problem is reported as where (the path in the file) and why, under
 * the stable code POLICY_INVALID. The result is the core's PolicySet (GPU models under their
 * catalog names, runtimes in seconds).
 */
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { findGpuModel } from '../core/model/gpu-catalog.js';
import { SHARING_MODES, type PolicyMatch, type PolicyRules, type PolicySet, type SharingMode } from '../core/admission-policy/types.js';
import { describeIssues, LABEL_KEY, readYaml } from './job-spec.js';

export const POLICY_FILE_VERSION = 1;
const NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
const name = z.string().regex(NAME, 'must be lowercase letters, digits, ".", "_" or "-", at most 63 characters');
const trust = z.enum(['trusted', 'untrusted']);
const gpuCount = z.number().positive().max(100_000).finite();

/** "90m", "24h", "7d", "3600s", or a number of seconds. */
const duration = z.union([
  z.number().int().positive().max(366 * 86_400),
  z.string().regex(/^\s*[1-9][0-9]{0,6}\s*[smhd]\s*$/, 'must be a duration such as 90m, 24h or 7d (or a number of seconds)'),
]);
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
function seconds(v: number | string): number {
  if (typeof v === 'number') return v;
  const t = v.trim();
  return Number(t.slice(0, -1).trim()) * (UNIT_SECONDS[t.slice(-1)] ?? 1);
}

const rulesSchema = z
  .strictObject({
    maxGpusPerJob: gpuCount.optional(),
    maxGpusPerUser: gpuCount.optional(),
    maxRuntime: duration.optional(),
    allowedGpuModels: z.array(z.string().max(64).refine((m) => findGpuModel(m) !== undefined, { error: (i) => `unknown GPU model "${String(i.input)}" (examples: H100-80GB, A100-80GB, L4)` })).min(1).max(32).optional(),
    allowedImages: z.array(z.string().min(1).max(512).regex(/^\S+$/, 'an image pattern has no spaces')).min(1).max(256).optional(),
    requiredLabels: z.array(z.string().max(317).regex(LABEL_KEY, 'is not a label key (e.g. project or example.com/cost-center)')).min(1).max(64).optional(),
    requireCheckpointAboveGpus: z.number().nonnegative().max(100_000).finite().optional(),
    allowedSharing: z.array(z.enum(SHARING_MODES as [SharingMode, ...SharingMode[]])).min(1).max(4).optional(),
  })
  .superRefine((r, ctx) => {
    if (Object.values(r).every((v) => v === undefined)) ctx.addIssue({ code: 'custom', message: 'a policy needs at least one rule' });
  });

export const policyFileSchema = z
  .strictObject({
    version: z.literal(POLICY_FILE_VERSION, { error: `must be ${POLICY_FILE_VERSION} (the policy file format this Gantry reads)` }),
    teams: z.record(z.string().regex(NAME, 'is not a team name'), trust).default({}),
    defaultTrust: trust.default('trusted'),
    policies: z
      .array(
        z.strictObject({
          name,
          description: z.string().max(1024).optional(),
          match: z.strictObject({ teams: z.array(name).min(1).max(256).optional(), queues: z.array(z.string().min(1).max(63)).min(1).max(256).optional(), trust: trust.optional() }).default({}),
          rules: rulesSchema,
        }),
      )
      .max(256),
  })
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    for (const [i, p] of f.policies.entries()) {
      if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: ['policies', i, 'name'], message: `policy "${p.name}" is named twice; each name once` });
      seen.add(p.name);
    }
  });

export type PolicyFile = z.input<typeof policyFileSchema>;

/** One problem with a policy file: the path in it, and why. */
export interface PolicyIssue {
  readonly where: string;
  readonly why: string;
}

function invalid(source: string, issues: readonly PolicyIssue[]): UserError {
  return new UserError('POLICY_INVALID', `invalid policy file${source ? ` ${source}` : ''}: ${issues.map((i) => `${i.where}: ${i.why}`).join('; ')}`, { issues });
}

/** The object without its undefined fields (what an optional field means here). */
function definedOnly(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Validates parsed data; throws UserError POLICY_INVALID with every problem. */
export function validatePolicyFile(input: unknown, source = ''): PolicySet {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw invalid(source, [{ where: '(top level)', why: 'must be a mapping with version and policies' }]);
  const r = policyFileSchema.safeParse(input);
  if (!r.success) {
    throw invalid(source, describeIssues(r.error.issues).map((line) => {
      const at = line.indexOf(': ');
      return { where: line.slice(0, at), why: line.slice(at + 2) };
    }));
  }
  const f = r.data;
  return {
    version: 1,
    teams: f.teams,
    defaultTrust: f.defaultTrust,
    policies: f.policies.map((p) => {
      const { maxRuntime, allowedGpuModels, ...rest } = p.rules;
      return {
        name: p.name,
        ...(p.description !== undefined ? { description: p.description } : {}),
        match: definedOnly(p.match) as PolicyMatch,
        rules: {
          ...(definedOnly(rest) as PolicyRules),
          ...(maxRuntime !== undefined ? { maxRuntime: seconds(maxRuntime) } : {}),
          ...(allowedGpuModels ? { allowedGpuModels: [...new Set(allowedGpuModels.map((m) => findGpuModel(m)?.name ?? m))] } : {}),
        },
      };
    }),
  };
}

/** Reads a policy file's YAML text and validates it. */
export function parsePolicyYaml(text: string, source = 'policy file'): PolicySet {
  let doc: unknown;
  try {
    doc = readYaml(text, source);
  } catch (e) {
    if (e instanceof UserError) throw invalid('', [{ where: '(file)', why: e.message.replace(`${source}: `, '') }]);
    throw e;
  }
  return validatePolicyFile(doc, source);
}
