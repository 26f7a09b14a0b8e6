/**
 * GPU devices against a real `gantry up` with stand-in NVIDIA tools on PATH (test/fixtures/bin):
 * MIG workers get the UUID of the MIG device at their placement, and GPU shares run under one
 * MPS control daemon per GPU, started before the first share and stopped after the last one
 * (also across a restart of the server). Without the MPS program the banner says MPS is not
 * enforced.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, waitFor, job } from '../helpers/server.js';
import { fixture, gantryUp, standInGpuTools, started, type GantryProcess } from '../helpers/gantry-process.js';

const roots: string[] = [];
after(() => {
  for (const c of started) c.kill('SIGKILL');
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function root(): string {
  const r = tempDir('gantry-gpudev-');
  // Jobs run as their own uids (as root): they must pass through the test's folder to their workspace.
  chmodSync(r, 0o711);
  roots.push(r);
  return r;
}

interface Placement {
  gpus: { index: number; uuid: string; milli: number; mig?: { profile: string; start: number } }[];
}

async function jobView(g: GantryProcess, id: string): Promise<Record<string, unknown>> {
  return (await g.api('GET', `/v1/jobs/${id}`)).body;
}

async function waitJob(g: GantryProcess, id: string, state: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  return waitFor(`${id} ${state}`, async () => {
    const j = await jobView(g, id);
    return j['state'] === state ? j : null;
  }, timeoutMs);
}

async function submit(g: GantryProcess, body: Record<string, unknown>): Promise<string> {
  const r = await g.api('POST', '/v1/jobs', job(body));
  assert.equal(r.status, 201, r.text);
  return String(r.body['id']);
}

/** The worker's log line `KEY=value` pairs printed by `env`. */
async function envOf(g: GantryProcess, id: string): Promise<Record<string, string>> {
  const text = (await g.api('GET', `/v1/jobs/${id}/logs`)).text;
  return Object.fromEntries(text.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

interface MpsCall {
  args: string;
  cuda_visible_devices: string;
  pipe: string;
  log: string;
  stdin: string;
}

function mpsCalls(file: string): MpsCall[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as MpsCall) : [];
}

describe('GPU devices of a real inventory', () => {
  it('gives each MIG worker the UUID of the MIG device at its placement', async () => {
    const r = root();
    const tools = standInGpuTools(r, ['nvidia-smi']);
    cpSync('test/fixtures/nvidia-smi/a100-mig', tools.smiDir, { recursive: true });
    const g = await gantryUp(join(r, 'data'), [], tools.env);
    assert.match(g.output(), /MIG instances GPU 0 2g\.20gb@0, GPU 0 1g\.10gb@2, GPU 0 1g\.10gb@3, GPU 0 3g\.40gb@4/);
    assert.match(g.output(), /shares: MPS limits are set in each share's environment but not enforced \(nvidia-cuda-mps-control not on PATH\)/);
    // From a100-mig/{mig-lgi,smi,list}.txt: GPU instance -> MIG device index -> UUID.
    const expected: Record<string, string> = {
      '2g.20gb@0': 'MIG-5a6b7c8d-9e0f-5a1b-8c2d-3e4f5a6b7c8d',
      '1g.10gb@2': 'MIG-7c8d9e0f-1a2b-5c3d-8e4f-5a6b7c8d9e0f',
      '1g.10gb@3': 'MIG-6b7c8d9e-0f1a-5b2c-9d3e-4f5a6b7c8d9e',
      '3g.40gb@4': 'MIG-4f5a6b7c-8d9e-5f0a-9b1c-2d3e4f5a6b7c',
    };
    const ids = [];
    for (const mig of ['3g.40gb', '1g.10gb', '1g.10gb', '2g.20gb', '1g.10gb']) ids.push(await submit(g, { name: `mig-${ids.length}`, resources: { mig }, command: 'env; sleep 4' }));
    const seen = new Set<string>();
    for (const id of ids.slice(0, 4)) {
      const j = await waitJob(g, id, 'running');
      const m = (j['placement'] as Placement[])[0]?.gpus[0]?.mig;
      const key = `${m?.profile ?? '?'}@${m?.start ?? '?'}`;
      assert.ok(key in expected, `placed at ${key}, where no GPU instance exists`);
      seen.add(key);
      await waitFor(`${id} logged its env`, async () => ((await envOf(g, id))['CUDA_VISIBLE_DEVICES'] !== undefined ? true : null));
      assert.equal((await envOf(g, id))['CUDA_VISIBLE_DEVICES'], expected[key]);
    }
    assert.equal(seen.size, 4);
    // Only two 1g.10gb instances exist: the third waits for one, then gets one of those two UUIDs.
    assert.equal((await jobView(g, ids[4] as string))['state'], 'queued');
    await waitJob(g, ids[4] as string, 'succeeded');
    assert.ok([expected['1g.10gb@2'], expected['1g.10gb@3']].includes((await envOf(g, ids[4] as string))['CUDA_VISIBLE_DEVICES']));
    await g.stop();
  });

  it('runs one MPS control daemon per GPU holding shares, and stops it when the shares are gone', async () => {
    const r = root();
    const tools = standInGpuTools(r, ['nvidia-smi', 'nvidia-cuda-mps-control']);
    writeFileSync(join(tools.smiDir, 'query.csv'), fixture('query-gpu-h100.csv'));
    const data = join(r, 'data');
    // MPS folders live in the team workspace (job uids must reach the pipes), not in the data dir.
    const work = join(r, 'work');
    let g = await gantryUp(data, ['--workspace', work], tools.env);
    assert.match(g.output(), /shares: MPS, one control daemon per GPU holding shares/);
    assert.deepEqual(mpsCalls(tools.mpsLog), [], 'no daemon before any share');

    const whole = await submit(g, { name: 'whole', resources: { gpu: 1 }, command: 'env; sleep 1' });
    const shares = [];
    for (let i = 0; i < 3; i++) shares.push(await submit(g, { name: `share-${i}`, resources: { gpu: 0.5, gpuMemory: '20Gi' }, command: 'env; sleep 3' }));
    const gpusOf = async (id: string) => ((await waitJob(g, id, 'running'))['placement'] as Placement[])[0]?.gpus ?? [];
    const shared = new Set<string>();
    for (const id of shares) for (const x of await gpusOf(id)) shared.add(x.uuid);
    const wholeGpu = (await gpusOf(whole))[0]?.uuid ?? '';
    assert.ok(!shared.has(wholeGpu));

    // One `-d` per GPU with shares, each with its GPU and its own folders; none for the whole GPU.
    const starts = mpsCalls(tools.mpsLog).filter((c) => c.args === '-d');
    assert.deepEqual(starts.map((c) => c.cuda_visible_devices).sort(), [...shared].sort());
    for (const c of starts) {
      assert.equal(c.pipe, join(work, 'mps', c.cuda_visible_devices, 'pipe'));
      assert.equal(c.log, join(work, 'mps', c.cuda_visible_devices, 'log'));
      assert.equal(statSync(c.pipe).mode & 0o777, 0o711, 'job uids may reach the pipes, not list them');
      assert.equal(statSync(join(c.pipe, '..')).mode & 0o777, 0o711);
      assert.equal(statSync(c.log).mode & 0o777, 0o700);
    }
    for (const id of shares) {
      await waitFor(`${id} logged its env`, async () => ((await envOf(g, id))['CUDA_MPS_PIPE_DIRECTORY'] !== undefined ? true : null));
      const env = await envOf(g, id);
      const gpu = env['CUDA_VISIBLE_DEVICES'] ?? '';
      assert.equal(env['CUDA_MPS_PIPE_DIRECTORY'], join(work, 'mps', gpu, 'pipe'), 'the share talks to its own GPU daemon');
      assert.equal(env['CUDA_MPS_LOG_DIRECTORY'], join(work, 'mps', gpu, 'log'));
      assert.equal(env['CUDA_MPS_ACTIVE_THREAD_PERCENTAGE'], '50');
      assert.equal(env['CUDA_MPS_PINNED_DEVICE_MEM_LIMIT'], '0=20480M');
    }
    await waitFor('the whole-GPU job logged its env', async () => ((await envOf(g, whole))['CUDA_VISIBLE_DEVICES'] ? true : null));
    assert.equal((await envOf(g, whole))['CUDA_MPS_PIPE_DIRECTORY'], undefined);

    // A restart while the shares run: the daemons are adopted (no second start)...
    await g.stop();
    g = await gantryUp(data, ['--workspace', work], tools.env);
    for (const id of shares) await waitJob(g, id, 'succeeded');
    // ...and each is told to quit, with its own environment, once its GPU has no share left.
    const quits = await waitFor('a quit per daemon', async () => {
      const q = mpsCalls(tools.mpsLog).filter((c) => c.args === '');
      return q.length >= shared.size ? q : null;
    }, 15_000);
    assert.deepEqual(quits.map((c) => c.cuda_visible_devices).sort(), [...shared].sort());
    for (const c of quits) {
      assert.equal(c.stdin, 'quit');
      assert.equal(c.pipe, join(work, 'mps', c.cuda_visible_devices, 'pipe'));
    }
    assert.equal(mpsCalls(tools.mpsLog).filter((c) => c.args === '-d').length, shared.size, 'a daemon was started twice');

    // A new share starts its GPU's daemon again.
    const again = await submit(g, { name: 'again', resources: { gpu: 0.25 }, command: 'true' });
    const gpu = ((await waitFor('again placed', async () => {
      const j = await jobView(g, again);
      return (j['placement'] as Placement[]).length > 0 ? j : null;
    }))['placement'] as Placement[])[0]?.gpus[0]?.uuid;
    const restarts = mpsCalls(tools.mpsLog).filter((c) => c.args === '-d');
    assert.equal(restarts.length, shared.size + 1);
    assert.equal(restarts[restarts.length - 1]?.cuda_visible_devices, gpu);
    await waitJob(g, again, 'succeeded');
    await g.stop();
  });

  it('says MPS is not enforced on a simulated inventory without the MPS program, and refuses --mps on without it', async () => {
    const r = root();
    const env = { ...process.env, PATH: '/usr/bin:/bin' };
    const g = await gantryUp(join(r, 'a'), ['--gpus', '1xH100-80GB'], env);
    assert.match(g.output(), /shares: MPS limits are set in each share's environment but not enforced \(simulated inventory, no MPS daemon\)/);
    await g.stop();
    await assert.rejects(gantryUp(join(r, 'b'), ['--gpus', '1xH100-80GB', '--mps', 'on'], env), /nvidia-cuda-mps-control is not on PATH/);
  });
});
