/**
 * End to end: teams own queues with guarantees. A team may borrow idle GPUs from another's
 * guarantee; when the owner comes back, the scheduler reclaims them through the checkpoint
 * protocol, and the borrower's job is requeued and resumes later.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { startTestServer, waitFor, waitState, job, type TestServer } from '../helpers/server.js';

describe('queues owned by teams (2 simulated H100s)', () => {
  let t: TestServer;
  let vision = '';
  let speech = '';
  before(async () => {
    t = await startTestServer({ gpus: '2xH100-80GB' });
    vision = String((await t.api('POST', '/v1/users', { name: 'vic', team: 'vision' })).body['token']);
    speech = String((await t.api('POST', '/v1/users', { name: 'sam', team: 'speech' })).body['token']);
    assert.equal((await t.api('PUT', '/v1/queues/default', { guaranteedGpus: 0 })).status, 200);
    assert.equal((await t.api('PUT', '/v1/queues/vision', { team: 'vision', guaranteedGpus: 1 })).status, 200);
    assert.equal((await t.api('PUT', '/v1/queues/speech', { team: 'speech', guaranteedGpus: 1 })).status, 200);
  });
  after(async () => {
    await t.close();
  });

  it('lends idle GPUs and reclaims them with a checkpoint when their owner needs them', async () => {
    const train = (name: string) => ({
      ...job({ name, queue: 'vision', resources: { gpu: 1 }, command: 'node train.mjs', env: { STEPS: '150', STEP_MS: '40' }, checkpoint: { graceSeconds: 10 } }),
      workingDir: resolve('examples'),
    });
    const a = String((await t.api('POST', '/v1/jobs', train('borrower-a'), vision)).body['id']);
    const b = String((await t.api('POST', '/v1/jobs', train('borrower-b'), vision)).body['id']);
    await waitState(t, a, ['running']);
    await waitState(t, b, ['running']); // vision uses both GPUs: one is speech's, lent while idle
    for (const id of [a, b]) {
      await waitFor(`${id} to make progress`, async () => (((await t.api('GET', `/v1/jobs/${id}`)).body['progress'] as { step?: number } | null)?.step ?? 0) >= 5);
    }

    const queues = (await t.api('GET', '/v1/queues', undefined, speech)).body['items'] as { name: string; usedGpus: number }[];
    assert.equal(queues.find((q) => q.name === 'vision')?.usedGpus, 2);

    // The owner runs for a few seconds, so the borrower's reason is read while it waits
    // (once it runs again its reason becomes its attempt number).
    const s = String((await t.api('POST', '/v1/jobs', job({ name: 'owner', queue: 'speech', resources: { gpu: 1 }, command: 'sleep 4; echo mine' }), speech)).body['id']);
    const victims = await waitFor('a requeued borrower', async () => {
      const all = await Promise.all([a, b].map(async (id) => (await t.api('GET', `/v1/jobs/${id}`)).body));
      return all.find((j) => Number(j['preemptions']) === 1 && j['state'] !== 'running') ?? null;
    });
    assert.match(String(victims['reason']), /reclaimed for job-\d+/);
    const done = await waitState(t, s, ['succeeded'], 30_000);
    assert.equal(done['state'], 'succeeded');
    const log = (await t.api('GET', `/v1/jobs/${String(victims['id'])}/logs`)).text;
    assert.match(log, /preemption signal: saving a checkpoint/);
  });
});
