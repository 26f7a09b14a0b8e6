/**
 * Admission policies in the core: the corpus (test/helpers/policy-corpus.ts) as a table, the
 * rules that depend on a user's running work, and the policy file's validation (where, why).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeDenial, evaluate, imageMatches } from '../../src/core/admission-policy/evaluate.js';
import type { PolicySubject, PolicyVerdict } from '../../src/core/admission-policy/types.js';
import { parsePolicyYaml, validatePolicyFile } from '../../src/spec/policy-file.js';
import { validateJobFile } from '../../src/spec/job-spec.js';
import { jobPolicySubject } from '../../src/spec/job-policy-subject.js';
import { isUserError, type UserError } from '../../src/core/errors.js';
import { CORPUS, POLICY_FILES, type CorpusJob } from '../helpers/policy-corpus.js';

function subject(job: CorpusJob, team = 'vision', user = 'ann'): PolicySubject {
  return jobPolicySubject(validateJobFile({ name: 'corpus', command: 'true', ...job }), team, user);
}
function refusals(v: PolicyVerdict): string[] {
  return v.allowed ? [] : v.denials.map((d) => `${d.policy}/${d.rule}`).sort();
}
function invalidIssues(f: () => unknown): { where: string; why: string }[] {
  try {
    f();
  } catch (e) {
    assert.ok(isUserError(e), String(e));
    assert.equal((e as UserError).code, 'POLICY_INVALID');
    return (e as UserError).details?.['issues'] as { where: string; why: string }[];
  }
  assert.fail('expected POLICY_INVALID');
}

describe('admission policies: the corpus', () => {
  it('holds at least 35 cases, both allowed and refused, over every rule', () => {
    assert.ok(CORPUS.length >= 35, `${CORPUS.length} cases`);
    assert.ok(CORPUS.filter((c) => c.expect.length === 0).length >= 15);
    assert.ok(CORPUS.filter((c) => c.expect.length > 0).length >= 15);
    const rules = new Set(CORPUS.flatMap((c) => c.expect.map((e) => e.split('/')[1])));
    for (const r of ['maxGpusPerJob', 'maxGpusPerUser', 'maxRuntime', 'allowedGpuModels', 'allowedImages', 'requiredLabels', 'requireCheckpointAboveGpus', 'allowedSharing']) assert.ok(rules.has(r), r);
  });
  for (const c of CORPUS) {
    it(c.name, () => {
      const set = validatePolicyFile(POLICY_FILES[c.policy]);
      const v = evaluate(set, subject(c.job, c.team));
      assert.deepEqual(refusals(v), [...c.expect].sort());
      if (!v.allowed) for (const d of v.denials) assert.match(describeDenial(d), new RegExp(`^POLICY_DENIED: policy ${d.policy}, rule ${d.rule}: .+`));
    });
  }
});

describe('admission policies: a user\'s running work', () => {
  const set = validatePolicyFile(POLICY_FILES.limits);
  const job = { resources: { gpu: 2 }, expectedDurationSeconds: 60 };
  it('allows a job that brings the user to the limit', () => {
    assert.deepEqual(refusals(evaluate(set, subject(job), { userGpuMilli: 4000 })), []);
  });
  it('refuses one that takes the user past it, as a refusal that depends on other work', () => {
    const v = evaluate(set, subject(job), { userGpuMilli: 4500 });
    assert.deepEqual(refusals(v), ['limits/maxGpusPerUser']);
    assert.ok(!v.allowed && v.denials[0]?.usage === true);
    assert.ok(!v.allowed && /user ann holds 4.5 GPUs; with this job's 2/.test(v.denials[0]?.message ?? ''));
  });
  it('never counts a job without GPUs', () => {
    assert.deepEqual(refusals(evaluate(set, subject({ expectedDurationSeconds: 60 }), { userGpuMilli: 99_000 })), []);
  });
  it('marks the other rules as independent of other work', () => {
    const v = evaluate(set, subject({ resources: { gpu: 5 } }));
    assert.ok(!v.allowed && v.denials.every((d) => !d.usage));
  });
  it('allows everything under an empty set', () => {
    assert.deepEqual(evaluate(validatePolicyFile({ version: 1, policies: [] }), subject({ resources: { gpu: 64 } })), { allowed: true });
  });
});

describe('admission policies: image patterns', () => {
  it('anchors both ends, * spans slashes, ? is one character, dots are literal', () => {
    assert.ok(imageMatches('registry.example.com/*', 'registry.example.com/a/b:1'));
    assert.ok(!imageMatches('registry.example.com/*', 'x/registry.example.com/a'));
    assert.ok(imageMatches('nvcr.io/nvidia/pytorch:2?.*', 'nvcr.io/nvidia/pytorch:24.05-py3'));
    assert.ok(!imageMatches('nvcr.io/nvidia/pytorch:2?.*', 'nvcr.io/nvidia/pytorch:2405'));
    assert.ok(!imageMatches('a.b', 'axb'));
  });
});

describe('admission policies: the policy file', () => {
  it('reads YAML with durations and model aliases into the core form', () => {
    const set = parsePolicyYaml(['version: 1', 'teams: { interns: untrusted }', 'policies:', '  - name: p', '    rules: { maxRuntime: 90m, allowedGpuModels: [h100-80gb, A100-80GB] }'].join('\n'));
    assert.equal(set.teams['interns'], 'untrusted');
    assert.equal(set.defaultTrust, 'trusted');
    assert.deepEqual(set.policies[0]?.rules, { maxRuntime: 5400, allowedGpuModels: ['H100-80GB', 'A100-80GB'] });
  });
  it('names where and why for each problem', () => {
    const issues = invalidIssues(() => validatePolicyFile({ version: 1, policies: [{ name: 'p', rules: { maxGpusPerJob: -1, allowedGpuModels: ['Z9000'], allowedSharing: ['exclusive'] } }] }));
    const where = issues.map((i) => i.where).sort();
    assert.deepEqual(where, ['policies[0].rules.allowedGpuModels[0]', 'policies[0].rules.allowedSharing[0]', 'policies[0].rules.maxGpusPerJob']);
    assert.match(issues.find((i) => i.where.endsWith('allowedGpuModels[0]'))?.why ?? '', /unknown GPU model "Z9000"/);
  });
  it('refuses another format version, a rule it does not know, a policy without rules, and a name given twice', () => {
    assert.deepEqual(invalidIssues(() => validatePolicyFile({ version: 2, policies: [] })).map((i) => i.where), ['version']);
    assert.match(invalidIssues(() => validatePolicyFile({ version: 1, policies: [{ name: 'p', rules: { maxGpus: 1 } }] }))[0]?.why ?? '', /unknown field "maxGpus"/);
    assert.match(invalidIssues(() => validatePolicyFile({ version: 1, policies: [{ name: 'p', rules: {} }] }))[0]?.why ?? '', /at least one rule/);
    const twice = invalidIssues(() => validatePolicyFile({ version: 1, policies: [{ name: 'p', rules: { maxGpusPerJob: 1 } }, { name: 'p', rules: { maxGpusPerJob: 2 } }] }));
    assert.deepEqual(twice.map((i) => i.where), ['policies[1].name']);
  });
  it('refuses broken YAML and a document that is not a mapping', () => {
    assert.equal(invalidIssues(() => parsePolicyYaml('version: [1'))[0]?.where, '(file)');
    assert.equal(invalidIssues(() => parsePolicyYaml('- 1'))[0]?.where, '(top level)');
    assert.match(invalidIssues(() => validatePolicyFile({ version: 1, policies: [{ name: 'p', rules: { maxRuntime: '3 weeks' } }] }))[0]?.why ?? '', /duration/);
  });
});

describe('examples/policies.yaml', () => {
  it('is a valid policy file with policies in it', async () => {
    const { readFileSync } = await import('node:fs');
    const set = parsePolicyYaml(readFileSync('examples/policies.yaml', 'utf8'), 'examples/policies.yaml');
    assert.ok(set.policies.length > 0);
  });
});
