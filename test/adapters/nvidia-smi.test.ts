/** nvidia-smi parsers on captures in the real formats (test/fixtures/nvidia-smi). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gpuSpecsFromRecords, parseListGpus, parseMigDeviceTable, parseMigInstances, parseMigProfiles, parseQueryGpu, parseTopology, queryGpus, QUERY_FIELDS_OLD, NvidiaSmiError } from '../../src/adapters/gpu/nvidia-smi.js';
import { parseGpuFlag, simulatedInventory, simulatedSample, discoverInventory } from '../../src/adapters/gpu/inventory.js';
import { LINK } from '../../src/core/model/node.js';
import { joinMigDevices, migDeviceUuid, MigDeviceError, simulatedMigUuid } from '../../src/adapters/gpu/mig-devices.js';

const fx = (name: string) => readFileSync(join(resolve('test/fixtures/nvidia-smi'), name), 'utf8');

describe('nvidia-smi --query-gpu', () => {
  it('parses an H100 box', () => {
    const gpus = parseQueryGpu(fx('query-gpu-h100.csv'));
    assert.equal(gpus.length, 4);
    assert.deepEqual({ ...gpus[0] }, { index: 0, uuid: 'GPU-5e6b8c1a-21f3-5d4e-9a7b-0c1d2e3f4a5b', name: 'NVIDIA H100 80GB HBM3', pciBusId: '00000000:18:00.0', memoryTotalMiB: 81559, memoryUsedMiB: 1024, utilizationGpu: 87, temperatureC: 63, powerW: 412.35, migEnabled: false, computeCap: '9.0', driverVersion: '550.54.15' });
    assert.deepEqual(gpuSpecsFromRecords(gpus).map((g) => g.model), ['H100-80GB', 'H100-80GB', 'H100-80GB', 'H100-80GB']);
  });
  it('reads [N/A] as unknown, and MIG mode', () => {
    const [mig, plain] = parseQueryGpu(fx('query-gpu-a100-mig.csv'));
    assert.equal(mig?.utilizationGpu, null);
    assert.equal(mig?.migEnabled, true);
    assert.equal(plain?.migEnabled, false);
    const [gb10] = parseQueryGpu(fx('query-gpu-gb10-na.csv'));
    assert.equal(gb10?.memoryTotalMiB, null);
    assert.equal(gb10?.powerW, null);
    assert.equal(gpuSpecsFromRecords(parseQueryGpu(fx('query-gpu-gb10-na.csv')))[0]?.memoryMiB, undefined);
  });
  it('retries without compute_cap on drivers that refuse it (470)', async () => {
    const calls: string[] = [];
    const records = await queryGpus(async (args) => {
      calls.push(args[0] ?? '');
      if (args[0]?.includes('compute_cap')) return { code: 2, stdout: fx('query-gpu-470-error.txt'), stderr: '' };
      return { code: 0, stdout: fx('query-gpu-t4-470.csv'), stderr: '' };
    });
    assert.equal(calls.length, 2);
    assert.equal(records?.[0]?.name, 'Tesla T4');
    assert.equal(records?.[0]?.computeCap, null);
    assert.equal(records?.[0]?.driverVersion, '470.182.03');
    assert.throws(() => parseQueryGpu(fx('query-gpu-470-error.txt')), NvidiaSmiError);
    assert.equal(parseQueryGpu(fx('query-gpu-t4-470.csv'), QUERY_FIELDS_OLD)[0]?.memoryTotalMiB, 15109);
  });
  it('telemetry still reads the other GPUs when one is lost (and it is absent); discovery refuses the output', async () => {
    const lost = fx('query-gpu-h100-lost.csv');
    assert.deepEqual(parseQueryGpu(lost, undefined, true).map((g) => g.index), [0, 2, 3]);
    assert.throws(() => parseQueryGpu(lost), NvidiaSmiError);
    const run = async () => ({ code: 15, stdout: lost, stderr: '' });
    assert.deepEqual((await queryGpus(run, true))?.map((g) => g.index), [0, 2, 3]);
    await assert.rejects(queryGpus(run), NvidiaSmiError);
    await assert.rejects(queryGpus(async () => ({ code: 15, stdout: 'Unable to determine the device handle for GPU0: 0000:18:00.0: GPU is lost.', stderr: '' }), true), NvidiaSmiError);
  });
  it('reports no GPUs when nvidia-smi is absent', async () => {
    const inv = await discoverInventory(async () => ({ code: 127, stdout: '', stderr: '' }), 'box');
    assert.equal(inv.node.gpus?.length, 0);
    assert.match(inv.summary, /no GPUs found/);
  });
});

describe('nvidia-smi topo -m', () => {
  it('maps NV#, PIX, PHB, SYS to link costs and ignores NIC rows and affinity columns', () => {
    const m = parseTopology(fx('topo-h100-nvlink.txt'));
    assert.equal(m.length, 4);
    assert.deepEqual(m[0], [LINK.SELF, LINK.NVLINK, LINK.NVLINK, LINK.NVLINK]);
    const p = parseTopology(fx('topo-pcie.txt'));
    assert.deepEqual(p, [[LINK.SELF, LINK.PHB], [LINK.PHB, LINK.SELF]]);
  });
});

describe('MIG listings', () => {
  it('parses -lgi placements', () => {
    assert.deepEqual(parseMigInstances(fx('mig-lgi.txt')), [
      { gpu: 0, profile: '1g.10gb', profileId: 19, instanceId: 9, start: 2, size: 1 },
      { gpu: 0, profile: '1g.10gb', profileId: 19, instanceId: 10, start: 3, size: 1 },
      { gpu: 0, profile: '3g.40gb', profileId: 9, instanceId: 2, start: 4, size: 4 },
    ]);
  });
  it('parses -lgip free/total and memory', () => {
    const p = parseMigProfiles(fx('mig-lgip.txt'));
    assert.equal(p.length, 7);
    assert.deepEqual(p.find((x) => x.profile === '1g.10gb+me'), { gpu: 0, profile: '1g.10gb+me', profileId: 20, free: 1, total: 1, memoryGiB: 9.75, sm: 14 });
    assert.equal(p.find((x) => x.profile === '3g.40gb')?.free, 0);
  });
  it('parses -L GPU and MIG UUIDs', () => {
    const l = parseListGpus(fx('list-gpus-mig.txt'));
    assert.equal(l.length, 2);
    assert.equal(l[0]?.mig.length, 3);
    assert.equal(l[0]?.mig[2]?.profile, '3g.40gb');
    assert.match(l[0]?.mig[2]?.uuid ?? '', /^MIG-/);
  });
});

describe('simulated inventory', () => {
  it('parses --gpus and marks everything simulated', () => {
    assert.equal(parseGpuFlag('8xH100-80GB', 'n').length, 8);
    const mixed = parseGpuFlag('2xA100-80GB:mig,1xL4', 'n');
    assert.deepEqual(mixed.map((g) => [g.model, g.migEnabled]), [['A100-80GB', true], ['A100-80GB', true], ['L4', false]]);
    const inv = simulatedInventory('4xH100-80GB', 'n');
    assert.equal(inv.node.simulated, true);
    assert.match(inv.summary, /simulated/);
    for (const bad of ['8xZ9000', 'lots', '0xH100-80GB', '1xL4:mig', '']) assert.throws(() => parseGpuFlag(bad, 'n'), /--gpus/);
  });
  it('models telemetry from the allocation', () => {
    const idle = simulatedSample({ index: 0, uuid: 'u', model: 'H100-80GB', memoryMiB: 81559 }, 0, 0, 0);
    const busy = simulatedSample({ index: 0, uuid: 'u', model: 'H100-80GB', memoryMiB: 81559 }, 1000, 40000, 0);
    assert.equal(idle.utilization, 0);
    assert.ok((busy.utilization ?? 0) >= 80 && (busy.powerW ?? 0) > (idle.powerW ?? 0) && (busy.temperatureC ?? 0) > (idle.temperatureC ?? 0));
    assert.equal(busy.memoryUsedMiB, 36000);
  });
});

describe('MIG device UUIDs (a100-mig: GPU 0 has 2g@0, 1g@2, 1g@3, 3g@4; device order differs from slot order)', () => {
  const a100 = (name: string): string => fx(join('a100-mig', name));
  it('parses the MIG devices table of plain nvidia-smi (not the processes table)', () => {
    assert.deepEqual(parseMigDeviceTable(a100('smi.txt')), [
      { gpu: 0, gpuInstance: 2, computeInstance: 0, device: 0 },
      { gpu: 0, gpuInstance: 3, computeInstance: 0, device: 1 },
      { gpu: 0, gpuInstance: 10, computeInstance: 0, device: 2 },
      { gpu: 0, gpuInstance: 9, computeInstance: 0, device: 3 },
    ]);
  });
  it('maps a placement (GPU, profile, start) to its device UUID through the GPU instance', () => {
    const devices = joinMigDevices(a100('list.txt'), a100('mig-lgi.txt'), a100('smi.txt'));
    const gpu = 'GPU-1a2b3c4d-0000-1111-2222-333344445555';
    assert.deepEqual(devices.map((d) => `${d.profile}@${d.start}`), ['2g.20gb@0', '1g.10gb@2', '1g.10gb@3', '3g.40gb@4']);
    // 1g@2 is GPU instance 9, which is MIG device 3 (not device 2, the second 1g listed).
    assert.equal(migDeviceUuid(devices, gpu, 0, '1g.10gb', 2), 'MIG-7c8d9e0f-1a2b-5c3d-8e4f-5a6b7c8d9e0f');
    assert.equal(migDeviceUuid(devices, gpu, 0, '1g.10gb', 3), 'MIG-6b7c8d9e-0f1a-5b2c-9d3e-4f5a6b7c8d9e');
    assert.equal(migDeviceUuid(devices, gpu, 0, '3g.40gb', 4), 'MIG-4f5a6b7c-8d9e-5f0a-9b1c-2d3e4f5a6b7c');
    assert.throws(() => migDeviceUuid(devices, gpu, 0, '1g.10gb', 6), (e: Error) => e instanceof MigDeviceError && /no MIG device 1g\.10gb at memory slice 6 on GPU 0 \(GPU-1a2b3c4d[^)]*\); nvidia-smi lists 2g\.20gb@0, 1g\.10gb@2, 1g\.10gb@3, 3g\.40gb@4 there/.test(e.message));
    assert.throws(() => migDeviceUuid(devices, 'GPU-2b3c4d5e-1111-2222-3333-444455556666', 1, '1g.10gb', 0), /lists none there/);
    assert.equal(simulatedMigUuid('GPU-sim-n-0', '3g.40gb', 4), 'MIG-SIM-sim-n-0-3g.40gb-4');
  });
  it('leaves out a device whose GPU instance nvidia-smi mig -lgi does not list', () => {
    const lgi = a100('mig-lgi.txt').split('\n').filter((l) => !/\s9\s+2:1/.test(l)).join('\n');
    assert.deepEqual(joinMigDevices(a100('list.txt'), lgi, a100('smi.txt')).map((d) => `${d.profile}@${d.start}`), ['2g.20gb@0', '1g.10gb@3', '3g.40gb@4']);
  });
  it('a real inventory offers the scheduler only the GPU instances that exist', async () => {
    const files: Record<string, string> = { '-L': 'list.txt', 'mig -lgi': 'mig-lgi.txt', '': 'smi.txt' };
    const inv = await discoverInventory(async (args) => {
      if (args[0]?.startsWith('--query-gpu')) return { code: 0, stdout: a100('query.csv'), stderr: '' };
      const f = files[args.join(' ')];
      return f ? { code: 0, stdout: a100(f), stderr: '' } : { code: 2, stdout: '', stderr: 'unsupported' };
    }, 'box');
    assert.deepEqual(inv.node.gpus?.[0]?.migLayout, [{ profile: '2g.20gb', start: 0 }, { profile: '1g.10gb', start: 2 }, { profile: '1g.10gb', start: 3 }, { profile: '3g.40gb', start: 4 }]);
    assert.equal(inv.node.gpus?.[1]?.migLayout, undefined);
    assert.equal(inv.migDevices?.length, 4);
    assert.match(inv.summary, /MIG instances GPU 0 2g\.20gb@0, GPU 0 1g\.10gb@2/);
  });
});
