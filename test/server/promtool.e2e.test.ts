/**
 * `promtool check metrics` (Prometheus's own linter, built by scripts/promtool/ensure-promtool.sh)
 * on the admin's full `/metrics` of a real server running a job: Gantry's series must pass clean.
 * The DCGM-compatible series keep DCGM's upper-case names and camelCase labels on purpose, so
 * the only warnings allowed are about those.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startTestServer, waitFor, waitState, job, type TestServer } from '../helpers/server.js';

const found = spawnSync('bash', ['scripts/promtool/ensure-promtool.sh', '--check'], { encoding: 'utf8' });
const promtool = found.status === 0 ? found.stdout.trim() : null;
const skip = promtool ? false : process.env.GANTRY_REQUIRE_PROMTOOL === '1' ? false : 'promtool not built (scripts/promtool/ensure-promtool.sh)';

describe('metrics pass promtool check metrics', { skip }, () => {
  let t: TestServer;
  before(async () => {
    assert.ok(promtool, 'GANTRY_REQUIRE_PROMTOOL=1 but promtool is not built: run scripts/promtool/ensure-promtool.sh');
    t = await startTestServer();
  });
  after(async () => {
    await t?.close();
  });

  it('has no warnings except DCGM names and labels, with per-job series present', async () => {
    const r = await t.api('POST', '/v1/jobs', job({ name: 'lint', resources: { gpu: 2 }, command: 'sleep 30' }));
    const id = String(r.body['id']);
    await waitState(t, id, ['running']);
    const text = await waitFor('per-job telemetry', async () => {
      const body = (await t.api('GET', '/metrics')).text;
      return body.includes(`gantry_job_gpu_utilization_ratio{job="${id}"`) ? body : null;
    });
    const out = spawnSync(promtool as string, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    const lines = `${out.stdout}\n${out.stderr}`.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
    const problems = lines.filter((l) => !/^DCGM_FI_DEV_\w+ label names should be written in 'snake_case' not 'camelCase'$/.test(l));
    assert.deepEqual(problems, [], `promtool found problems in Gantry's own series:\n${lines.join('\n')}`);
    // The linter does run: DCGM's camelCase labels are the warnings we keep on purpose.
    assert.ok(lines.some((l) => l.startsWith('DCGM_FI_DEV_')), `promtool printed nothing about the DCGM series:\n${lines.join('\n')}`);
    await t.api('POST', `/v1/jobs/${id}/cancel`);
  });
});
