/**
 * End to end against a real Docker daemon: `gantry up` (test/helpers/server.ts) with DOCKER_HOST
 * on a private dockerd (test/helpers/dockerd.ts) runs image jobs as containers. Checked from
 * inside the containers: the job's requests are the cgroup's limits, the network is only `lo`
 * unless the job asks for the host's, SIGTERM reaches the command on cancel, a restarted server
 * finds a running container again, and a job over its memory is killed and marked.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startTestServer, waitFor, waitState, job, type TestServer } from '../helpers/server.js';
import { dockerTestOptions, startDockerd, TEST_IMAGE, type PrivateDockerd } from '../helpers/dockerd.js';

/** Prints the container's limits (cgroup v1 or v2) and its network interfaces, one `key=value` a line. */
const PROBE = [
  'echo "rank=$RANK gpus=$CUDA_VISIBLE_DEVICES job=$GANTRY_JOB"',
  'if [ -f /sys/fs/cgroup/cpu.max ]; then echo "mem=$(cat /sys/fs/cgroup/memory.max)"; echo "cpu=$(cat /sys/fs/cgroup/cpu.max)"; echo "pids=$(cat /sys/fs/cgroup/pids.max)";',
  'else echo "mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"; echo "cpu=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"; echo "pids=$(cat /sys/fs/cgroup/pids/pids.max)"; fi',
  'echo "net=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | sort | tr "\\n" ",")"',
].join('\n');

function field(log: string, key: string): string {
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(log);
  if (!m) throw new Error(`no ${key}= in the log:\n${log}`);
  return m[1] ?? '';
}

function hostInterfaces(): string {
  return readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).map((l) => l.split(':')[0]?.trim() ?? '').filter((s) => s !== '').sort().map((s) => `${s},`).join('');
}

describe('containers on a real Docker daemon', dockerTestOptions(), () => {
  let d: PrivateDockerd;
  let t: TestServer;
  const saved = process.env['DOCKER_HOST'];
  before(async () => {
    d = await startDockerd();
    process.env['DOCKER_HOST'] = d.host;
    t = await startTestServer();
    assert.equal(t.server.docker.available, true, t.server.docker.detail);
  });
  after(async () => {
    try {
      await t?.close();
    } finally {
      await d?.stop();
    }
    if (saved === undefined) delete process.env['DOCKER_HOST'];
    else process.env['DOCKER_HOST'] = saved;
  });
  const submit = async (body: Record<string, unknown>): Promise<string> => {
    const r = await t.api('POST', '/v1/jobs', body);
    assert.equal(r.status, 201, r.text);
    return String(r.body['id']);
  };
  const logs = async (id: string, worker = 0): Promise<string> => (await t.api('GET', `/v1/jobs/${id}/logs?worker=${worker}`)).text;

  it('runs each worker in a container limited to the job\'s CPU and memory, with only loopback', async () => {
    const id = await submit(job({ name: 'probe', image: TEST_IMAGE, workers: 2, resources: { cpu: '500m', memory: '96Mi', gpu: 1 }, command: PROBE }));
    const done = await waitState(t, id, ['succeeded', 'failed']);
    assert.equal(done['state'], 'succeeded', JSON.stringify(done));
    const log = await logs(id, 1);
    assert.match(log, new RegExp(`^rank=1 gpus=\\S+ job=${id}$`, 'm'), 'the worker environment reaches the container');
    assert.equal(Number(field(log, 'mem')), 96 * 1024 * 1024);
    const [quota, period] = field(log, 'cpu').split(' ').map(Number);
    assert.equal((quota ?? 0) / (period ?? 1), 0.5, `cpu ${field(log, 'cpu')}`);
    assert.equal(field(log, 'pids'), '8192');
    assert.equal(field(log, 'net'), 'lo,');
  });

  it('network: host gives the container the host\'s interfaces', async () => {
    const id = await submit(job({ name: 'hostnet', image: TEST_IMAGE, network: 'host', command: PROBE }));
    assert.equal((await waitState(t, id, ['succeeded', 'failed']))['state'], 'succeeded');
    assert.equal(field(await logs(id), 'net'), hostInterfaces());
  });

  it('cancel delivers SIGTERM to the command, also after a restart of the server', async () => {
    const cmd = 'trap "echo got-term; exit 0" TERM; echo ready; while true; do sleep 0.1; done';
    const id = await submit(job({ name: 'long', image: TEST_IMAGE, command: cmd }));
    await waitFor('the container to run', async () => /ready/.test(await logs(id)));
    // The runner outlives the control plane, as any worker does: a new server adopts it.
    await t.server.close();
    t = await startTestServer({ dataDir: t.dir });
    assert.equal(t.server.recovered.adopted, 1);
    const c = await t.api('POST', `/v1/jobs/${id}/cancel`);
    assert.ok(c.status < 300, c.text);
    const end = await waitState(t, id, ['cancelled', 'failed', 'succeeded']);
    assert.equal(end['state'], 'cancelled', JSON.stringify(end));
    assert.match(await logs(id), /got-term/);
  });

  it('a job over its memory is killed: exit 137, the OOM marker beside its exit file', async () => {
    const id = await submit(job({ name: 'hog', image: TEST_IMAGE, resources: { cpu: '100m', memory: '32Mi' }, command: 'echo start; exec dd if=/dev/zero of=/dev/null bs=128M count=1' }));
    const end = await waitState(t, id, ['failed', 'succeeded']);
    assert.equal(end['state'], 'failed');
    assert.equal(end['exitCode'], 137, JSON.stringify(end));
    assert.match(String(end['reason']), /^OOM_KILLED: /, 'gantry get names the out-of-memory kill');
    const log = await logs(id);
    assert.match(log, /killed for using more than its memory limit \(32 MiB\)/);
    // Wherever the server keeps exit files, under its data directory; this is its only OOM.
    const markers = readdirSync(t.dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.oom'));
    assert.equal(markers.length, 1, `one .oom marker under ${t.dir}: ${markers.join(', ')}`);
  });

  it('refuses the host root, folders holding the server\'s data, and network on a job without image', async () => {
    const root = await t.api('POST', '/v1/jobs', job({ name: 'root', workingDir: '/', command: 'true' }));
    assert.equal(root.status, 400, root.text);
    assert.equal(root.body.error?.code, 'JOB_INVALID');
    assert.match(root.text, /workingDir: must not be the root folder/);
    symlinkSync('/', join(t.dir, 'to-root'));
    const viaLink = await t.api('POST', '/v1/jobs', job({ name: 'link', image: TEST_IMAGE, workingDir: join(t.dir, 'to-root') }));
    assert.equal(viaLink.body.error?.code, 'JOB_INVALID', viaLink.text);
    assert.match(viaLink.text, /is the host's root folder/);
    const parent = await t.api('POST', '/v1/jobs', job({ name: 'parent', image: TEST_IMAGE, workingDir: dirname(t.dir) }));
    assert.equal(parent.body.error?.code, 'JOB_INVALID', parent.text);
    assert.match(parent.text, /contains the server's data directory/);
    const net = await t.api('POST', '/v1/jobs', job({ name: 'net', network: 'host' }));
    assert.equal(net.body.error?.code, 'JOB_INVALID', net.text);
    assert.match(net.text, /network: host applies only to a job that names an image/);
  });
});
