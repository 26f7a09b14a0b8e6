/**
 * `gantry prices`, `gantry cost`, `gantry budgets` and `gantry history` against a real server and SQLite file:
 * a price is set and listed; a job's cost shows in the table, as JSON and as CSV with one
 * total; a budget is set, listed and removed; bad flags are one line with a code, exit
 * non-zero and change nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { job, startTestServer, tempDir, waitState, type TestServer } from '../helpers/server.js';
import { runCli, type CliRun } from '../helpers/gantry-process.js';

describe('gantry prices, cost and budgets', () => {
  let t: TestServer;
  let dir = '';
  let env: Record<string, string> = {};
  const gantry = (...args: string[]): Promise<CliRun> => runCli(args, env);
  before(async () => {
    t = await startTestServer({ gpus: '2xH100-80GB', budgetCheckMs: 100 });
    dir = tempDir('gantry-cost-cli-');
    env = { GANTRY_URL: t.url, GANTRY_TOKEN: t.adminToken, GANTRY_DATA_DIR: join(dir, '.gantry') };
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sets a price and reports a job\'s cost as a table, JSON and CSV', async () => {
    const set = await gantry('prices', 'set', 'h100', '2.49');
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /H100-80GB: 2.49 per GPU-hour/);
    assert.match((await gantry('prices', 'ls')).stdout, /H100-80GB\s+2.49/);
    const id = String((await t.api('POST', '/v1/jobs', job({ name: 'paid', command: 'sleep 1', resources: { gpu: 2 } }))).body['id']);
    await waitState(t, id, ['succeeded']);

    const table = await gantry('cost', '--by', 'job', '--since', '1h');
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`${id}\\s+1\\s+0\\.00\\s+0\\.00`));
    assert.match(table.stdout, /TOTAL\s+1/);
    const json = JSON.parse((await gantry('cost', '--by', 'model', '-o', 'json')).stdout) as { items: { key: string; gpuHours: number; cost: number }[]; total: { cost: number } };
    assert.equal(json.items[0]?.key, 'H100-80GB');
    assert.ok((json.items[0]?.gpuHours ?? 0) * 3600 >= 2, 'two GPUs for about a second');
    assert.ok(Math.abs((json.items[0]?.gpuHours ?? 0) * 2.49 - json.total.cost) < 1e-5);
    const csv = (await gantry('cost', '--by', 'team', '-o', 'csv')).stdout.trim().split('\n');
    assert.equal(csv[0], 'team,attempts,gpu_hours,cost,preempted_gpu_hours,preempted_cost,idle_gpu_hours,idle_cost,running');
    assert.match(csv[1] ?? '', /^default,1,/);
    assert.match(csv[2] ?? '', /^TOTAL,1,/);
  });

  it('sets, lists and removes a budget', async () => {
    const set = await gantry('budgets', 'set', '--team', 'default', '--limit', '100', '--period', 'week', '--hard');
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /team default: hard budget of 100.00 per week; spent 0.00 \(ok\)/);
    assert.match((await gantry('budgets', 'ls')).stdout, /team\s+default\s+week\s+hard\s+100.00\s+0.00\s+ok/);
    const rm = await gantry('budgets', 'rm', '--team', 'default');
    assert.equal(rm.code, 0, rm.stderr);
    assert.doesNotMatch((await gantry('budgets', 'ls')).stdout, /default/);
  });

  it('gantry history: a row per series with a sparkline; JSON and CSV', async () => {
    const table = await gantry('history', 'fleet', '--since', '5m', '--points', '10');
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^fleet history, .* \d+ s steps \(10 s buckets\)/);
    assert.match(table.stdout, /all\s+gpus\s+GPUs\s+2\s+2\s+2\s/);
    const json = JSON.parse((await gantry('history', 'queue', 'default', '--metric', 'used', '-o', 'json')).stdout) as { series: { key: string; metric: string }[] };
    assert.deepEqual(json.series.map((x) => [x.key, x.metric]), [['default', 'used']]);
    const csv = (await gantry('history', 'gpu', '--metric', 'allocated', '--since', '2m', '-o', 'csv')).stdout.trim().split('\n');
    assert.equal(csv[0], 'time,key,metric,unit,avg,max');
    assert.ok(csv.some((l) => /,[^,]+\/0,allocated,GPUs,/.test(l)), csv.slice(0, 3).join('\n'));
  });

  it('refuses bad flags with one line and a code, changing nothing', async () => {
    const before = [(await gantry('prices', 'ls', '-o', 'json')).stdout, (await gantry('budgets', 'ls', '-o', 'json')).stdout];
    for (const [args, message] of [
      [['prices', 'set', 'H100-80GB', 'cheap'], /price: "cheap" is not an amount.*BAD_ARGUMENT/],
      [['prices', 'set', 'Z900', '1'], /GPU_MODEL_UNKNOWN: unknown GPU model "Z900"/],
      [['cost', '--by', 'planet'], /--by: "planet" is not one of team, queue, user, model, job, service.*BAD_FLAG/],
      [['cost', '-o', 'xml'], /-o: "xml" is not table, json or csv.*BAD_FLAG/],
      [['cost', '--since', 'yesterday'], /QUERY_INVALID/],
      [['budgets', 'set', '--limit', '5'], /name one of --team TEAM or --queue QUEUE.*BAD_FLAG/],
      [['budgets', 'set', '--team', 'default', '--limit', '5', '--period', 'year'], /--period: "year" is not day, week or month/],
      [['budgets', 'set', '--team', 'ghost', '--limit', '5'], /TEAM_NOT_FOUND/],
      [['budgets', 'rm', '--queue', 'default'], /BUDGET_NOT_FOUND/],
      [['history', 'planet'], /"planet" is not one of fleet, gpu, queue, job.*BAD_ARGUMENT/],
      [['history', 'gpu', '--since', 'yesterday'], /QUERY_INVALID/],
      [['history', 'gpu', '-o', 'xml'], /-o: "xml" is not table, json or csv.*BAD_FLAG/],
    ] as const) {
      const r = await gantry(...args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.deepEqual([(await gantry('prices', 'ls', '-o', 'json')).stdout, (await gantry('budgets', 'ls', '-o', 'json')).stdout], before);
  });
});
