/**
 * A bind in flight across a change of term (issue 17), against a real apiserver: one 8-GPU node,
 * one `gantry k8s scheduler` replica behind a proxy (api-proxy.ts) that holds the Binding of pod
 * A. While A's bind is unanswered the replica loses its Lease (the proxy refuses Lease calls),
 * pod B (8 GPUs, higher priority) arrives, and the replica leads again. A's booking must stay
 * until the bind's answer is known: bound, A keeps the node and B waits; refused, the GPUs are
 * free and B gets them. (test/k8s/failover-repro.test.ts has the smallest takeover reproduction:
 * pod A bound, leader killed, pod B at a higher priority.)
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { k8sTestOptions, type ControlPlane } from './harness.js';
import { createNamespace, createQueue, createNode, createPods, FakeKubelet, fakeNode, fakePod, listPods, sleep, waitFor } from './cluster.js';
import { safetyProblems, startFailoverCluster, startReplica, stopReplica, type Replica } from './replicas.js';
import { ApiProxy } from './api-proxy.js';

describe('failover: a bind in flight when the term ends', k8sTestOptions(), () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  const kubelets: FakeKubelet[] = [];
  const proxies: ApiProxy[] = [];
  const replicas: Replica[] = [];
  const logs: string[] = [];

  before(async () => {
    ({ cp, kc } = await startFailoverCluster({ 'inflight-low': 0, 'inflight-high': 1000 }));
  });

  after(async () => {
    if (process.env['GANTRY_K8S_LOGS'] === '1') process.stderr.write(logs.join('\n') + '\n');
    for (const r of replicas) await stopReplica(r);
    for (const p of proxies) await p.stop();
    for (const k of kubelets) await k.stop();
    await cp?.stop();
  });

  const named = (pods: readonly V1Pod[], n: string): V1Pod | undefined => pods.find((p) => p.metadata?.name === n);

  /** Problems the apiserver's record shows (GPUs on two live pods, node over capacity), polled for `ms`. */
  async function watchSafety(id: string, ms: number, seen: string[]): Promise<void> {
    const capacity = new Map([[`${id}-0`, 8]]);
    for (const end = Date.now() + ms; Date.now() < end; ) {
      const { doubleBooked, overCapacity } = safetyProblems(await listPods(kc, id), capacity);
      seen.push(...doubleBooked, ...overCapacity);
      await sleep(50);
    }
  }

  /**
   * A's bind is held by the proxy; the replica loses the Lease, B arrives, the replica leads
   * again and runs a few cycles. Returns the proxy (A's bind still held) and what was seen.
   */
  async function bindInFlightAcrossTerms(id: string): Promise<{ proxy: ApiProxy; seen: string[] }> {
    for (const r of replicas) await stopReplica(r);
    await createNamespace(kc, id);
    kubelets.push(new FakeKubelet(kc, id));
    await createNode(kc, fakeNode(`${id}-0`, { gpus: 8, labels: { 'gantry.dev/test': id } }));
    const proxy = await ApiProxy.start(cp.server);
    proxies.push(proxy);
    const identity = `${id}-r`;
    const mine = (text: string): number => logs.filter((l) => l.startsWith(`[${identity}]`) && l.includes(text)).length;
    replicas.push(startReplica(proxy.writeKubeconfig(join(cp.dir, `${id}.kubeconfig`), cp.adminToken), identity, (l) => void logs.push(l)));
    await waitFor(`${identity} leads`, async () => mine('leading (term') === 1, 20_000);

    const sel = { 'gantry.dev/test': id };
    proxy.holdBindsOf.add('a');
    // A may not be preempted (within its queue's guarantee): B can only have the node if A's booking is (wrongly) dropped.
    await createQueue(kc, id, { quota: { gpu: 8 } });
    await createPods(kc, [fakePod(id, 'a', { gpus: 8, queue: id, priorityClassName: 'inflight-low', nodeSelector: sel, annotations: { 'gantry.dev/preemptible': 'false' } })]);
    await waitFor('the bind of a is sent', async () => proxy.holds('a'), 20_000);
    proxy.refuseLeases = true;
    await waitFor(`${identity} stands down`, async () => mine('lost the lease') === 1, 20_000);
    await createPods(kc, [fakePod(id, 'b', { gpus: 8, queue: id, priorityClassName: 'inflight-high', nodeSelector: sel })]);
    proxy.refuseLeases = false;
    await waitFor(`${identity} leads again`, async () => mine('leading (term') === 2, 20_000);
    const seen: string[] = [];
    // Cycles of the new term: before the fix, one bound B onto the GPUs of A's unanswered bind.
    await watchSafety(id, 3000, seen);
    assert.ok(proxy.holds('a'), 'the bind of a is still unanswered');
    return { proxy, seen };
  }

  it('keeps the booking of an unanswered bind of a past term; the bind lands, B waits', async () => {
    const id = 'landed';
    const { proxy, seen } = await bindInFlightAcrossTerms(id);
    assert.equal(named(await listPods(kc, id), 'b')?.spec?.nodeName, undefined, 'b waits while the bind of a is unanswered');
    proxy.release('a');
    await waitFor('a bound', async () => named(await listPods(kc, id), 'a')?.spec?.nodeName, 10_000);
    await watchSafety(id, 3000, seen);
    assert.deepEqual([...new Set(seen)], [], 'no GPU is booked by two live pods, no node over capacity');
    const pods = await listPods(kc, id);
    assert.equal(named(pods, 'a')?.spec?.nodeName, `${id}-0`);
    assert.equal(named(pods, 'b')?.spec?.nodeName, undefined, 'b waits: a holds the node and may not be preempted');
  });

  it('frees the GPUs once the unanswered bind of a past term is known to have failed', async () => {
    const id = 'refused';
    const { proxy, seen } = await bindInFlightAcrossTerms(id);
    proxy.holdBindsOf.delete('a');
    proxy.fail('a', 500);
    // The replica re-reads a (unbound): the booking goes, and the node is given to B, the higher priority.
    await waitFor('b bound', async () => named(await listPods(kc, id), 'b')?.spec?.nodeName, 15_000);
    await watchSafety(id, 2000, seen);
    assert.deepEqual([...new Set(seen)], [], 'no GPU is booked by two live pods, no node over capacity');
    assert.equal(named(await listPods(kc, id), 'a')?.spec?.nodeName, undefined, 'a waits for the node b holds');
  });
});
