/**
 * The smallest reproduction of issue 17 (GPUs double-booked across a leader change), against a
 * real apiserver: one 8-GPU node, two `gantry k8s scheduler` replicas. Pod A (8 GPUs) is bound by
 * the leader; the leader is killed; pod B (8 GPUs, higher priority) arrives. The standby must
 * know that A holds the node's GPUs: it may only evict A and then bind B, never bind B beside A.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SchedulingV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ControlPlane, k8sTestOptions } from './harness.js';
import { applyObjects, createNamespace, createNode, createPods, FakeKubelet, fakeNode, fakePod, listPods, manifest, sleep, waitEstablished, waitFor } from './cluster.js';
import { leaseHolder, safetyProblems, startReplica, stopReplica, type Replica } from './replicas.js';

describe('failover: a standby knows the GPUs the leader bound', k8sTestOptions(), () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let kubelet: FakeKubelet | null = null;
  const replicas: Replica[] = [];
  const logs: string[] = [];

  before(async () => {
    cp = await ControlPlane.start();
    kc = cp.kubeConfig();
    await applyObjects(kc, [...manifest('namespace.yaml'), ...manifest('crds/queues.scheduling.gantry.dev.yaml'), ...manifest('crds/podgroups.scheduling.x-k8s.io.yaml'), ...manifest('rbac.yaml')]);
    await waitEstablished(kc, ['queues.scheduling.gantry.dev', 'podgroups.scheduling.x-k8s.io']);
  });

  after(async () => {
    if (process.env['GANTRY_K8S_LOGS'] === '1') process.stderr.write(logs.join('\n') + '\n');
    for (const r of replicas) await stopReplica(r);
    await kubelet?.stop();
    await cp?.stop();
  });

  it('binds the higher-priority pod only after the running one is evicted', async () => {
    const id = 'repro';
    await createNamespace(kc, id);
    kubelet = new FakeKubelet(kc, id);
    const scheduling = kc.makeApiClient(SchedulingV1Api);
    await scheduling.createPriorityClass({ body: { metadata: { name: 'repro-low' }, value: 0 } });
    await scheduling.createPriorityClass({ body: { metadata: { name: 'repro-high' }, value: 1000 } });
    await createNode(kc, fakeNode('repro-0', { gpus: 8, labels: { 'gantry.dev/test': id } }));
    const kubeconfig = cp.writeKubeconfig();
    const log = (l: string): void => void logs.push(l);
    replicas.push(startReplica(kubeconfig, 'one', log));
    await waitFor('one leads', async () => (await leaseHolder(kc)) === 'one', 20_000);
    replicas.push(startReplica(kubeconfig, 'two', log));
    await waitFor('two synced', async () => logs.some((l) => l.startsWith('[two]') && l.includes('synced:')), 20_000);

    const sel = { 'gantry.dev/test': id };
    await createPods(kc, [fakePod(id, 'a', { gpus: 8, priorityClassName: 'repro-low', nodeSelector: sel })]);
    await waitFor('a bound', async () => (await listPods(kc, id)).find((p) => p.metadata?.name === 'a')?.spec?.nodeName);
    await sleep(2000);
    const leader = replicas.find((r) => r.identity === 'one');
    leader?.proc.kill('SIGKILL');
    await createPods(kc, [fakePod(id, 'b', { gpus: 8, priorityClassName: 'repro-high', nodeSelector: sel })]);

    // Watch the apiserver's state until B is bound (or long enough for a takeover and a cycle).
    const capacity = new Map([['repro-0', 8]]);
    const seen: string[] = [];
    const deadline = Date.now() + 20_000;
    let bBound = false;
    while (Date.now() < deadline && !bBound) {
      const pods = await listPods(kc, id);
      const { doubleBooked, overCapacity } = safetyProblems(pods, capacity);
      seen.push(...doubleBooked, ...overCapacity);
      bBound = Boolean(pods.find((p) => p.metadata?.name === 'b')?.spec?.nodeName);
      await sleep(50);
    }
    // A moment more: a double booking could also show up right after.
    for (let i = 0; i < 20; i++) {
      const { doubleBooked, overCapacity } = safetyProblems(await listPods(kc, id), capacity);
      seen.push(...doubleBooked, ...overCapacity);
      await sleep(50);
    }
    assert.deepEqual([...new Set(seen)], [], 'no GPU is booked by two live pods, no node over capacity');
    assert.ok(bBound, 'the new leader evicts A and binds B');
    assert.equal(await leaseHolder(kc), 'two');
    const a = (await listPods(kc, id)).find((p) => p.metadata?.name === 'a');
    assert.ok(!a, 'A was evicted to make room for B');
  });
});
