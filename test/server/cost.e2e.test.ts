/**
 * Cost accounting and budgets against a real server and SQLite file: a whole GPU, a half share
 * and a MIG slice billed by their fraction at the prices set; a drained (preempted) attempt
 * shown as such; every grouping adds up to the same total to the micro-unit; a member sees
 * their team only; a hard budget makes new work wait with BUDGET_EXHAUSTED (explain says so)
 * without stopping running work, and raising it lets the work start; a soft one only warns.
 * Bad input gets a stable code and changes nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, job, startTestServer, waitFor, waitState, type TestServer } from '../helpers/server.js';

interface Line {
  key: string;
  attempts: number;
  gpuHours: number;
  cost: number;
  preemptedGpuHours: number;
  preemptedCost: number;
  running: number;
}
interface Report {
  items: Line[];
  total: Line;
  omitted: number;
  scope: string;
}

const micros = (v: number): number => Math.round(v * 1e6);

describe('cost accounting and budgets', () => {
  let t: TestServer;
  let alice = '';
  let bob = '';
  let node = '';
  const report = async (by: string, token?: string, extra = ''): Promise<Report> => {
    const r = await t.api('GET', `/v1/cost?by=${by}&since=1d${extra}`, undefined, token ?? t.adminToken);
    assert.equal(r.status, 200, r.text);
    return r.body as unknown as Report;
  };

  before(async () => {
    t = await startTestServer({ gpus: '1xH100-80GB,1xA100-80GB:mig', budgetCheckMs: 100 });
    alice = String((await t.api('POST', '/v1/users', { name: 'alice', team: 'a' })).body['token']);
    bob = String((await t.api('POST', '/v1/users', { name: 'bob', team: 'b' })).body['token']);
    node = String(((await t.api('GET', '/v1/nodes')).body['items'] as { name: string }[])[0]?.name);
    assert.equal((await t.api('PUT', '/v1/prices/H100-80GB', { pricePerGpuHour: 2.49 })).status, 200);
    assert.equal((await t.api('PUT', '/v1/prices/a100-80gb', { pricePerGpuHour: 1.5 })).status, 200); // another spelling: stored under the catalog name
  });
  after(async () => {
    await t.close();
  });

  it('bills whole GPUs, shares and MIG slices by fraction; preempted work apart; every grouping adds up', async () => {
    const prices = (await t.api('GET', '/v1/prices', undefined, alice)).body['items'] as { model: string; pricePerGpuHour: number }[];
    assert.deepEqual(prices.map((p) => [p.model, p.pricePerGpuHour]), [['A100-80GB', 1.5], ['H100-80GB', 2.49]]);

    const submit = async (token: string, spec: Record<string, unknown>): Promise<string> => {
      const r = await t.api('POST', '/v1/jobs', job(spec), token);
      assert.equal(r.status, 201, r.text);
      return String(r.body['id']);
    };
    const half = await submit(alice, { name: 'half', command: 'sleep 1', resources: { gpu: 0.5, gpuModels: ['H100-80GB'] } });
    const mig = await submit(bob, { name: 'mig', command: 'sleep 1', resources: { mig: '3g.40gb' } });
    const ended = await Promise.all([half, mig].map((id) => waitState(t, id, ['succeeded'])));
    // The drained job: its first attempt is preempted, its second cancelled.
    const drained = await submit(alice, { name: 'drained', command: 'sleep 60', resources: { gpu: 1, gpuModels: ['H100-80GB'] } });
    await waitState(t, drained, ['running']);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await t.api('POST', `/v1/nodes/${node}/drain`)).status, 200);
    await waitFor('drained job requeued', async () => (await t.api('GET', `/v1/jobs/${drained}`)).body['preemptions'] === 1);
    assert.equal((await t.api('POST', `/v1/nodes/${node}/uncordon`)).status, 200);
    await waitFor('second attempt', async () => (await t.api('GET', `/v1/jobs/${drained}`)).body['attempts'] === 2);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await t.api('POST', `/v1/jobs/${drained}/cancel`)).status, 200);
    await waitState(t, drained, ['cancelled']);

    const byJob = await report('job');
    const line = (id: string): Line => byJob.items.find((l) => l.key === id) as Line;
    // A job of one attempt: its fraction times its run time, at its model's price, to the micro-unit.
    for (const [j, id, fraction, price] of [[ended[0] ?? {}, half, 0.5, 2.49], [ended[1] ?? {}, mig, 3 / 7, 1.5]] as const) {
      const ms = Date.parse(String(j['finishedAt'])) - Date.parse(String(j['startedAt']));
      assert.ok(Math.abs(line(id).gpuHours * 3600 - (fraction * ms) / 1000) < 1e-9, `${id}: ${line(id).gpuHours * 3600} GPU-s for ${ms} ms at ${fraction}`);
      assert.equal(micros(line(id).cost), Math.round((fraction * ms * price * 1e6) / 3_600_000));
    }
    const d = line(drained);
    assert.equal(d.attempts, 2);
    assert.ok(d.preemptedGpuHours > 0 && d.preemptedGpuHours < d.gpuHours, JSON.stringify(d));
    assert.ok(d.preemptedCost > 0);
    assert.equal(d.running, 0);

    // The sum over teams equals the sum over jobs (and over every other grouping) exactly.
    const totals = await Promise.all(['team', 'queue', 'user', 'model', 'job'].map((by) => report(by)));
    for (const r of totals) {
      assert.equal(micros(r.items.reduce((s, l) => s + l.cost, 0)), micros(r.total.cost), 'items add up to the total');
      assert.equal(micros(r.total.cost), micros(totals[0]?.total.cost ?? -1), 'every grouping has one total');
      assert.equal(r.total.attempts, 4);
    }
    const byModel = totals[3] as Report;
    assert.deepEqual(byModel.items.map((l) => l.key).sort(), ['A100-80GB', 'H100-80GB']);

    // A member sees their own team only.
    const mine = await report('team', bob);
    assert.deepEqual(mine.items.map((l) => l.key), ['b']);
    assert.equal(mine.scope, 'b');
    assert.equal((await report('job', bob)).items.some((l) => l.key === drained), false);

    // CSV-friendly limit: the most expensive job first, the rest counted as omitted.
    const top = await report('job', undefined, '&limit=1');
    assert.equal(top.items[0]?.key, drained);
    assert.equal(top.omitted, 2);
    assert.equal(micros(top.total.cost), micros(byJob.total.cost));

    // /metrics (admin view) counts ended attempts.
    const metrics = (await t.api('GET', '/metrics')).text;
    assert.match(metrics, /gantry_cost_total\{team="a",queue="default",model="H100-80GB"\} [0-9.]+/);
    assert.match(metrics, /gantry_gpu_seconds_total\{team="a",queue="default",model="H100-80GB",outcome="preempted"\} [0-9.]+/);
  });

  it('a hard budget holds new work (BUDGET_EXHAUSTED in explain), leaves running work, and lets go when raised', async () => {
    const long = String((await t.api('POST', '/v1/jobs', job({ name: 'long', command: 'sleep 60', resources: { gpu: 0.25, gpuModels: ['H100-80GB'] } }), bob)).body['id']);
    await waitState(t, long, ['running']);
    const set = await t.api('PUT', '/v1/budgets/team/b', { period: 'month', limit: 0, mode: 'hard' });
    assert.equal(set.status, 200, set.text);
    assert.equal(set.body['status'], 'exhausted');
    const held = String((await t.api('POST', '/v1/jobs', job({ name: 'held', command: 'sleep 1', resources: { gpu: 0.25, gpuModels: ['H100-80GB'] } }), bob)).body['id']);
    const explain = await waitFor('budget reason', async () => {
      const e = await t.api('GET', `/v1/jobs/${held}/explain`, undefined, bob);
      const r = (e.body['reasons'] as { kind: string; message: string }[] | undefined)?.find((x) => x.kind === 'budget');
      return r ?? null;
    });
    assert.match(explain.message, /^BUDGET_EXHAUSTED: team b spent [0-9.]+ of its monthly budget of 0.00/);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await t.api('GET', `/v1/jobs/${held}`)).body['state'], 'queued');
    assert.equal((await t.api('GET', `/v1/jobs/${long}`)).body['state'], 'running', 'running work is not stopped');
    // Another team's work is not held.
    const free = String((await t.api('POST', '/v1/jobs', job({ name: 'free', command: 'true', resources: { gpu: 0.25, gpuModels: ['H100-80GB'] } }), alice)).body['id']);
    await waitState(t, free, ['succeeded']);
    const audit = (await t.api('GET', '/v1/audit?limit=1000')).body['items'] as { action: string; target: string }[];
    assert.equal(audit.filter((a) => a.action === 'budget.exhausted' && a.target === 'team/b').length, 1, 'one event per period and status');

    const listed = (await t.api('GET', '/v1/budgets', undefined, alice)).body['items'] as unknown[];
    assert.equal(listed.length, 0, 'a member does not see another team\'s budget');
    assert.equal(((await t.api('GET', '/v1/budgets', undefined, bob)).body['items'] as { status: string }[])[0]?.status, 'exhausted');

    assert.equal((await t.api('PUT', '/v1/budgets/team/b', { period: 'month', limit: 1000, mode: 'hard' })).body['status'], 'ok');
    await waitState(t, held, ['succeeded']);
    assert.equal((await t.api('POST', `/v1/jobs/${long}/cancel`)).status, 200);
  });

  it('a soft budget warns once and holds nothing', async () => {
    const r = await t.api('PUT', '/v1/budgets/queue/default', { period: 'day', limit: 0 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body['status'], 'warning');
    const id = String((await t.api('POST', '/v1/jobs', job({ name: 'soft', command: 'true', resources: { gpu: 0.25, gpuModels: ['H100-80GB'] } }), alice)).body['id']);
    await waitState(t, id, ['succeeded']);
    const audit = (await t.api('GET', '/v1/audit?limit=1000')).body['items'] as { action: string; target: string }[];
    assert.equal(audit.filter((a) => a.action === 'budget.warn' && a.target === 'queue/default').length, 1);
    assert.equal((await t.api('DELETE', '/v1/budgets/queue/default')).status, 200);
  });

  it('refuses bad input with a stable code and changes nothing', async () => {
    const state = async (): Promise<string> => JSON.stringify([(await t.api('GET', '/v1/prices')).body, ((await t.api('GET', '/v1/budgets')).body['items'] as Record<string, unknown>[]).map((b) => ({ ...b, spent: 0 }))]);
    const before = await state();
    const cases: [string, string, unknown, number, string, string?][] = [
      ['PUT', '/v1/prices/Z900', { pricePerGpuHour: 1 }, 422, 'GPU_MODEL_UNKNOWN'],
      ['PUT', '/v1/prices/H100-80GB', { pricePerGpuHour: -1 }, 400, 'BODY_INVALID'],
      ['PUT', '/v1/prices/H100-80GB', { pricePerGpuHour: '2.49' }, 400, 'BODY_INVALID'],
      ['PUT', '/v1/prices/H100-80GB', { pricePerGpuHour: 1e12 }, 400, 'BODY_INVALID'],
      ['PUT', '/v1/prices/H100-80GB', { pricePerGpuHour: 1, currency: 'EUR' }, 400, 'BODY_INVALID'],
      ['PUT', '/v1/prices/H100-80GB', undefined, 400, 'BODY_INVALID'],
      ['PUT', '/v1/prices/H100-80GB', { pricePerGpuHour: 1 }, 403, 'FORBIDDEN', alice],
      ['GET', '/v1/cost?by=planet', undefined, 400, 'QUERY_INVALID'],
      ['GET', '/v1/cost?since=yesterday', undefined, 400, 'QUERY_INVALID'],
      ['GET', '/v1/cost?since=1d&until=2d', undefined, 422, 'WINDOW_INVALID'],
      ['GET', '/v1/cost?limit=0', undefined, 400, 'QUERY_INVALID'],
      ['GET', '/v1/cost?limit=1e9', undefined, 400, 'QUERY_INVALID'],
      ['GET', '/v1/cost?team=a', undefined, 400, 'QUERY_INVALID'],
      ['PUT', '/v1/budgets/team/ghost', { period: 'month', limit: 1 }, 404, 'TEAM_NOT_FOUND'],
      ['PUT', '/v1/budgets/queue/ghost', { period: 'month', limit: 1 }, 404, 'QUEUE_NOT_FOUND'],
      ['PUT', '/v1/budgets/planet/a', { period: 'month', limit: 1 }, 400, 'BAD_REQUEST'],
      ['PUT', '/v1/budgets/team/a', { period: 'year', limit: 1 }, 400, 'BODY_INVALID'],
      ['PUT', '/v1/budgets/team/a', { period: 'month', limit: -5 }, 400, 'BODY_INVALID'],
      ['PUT', '/v1/budgets/team/a', { period: 'month', limit: 1, mode: 'strict' }, 400, 'BODY_INVALID'],
      ['PUT', '/v1/budgets/team/a', { period: 'month', limit: 1 }, 403, 'FORBIDDEN', bob],
      ['DELETE', '/v1/budgets/team/a', undefined, 404, 'BUDGET_NOT_FOUND'],
      ['DELETE', '/v1/budgets/team/b', undefined, 403, 'FORBIDDEN', bob],
      ['POST', '/v1/cost', {}, 405, 'METHOD_NOT_ALLOWED'],
    ];
    for (const [method, path, body, status, code, token] of cases) {
      const r = await call(t.url, token ?? t.adminToken, method, path, body);
      assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
      assert.equal(r.body.error?.code, code, `${method} ${path}`);
      assert.doesNotMatch(r.text, /\n\s+at |FST_/);
    }
    assert.equal(await state(), before);
  });
});
