/**
 * `gantry queues set NAME --model-quota MODEL=G:L` against a real server: the quota is saved,
 * shown by `gantry queues` (used/guaranteed/limit per model) and in `-o json`; a malformed flag
 * or an unknown model is one line on stderr with a code, exits non-zero and changes nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { runCli, type CliRun } from '../helpers/gantry-process.js';

describe('gantry queues --model-quota', () => {
  let t: TestServer;
  let dir = '';
  let env: Record<string, string> = {};
  const gantry = (...args: string[]): Promise<CliRun> => runCli(args, env);
  before(async () => {
    t = await startTestServer({ gpus: '2xH100-80GB,2xL4' });
    dir = tempDir('gantry-queues-cli-');
    env = { GANTRY_URL: t.url, GANTRY_TOKEN: t.adminToken, GANTRY_DATA_DIR: join(dir, '.gantry') };
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('saves per-model quotas and shows them', async () => {
    const set = await gantry('queues', 'set', 'team-a', '--model-quota', 'H100-80GB=1:2', '--model-quota', 'L4=:1');
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /queue team-a saved/);
    const table = await gantry('queues');
    assert.equal(table.code, 0, table.stderr);
    const row = table.stdout.split('\n').find((l) => l.trim().startsWith('team-a'));
    assert.match(row ?? '', /H100-80GB 0\/1\/2, L4 0\/-\/1/);
    assert.match(table.stdout, /PER MODEL USED\/GUAR\/LIMIT/);
    const json = JSON.parse((await gantry('queues', '-o', 'json')).stdout) as { items: { name: string; gpuModels: unknown }[] };
    assert.deepEqual(json.items.find((q) => q.name === 'team-a')?.gpuModels, { 'H100-80GB': { guaranteedGpus: 1, limitGpus: 2, usedGpus: 0 }, L4: { guaranteedGpus: null, limitGpus: 1, usedGpus: 0 } });
  });

  it('refuses a malformed flag and an unknown model, changing nothing', async () => {
    const before = (await gantry('queues', '-o', 'json')).stdout;
    for (const [flag, message] of [
      ['H100-80GB', /--model-quota: "H100-80GB" is not MODEL=GUARANTEED:LIMIT.*BAD_FLAG/],
      ['H100-80GB=x:2', /is not MODEL=GUARANTEED:LIMIT/],
      ['H100-80GB=-1', /is not MODEL=GUARANTEED:LIMIT/],
      ['Z900=1:2', /QUEUE_MODEL_QUOTA_INVALID: queue team-a: unknown GPU model "Z900"/],
      ['H100-80GB=3:2', /QUEUE_MODEL_QUOTA_INVALID: .*more than its H100-80GB limit of 2/],
    ] as const) {
      const r = await gantry('queues', 'set', 'team-a', '--model-quota', flag);
      assert.notEqual(r.code, 0, flag);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    assert.equal((await gantry('queues', '-o', 'json')).stdout, before);
  });
});
