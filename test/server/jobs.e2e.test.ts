/**
 * End to end: a real server on loopback, a real SQLite file, real processes. Gang start with
 * the rank environment, fractional sharing environment, cancel, retry, and
 * preempt-and-resume of the checkpointing example script.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startTestServer, waitFor, waitState, job, type TestServer } from '../helpers/server.js';

const EXAMPLES = resolve('examples');

function envOf(log: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of log.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1] as string] = m[2] as string;
  }
  return out;
}

async function logOf(t: TestServer, id: string, worker = 0): Promise<string> {
  return (await t.api('GET', `/v1/jobs/${id}/logs?worker=${worker}`)).text;
}

describe('jobs end to end (8 simulated H100s)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  it('starts a gang with RANK, WORLD_SIZE, MASTER_ADDR/PORT and one GPU per worker', async () => {
    const r = await t.api('POST', '/v1/jobs', job({ name: 'gang', workers: 3, resources: { gpu: 1 }, command: 'env | sort' }));
    assert.equal(r.status, 201, r.text);
    const id = String(r.body['id']);
    const done = await waitState(t, id, ['succeeded', 'failed']);
    assert.equal(done['state'], 'succeeded');
    const envs = await Promise.all([0, 1, 2].map(async (w) => envOf(await logOf(t, id, w))));
    assert.deepEqual(envs.map((e) => e['RANK']), ['0', '1', '2']);
    for (const e of envs) {
      assert.equal(e['WORLD_SIZE'], '3');
      assert.equal(e['MASTER_ADDR'], '127.0.0.1');
      assert.equal(e['MASTER_PORT'], envs[0]?.['MASTER_PORT']);
      assert.equal(e['GANTRY_JOB'], id);
      assert.equal(e['GANTRY_SIMULATED'], '1');
      assert.match(e['CUDA_VISIBLE_DEVICES'] ?? '', /^GPU-sim-/);
      assert.equal(e['NVIDIA_VISIBLE_DEVICES'], e['CUDA_VISIBLE_DEVICES']);
      assert.ok(e['GANTRY_CHECKPOINT_DIR']?.includes(id));
      assert.equal(e['GANTRY_TOKEN'], undefined, 'no Gantry secrets leak into jobs');
    }
    assert.equal(new Set(envs.map((e) => e['CUDA_VISIBLE_DEVICES'])).size, 3, 'distinct GPUs');
    assert.deepEqual(envs.map((e) => e['LOCAL_RANK']), ['0', '1', '2']);
  });

  it('runs the example gang: two workers all-reduce over MASTER_PORT', async () => {
    const r = await t.api('POST', '/v1/jobs', { ...job({ name: 'hello-gang', workers: 2, resources: { gpu: 1 }, command: 'node gang.mjs' }), workingDir: EXAMPLES });
    const done = await waitState(t, String(r.body['id']), ['succeeded', 'failed']);
    assert.equal(done['state'], 'succeeded', String(done['reason']));
    assert.match(await logOf(t, String(r.body['id']), 0), /sum of ranks = 1 \(expected 1\)/);
  });

  it('puts two half-GPU shares on one GPU with MPS limits in their environment', async () => {
    const spec = (name: string) => job({ name, resources: { gpu: 0.5, gpuMemory: '20Gi' }, command: 'env | sort; sleep 1' });
    const a = await t.api('POST', '/v1/jobs', spec('share-a'));
    const b = await t.api('POST', '/v1/jobs', spec('share-b'));
    const ja = await waitState(t, String(a.body['id']), ['succeeded']);
    const jb = await waitState(t, String(b.body['id']), ['succeeded']);
    const ea = envOf(await logOf(t, String(ja['id'])));
    const eb = envOf(await logOf(t, String(jb['id'])));
    assert.equal(ea['CUDA_MPS_ACTIVE_THREAD_PERCENTAGE'], '50');
    assert.equal(ea['CUDA_MPS_PINNED_DEVICE_MEM_LIMIT'], '0=20480M');
    assert.equal(ea['GANTRY_GPU_SHARE'], '0.5');
    assert.equal(ea['CUDA_VISIBLE_DEVICES'], eb['CUDA_VISIBLE_DEVICES'], 'best fit packs both shares on one GPU');
    const busy = await t.api('POST', '/v1/jobs', job({ name: 'busy', resources: { gpu: 1 }, command: 'sleep 5' }));
    await waitState(t, String(busy.body['id']), ['running']);
    const m = await waitFor('attributed telemetry', async () => {
      const text = (await t.api('GET', '/metrics')).text;
      const v = Number(new RegExp(`gantry_job_gpu_utilization_ratio\\{job="${String(busy.body['id'])}",queue="default"\\} (\\S+)`).exec(text)?.[1] ?? 0);
      return v > 0 ? text : null;
    });
    const ratio = Number(new RegExp(`gantry_job_gpu_utilization_ratio\\{job="${String(busy.body['id'])}",queue="default"\\} (\\S+)`).exec(m)?.[1]);
    assert.ok(ratio > 0 && ratio <= 1, `utilisation is a ratio, got ${ratio}`);
    assert.match(m, /gantry_job_gpu_memory_used_bytes\{/);
    assert.match(m, /^gantry_gpus\{/m);
    assert.doesNotMatch(m, /^# TYPE \S+_total gauge$/m, 'no gauge carries a counter suffix');
    assert.match(m, /gantry_gpu_allocation\{/);
    await t.api('POST', `/v1/jobs/${String(busy.body['id'])}/cancel`);
  });

  it('cancels a running job: SIGTERM to the process group, then the job is cancelled and its processes are gone', async () => {
    const r = await t.api('POST', '/v1/jobs', job({ name: 'sleeper', command: 'sleep 300 & sleep 300; wait' }));
    const id = String(r.body['id']);
    const running = await waitState(t, id, ['running']);
    const pid = (running['processes'] as { pid: number }[])[0]?.pid ?? 0;
    assert.ok(pid > 0);
    const c = await t.api('POST', `/v1/jobs/${id}/cancel`);
    assert.equal(c.status, 200);
    const done = await waitState(t, id, ['cancelled']);
    assert.match(String(done['reason']), /cancelled by admin/);
    await waitFor('the whole process group to be gone', async () => {
      try {
        process.kill(-pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 5000);
    const again = await t.api('POST', `/v1/jobs/${id}/cancel`);
    assert.equal(again.status, 409);
    assert.equal(again.body.error?.code, 'JOB_FINISHED');
  });

  it('cancels a queued job at once', async () => {
    const node = ((await t.api('GET', '/v1/nodes')).body['items'] as { name: string }[])[0]?.name ?? '';
    await t.api('POST', `/v1/nodes/${node}/cordon`); // nothing starts: the job stays queued
    const r = await t.api('POST', '/v1/jobs', job({ name: 'waits', resources: { gpu: 1 } }));
    const id = String(r.body['id']);
    assert.equal((await t.api('GET', `/v1/jobs/${id}`)).body['state'], 'queued');
    const c = await t.api('POST', `/v1/jobs/${id}/cancel`);
    assert.equal(c.status, 200);
    assert.equal(c.body['state'], 'cancelled');
    assert.match(String(c.body['reason']), /cancelled by admin while queued/);
    await t.api('POST', `/v1/nodes/${node}/uncordon`);
  });

  it('retries a failing job with backoff and records attempts', async () => {
    const flaky = job({
      name: 'flaky',
      command: 'if [ -f "$GANTRY_CHECKPOINT_DIR/tried" ]; then echo second try; exit 0; fi; touch "$GANTRY_CHECKPOINT_DIR/tried"; echo first try; exit 3',
      retries: { limit: 2, backoffSeconds: 0.2 },
    });
    const r = await t.api('POST', '/v1/jobs', flaky);
    const done = await waitState(t, String(r.body['id']), ['succeeded', 'failed']);
    assert.equal(done['state'], 'succeeded');
    assert.equal(done['attempts'], 2);
    assert.equal(done['retries'], 1);
    const log = await logOf(t, String(r.body['id']));
    assert.match(log, /first try[\s\S]*attempt 2[\s\S]*second try/);

    const broken = await t.api('POST', '/v1/jobs', job({ name: 'broken', command: 'exit 7', retries: { limit: 1, backoffSeconds: 0 } }));
    const failed = await waitState(t, String(broken.body['id']), ['succeeded', 'failed']);
    assert.equal(failed['state'], 'failed');
    assert.equal(failed['exitCode'], 7);
    assert.equal(failed['retries'], 1);
    assert.match(String(failed['reason']), /exit code 7.*after 1 retries/);
  });

  it('fails a gang when one worker fails, stopping the others', async () => {
    const r = await t.api('POST', '/v1/jobs', job({ name: 'half-broken', workers: 2, command: 'if [ "$RANK" = 1 ]; then exit 4; fi; sleep 300' }));
    const done = await waitState(t, String(r.body['id']), ['failed']);
    assert.match(String(done['reason']), /worker 1 ended with exit code 4/);
  });
});

describe('preemption with the checkpoint protocol (1 simulated H100)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ gpus: '1xH100-80GB' });
  });
  after(async () => {
    await t.close();
  });

  it('checkpoints the low-priority job, runs the high-priority one, then resumes the first from its checkpoint', async () => {
    const low = await t.api('POST', '/v1/jobs', {
      ...job({ name: 'low', priority: 0, resources: { gpu: 1 }, command: 'node train.mjs', env: { STEPS: '80', STEP_MS: '40', CHECKPOINT_EVERY: '10' }, checkpoint: { intervalSeconds: 1, graceSeconds: 10 } }),
      workingDir: EXAMPLES,
    });
    const lowId = String(low.body['id']);
    await waitFor('low to make progress', async () => {
      const j = await t.api('GET', `/v1/jobs/${lowId}`);
      const p = j.body['progress'] as { step?: number } | null;
      return (p?.step ?? 0) >= 20;
    });
    const high = await t.api('POST', '/v1/jobs', job({ name: 'high', priority: 10, resources: { gpu: 1 }, command: 'echo high ran' }));
    const highDone = await waitState(t, String(high.body['id']), ['succeeded']);
    assert.equal(highDone['state'], 'succeeded');
    const lowDone = await waitState(t, lowId, ['succeeded', 'failed'], 30_000);
    assert.equal(lowDone['state'], 'succeeded', String(lowDone['reason']));
    assert.equal(lowDone['preemptions'], 1);
    assert.equal(lowDone['attempts'], 2);
    const log = await logOf(t, lowId);
    assert.match(log, /preemption signal: saving a checkpoint/);
    const resumed = /resuming from checkpoint at step (\d+)/.exec(log);
    assert.ok(resumed, log);
    assert.ok(Number(resumed[1]) >= 20, 'resumed from where it stopped, not from zero');
    assert.match(log, /done: final loss/);
    assert.ok(readFileSync(join(t.server.workspace, 'default', 'jobs', lowId, 'checkpoints', 'checkpoint.json'), 'utf8').includes('"step":80'));
  });

  it('explains why a job waits', async () => {
    const a = await t.api('POST', '/v1/jobs', job({ name: 'holder', resources: { gpu: 1 }, command: 'sleep 30', preemptible: false }));
    await waitState(t, String(a.body['id']), ['running']);
    const b = await t.api('POST', '/v1/jobs', job({ name: 'waiter', resources: { gpu: 1 } }));
    const id = String(b.body['id']);
    const e = await waitFor('a wait reason', async () => {
      const r = await t.api('GET', `/v1/jobs/${id}/explain`);
      return (r.body['reasons'] as unknown[]).length > 0 ? r.body : null;
    });
    assert.equal(e['state'], 'queued');
    assert.equal(e['queuePosition'], 1);
    assert.ok(JSON.stringify(e['reasons']).length > 10);
    await t.api('POST', `/v1/jobs/${id}/cancel`);
    await t.api('POST', `/v1/jobs/${String(a.body['id'])}/cancel`);
    await waitState(t, String(a.body['id']), ['cancelled']);
  });

  it('drains the node: the preemptible job is checkpointed and requeued, nothing new starts until uncordon', async () => {
    const node = ((await t.api('GET', '/v1/nodes')).body['items'] as { name: string }[])[0]?.name ?? '';
    const r = await t.api('POST', '/v1/jobs', { ...job({ name: 'drained', resources: { gpu: 1 }, command: 'node train.mjs', env: { STEPS: '400', STEP_MS: '20' }, checkpoint: { graceSeconds: 5 } }), workingDir: EXAMPLES });
    const id = String(r.body['id']);
    await waitState(t, id, ['running']);
    const d = await t.api('POST', `/v1/nodes/${node}/drain`);
    assert.equal(d.status, 200);
    await waitState(t, id, ['queued']);
    await waitFor('node drained', async () => ((await t.api('GET', '/v1/nodes')).body['items'] as { status: string }[])[0]?.status === 'drained');
    await new Promise((res) => setTimeout(res, 300));
    assert.equal((await t.api('GET', `/v1/jobs/${id}`)).body['state'], 'queued', 'cordoned: not started again');
    await t.api('POST', `/v1/nodes/${node}/uncordon`);
    await waitState(t, id, ['running', 'succeeded']);
    await t.api('POST', `/v1/jobs/${id}/cancel`);
  });
});

describe('MIG slices and reported progress (1 simulated A100 in MIG mode)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ gpus: '1xA100-80GB:mig' });
  });
  after(async () => {
    await t.close();
  });

  it('places MIG slices and passes their device ids; takes progress through the API', async () => {
    const spec = (name: string) => job({ name, resources: { mig: '3g.40gb' }, command: 'env | sort; sleep 1' });
    const a = await t.api('POST', '/v1/jobs', spec('mig-a'));
    const b = await t.api('POST', '/v1/jobs', spec('mig-b'));
    const c = await t.api('POST', '/v1/jobs', spec('mig-c'));
    const running = await waitState(t, String(a.body['id']), ['running']);
    const p = await t.api('POST', `/v1/jobs/${String(a.body['id'])}/progress`, { step: 12, loss: 0.5, samplesPerSec: 900, checkpoint: true });
    assert.equal(p.status, 200);
    const withProgress = await t.api('GET', `/v1/jobs/${String(a.body['id'])}`);
    assert.equal((withProgress.body['progress'] as { step: number }).step, 12);
    assert.ok(withProgress.body['lastCheckpointAt']);
    const grants = (running['placement'] as { gpus: { mig?: { profile: string; start: number } }[] }[])[0]?.gpus ?? [];
    assert.equal(grants[0]?.mig?.profile, '3g.40gb');
    const ea = envOf(await logOf(t, String((await waitState(t, String(a.body['id']), ['succeeded']))['id'])));
    const eb = envOf(await logOf(t, String((await waitState(t, String(b.body['id']), ['succeeded']))['id'])));
    assert.match(ea['CUDA_VISIBLE_DEVICES'] ?? '', /^MIG-SIM-[0-9a-z-]+-3g\.40gb-[04]$/, 'a simulated MIG device says so in its name');
    assert.notEqual(ea['CUDA_VISIBLE_DEVICES'], eb['CUDA_VISIBLE_DEVICES'], 'two 3g slices at different starts');
    await waitState(t, String(c.body['id']), ['succeeded'], 20_000); // the third waits for a free slot
    const m = await t.api('GET', '/metrics');
    assert.match(m.text, /DCGM_FI_DEV_GPU_UTIL\{gpu="0",UUID="GPU-sim-[^"]+",pci_bus_id="[^"]+",device="nvidia0",modelName="A100-80GB",Hostname="[^"]+",simulated="true"\}/);
    assert.match(m.text, /gantry_jobs\{state="succeeded"\} 3/);
    assert.match(m.text, /gantry_scheduling_latency_seconds_count [1-9]/);
  });
});
