/**
 * Rollouts end to end in a real `gantry up` server, replicas being real simulated LLM server
 * processes, under steady streamed load through the router: a good new revision (another env
 * value) is canaried and promoted with no 5xx and no stream cut; a slow one (time scale that
 * breaks the first-byte objective) and a failing one (answers 500) are rolled back on their own
 * and the old revision keeps serving.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { runCli } from '../helpers/gantry-process.js';
import { startTestServer, killAllWorkers, waitUntil as until, type TestServer } from '../helpers/server.js';

type Row = Record<string, unknown>;
const BIN = resolve('bin/gantry.js');
const SERVER = `${process.execPath} ${BIN} sim llm-server --port $PORT --drain-seconds 10`;
const FAILING = `${process.execPath} -e 'require("http").createServer((q, s) => { s.statusCode = q.url === "/health" ? 200 : 500; s.end("{}"); }).listen(process.env.PORT)'`;


describe('service rollouts in gantry up', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ gpus: '4xH100-80GB' });
  });
  after(async () => {
    killAllWorkers(t.server);
    await t.close();
  });

  it('promotes a good revision without a 5xx or a cut stream, and rolls back a slow one and a failing one', async (ctx) => {
    const base = {
      kind: 'Service',
      name: 'chat',
      command: `${SERVER} --time-scale 0.1`,
      env: { MODEL_VERSION: 'v1' },
      resources: { cpu: '100m', memory: '1Gi' },
      replicas: { min: 2, max: 2 },
      objective: { ttftP99Ms: 800 },
      autoscaler: { policy: 'kpa', targetInFlight: 1000 },
      routing: { policy: 'p2c' },
      rollout: { canaryPercent: 30, analysisSeconds: 3, minRequests: 10 },
      drainSeconds: 20,
    };
    const created = await t.api('POST', '/v1/services', base);
    assert.equal(created.status, 201, created.text);
    const url = String(created.body['url']);
    const v1 = String(created.body['revision']);
    const get = async (): Promise<Row> => (await t.api('GET', '/v1/services/chat')).body;
    await until('2 Ready replicas', get, (s) => (s['replicas'] as Row)['ready'] === 2, 30_000);

    let stop = false;
    const counts = { answered: 0, status5xx: 0, cut: 0 };
    const client = async (): Promise<void> => {
      while (!stop) {
        const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'tell me about canaries', max_tokens: 4, stream: true }) });
        const text = await r.text();
        if (r.status >= 500) counts.status5xx++;
        else if (r.status === 200 && text.endsWith('data: [DONE]\n\n')) counts.answered++;
        else counts.cut++;
      }
    };
    const clients = Array.from({ length: 8 }, () => client());
    const rollout = (s: Row): Row => (s['rollout'] ?? {}) as Row;

    // A good revision: another env value. Canary, analysis, promotion, old replicas drained.
    const goodAt = Date.now();
    const good = await t.api('POST', '/v1/services', { ...base, env: { MODEL_VERSION: 'v2' } });
    assert.equal(good.status, 200, good.text);
    const v2 = String(good.body['revision']);
    assert.notEqual(v2, v1, 'an env change is a new revision');
    const canary = await until('the canary taking requests', get, (s) => rollout(s)['phase'] === 'canary' && rollout(s)['canaryWeight'] === 30 && (rollout(s)['newRevision'] as Row)['requests'] as number > 0, 30_000);
    assert.equal(rollout(canary)['from'], v1);
    const done = await until('the promotion done', get, (s) => rollout(s)['phase'] === 'done', 60_000);
    assert.equal(done['revision'], v2);
    const promotedSeconds = (Date.now() - goodAt) / 1000;
    await until('2 Ready replicas of the new revision only', get, (s) => (s['replicaList'] as Row[]).length === 2 && (s['replicaList'] as Row[]).every((r) => r['revision'] === v2 && r['state'] === 'ready'), 30_000);
    assert.equal(counts.status5xx, 0, 'no 5xx during the promotion');
    assert.equal(counts.cut, 0, 'no stream cut during the promotion');
    const answeredBefore = counts.answered;

    // A slow revision: its first token comes after about 1.6 s (one decode step of 8 ms, times 200).
    const slowAt = Date.now();
    const slow = await t.api('POST', '/v1/services', { ...base, command: `${SERVER} --time-scale 200`, env: { MODEL_VERSION: 'v2' }, rollout: { ...base.rollout, minRequests: 5 } });
    const v3 = String(slow.body['revision']);
    const back = await until('the slow revision rolled back', get, (s) => rollout(s)['to'] === v3 && rollout(s)['phase'] === 'rolled-back', 60_000);
    const slowBackSeconds = (Date.now() - slowAt) / 1000;
    assert.match(String(rollout(back)['reason']), /p99 first byte .* > objective 800 ms/);
    assert.equal(back['revision'], v2, 'the previous revision is the service again');
    assert.match(String((back['spec'] as Row)['command']), /--time-scale 0\.1/, 'the previous spec is restored');
    assert.equal(counts.status5xx, 0, 'a slow canary answers slowly, not with errors');
    assert.equal(counts.cut, 0, 'no stream cut by the rollback');

    // A failing revision: 500 on every request; rolled back on its 5xx rate.
    const failingAt = Date.now();
    const answeredAtFailing = counts.answered;
    const failing = await t.api('POST', '/v1/services', { ...base, command: FAILING, env: { MODEL_VERSION: 'v2' } });
    const v4 = String(failing.body['revision']);
    const back2 = await until('the failing revision rolled back', get, (s) => rollout(s)['to'] === v4 && rollout(s)['phase'] === 'rolled-back', 60_000);
    const failingBackSeconds = (Date.now() - failingAt) / 1000;
    assert.match(String(rollout(back2)['reason']), /5xx rate .* > maxErrorRate 1%/);
    await until('only the previous revision left', get, (s) => (s['replicaList'] as Row[]).every((r) => r['revision'] === v2) && (s['replicas'] as Row)['ready'] === 2, 30_000);
    const errorsAfterRollback = counts.status5xx;
    const answeredDuringFailing = counts.answered - answeredAtFailing;
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(clients);
    // The canary gets 10 % of requests until it is rolled back: its 500s are about that share of
    // what was answered meanwhile (bounded loosely: a few dozen requests, and a loaded machine).
    const share = errorsAfterRollback / (errorsAfterRollback + answeredDuringFailing);
    assert.ok(errorsAfterRollback > 0 && share < 0.3, `the canary's 500s reached only its share of clients: ${errorsAfterRollback} of ${errorsAfterRollback + answeredDuringFailing}`);
    assert.equal(counts.status5xx, errorsAfterRollback, 'no 5xx once rolled back');
    assert.equal(counts.cut, 0);
    assert.ok(counts.answered > answeredBefore + 20, `the old revision kept serving: ${counts.answered} answered`);

    ctx.diagnostic(`good revision promoted ${promotedSeconds.toFixed(1)} s after apply; slow one rolled back after ${slowBackSeconds.toFixed(1)} s, failing one after ${failingBackSeconds.toFixed(1)} s (${errorsAfterRollback} 5xx reached clients); ${counts.answered} streams answered, ${counts.cut} cut`);
    const e = await t.api('GET', '/v1/services/chat/explain?limit=100');
    const reasons = (e.body['decisions'] as Row[]).map((d) => String(d['reason']));
    for (const step of [`rollout ${v1} -> ${v2}: canary:`, `rollout ${v1} -> ${v2}: canary Ready`, `rollout ${v1} -> ${v2}: promoting`, `rollout ${v1} -> ${v2}: promoted`, `rollout ${v2} -> ${v3}: rolled back`, `rollout ${v2} -> ${v4}: rolled back`]) {
      assert.ok(reasons.some((r) => r.startsWith(step)), `explain has "${step}": ${reasons.join(' | ')}`);
    }

    // The same through the CLI: gantry get svc/NAME and gantry serve explain NAME.
    const env = { GANTRY_URL: t.url, GANTRY_TOKEN: t.adminToken, GANTRY_DATA_DIR: join(t.dir, 'cli') };
    const shown = await runCli(['get', 'svc/chat'], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`revision ${v2}`));
    assert.match(shown.stdout, new RegExp(`rollout ${v2} -> ${v4} \\(canary\\): rolled-back, canary weight 0%`));
    const explained = await runCli(['serve', 'explain', 'chat', '--limit', '100'], env);
    assert.equal(explained.code, 0, explained.stderr);
    assert.match(explained.stdout, new RegExp(`rollout ${v2} -> ${v4}: rolled back: 5xx rate`));
  });
});
