/**
 * Issue 12, burst on a fleet full of preemptible training, end to end in a real `gantry up`:
 * a checkpointing training job holds every GPU; a service at zero gets a burst of streamed
 * requests. Its replica takes the GPUs through the checkpoint protocol (core actions/surge.ts):
 * the training job is signalled, and stopped at the surge grace even though it declared a
 * 300 s grace and is younger than the minimum runtime. Targets: training yields within 30 s,
 * the service is Ready within 60 s of the burst, every request is answered. When the load
 * falls the service goes back to zero and the training job runs again from its checkpoint.
 * The figures are printed as test diagnostics (docs/benchmarks.md quotes them).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { startTestServer, killAllWorkers, waitUntil as until, type TestServer } from '../helpers/server.js';

type Row = Record<string, unknown>;
const BIN = resolve('bin/gantry.js');

/** Saves every 0.5 s; on SIGUSR1 it goes on without acknowledging (a save slower than any bound); SIGTERM stops it. */
const TRAINER = [
  'F="$GANTRY_CHECKPOINT_DIR/step"; S=0; [ -f "$F" ] && S=$(cat "$F")',
  'if [ "$S" -gt 0 ]; then echo "resumed from checkpoint at step $S"; else echo "starting fresh"; fi',
  'trap \'echo "asked to yield at step $S"\' USR1',
  "trap 'exit 143' TERM",
  'while :; do sleep 0.5; S=$((S+1)); echo $S > "$F.tmp"; mv "$F.tmp" "$F"; echo "{\\"step\\":$S,\\"checkpoint\\":true}" >> "$GANTRY_PROGRESS_FILE"; done',
].join('\n');

describe('a burst takes GPUs from preemptible training and gives them back', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ gpus: '2xH100-80GB', minRuntimeSeconds: 600, stopGraceSeconds: 5 });
  });
  after(async () => {
    killAllWorkers(t.server);
    await t.close();
  });

  it('training yields within 30 s, the service is Ready within 60 s, and training resumes after', async (ctx) => {
    // Only the service manager marks a job as a replica: a plain job may not claim to be one.
    const spoof = await t.api('POST', '/v1/jobs', { name: 'spoof', command: 'true', env: { GANTRY_SERVICE: 'chat' } });
    assert.equal(spoof.status, 400, spoof.text);
    assert.equal((spoof.body['error'] as Row)['code'], 'JOB_INVALID');
    const submitted = await t.api('POST', '/v1/jobs', {
      name: 'train', priority: 0, preemptible: true, command: TRAINER,
      resources: { cpu: '100m', memory: '256Mi', gpu: 2 }, checkpoint: { intervalSeconds: 1, graceSeconds: 300 },
    });
    assert.equal(submitted.status, 201, submitted.text);
    const id = String(submitted.body['id']);
    const job = async (): Promise<Row> => (await t.api('GET', `/v1/jobs/${id}`)).body;
    await until('training running and checkpointing', job, (j) => j['state'] === 'running' && Number((j['progress'] as Row | null)?.['step'] ?? 0) >= 4, 30_000);

    const created = await t.api('POST', '/v1/services', {
      kind: 'Service', name: 'chat', command: `${process.execPath} ${BIN} sim llm-server --port $PORT --drain-seconds 2`,
      resources: { cpu: '100m', memory: '256Mi', gpu: 1 }, replicas: { min: 0, max: 1 },
      autoscaler: { policy: 'gantry', stableSeconds: 6, panicSeconds: 4, scaleDownDelaySeconds: 4 }, drainSeconds: 2,
    });
    assert.equal(created.status, 201, created.text);
    const url = String(created.body['url']);
    const service = async (): Promise<Row> => (await t.api('GET', '/v1/services/chat')).body;

    // The burst: 8 streamed requests to a service at zero (held until a replica is Ready).
    const burstAt = Date.now();
    const answers = Array.from({ length: 8 }, async () => {
      const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'a burst of questions', max_tokens: 20, stream: true }) });
      return r.status === 200 && (await r.text()).endsWith('data: [DONE]\n\n');
    });
    // (It saves every 0.5 s, so it may be stopped between two reads of its state: no wait for 'preempting'.)
    const yielded = await until('training stopped for the replica', job, (j) => j['state'] !== 'preempting' && j['state'] !== 'running' && /preempted/.test(String(j['reason'])), 40_000);
    const yieldSeconds = (Date.now() - burstAt) / 1000;
    await until('a Ready replica', service, (s) => (s['replicas'] as Row)['ready'] === 1, 60_000);
    const readySeconds = (Date.now() - burstAt) / 1000;
    const ok = await Promise.all(answers);
    ctx.diagnostic(`training yielded ${yieldSeconds.toFixed(1)} s after the burst (state ${String(yielded['state'])}); service Ready ${readySeconds.toFixed(1)} s after it`);
    assert.ok(yieldSeconds <= 30, `training yielded within 30 s: ${yieldSeconds.toFixed(1)} s`);
    assert.ok(readySeconds <= 60, `service Ready within 60 s: ${readySeconds.toFixed(1)} s`);
    assert.equal(ok.filter(Boolean).length, 8, 'every request of the burst answered in full');

    // The load is gone: the service returns to zero and the training job gets its GPUs back.
    const fellAt = Date.now();
    await until('the service back at zero', service, (s) => (s['replicaList'] as Row[]).length === 0, 120_000);
    const back = await until('training running again', job, (j) => j['state'] === 'running', 60_000);
    ctx.diagnostic(`training running again ${((Date.now() - fellAt) / 1000).toFixed(1)} s after the load stopped`);
    assert.ok(Number(back['preemptions']) >= 1, 'the job was preempted, not failed');
    const logs = await until('the resumed attempt to report', async () => (await t.api('GET', `/v1/jobs/${id}/logs`)).text, (l) => /resumed from checkpoint at step [1-9]/.test(l), 20_000);
    assert.match(logs, /asked to yield at step [0-9]+/, 'the training job was signalled to save first');
    const e = await t.api('GET', `/v1/jobs/${id}`);
    assert.equal(e.body['state'], 'running');
  });
});
