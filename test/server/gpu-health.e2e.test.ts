/**
 * GPU health against a real `gantry up` whose inventory is "real" (a stand-in nvidia-smi on
 * PATH prints captures in nvidia-smi's formats, which the test changes): an admin's word is
 * kept across restarts and telemetry does not overwrite it; a GPU that disappears from
 * nvidia-smi leaves scheduling, and its job is checkpointed, stopped and requeued without a
 * retry, then runs again on another GPU.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, waitFor, job } from '../helpers/server.js';
import { fixture, gantryUp, standInGpuTools, started } from '../helpers/gantry-process.js';

const root = tempDir('gantry-gpuhealth-');
// Jobs run as their own uids (as root): they must pass through the test's folder to their workspace.
chmodSync(root, 0o711);
after(() => {
  for (const c of started) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

interface GpuView {
  index: number;
  uuid: string;
  healthy: boolean;
  health: { admin: boolean; present: boolean };
}

describe('GPU health', () => {
  it('keeps admin health, and requeues the job of a GPU that disappears from its checkpoint, without a retry', async () => {
    const tools = standInGpuTools(root, ['nvidia-smi']);
    const query = fixture('query-gpu-h100.csv');
    writeFileSync(join(tools.smiDir, 'query.csv'), query);
    const dir = join(root, 'data');
    // Job folders live in the team workspace (the data dir is the server's private state).
    const work = join(root, 'work');
    let g = await gantryUp(dir, ['--workspace', work], tools.env);
    assert.match(g.output(), /4x H100-80GB \(driver 550\.54\.15\)/);
    const node = async () => ((await g.api('GET', '/v1/nodes')).body['items'] as { name: string; gpus: GpuView[] }[])[0] as { name: string; gpus: GpuView[] };
    const nodeName = (await node()).name;
    assert.equal((await node()).gpus.length, 4);

    // The admin takes GPU 3 out; telemetry (which still sees it) must not put it back.
    const h = await g.api('POST', `/v1/nodes/${nodeName}/gpus/3/health`, { healthy: false });
    assert.equal(h.status, 200, h.text);

    const command = 'trap \'echo saved > "$GANTRY_CHECKPOINT_DIR/ckpt"; touch "$GANTRY_CHECKPOINT_ACK_FILE"\' USR1; echo "on $CUDA_VISIBLE_DEVICES"; while :; do sleep 0.1; done';
    const sub = await g.api('POST', '/v1/jobs', job({ name: 'trainer', resources: { gpu: 1, cpu: '100m', memory: '64Mi' }, checkpoint: { graceSeconds: 10 }, command }));
    assert.equal(sub.status, 201, sub.text);
    const id = String(sub.body['id']);
    const first = await waitFor('the job running', async () => {
      const j = (await g.api('GET', `/v1/jobs/${id}`)).body;
      return j['state'] === 'running' && (j['processes'] as unknown[]).length === 1 ? j : null;
    });
    const gpuOf = (j: Record<string, unknown>): number => ((j['placement'] as { gpus: { index: number }[] }[])[0]?.gpus[0]?.index ?? -1);
    const lostGpu = gpuOf(first);
    assert.notEqual(lostGpu, 3, 'an unhealthy GPU was given to a job');

    // The GPU falls off the bus: nvidia-smi reads the others, says it lost this one, exits non-zero.
    const lostLine = `Unable to determine the device handle for GPU${lostGpu}: 0000:2A:00.0: GPU is lost.  Reboot the system to recover this GPU`;
    writeFileSync(join(tools.smiDir, 'query.csv'), query.split('\n').map((l) => (l.startsWith(`${lostGpu}, `) ? lostLine : l)).join('\n'));
    writeFileSync(join(tools.smiDir, 'query.exit'), '15');
    const again = await waitFor('the job requeued and running on another GPU', async () => {
      const j = (await g.api('GET', `/v1/jobs/${id}`)).body;
      return j['state'] === 'running' && Number(j['attempts']) === 2 && (j['processes'] as unknown[]).length === 1 ? j : null;
    }, 30_000);
    assert.equal(again['retries'], 0, 'the loss of a GPU spent a retry');
    assert.equal(again['preemptions'], 1);
    assert.ok(![lostGpu, 3].includes(gpuOf(again)), `runs on GPU ${gpuOf(again)}`);
    assert.equal(readFileSync(join(work, 'default', 'jobs', id, 'checkpoints', 'ckpt'), 'utf8').trim(), 'saved', 'the job was asked to checkpoint before it was stopped');
    let gpus = (await node()).gpus;
    const newUuid = gpus[gpuOf(again)]?.uuid ?? '?';
    await waitFor('the second attempt to see its new GPU', async () => ((await g.api('GET', `/v1/jobs/${id}/logs`)).text.includes(`attempt 2`) && (await g.api('GET', `/v1/jobs/${id}/logs`)).text.includes(`on ${newUuid}`) ? true : null));
    assert.deepEqual(gpus[lostGpu]?.health, { admin: true, present: false });
    assert.equal(gpus[lostGpu]?.healthy, false);
    assert.deepEqual(gpus[3]?.health, { admin: false, present: true }, 'telemetry overwrote the admin');
    assert.equal(gpus[3]?.healthy, false);

    // The GPU comes back: schedulable again. A restart keeps the admin's word.
    writeFileSync(join(tools.smiDir, 'query.csv'), query);
    rmSync(join(tools.smiDir, 'query.exit'));
    await waitFor('the GPU back', async () => ((await node()).gpus[lostGpu]?.healthy ? true : null), 10_000);
    await g.api('POST', `/v1/jobs/${id}/cancel`);
    await waitFor('the job cancelled', async () => ((await g.api('GET', `/v1/jobs/${id}`)).body['state'] === 'cancelled' ? true : null));
    await g.stop();
    g = await gantryUp(dir, ['--workspace', work], tools.env);
    gpus = (await node()).gpus;
    assert.deepEqual(gpus[3]?.health, { admin: false, present: true }, 'the admin health was not kept across a restart');
    assert.equal(gpus[3]?.healthy, false);
    assert.equal(gpus[lostGpu]?.healthy, true);
    assert.ok(existsSync(join(tools.smiDir, 'calls.log')));
    await g.stop();
  });
});
