/**
 * Per-service series on `/metrics` in a real `gantry up` server, the replica a real simulated
 * LLM server process: after streamed and plain requests through the router, the latency, first
 * token and inter-token histograms count them, in-flight, replica-state and decision series are
 * there, and `promtool check metrics` (when built) finds nothing wrong with them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { startTestServer, killAllWorkers, waitUntil, type TestServer } from '../helpers/server.js';

type Row = Record<string, unknown>;
const BIN = resolve('bin/gantry.js');
const found = spawnSync('bash', ['scripts/promtool/ensure-promtool.sh', '--check'], { encoding: 'utf8' });
const promtool = found.status === 0 ? found.stdout.trim() : null;

/** The value of one series line (exact labels, in the order rendered), or null. */
function series(text: string, line: string): number | null {
  const at = text.split('\n').find((l) => l.startsWith(`${line} `));
  return at === undefined ? null : Number(at.slice(line.length + 1));
}

describe('services on /metrics', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ gpus: '2xH100-80GB' });
  });
  after(async () => {
    killAllWorkers(t.server);
    await t.close();
  });

  it('exposes request, first-token and inter-token histograms, in-flight and replica states per service', async () => {
    const created = await t.api('POST', '/v1/services', {
      kind: 'Service',
      name: 'chat',
      command: `${process.execPath} ${BIN} sim llm-server --port $PORT --time-scale 0.1`,
      resources: { cpu: '100m', memory: '1Gi' },
      replicas: { min: 1, max: 1 },
      routing: { policy: 'load-prefix' },
    });
    assert.equal(created.status, 201, created.text);
    const url = String(created.body['url']);
    const revision = String(created.body['revision']);
    await waitUntil('a Ready replica', async () => (await t.api('GET', '/v1/services/chat')).body, (s) => ((s['replicas'] as Row)['ready'] as number) === 1, 30_000);

    const streamed = 5;
    for (let i = 0; i < streamed; i++) {
      const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'a shared system prompt that is long enough to fill a block or two of tokens, then question ' + i, max_tokens: 4, stream: true }) });
      assert.ok((await r.text()).endsWith('data: [DONE]\n\n'));
    }
    const plain = await fetch(`${url}/v1/models`);
    assert.equal(plain.status, 200);
    await plain.text();

    const text = (await t.api('GET', '/metrics')).text;
    const labels = `service="chat",revision="${revision}"`;
    assert.equal(series(text, `gantry_service_e2e_request_latency_seconds_count{${labels}}`), streamed + 1, 'every request counted in the latency histogram');
    assert.equal(series(text, `gantry_service_time_to_first_token_seconds_count{${labels}}`), streamed, 'streamed requests have a first token');
    assert.equal(series(text, `gantry_service_time_to_first_token_seconds_bucket{${labels},le="+Inf"}`), streamed);
    assert.ok((series(text, `gantry_service_inter_token_latency_seconds_count{${labels}}`) ?? 0) >= streamed, 'chunks after the first are timed');
    assert.equal(series(text, `gantry_service_requests_total{${labels},code="200"}`), streamed + 1);
    assert.equal(series(text, 'gantry_service_replicas{service="chat",state="ready"}'), 1);
    assert.equal(series(text, 'gantry_service_replicas{service="chat",state="draining"}'), 0);
    assert.equal(series(text, 'gantry_service_num_requests_waiting{service="chat"}'), 0);
    assert.match(text, /gantry_service_num_requests_running\{service="chat",replica="chat-r1",revision="\w+"\} 0/);
    assert.equal(series(text, 'gantry_service_router_decisions_total{service="chat",decision="routed"}'), streamed + 1);
    assert.ok((series(text, 'gantry_service_router_decisions_total{service="chat",decision="prefix_affinity"}') ?? 0) >= streamed - 1, 'the shared prompt went by prefix affinity after the first');
    assert.equal(series(text, 'gantry_service_desired_replicas{service="chat"}'), 1);
    assert.match(text, /# TYPE gantry_service_scale_decisions_total counter/);

    if (promtool) {
      const ours = text.split('\n').filter((l) => l.includes('gantry_service_')).join('\n') + '\n';
      const out = spawnSync(promtool, ['check', 'metrics'], { input: ours, encoding: 'utf8' });
      assert.equal(`${out.stdout}${out.stderr}`.trim(), '', 'promtool check metrics finds nothing in the service series');
      assert.equal(out.status, 0);
    }
  });
});
