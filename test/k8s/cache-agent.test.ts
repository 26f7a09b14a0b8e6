/**
 * The node cache agent (`gantry k8s cache-agent`, a real child process per node, running as the
 * service account deploy/cache-agent.yaml grants) and the scheduler (in process, as its deployed
 * service account) against a real kube-apiserver, with real files: the agent fills on request
 * and reports in `gantry.dev/cached-datasets`; eviction to make room never takes the data of a
 * pod bound to the node; an eviction request is refused while a pod reads the data; the
 * scheduler reads the annotation (placement prefers the node that holds a pod's data) and asks
 * the agent of the node where a preempting pod will run to prefetch its data, and of the node
 * predicted for a pod blocked only by capacity; an agent killed
 * with -9 in the middle of a fill resumes it, keeping the files it had verified; a source that is
 * not there yet is reported and scanned again with back-off, a scan that hangs holds up no
 * report, and a report removed from the node is written again.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import Database from 'better-sqlite3';
import { join, resolve } from 'node:path';
import { CoreV1Api, PatchStrategy, SchedulingV1Api, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { ControlPlane, k8sTestOptions } from './harness.js';
import { applyObjects, createNamespace, createNode, createPods, FakeKubelet, fakeNode, fakePod, listPods, manifest, TEST_SCHEDULER_TIMING, waitEstablished, waitFor } from './cluster.js';
import { KubeScheduler } from '../../src/adapters/k8s/scheduler.js';
import type { NodeCacheStatus } from '../../src/adapters/k8s/node-cache-status.js';

const NS = 'data';

describe('k8s node cache agent and prefetch (real kube-apiserver, agents as child processes)', k8sTestOptions(), () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let scheduler: KubeScheduler | null = null;
  let kubelet: FakeKubelet | null = null;
  const agents: ChildProcess[] = [];
  const agentLogs: Record<string, string> = {};
  const logs: string[] = [];
  const root = mkdtempSync(join(tmpdir(), 'gantry-cache-agent-'));
  let agentKubeconfig = '';

  const sel = { 'gantry.dev/test': 'data' };
  const cacheDir = (node: string): string => join(root, `cache-${node}`);

  async function annotate(node: string, annotations: Record<string, string | null>): Promise<void> {
    await core.patchNode({ name: node, body: { metadata: { annotations } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }
  async function status(node: string): Promise<NodeCacheStatus | null> {
    const raw = (await core.readNode({ name: node })).metadata?.annotations?.['gantry.dev/cached-datasets'];
    return raw ? (JSON.parse(raw) as NodeCacheStatus) : null;
  }
  /** Waits until the node's annotation holds exactly `ready` as complete copies (and `check` holds). */
  async function holds(node: string, ready: string[], check: (s: NodeCacheStatus) => boolean = () => true): Promise<NodeCacheStatus> {
    return waitFor(`${node} to hold ${ready.join(', ') || 'nothing'}`, async () => {
      const s = await status(node);
      const got = (s?.datasets ?? []).filter((d) => d.state === 'ready').map((d) => d.name).sort();
      return s && s.datasets.length === ready.length && JSON.stringify(got) === JSON.stringify([...ready].sort()) && check(s) ? s : null;
    }, 30_000);
  }

  function startAgent(node: string, kubeconfig: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const p = spawn(process.execPath, [resolve('bin/gantry.js'), 'k8s', 'cache-agent', '--node', node, '--datasets', join(root, 'datasets.yaml'), '--cache-dir', cacheDir(node), '--cache-capacity', '5Mi', '--interval', '200ms', '--kubeconfig', kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'], env });
    agentLogs[node] ??= '';
    p.stdout?.on('data', (d: Buffer) => (agentLogs[node] += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (agentLogs[node] += d.toString()));
    agents.push(p);
    return p;
  }

  before(async () => {
    // Three datasets of 2 MiB (two 1 MiB shards each); caches of 5 MiB hold two of them.
    const catalogue: string[] = ['datasets:'];
    for (const n of ['a', 'b', 'c']) {
      mkdirSync(join(root, 'src', n), { recursive: true });
      for (let i = 0; i < 2; i++) writeFileSync(join(root, 'src', n, `shard-${i}.bin`), randomBytes(1 << 20));
      catalogue.push(`  - { name: ${n}, source: { type: local, path: ${join(root, 'src', n)} } }`);
    }
    // 300 small files: the first record of verified files (at 256 files) comes before the end.
    mkdirSync(join(root, 'src', 'many'), { recursive: true });
    for (let i = 0; i < 300; i++) writeFileSync(join(root, 'src', 'many', `f-${String(i).padStart(3, '0')}.bin`), randomBytes(8 << 10));
    catalogue.push(`  - { name: many, source: { type: local, path: ${join(root, 'src', 'many')} } }`);
    writeFileSync(join(root, 'datasets.yaml'), catalogue.join('\n') + '\n');
    cp = await ControlPlane.start();
    kc = cp.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    // The manifests as deployed (the DaemonSet itself stays unscheduled here: no controllers).
    await applyObjects(kc, [...manifest('namespace.yaml'), ...manifest('crds/queues.scheduling.gantry.dev.yaml'), ...manifest('crds/podgroups.scheduling.x-k8s.io.yaml'), ...manifest('rbac.yaml'), ...manifest('cache-agent.yaml')]);
    await waitEstablished(kc, ['queues.scheduling.gantry.dev', 'podgroups.scheduling.x-k8s.io']);
    const token = async (sa: string): Promise<string> => (await core.createNamespacedServiceAccountToken({ name: sa, namespace: 'gantry-system', body: { spec: { audiences: [], expirationSeconds: 3600 } } })).status?.token ?? '';
    agentKubeconfig = cp.writeKubeconfig(join(root, 'agent.kubeconfig'), await token('gantry-cache-agent'), 'gantry-cache-agent');
    for (const n of ['cache-a', 'cache-b']) await createNode(kc, fakeNode(n, { gpus: 1, labels: sel }));
    await createNamespace(kc, NS);
    kubelet = new FakeKubelet(kc, NS);
    await kc.makeApiClient(SchedulingV1Api).createPriorityClass({ body: { metadata: { name: 'data-low' }, value: 0 } });
    await kc.makeApiClient(SchedulingV1Api).createPriorityClass({ body: { metadata: { name: 'data-high' }, value: 1000 } });
    for (const n of ['cache-a', 'cache-b']) startAgent(n, agentKubeconfig);
    scheduler = new KubeScheduler({
      kubeConfig: cp.kubeConfig(await token('gantry-scheduler'), 'gantry-scheduler'),
      namespace: 'gantry-system',
      identity: 'cache-test',
      ...TEST_SCHEDULER_TIMING,
      log: (m) => logs.push(m),
    });
    await scheduler.start();
    await waitFor('the scheduler leads', async () => scheduler?.isLeader);
  });

  after(async () => {
    if (process.env['GANTRY_K8S_LOGS'] === '1') process.stderr.write([...logs, ...Object.entries(agentLogs).map(([n, l]) => `--- agent ${n}\n${l}`)].join('\n') + '\n');
    for (const a of agents) a.kill('SIGTERM');
    await kubelet?.stop();
    await scheduler?.stop();
    await cp?.stop();
    rmSync(root, { recursive: true, force: true, maxRetries: 2 });
  });

  it('fills on request and reports it; makes room by LRU but never takes a bound pod\'s data; evicts on request once no pod reads it', async () => {
    await annotate('cache-a', { 'gantry.dev/cache-prefetch': JSON.stringify({ datasets: ['a'], pods: [], at: new Date().toISOString() }) });
    const s = await holds('cache-a', ['a']);
    assert.deepEqual(s.datasets[0], { name: 'a', version: 1, state: 'ready', bytes: 2 << 20, bytesDone: 2 << 20, pinned: true });
    assert.equal(s.capacityBytes, 5 << 20);
    assert.equal(statSync(join(cacheDir('cache-a'), 'a@1', 'shard-0.bin')).mode & 0o777, 0o444, 'the copy is read-only');
    // A pod bound to the node reads b: the agent fills it and pins it.
    const reader = fakePod(NS, 'reader-b', { annotations: { 'gantry.dev/datasets': 'b' } });
    if (reader.spec) reader.spec.nodeName = 'cache-a';
    await createPods(kc, [reader]);
    await holds('cache-a', ['a', 'b']);
    // The request moves to c: no room for three, so a (no longer wanted) goes; b (read by a pod) stays.
    await annotate('cache-a', { 'gantry.dev/cache-prefetch': JSON.stringify({ datasets: ['c'], pods: [], at: new Date().toISOString() }) });
    await holds('cache-a', ['b', 'c'], (st) => st.datasets.every((d) => d.pinned));
    assert.match(agentLogs['cache-a'] ?? '', /evicted a@1 .* to make room for c@1/);
    // Evicting b is refused while its pod runs, and done once the pod has finished.
    await annotate('cache-a', { 'gantry.dev/cache-evict': JSON.stringify(['b']) });
    await holds('cache-a', ['b', 'c'], (st) => st.errors.some((e) => e.name === 'b' && e.code === 'DATASET_IN_USE'));
    kubelet?.succeed.add('reader-b');
    await holds('cache-a', ['c']);
    assert.match(agentLogs['cache-a'] ?? '', /evicted b@1 on request/);
    // The scheduler's node state follows the annotation.
    await waitFor('the scheduler to see c on cache-a', async () => scheduler?.core.cluster.node('cache-a')?.cachedDatasets.has('c'));
    assert.equal(scheduler?.core.cluster.node('cache-a')?.cachedBytes.get('c'), Infinity, 'a complete copy');
  });

  it('places a pod on the node that holds its data, and asks for a preempting pod\'s data where it will run', async () => {
    // Both nodes are free; only cache-a holds c.
    await createPods(kc, [fakePod(NS, 'wants-c', { gpus: 1, priorityClassName: 'data-high', nodeSelector: sel, annotations: { 'gantry.dev/datasets': 'c' } })]);
    const placed = await waitFor('wants-c bound', async () => (await listPods(kc, NS)).find((p) => p.metadata?.name === 'wants-c' && p.spec?.nodeName));
    assert.equal(placed.spec?.nodeName, 'cache-a');
    // cache-b runs a low-priority pod; a high-priority pod that reads a can only preempt it there.
    await createPods(kc, [fakePod(NS, 'low', { gpus: 1, priorityClassName: 'data-low', nodeSelector: sel })]);
    await waitFor('low bound to cache-b', async () => (await listPods(kc, NS)).find((p) => p.metadata?.name === 'low' && p.spec?.nodeName === 'cache-b'));
    await createPods(kc, [fakePod(NS, 'high', { gpus: 1, priorityClassName: 'data-high', nodeSelector: sel, annotations: { 'gantry.dev/datasets': 'a' } })]);
    await waitFor('the prefetch request on cache-b', async () => logs.some((l) => l === 'prefetch request on cache-b: a'), 30_000);
    const high = await waitFor('high bound', async () => (await listPods(kc, NS)).find((p) => p.metadata?.name === 'high' && p.spec?.nodeName), 30_000);
    assert.equal(high.spec?.nodeName, 'cache-b');
    await holds('cache-b', ['a']);
    await waitFor('the request withdrawn once high is bound', async () => (await core.readNode({ name: 'cache-b' })).metadata?.annotations?.['gantry.dev/cache-prefetch'] === undefined);
    assert.ok(logs.includes('prefetch request on cache-b withdrawn'));
    assert.ok(!logs.some((l) => /forbidden/i.test(l)), 'every write is allowed by the deployed RBAC');
    assert.ok(!Object.values(agentLogs).some((l) => /forbidden/i.test(l)), 'the agents\' calls are allowed by deploy/cache-agent.yaml');
  });

  it('asks for the data of a pod blocked only by capacity on its predicted node, where it then runs', async () => {
    // Both nodes are full (wants-c on cache-a, high on cache-b) and a low-priority pod cannot
    // preempt: it waits for room. Neither node holds b; the tie goes to cache-a by name.
    await createPods(kc, [fakePod(NS, 'waits-b', { gpus: 1, priorityClassName: 'data-low', nodeSelector: sel, annotations: { 'gantry.dev/datasets': 'b' } })]);
    await waitFor('the prefetch request on cache-a', async () => logs.some((l) => l === 'prefetch request on cache-a: b'), 30_000);
    await holds('cache-a', ['b', 'c']);
    assert.equal((await listPods(kc, NS)).find((p) => p.metadata?.name === 'waits-b')?.spec?.nodeName, undefined, 'still waiting for room');
    // Room frees on cache-a: the pod runs where its data now is.
    kubelet?.succeed.add('wants-c');
    const placed = await waitFor('waits-b bound', async () => (await listPods(kc, NS)).find((p) => p.metadata?.name === 'waits-b' && p.spec?.nodeName), 30_000);
    assert.equal(placed.spec?.nodeName, 'cache-a');
    await waitFor('the request withdrawn once waits-b is bound', async () => (await core.readNode({ name: 'cache-a' })).metadata?.annotations?.['gantry.dev/cache-prefetch'] === undefined);
  });

  it('an agent killed (-9) in the middle of a fill resumes it at its next start without copying the verified files again', async () => {
    await createNode(kc, fakeNode('cache-c', { gpus: 1, labels: sel }));
    const first = startAgent('cache-c', agentKubeconfig, { ...process.env, GANTRY_FAILPOINT: 'dataset-fill-flush:1' });
    await annotate('cache-c', { 'gantry.dev/cache-prefetch': JSON.stringify({ datasets: ['many'], pods: [], at: new Date().toISOString() }) });
    await waitFor('the agent to be killed at the failpoint', async () => first.signalCode !== null || first.exitCode !== null, 30_000);
    assert.equal(first.signalCode, 'SIGKILL');
    const db = new Database(join(cacheDir('cache-c'), '.gantry-agent.db'), { readonly: true });
    const verified = db.prepare("SELECT path FROM dataset_cache_files WHERE name = 'many'").pluck().all() as string[];
    db.close();
    assert.ok(verified.length > 0 && verified.length < 300, `some files verified before the kill (${verified.length})`);
    const inodes = new Map(verified.map((p) => [p, statSync(join(cacheDir('cache-c'), '.staging', 'many@1', p)).ino]));
    startAgent('cache-c', agentKubeconfig);
    await holds('cache-c', ['many']);
    assert.match(agentLogs['cache-c'] ?? '', new RegExp(`resuming many@1: ${verified.length} of 300 files kept, ${300 - verified.length} to copy`));
    for (const [p, ino] of inodes) assert.equal(statSync(join(cacheDir('cache-c'), 'many@1', p)).ino, ino, `${p} was not copied again`);
  });

  it('reports a source that is not there yet and scans it again with back-off until it is; a hung scan holds up no report; a lost report is written again', async () => {
    // An S3 endpoint that takes connections and never answers: that scan hangs (for the SDK's 60 s).
    const held = new Set<Socket>();
    const silent = createServer((s) => held.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const late = join(root, 'src', 'late');
    try {
      appendFileSync(join(root, 'datasets.yaml'), [
        `  - { name: stuck, source: { type: s3, bucket: silent, prefix: p/, endpoint: "http://127.0.0.1:${(silent.address() as AddressInfo).port}" } }`,
        `  - { name: late, source: { type: local, path: ${late} } }`,
      ].join('\n') + '\n');
      await createNode(kc, fakeNode('cache-d', { gpus: 1, labels: sel }));
      startAgent('cache-d', agentKubeconfig, { ...process.env, AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', AWS_REGION: 'us-east-1' });
      await annotate('cache-d', { 'gantry.dev/cache-prefetch': JSON.stringify({ datasets: ['stuck', 'late'], pods: [], at: new Date().toISOString() }) });
      // late's folder is missing: reported with its failures and next try, while stuck's scan hangs.
      const failing = await waitFor('late reported as failing three times in a row', async () => {
        const s = await status('cache-d');
        const e = s?.errors.find((x) => x.name === 'late');
        return held.size > 0 && e?.code === 'DATASET_SOURCE_UNREADABLE' && (e.failures ?? 0) >= 3 ? s : null;
      }, 30_000).catch(async (err: unknown) => {
        throw new Error(`${(err as Error).message} (connections to the silent store: ${held.size})\n--- status: ${JSON.stringify(await status('cache-d'))}\n--- agent:\n${agentLogs['cache-d'] ?? ''}`);
      });
      assert.ok(!failing.errors.some((e) => e.name === 'stuck'), 'stuck is still being scanned');
      const e = failing.errors.find((x) => x.name === 'late');
      assert.ok(e?.retryAt && Date.parse(e.retryAt) > Date.parse(failing.updatedAt), `the next try is announced: ${JSON.stringify(e)}`);
      const log = agentLogs['cache-d'] ?? '';
      for (const [n, s] of [[1, 1], [2, 2], [3, 4]] as const) assert.match(log, new RegExp(`scan of the source of late failed \\(${n} in a row\\).*trying again in ${s} s`));
      // The data arrives: the next try records and fills it, the hung scan notwithstanding.
      mkdirSync(late, { recursive: true });
      writeFileSync(join(late, 'x.bin'), randomBytes(64 << 10));
      await holds('cache-d', ['late'], (s) => !s.errors.some((x) => x.name === 'late'));
      // A report removed from the node (a failed or lost patch looks the same to the scheduler) comes back.
      await annotate('cache-d', { 'gantry.dev/cached-datasets': null });
      await holds('cache-d', ['late']);
    } finally {
      for (const s of held) s.destroy();
      silent.close();
    }
  });
});
