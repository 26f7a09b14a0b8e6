/**
 * End to end: a job that names an image runs as a container through the Docker Engine API.
 * No Docker daemon runs on this machine (only the client), so a stand-in speaks the Engine API
 * on a unix socket (test/helpers/docker-engine.ts); everything else is real: the server, the
 * store, the container runner process, signals and logs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, waitState, job, type TestServer } from '../helpers/server.js';
import { startDockerStandIn, type DockerStandIn } from '../helpers/docker-engine.js';

describe('containers through the Docker Engine API', () => {
  let t: TestServer;
  let docker: DockerStandIn;
  const saved = process.env.DOCKER_HOST;
  before(async () => {
    docker = await startDockerStandIn(join(mkdtempSync(join(tmpdir(), 'gantry-dockerd-')), 'docker.sock'));
    process.env.DOCKER_HOST = `unix://${docker.socket}`;
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
    await docker.close();
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
  });

  it('runs each worker of an image job as a container with the rank environment and its exit code', async () => {
    const r = await t.api('POST', '/v1/jobs', job({ name: 'boxed', image: 'pytorch/pytorch:2.4.0', workers: 2, resources: { gpu: 1 }, command: 'echo "rank=$RANK world=$WORLD_SIZE gpus=$CUDA_VISIBLE_DEVICES"; exit 0' }));
    assert.equal(r.status, 201, r.text);
    const id = String(r.body['id']);
    const done = await waitState(t, id, ['succeeded', 'failed']);
    assert.equal(done['state'], 'succeeded', JSON.stringify(done));
    const created = [...docker.containers.values()].filter((c) => (c.body['Labels'] as Record<string, string>)['gantry.dev/job'] === id);
    assert.equal(created.length, 2);
    for (const c of created) {
      assert.equal(c.body['Image'], 'pytorch/pytorch:2.4.0');
      const env = c.body['Env'] as string[];
      assert.ok(env.includes('WORLD_SIZE=2'), env.join(' '));
      assert.equal((c.body['HostConfig'] as Record<string, unknown>)['NetworkMode'], 'host');
      // The inventory is simulated: no devices are passed through, the environment names the GPU.
      assert.equal((c.body['HostConfig'] as Record<string, unknown>)['DeviceRequests'], undefined);
    }
    const log = (await t.api('GET', `/v1/jobs/${id}/logs?worker=1`)).text;
    assert.match(log, /rank=1 world=2 gpus=\S+/);
  });

  it('a failing container fails the job with its exit code; cancel stops a running container', async () => {
    const bad = await t.api('POST', '/v1/jobs', job({ name: 'bad', image: 'busybox', command: 'exit 7' }));
    const failed = await waitState(t, String(bad.body['id']), ['failed', 'succeeded']);
    assert.equal(failed['state'], 'failed');
    assert.equal(failed['exitCode'], 7);
    const long = await t.api('POST', '/v1/jobs', job({ name: 'long', image: 'busybox', command: 'trap "exit 0" TERM; while true; do sleep 0.1; done' }));
    const id = String(long.body['id']);
    await waitState(t, id, ['running']);
    await new Promise((res) => setTimeout(res, 500));
    const c = await t.api('POST', `/v1/jobs/${id}/cancel`);
    assert.ok(c.status < 300, c.text);
    const end = await waitState(t, id, ['cancelled', 'failed', 'succeeded']);
    assert.equal(end['state'], 'cancelled');
    assert.ok(docker.calls.some((x) => /\/stop\?t=\d+$/.test(x)), 'the container was stopped through the API');
  });
});
