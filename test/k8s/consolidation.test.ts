/**
 * Consolidation in Kubernetes mode, against a real kube-apiserver + etcd (test/k8s/harness.ts)
 * with fake GPU nodes: a gang blocked by fragmentation gets its room when a pod that checkpoints
 * (`gantry.dev/checkpoint: "true"`) is moved, through the Eviction API with the pod's grace (the
 * checkpoint protocol); pods that do not checkpoint, or may not be preempted, are never moved.
 *
 * Each case lays out the same fragmentation on two 4-GPU nodes: one 1-GPU pod on each (placed
 * one node at a time by cordoning the other, since Gantry would pack them together), then a gang
 * of a 4-GPU and a 2-GPU member: 6 GPUs are free, but no node has 4 until a pod moves.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { ControlPlane, k8sTestOptions } from './harness.js';
import { createNamespace, createNode, createPodGroup, createPods, createQueue, events, fakeNode, fakePod, gpuUses, listPods, overbooked, sleep, TEST_SCHEDULER_TIMING, waitFor, installGantryCrds } from './cluster.js';
import { KubeScheduler } from '../../src/adapters/k8s/scheduler.js';

const GRACE_SECONDS = 7;

describe('kubernetes mode: consolidation moves checkpointing pods for a gang (real kube-apiserver)', k8sTestOptions(), () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let scheduler: KubeScheduler | null = null;
  const logs: string[] = [];

  before(async () => {
    cp = await ControlPlane.start();
    kc = cp.kubeConfig();
    await installGantryCrds(kc);
    // Non-preemptible work runs only within its queue's guarantee: one queue guaranteed all 8 GPUs.
    await createQueue(kc, 'consolidation', { quota: { gpu: 8 } });
    scheduler = new KubeScheduler({ kubeConfig: kc, namespace: 'gantry-system', identity: 'consolidation-test', leaderElection: false, ...TEST_SCHEDULER_TIMING, log: (m) => logs.push(m) });
    await scheduler.start();
  });

  after(async () => {
    if (process.env['GANTRY_K8S_LOGS'] === '1') process.stderr.write(logs.join('\n') + '\n');
    await scheduler?.stop();
    await cp?.stop();
  });

  const sel = (id: string): Record<string, string> => ({ 'gantry.dev/test': id });
  const boundTo = async (ns: string, name: string): Promise<string | undefined> => (await listPods(kc, ns)).find((p) => p.metadata?.name === name)?.spec?.nodeName;

  function runner(ns: string, name: string, annotations: Record<string, string>): V1Pod {
    const p = fakePod(ns, name, { gpus: 1, queue: 'consolidation', nodeSelector: sel(ns), annotations });
    if (p.spec) p.spec.terminationGracePeriodSeconds = GRACE_SECONDS;
    return p;
  }

  /** Two 4-GPU nodes, `first` bound on node 0 and `second` on node 1; then the blocked gang. */
  async function fragment(ns: string, first: Record<string, string>, second: Record<string, string>): Promise<void> {
    await createNamespace(kc, ns);
    for (const i of [0, 1]) await createNode(kc, fakeNode(`${ns}-${i}`, { gpus: 4, labels: sel(ns) }));
    const core = kc.makeApiClient(CoreV1Api);
    const cordon = (i: number, on: boolean): Promise<unknown> =>
      core.patchNode({ name: `${ns}-${i}`, body: { spec: { unschedulable: on } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await cordon(1, true);
    await createPods(kc, [runner(ns, 'first', first)]);
    assert.equal(await waitFor('first bound', () => boundTo(ns, 'first')), `${ns}-0`);
    await cordon(1, false);
    await cordon(0, true);
    await createPods(kc, [runner(ns, 'second', second)]);
    assert.equal(await waitFor('second bound', () => boundTo(ns, 'second')), `${ns}-1`);
    await cordon(0, false);
    await createPodGroup(kc, ns, 'train', 2, { 'gantry.dev/queue': 'consolidation' });
    await createPods(kc, [
      fakePod(ns, 'w-big', { gpus: 4, group: 'train', queue: 'consolidation', nodeSelector: sel(ns) }),
      fakePod(ns, 'w-small', { gpus: 2, group: 'train', queue: 'consolidation', nodeSelector: sel(ns) }),
    ]);
  }

  it('moves a checkpointing pod through the Eviction API with its grace, and the gang is placed', async (t) => {
    const ns = 'moves';
    const t0 = Date.now();
    await fragment(ns, { 'gantry.dev/checkpoint': 'true' }, { 'gantry.dev/checkpoint': 'true' });
    // One of the two is evicted with its own grace (SIGTERM, then the time it asked for to save).
    const evicted = await waitFor('a runner evicted', async () => (await listPods(kc, ns)).find((p) => p.metadata?.deletionTimestamp));
    const movedName = evicted.metadata?.name ?? '';
    assert.ok(['first', 'second'].includes(movedName), movedName);
    assert.equal(evicted.metadata?.deletionGracePeriodSeconds, GRACE_SECONDS);
    const ev = await waitFor('the move is explained', async () => (await events(kc, ns, movedName)).find((e) => e.reason === 'Preempting'));
    assert.match(ev.message, /consolidat/);
    const movedFrom = evicted.spec?.nodeName ?? '';
    // The kubelet's part: the container saved and stopped.
    await kc.makeApiClient(CoreV1Api).deleteNamespacedPod({ namespace: ns, name: movedName, gracePeriodSeconds: 0 });
    const gang = await waitFor('the gang bound', async () => {
      const pods = await listPods(kc, ns);
      return ['w-big', 'w-small'].every((n) => pods.find((p) => p.metadata?.name === n)?.spec?.nodeName) ? pods : null;
    });
    assert.equal(gang.find((p) => p.metadata?.name === 'w-big')?.spec?.nodeName, movedFrom, 'the 4-GPU member took the node the move freed');
    const stayed = movedName === 'first' ? 'second' : 'first';
    assert.ok(gang.find((p) => p.metadata?.name === stayed)?.spec?.nodeName, 'the other runner was not touched');
    // Its owner makes the pod again; it resumes on the room left elsewhere.
    await createPods(kc, [runner(ns, `${movedName}-2`, { 'gantry.dev/checkpoint': 'true' })]);
    const again = await waitFor('the moved pod placed again', () => boundTo(ns, `${movedName}-2`));
    assert.notEqual(again, movedFrom);
    assert.deepEqual(overbooked(gpuUses(await listPods(kc, ns))), []);
    const evictions = logs.filter((l) => l.startsWith(`evicted ${ns}/`));
    assert.equal(evictions.length, 1, evictions.join('\n'));
    t.diagnostic(`gang bound ${Date.now() - t0} ms after the layout started (pods and nodes created, one pod moved)`);
  });

  it('never moves a pod that does not checkpoint, nor one that may not be preempted', async () => {
    const ns = 'stays';
    // Moving either one would make room: neither may move, so the gang waits.
    await fragment(ns, {}, { 'gantry.dev/checkpoint': 'true', 'gantry.dev/preemptible': 'false' });
    await waitFor('the gang explained', async () => (await events(kc, ns, 'w-big')).some((e) => e.reason === 'FailedScheduling'));
    await sleep(3000); // a few cycles
    const pods = await listPods(kc, ns);
    assert.deepEqual(pods.filter((p) => p.metadata?.deletionTimestamp).map((p) => p.metadata?.name), [], 'nothing evicted');
    assert.equal(pods.find((p) => p.metadata?.name === 'first')?.spec?.nodeName, `${ns}-0`);
    assert.equal(pods.find((p) => p.metadata?.name === 'second')?.spec?.nodeName, `${ns}-1`);
    assert.deepEqual(pods.filter((p) => p.metadata?.name?.startsWith('w-') && p.spec?.nodeName).map((p) => p.metadata?.name), []);
    assert.deepEqual(logs.filter((l) => l.startsWith(`evicted ${ns}/`)), []);
  });
});
