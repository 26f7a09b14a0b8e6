/**
 * End to end: admission policies in `gantry up`. The corpus (test/helpers/policy-corpus.ts)
 * through a real server's POST /v1/jobs, with the same verdicts as the core; the check before
 * every start (a per-user limit holds a job until the user's running work ends; a policy
 * applied after a submission fails the job before it starts); the dry run; an invalid file
 * (where and why, nothing changes); and the CLI (`gantry policies apply|ls|test`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, waitFor, waitState, job, type Reply, type TestServer } from '../helpers/server.js';
import { runCli as gantry } from '../helpers/gantry-process.js';
import { CORPUS, POLICY_FILES } from '../helpers/policy-corpus.js';

/** Answers that come from checks made after the policies: the job passed them. */
const AFTER_POLICIES = new Set(['DOCKER_UNAVAILABLE']);


function refusals(r: Reply): string[] {
  if (r.body.error?.code !== 'POLICY_DENIED') return [];
  return ((r.body.error as { details?: { denials?: { policy: string; rule: string }[] } }).details?.denials ?? []).map((d) => `${d.policy}/${d.rule}`).sort();
}

describe('admission policies in gantry up', () => {
  let t: TestServer;
  const tokens: Record<string, string> = {};
  before(async () => {
    t = await startTestServer({ gpus: '4xH100-80GB,1xA100-80GB,1xA100-80GB:mig,1xL4' });
    for (const [user, team] of [['ann', 'vision'], ['ivan', 'interns']]) tokens[team as string] = String((await t.api('POST', '/v1/users', { name: user, team })).body['token']);
    assert.equal((await t.api('PUT', '/v1/queues/batch', {})).status, 200);
  });
  after(async () => {
    await t?.close();
  });

  it('gives every corpus job the verdict the core gives it', async () => {
    const wrong: string[] = [];
    let current = '';
    for (const c of CORPUS) {
      if (c.policy !== current) {
        const applied = await t.api('PUT', '/v1/policies', POLICY_FILES[c.policy]);
        assert.equal(applied.status, 200, applied.text);
        current = c.policy;
      }
      const { resources, ...rest } = c.job as { resources?: Record<string, unknown> };
      const r = await t.api('POST', '/v1/jobs', job({ name: 'corpus', command: 'sleep 30', ...rest, resources: { cpu: '100m', memory: '64Mi', ...resources } }), tokens[c.team]);
      const passed = r.status === 201 || AFTER_POLICIES.has(r.body.error?.code ?? '');
      if (r.status === 201) await t.api('POST', `/v1/jobs/${String(r.body['id'])}/cancel`);
      const got = passed ? [] : refusals(r);
      if (!passed && r.body.error?.code !== 'POLICY_DENIED') wrong.push(`${c.name}: ${r.status} ${r.text}`);
      else if (JSON.stringify(got) !== JSON.stringify([...c.expect].sort())) wrong.push(`${c.name}: got [${got.join(', ')}], expected [${c.expect.join(', ')}]`);
      if (!passed) {
        assert.equal(r.status, 403);
        assert.match(r.body.error?.message ?? '', /^policy [a-z-]+, rule [A-Za-z]+: /);
      }
    }
    assert.deepEqual(wrong, []);
    // Refusals are audited (written in batches every 100 ms).
    await waitFor('a POLICY_DENIED entry in the audit', async () => {
      const audit = (await t.api('GET', '/v1/audit?limit=1000')).body['items'] as { action: string; detail: { code?: string } | null }[];
      return audit.some((e) => e.action === 'denied' && e.detail?.code === 'POLICY_DENIED');
    });
  });

  it('refuses an invalid policy file with where and why, and keeps the one in force', async () => {
    const before = (await t.api('GET', '/v1/policies')).body['revision'];
    const r = await t.api('PUT', '/v1/policies', { version: 1, policies: [{ name: 'p', rules: { maxGpusPerJob: 'eight', allowedGpuModels: ['Z9000'] } }] });
    assert.equal(r.status, 422);
    assert.equal(r.body.error?.code, 'POLICY_INVALID');
    const issues = (r.body.error as unknown as { details: { issues: { where: string; why: string }[] } }).details.issues;
    assert.deepEqual(issues.map((i) => i.where).sort(), ['policies[0].rules.allowedGpuModels[0]', 'policies[0].rules.maxGpusPerJob']);
    assert.equal((await t.api('GET', '/v1/policies')).body['revision'], before);
    assert.equal((await t.api('PUT', '/v1/policies', { version: 1, policies: [] }, tokens['vision'])).body.error?.code, 'FORBIDDEN');
  });

  it('holds a job past a user\'s GPU limit until the user\'s running job ends, and fails one a newer policy refuses', async () => {
    await t.api('PUT', '/v1/policies', { version: 1, policies: [] });
    const submit = async (name: string, gpu: number, extra: Record<string, unknown> = {}): Promise<string> => {
      const r = await t.api('POST', '/v1/jobs', job({ name, command: 'sleep 60', resources: { gpu, cpu: '100m', memory: '64Mi' }, ...extra }), tokens['vision']);
      assert.equal(r.status, 201, r.text);
      return String(r.body['id']);
    };
    const revision = (await t.api('GET', '/v1/policies')).body['revision'];
    const first = await submit('first', 2);
    await waitState(t, first, ['running']);
    // Applied while nothing of the second and third is placed yet: they are judged at their start.
    const dry = await t.api('POST', '/v1/policies/test', { version: 1, policies: [{ name: 'caps', rules: { maxGpusPerUser: 1 } }] });
    assert.deepEqual((dry.body['refused'] as { id: string; denials: { rule: string }[] }[]).map((j) => [j.id, j.denials.map((d) => d.rule)]), [[first, ['maxGpusPerUser']]]);
    assert.equal((await t.api('GET', '/v1/policies')).body['revision'], revision, 'the dry run changes nothing');
    const applied = await t.api('PUT', '/v1/policies', { version: 1, policies: [{ name: 'caps', rules: { maxGpusPerUser: 3 } }] });
    assert.equal(applied.status, 200, applied.text);
    const second = await submit('second', 2);
    const held = await waitFor('second held by the per-user limit', async () => {
      const e = await t.api('GET', `/v1/jobs/${second}/explain`);
      const why = (e.body['reasons'] as { message: string }[] | undefined)?.[0]?.message ?? '';
      return why.startsWith('POLICY_DENIED: policy caps, rule maxGpusPerUser: user ann holds 2 GPUs') ? why : null;
    });
    assert.match(held, /more than the 3 one user may hold/);
    assert.equal((await t.api('GET', `/v1/jobs/${second}`)).body['state'], 'queued');
    // A batch job held the same way, then a policy requiring a label it lacks: failed at its next start.
    const third = await submit('third', 2, { queue: 'batch' });
    await waitFor('third held', async () => String((await t.api('GET', `/v1/jobs/${third}`)).body['reason'] ?? '').startsWith('POLICY_DENIED') || null);
    const labels = await t.api('PUT', '/v1/policies', { version: 1, policies: [{ name: 'caps', rules: { maxGpusPerUser: 3 } }, { name: 'labels', match: { queues: ['batch'] }, rules: { requiredLabels: ['project'] } }] });
    assert.deepEqual((labels.body['wouldRefuse'] as { refused: { id: string }[] }).refused.map((j) => j.id), [third]);
    const failed = await waitState(t, third, ['failed']);
    assert.match(String(failed['reason']), /^refused before its start: POLICY_DENIED: policy caps, rule maxGpusPerUser: .*; POLICY_DENIED: policy labels, rule requiredLabels: the job lacks the label project/);
    // The first job ends: the second may start.
    await t.api('POST', `/v1/jobs/${first}/cancel`);
    await waitState(t, second, ['running']);
    await t.api('POST', `/v1/jobs/${second}/cancel`);
  });

  it('works from the CLI: apply, ls, test', async () => {
    const env = { ...process.env, GANTRY_URL: t.url, GANTRY_TOKEN: t.adminToken };
    const file = join(t.dir, 'policies.yaml');
    writeFileSync(file, ['version: 1', 'teams: { interns: untrusted }', 'policies:', '  - name: untrusted-mig', '    description: interns get MIG slices only', '    match: { trust: untrusted }', '    rules: { allowedSharing: [mig] }', ''].join('\n'));
    const applied = await gantry(['policies', 'apply', file], env);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /policies applied: revision \d+ \(untrusted-mig\)/);
    const ls = await gantry(['policies', 'ls'], env);
    assert.match(ls.stdout, /untrusted-mig\s+\{"trust":"untrusted"\}\s+allowedSharing\s+interns get MIG slices only/);
    const r = await t.api('POST', '/v1/jobs', job({ name: 'share', resources: { gpu: 0.5 } }), tokens['interns']);
    assert.equal(r.body.error?.code, 'POLICY_DENIED');
    const tested = await gantry(['policies', 'test', file], env);
    assert.equal(tested.code, 0, tested.stderr);
    assert.match(tested.stdout, /active jobs would be refused/);
    writeFileSync(file, 'version: 1\npolicies:\n  - name: p\n    rules: { maxGpusPerJob: -2 }\n');
    const bad = await gantry(['policies', 'apply', file], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /policies\[0\]\.rules\.maxGpusPerJob: .*POLICY_INVALID/);
  });
});
