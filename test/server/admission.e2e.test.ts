/**
 * End to end: jobs the fleet could never run are refused at submission (UNSATISFIABLE, with
 * the numbers), bad values are JOB_INVALID, and a refused job leaves no trace.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpus, hostname, totalmem } from 'node:os';
import { startTestServer, job, type TestServer } from '../helpers/server.js';

describe('admission', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ gpus: '2xA100-80GB' });
  });
  after(async () => {
    await t.close();
  });

  const refused = async (body: Record<string, unknown>, status: number, code: string): Promise<string> => {
    const r = await t.api('POST', '/v1/jobs', job(body));
    assert.equal(r.status, status, r.text);
    assert.equal(r.body.error?.code, code, r.text);
    return r.body.error?.message ?? '';
  };

  it('a gang the fleet cannot hold at once', async () => {
    const msg = await refused({ workers: 4, resources: { gpu: 2 } }, 422, 'UNSATISFIABLE');
    assert.match(msg, /^the gang needs 4 workers of 2 GPUs; the fleet can hold at most 1 at once \(node [^:]+: 2 A100-80GB GPUs, \d+ CPU, [^)]+\); the job could never start$/);
  });

  it('CPU above every node\'s allocatable', async () => {
    const msg = await refused({ resources: { cpu: cpus().length + 1 } }, 422, 'UNSATISFIABLE');
    assert.equal(msg, `each worker asks for ${cpus().length + 1} CPU; the largest node has ${cpus().length} CPU allocatable (node ${hostname()}); the job could never start`);
  });

  it('memory above every node\'s allocatable', async () => {
    const mib = Math.floor(totalmem() / (1 << 20));
    const msg = await refused({ resources: { memory: `${mib + 1024}Mi` } }, 422, 'UNSATISFIABLE');
    assert.match(msg, /^each worker asks for .+ memory; the largest node has .+ allocatable \(node .+\); the job could never start$/);
  });

  it('a node selector that matches no node', async () => {
    const msg = await refused({ nodeSelector: { zone: 'mars' } }, 422, 'UNSATISFIABLE');
    assert.equal(msg, 'nodeSelector zone=mars matches no node (labels on the fleet: gantry.dev/simulated=true); the job could never start');
  });

  it('an unbounded expected duration and a share below 0.01 GPU are invalid', async () => {
    assert.match(await refused({ expectedDurationSeconds: 10 ** 12 }, 400, 'JOB_INVALID'), /expectedDurationSeconds: must be at most 31622400 \(366 days\)/);
    assert.match(await refused({ resources: { gpu: 0.005 } }, 400, 'JOB_INVALID'), /resources\.gpu: a GPU share must be at least 0\.01 GPU/);
  });

  it('jobs that fit are accepted, and refused ones left nothing behind', async () => {
    const ok = await t.api('POST', '/v1/jobs', job({ workers: 2, resources: { gpu: 1, cpu: '100m', memory: '64Mi' }, nodeSelector: { 'gantry.dev/simulated': 'true' }, command: 'sleep 30' }));
    assert.equal(ok.status, 201, ok.text);
    const list = await t.api('GET', '/v1/jobs');
    assert.equal((list.body['items'] as unknown[]).length, 1);
    await t.api('POST', `/v1/jobs/${String(ok.body['id'])}/cancel`);
  });

  it('a guarantee above the fleet is refused; guarantees adding up above it are saved with a warning', async () => {
    const big = await t.api('PUT', '/v1/queues/big', { guaranteedGpus: 3 });
    assert.equal(big.status, 422, big.text);
    assert.equal(big.body.error?.code, 'GUARANTEE_EXCEEDS_FLEET');
    assert.equal(big.body.error?.message, 'queue big: guaranteed 3 GPUs, but the fleet has 2 GPUs; lower --guaranteed to at most 2');
    assert.ok(!((await t.api('GET', '/v1/queues')).body['items'] as { name: string }[]).some((q) => q.name === 'big'), 'nothing stored');

    const over = await t.api('PUT', '/v1/queues/vision', { guaranteedGpus: 1 });
    assert.equal(over.status, 200, over.text);
    assert.deepEqual(over.body['warnings'], [{ code: 'GUARANTEES_OVERCOMMITTED', message: "top-level guarantees add up to 3 GPUs (default 2, vision 1) but the fleet has 2 GPUs, so they cannot all be honoured at once; lower queue default's guarantee to 1 (the first start gave it the whole fleet)" }]);
    const fixed = await t.api('PUT', '/v1/queues/default', { guaranteedGpus: 1 });
    assert.equal(fixed.status, 200, fixed.text);
    assert.equal(fixed.body['warnings'], undefined);
  });
});
