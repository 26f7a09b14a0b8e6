/**
 * End to end in a real `gantry up` server: a service whose replicas are real simulated LLM
 * server processes (gantry sim llm-server) started as jobs; streamed load through the router
 * makes the autoscaler scale it out, and when the load stops it scales back in, with every
 * request answered and every decision recorded with its reason.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { startTestServer, killAllWorkers, waitUntil as until, type TestServer } from '../helpers/server.js';

type Row = Record<string, unknown>;
const BIN = resolve('bin/gantry.js');


describe('service autoscaling in gantry up', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ gpus: '4xH100-80GB' });
  });
  after(async () => {
    killAllWorkers(t.server);
    await t.close();
  });

  it('scales out under streamed load and back in when it stops', async () => {
    const spec = {
      kind: 'Service',
      name: 'chat',
      command: `${process.execPath} ${BIN} sim llm-server --port $PORT --drain-seconds 5`,
      resources: { cpu: '100m', memory: '1Gi' },
      replicas: { min: 1, max: 3 },
      autoscaler: { policy: 'kpa', targetInFlight: 2, stableSeconds: 8, panicSeconds: 4 },
      routing: { policy: 'p2c' },
      drainSeconds: 5,
    };
    const created = await t.api('POST', '/v1/services', spec);
    assert.equal(created.status, 201, created.text);
    const url = String(created.body['url']);
    const get = async (): Promise<Row> => (await t.api('GET', '/v1/services/chat')).body;
    await until('a Ready replica', get, (s) => (s['replicas'] as Row)['ready'] === 1, 30_000);

    let stop = false;
    let answered = 0;
    let failed = 0;
    const client = async (): Promise<void> => {
      while (!stop) {
        const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'tell me a story about gpus', max_tokens: 40, stream: true }) });
        const text = await r.text();
        if (r.status === 200 && text.endsWith('data: [DONE]\n\n')) answered++;
        else failed++;
      }
    };
    const clients = Array.from({ length: 8 }, () => client());
    const out = await until('scale-out to 3 Ready replicas', get, (s) => (s['replicas'] as Row)['ready'] === 3, 60_000);
    assert.equal((out['replicaList'] as Row[]).length, 3);
    stop = true;
    await Promise.all(clients);
    await until('scale-in to 1 replica', get, (s) => (s['replicas'] as Row)['desired'] === 1 && (s['replicaList'] as Row[]).length === 1, 90_000);
    assert.ok(answered > 20, `streams answered: ${answered}`);
    assert.equal(failed, 0, 'no stream failed or was cut by scale-out or scale-in');

    const e = await t.api('GET', '/v1/services/chat/explain?limit=500');
    const decisions = e.body['decisions'] as Row[];
    assert.ok(decisions.some((d) => Number(d['desired']) > Number(d['current']) && /panic|stable/.test(String(d['reason']))), 'a scale-out decision with its reason');
    assert.ok(decisions.some((d) => Number(d['desired']) < Number(d['current'])), 'a scale-in decision');
    const jobs = (await t.api('GET', '/v1/jobs?limit=50')).body['items'] as Row[];
    assert.ok(jobs.filter((j) => /^chat-r[0-9]+$/.test(String(j['name']))).length >= 3, 'replicas ran as jobs NAME-rN');

    const rm = await t.api('DELETE', '/v1/services/chat');
    assert.equal(rm.status, 200);
    await until('the service gone', async () => (await t.api('GET', '/v1/services/chat')).status, (s) => s === 404, 30_000);
  });
});
