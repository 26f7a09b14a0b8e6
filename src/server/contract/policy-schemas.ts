/**
 * The admission policy routes' schemas (see policies-api.ts and docs/policies.md): the policy
 * file as a body (the same fields as the YAML file, sent as JSON), what is applied, and the
 * dry run's answer.
 */
import { z } from 'zod';
import { policyFileSchema } from '../../spec/policy-file.js';

const time = z.iso.datetime().openapi({ example: '2026-12-06T03:00:00.000Z' });

// A new object over the same fields (zod-to-openapi can only annotate schemas made after it loaded).
export const PolicyFileBodySchema = z.strictObject(policyFileSchema.shape).openapi('PolicyFile', {
  description: 'An admission policy file (format version 1), as JSON: the same fields as the YAML file of gantry policies apply.',
  example: { version: 1, teams: { interns: 'untrusted' }, policies: [{ name: 'limits', rules: { maxGpusPerJob: 8, maxRuntime: '24h' } }, { name: 'untrusted-mig', match: { trust: 'untrusted' }, rules: { allowedSharing: ['mig'] } }] },
});

const denialSchema = z.object({ policy: z.string(), rule: z.string(), message: z.string() }).openapi('PolicyDenial');

export const AppliedPoliciesSchema = z
  .object({
    revision: z.number().int().openapi({ description: 'raised by each apply; 0: none applied yet' }),
    appliedAt: time.nullable(),
    appliedBy: z.string().nullable(),
    document: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'the file as applied' }),
    policies: z.array(z.object({ name: z.string(), description: z.string().nullable(), match: z.record(z.string(), z.unknown()), rules: z.array(z.string()) })),
  })
  .openapi('AppliedPolicies');

export const PolicyDryRunSchema = z
  .object({
    checked: z.number().int().openapi({ description: 'active jobs (queued, running) judged' }),
    refused: z.array(z.object({ id: z.string(), name: z.string(), team: z.string(), owner: z.string(), queue: z.string(), state: z.string(), denials: z.array(denialSchema) })),
  })
  .openapi('PolicyDryRun');

export const PolicyAppliedSchema = AppliedPoliciesSchema.extend({ wouldRefuse: PolicyDryRunSchema.openapi({ description: 'active jobs the new policies would refuse (running ones keep running)' }) }).openapi('PolicyApplied');
