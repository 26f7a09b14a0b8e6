/**
 * End to end: a long queue. The scheduler considers the first `--window` queued jobs of a queue;
 * the others wait in order, say so, are counted as pending, and all run in the end.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, waitState, job, type TestServer } from '../helpers/server.js';

describe('scheduling window (window of 2 on 8 simulated H100s)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ windowPerQueue: 2 });
  });
  after(async () => {
    await t.close();
  });

  it('backlogs queued jobs beyond the window, explains why, and runs them all in order', async () => {
    const node = ((await t.api('GET', '/v1/nodes')).body['items'] as { name: string }[])[0]?.name ?? '';
    assert.equal((await t.api('POST', `/v1/nodes/${node}/cordon`)).status, 200);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(String((await t.api('POST', '/v1/jobs', job({ name: `long-${i}`, resources: { gpu: 1 } }))).body['id']));

    const fifth = (await t.api('GET', `/v1/jobs/${ids[4]}`)).body;
    assert.equal(fifth['state'], 'queued');
    const waiting = fifth['waitingFor'] as { kind: string; message: string }[];
    assert.equal(waiting[0]?.kind, 'order');
    assert.match(waiting[0]?.message ?? '', /^4 queued job\(s\) of queue default go first; the scheduler considers the first 2 of each queue at a time$/);
    const explain = (await t.api('GET', `/v1/jobs/${ids[4]}/explain`)).body;
    assert.equal(explain['queuePosition'], 5);

    // Counted as pending although the scheduler holds only two of them.
    const queues = (await t.api('GET', '/v1/queues')).body['items'] as { name: string; pending: number; pendingGpus: number }[];
    const def = queues.find((q) => q.name === 'default');
    assert.equal(def?.pending, 5);
    assert.equal(def?.pendingGpus, 5);
    const metrics = (await t.api('GET', '/metrics')).text;
    assert.match(metrics, /gantry_queue_depth\{queue="default"\} 5/);

    // A higher-priority job goes before the backlog: the scheduler sees it at once.
    const urgent = String((await t.api('POST', '/v1/jobs', job({ name: 'urgent', priority: 5, resources: { gpu: 1 } }))).body['id']);
    const u = (await t.api('GET', `/v1/jobs/${urgent}`)).body;
    assert.ok(!((u['waitingFor'] as { message: string }[]).some((w) => /go first/.test(w.message))), 'the urgent job is not backlogged');

    // Cancelling windowed jobs moves the backlog up (the window now holds the urgent job too).
    assert.equal((await t.api('POST', `/v1/jobs/${ids[0]}/cancel`)).status, 200);
    assert.ok(((await t.api('GET', `/v1/jobs/${ids[2]}`)).body['waitingFor'] as { message: string }[]).some((w) => /go first/.test(w.message)), 'still a full window');
    assert.equal((await t.api('POST', `/v1/jobs/${ids[1]}/cancel`)).status, 200);
    const third = (await t.api('GET', `/v1/jobs/${ids[2]}`)).body;
    assert.ok(!((third['waitingFor'] as { message: string }[]).some((w) => /go first/.test(w.message))), 'the third job moved into the window');

    assert.equal((await t.api('POST', `/v1/nodes/${node}/uncordon`)).status, 200);
    for (const id of [urgent, ...ids.slice(2)]) assert.equal((await waitState(t, id, ['succeeded']))['state'], 'succeeded');
  });
});
