/**
 * What a worker sees of its GPUs: real MIG device UUIDs (never a made-up one on real
 * hardware), `MIG-SIM-...` on a simulated inventory, and for a share the MPS limits plus the
 * folders of its GPU's MPS daemon.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NodeState, type NodeSpec } from '../../src/core/model/node.js';
import { validateJobFile } from '../../src/spec/job-spec.js';
import { workerEnv, type GpuDevices } from '../../src/server/worker-env.js';
import type { JobRow } from '../../src/adapters/store/store.js';
import type { Binding } from '../../src/core/model/cluster.js';

const paths = { checkpointDir: '/c', ackFile: '/a', progressFile: '/p' };

function row(): JobRow {
  const spec = validateJobFile({ name: 'w', command: 'true' });
  return { id: 'job-1', seq: 1, name: 'w', team: 't', owner: 'o', queue: 'default', spec, submittedAt: 0, state: 'running', reason: null, startedAt: 0, finishedAt: null, attempts: 1, retries: 0, preemptions: 0, notBefore: 0, bindings: null, workers: [], exitCode: null, lastCheckpointAt: null, progress: null, idempotencyKey: null, requestHash: null };
}

function node(simulated: boolean, mig: boolean): NodeState {
  const spec: NodeSpec = { name: 'n', cpuMilli: 8000, memoryMiB: 65536, gpus: [{ uuid: 'GPU-aaaa', model: 'A100-80GB', migEnabled: mig }], sharingMode: 'mps', ...(simulated ? { simulated: true } : {}) };
  return new NodeState(spec);
}

const migBinding: Binding[] = [{ podId: 'job-1/0', node: 'n', cpuMilli: 100, memoryMiB: 64, gpus: [{ gpu: 0, milli: 0, memoryMiB: 0, mig: { profile: '3g.40gb', start: 4 } }] }];
const shareBinding: Binding[] = [{ podId: 'job-1/0', node: 'n', cpuMilli: 100, memoryMiB: 64, gpus: [{ gpu: 0, milli: 250, memoryMiB: 20480 }] }];

describe('worker environment: GPU devices', () => {
  it('gives a MIG worker the device UUID at its placement on real hardware', () => {
    const asked: string[] = [];
    const devices: GpuDevices = {
      migUuid: (n, gpu, profile, start) => {
        asked.push(`${n} ${gpu.index} ${gpu.uuid} ${profile}@${start}`);
        return 'MIG-5a6b7c8d-9e0f-5a1b-8c2d-3e4f5a6b7c8d';
      },
      mps: () => null,
    };
    const env = workerEnv(row(), migBinding, 0, node(false, true), paths, {}, devices);
    assert.equal(env['CUDA_VISIBLE_DEVICES'], 'MIG-5a6b7c8d-9e0f-5a1b-8c2d-3e4f5a6b7c8d');
    assert.equal(env['NVIDIA_VISIBLE_DEVICES'], 'MIG-5a6b7c8d-9e0f-5a1b-8c2d-3e4f5a6b7c8d');
    assert.deepEqual(asked, ['n 0 GPU-aaaa 3g.40gb@4']);
  });
  it('refuses to start a MIG worker on real hardware when no device is there (never a made-up UUID)', () => {
    const devices: GpuDevices = {
      migUuid: () => {
        throw new Error('no MIG device 3g.40gb at memory slice 4 on GPU 0');
      },
      mps: () => null,
    };
    assert.throws(() => workerEnv(row(), migBinding, 0, node(false, true), paths, {}, devices), /no MIG device 3g\.40gb at memory slice 4/);
    assert.throws(() => workerEnv(row(), migBinding, 0, node(false, true), paths, {}), /MIG device UUIDs are not known/);
  });
  it('names a simulated MIG device as simulated', () => {
    const env = workerEnv(row(), migBinding, 0, node(true, true), paths, {});
    assert.equal(env['CUDA_VISIBLE_DEVICES'], 'MIG-SIM-aaaa-3g.40gb-4');
  });
  it('points a share at its GPU daemon, with its limits', () => {
    const env = workerEnv(row(), shareBinding, 0, node(false, false), paths, {}, { migUuid: () => '', mps: (_n, uuid) => ({ pipe: `/s/mps/${uuid}/pipe`, log: `/s/mps/${uuid}/log` }) });
    assert.equal(env['CUDA_VISIBLE_DEVICES'], 'GPU-aaaa');
    assert.equal(env['CUDA_MPS_PIPE_DIRECTORY'], '/s/mps/GPU-aaaa/pipe');
    assert.equal(env['CUDA_MPS_LOG_DIRECTORY'], '/s/mps/GPU-aaaa/log');
    assert.equal(env['CUDA_MPS_ACTIVE_THREAD_PERCENTAGE'], '25');
    assert.equal(env['CUDA_MPS_PINNED_DEVICE_MEM_LIMIT'], '0=20480M');
    const noDaemon = workerEnv(row(), shareBinding, 0, node(true, false), paths, {});
    assert.equal(noDaemon['CUDA_MPS_PIPE_DIRECTORY'], undefined, 'no daemon, no pipe folder');
    assert.equal(noDaemon['CUDA_MPS_ACTIVE_THREAD_PERCENTAGE'], '25');
  });
});
