/**
 * End to end: per-GPU-model quotas through the API. A queue capped at one H100 runs one H100
 * job; the second waits with a reason naming the model while an L4 job of the same queue runs.
 * Bad quotas are refused with a stable code and change nothing; quotas survive a restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { killAllWorkers, startTestServer, tempDir, waitFor, waitState, job, type TestServer } from '../helpers/server.js';

type Item = Record<string, unknown>;

describe('per-GPU-model quotas (2 H100 + 2 L4, simulated)', () => {
  const dir = tempDir();
  let t: TestServer | null = null;
  const api = (method: string, path: string, body?: unknown) => (t as TestServer).api(method, path, body);
  const queue = async (name: string): Promise<Item | undefined> => ((await api('GET', '/v1/queues')).body['items'] as Item[]).find((q) => q['name'] === name);

  before(async () => {
    t = await startTestServer({ dataDir: dir, gpus: '2xH100-80GB,2xL4' });
    assert.equal((await api('PUT', '/v1/queues/default', { guaranteedGpus: 0 })).status, 200);
  });
  after(async () => {
    if (t) {
      killAllWorkers(t.server);
      await t.server.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses bad per-model quotas with a stable code and changes nothing', async () => {
    assert.equal((await api('PUT', '/v1/queues/org', { gpuModels: { H100: { guaranteedGpus: 1 } } })).status, 200, 'an alias is accepted');
    const before = JSON.stringify(await api('GET', '/v1/queues').then((r) => r.body));
    const refused: [unknown, number, string, RegExp][] = [
      [{ gpuModels: { 'Z900-1TB': { limitGpus: 1 } } }, 422, 'QUEUE_MODEL_QUOTA_INVALID', /unknown GPU model "Z900-1TB"/],
      [{ gpuModels: { 'H100-80GB': { limitGpus: -1 } } }, 400, 'BODY_INVALID', /limitGpus/],
      [{ gpuModels: { 'H100-80GB': { guaranteedGpus: 2, limitGpus: 1 } } }, 422, 'QUEUE_MODEL_QUOTA_INVALID', /guaranteed 2 H100-80GB GPUs, more than its H100-80GB limit of 1/],
      [{ gpuModels: { H100: { limitGpus: 1 }, 'H100-80GB': { limitGpus: 2 } } }, 422, 'QUEUE_MODEL_QUOTA_INVALID', /given twice/],
      [{ gpuModels: { 'H100-80GB': { guarantee: 1 } } }, 400, 'BODY_INVALID', /guarantee/],
      [{ parent: 'org', gpuModels: { 'H100-80GB': { guaranteedGpus: 2 } } }, 422, 'QUEUE_MODEL_QUOTA_INVALID', /queue org: its children are guaranteed 2 GPUs of H100-80GB, more than its own 1 GPU/],
      [{ limitGpus: 1, gpuModels: { L4: { guaranteedGpus: 2 } } }, 422, 'QUEUE_MODEL_QUOTA_INVALID', /more than its GPU limit of 1 GPU/],
      [{ gpuModels: { L4: { guaranteedGpus: 3 } } }, 422, 'GUARANTEE_EXCEEDS_FLEET', /guaranteed 3 GPUs of L4, but the fleet has 2 GPUs of it/],
    ];
    for (const [body, status, code, message] of refused) {
      const r = await api('PUT', '/v1/queues/team-x', body);
      const err = r.body['error'] as Item;
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(err['code'], code);
      assert.match(`${String(err['message'])} ${JSON.stringify(err['details'] ?? null)}`, message);
    }
    assert.equal(JSON.stringify(await api('GET', '/v1/queues').then((r) => r.body)), before, 'nothing changed');
  });

  it('holds a job over the model limit with a reason naming the model, while another model runs', async () => {
    const put = await api('PUT', '/v1/queues/team-a', { gpuModels: { 'H100-80GB': { guaranteedGpus: 1, limitGpus: 1 } } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const submit = async (name: string, model: string): Promise<string> =>
      String((await api('POST', '/v1/jobs', job({ name, queue: 'team-a', resources: { gpu: 1, gpuModels: [model], cpu: '100m', memory: '64Mi' }, command: 'sleep 60' }))).body['id']);
    const first = await submit('h100-first', 'H100-80GB');
    await waitState(t as TestServer, first, ['running']);
    const second = await submit('h100-second', 'H100-80GB');
    const l4 = await submit('l4', 'L4');
    await waitState(t as TestServer, l4, ['running']);
    const waiting = await waitFor('a wait reason for the second H100 job', async () => {
      const j = (await api('GET', `/v1/jobs/${second}`)).body;
      return j['state'] === 'queued' && (j['waitingFor'] as Item[]).length > 0 ? j : null;
    });
    assert.match(JSON.stringify(waiting['waitingFor']), /queue team-a limit reached: H100-80GB GPU 1 used \+ 1 asked > 1/);
    const q = await queue('team-a');
    assert.deepEqual(q?.['gpuModels'], { 'H100-80GB': { guaranteedGpus: 1, limitGpus: 1, usedGpus: 1 }, L4: { guaranteedGpus: null, limitGpus: null, usedGpus: 1 } });
  });

  // A job that names no model goes to a model under its limit, not to the model at it.
  it('places a job that names no model on a model under its limit', async () => {
    const free = String((await api('POST', '/v1/jobs', job({ name: 'any-model', queue: 'team-a', resources: { gpu: 1, cpu: '100m', memory: '64Mi' }, command: 'sleep 60' }))).body['id']);
    await waitState(t as TestServer, free, ['running'], 5_000);
  });

  it('keeps the quotas across a restart', async () => {
    await (t as TestServer).server.close(); // (not close(): that kills the workers and removes the folder)
    t = await startTestServer({ dataDir: dir, gpus: '2xH100-80GB,2xL4' });
    const q = await queue('team-a');
    assert.deepEqual((q?.['gpuModels'] as Item)['H100-80GB'], { guaranteedGpus: 1, limitGpus: 1, usedGpus: 1 });
    assert.deepEqual((await queue('org'))?.['gpuModels'], { 'H100-80GB': { guaranteedGpus: 1, limitGpus: null, usedGpus: 0 } });
  });
});
