/** End to end: a preempted job's log says it was preempted, and why, before the signal lands. */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, waitFor, waitState, job, type TestServer } from '../helpers/server.js';

let t: TestServer;
before(async () => {
  t = await startTestServer({ gpus: '1xH100-80GB' });
});
after(async () => {
  await t.close();
});

it('a preempted worker\'s log says "preempted" with the reason and the signal sent', async () => {
  const low = await t.api('POST', '/v1/jobs', job({ name: 'low', resources: { gpu: 1 }, command: 'echo started; sleep 60', checkpoint: { graceSeconds: 1 } }));
  const id = String(low.body['id']);
  await waitState(t, id, ['running']);
  const high = await t.api('POST', '/v1/jobs', job({ name: 'high', priority: 100, resources: { gpu: 1 }, command: 'echo high' }));
  await waitState(t, String(high.body['id']), ['succeeded'], 30_000);
  const log = await waitFor('the preemption line', async () => {
    const text = (await t.api('GET', `/v1/jobs/${id}/logs`)).text;
    return /--- gantry: stopped after the preemption/.test(text) ? text : null;
  });
  assert.match(log, /^started$/m);
  assert.match(log, new RegExp(`--- gantry: preempted \\(preempted for ${String(high.body['id'])}\\) at \\S+: SIGUSR1 to save a checkpoint within 1s, then SIGTERM; the job is requeued`));
  // The shell may add its own "User defined signal 1" in between; ours frames it.
  assert.match(log, /--- gantry: stopped after the preemption \((exit code 138, i\.e\. |signal )SIGUSR1\), as asked; requeued to resume from its checkpoint\n$/);
  const row = await t.api('GET', `/v1/jobs/${id}`);
  assert.equal(row.body['preemptions'], 1);
  await t.api('POST', `/v1/jobs/${id}/cancel`);
});
