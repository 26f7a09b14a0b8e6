/**
 * A leader paused between its own fence check and the socket write (issue 17): the bind passed
 * the scheduler's check while the Lease was valid, the process stopped (SIGSTOP, a GC pause, a
 * descheduled VM) before the request left, another replica took over and gave the GPUs to a
 * higher-priority pod, then the old request went out. No check in the scheduler can catch a
 * write already past it; the webhook fence (deploy/webhook.yaml, `gantry-fence`) refuses it at
 * the apiserver because the Lease no longer names the term it carries. A proxy (api-proxy.ts)
 * plays the pause: it holds replica r1's Binding of pod A until r2 has bound pod B. Without the
 * fence A lands on B's GPUs: the double-booking the failover chaos test saw once in 8 runs.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { k8sTestOptions, type ControlPlane } from './harness.js';
import { createNamespace, createNode, createPods, FakeKubelet, fakeNode, fakePod, listPods, sleep, waitFor } from './cluster.js';
import { safetyProblems, startFailoverCluster, startReplica, stopReplica, type Replica } from './replicas.js';
import { ApiProxy } from './api-proxy.js';
import { startFence, type Fence } from './fence-webhook.js';

describe('failover: a bind sent after the leader lost its Lease', k8sTestOptions(), () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let fence: Fence | null = null;
  let kubelet: FakeKubelet | null = null;
  let proxy: ApiProxy | null = null;
  const replicas: Replica[] = [];
  const logs: string[] = [];

  before(async () => {
    ({ cp, kc } = await startFailoverCluster({ 'paused-low': 0, 'paused-high': 1000 }));
    fence = await startFence(kc, (l) => void logs.push(l));
  });

  after(async () => {
    if (process.env['GANTRY_K8S_LOGS'] === '1') process.stderr.write(logs.join('\n') + '\n');
    for (const r of replicas) await stopReplica(r);
    await proxy?.stop();
    await kubelet?.stop();
    fence?.stop();
    await cp?.stop();
  });

  const named = (pods: readonly V1Pod[], n: string): V1Pod | undefined => pods.find((p) => p.metadata?.name === n);

  it('is refused by the webhook fence: the GPUs stay with the pod the new leader bound', async () => {
    const id = 'paused';
    await createNamespace(kc, id);
    kubelet = new FakeKubelet(kc, id);
    await createNode(kc, fakeNode(`${id}-0`, { gpus: 8, labels: { 'gantry.dev/test': id } }));
    proxy = await ApiProxy.start(cp.server);
    const said = (identity: string, text: string): boolean => logs.some((l) => l.startsWith(`[${identity}]`) && l.includes(text));
    replicas.push(startReplica(proxy.writeKubeconfig(join(cp.dir, `${id}.kubeconfig`), cp.adminToken), 'r1', (l) => void logs.push(l)));
    await waitFor('r1 leads', async () => said('r1', 'leading (term'), 20_000);
    replicas.push(startReplica(cp.writeKubeconfig(), 'r2', (l) => void logs.push(l)));

    const sel = { 'gantry.dev/test': id };
    proxy.holdBindsOf.add('a');
    await createPods(kc, [fakePod(id, 'a', { gpus: 8, priorityClassName: 'paused-low', nodeSelector: sel })]);
    await waitFor('r1 sent the bind of a (held: r1 is paused before it leaves)', async () => proxy?.holds('a'), 20_000);
    proxy.refuseLeases = true; // r1 cannot renew: it stands down, r2 takes over
    await waitFor('r1 stands down', async () => said('r1', 'lost the lease'), 20_000);
    await createPods(kc, [fakePod(id, 'b', { gpus: 8, priorityClassName: 'paused-high', nodeSelector: sel })]);
    await waitFor('r2 leads and binds b', async () => said('r2', 'leading (term') && named(await listPods(kc, id), 'b')?.spec?.nodeName, 30_000);

    proxy.release('a'); // r1 resumes: its bind, checked before the pause, goes out now
    const seen: string[] = [];
    for (const end = Date.now() + 3000; Date.now() < end; await sleep(50)) {
      const { doubleBooked, overCapacity } = safetyProblems(await listPods(kc, id), new Map([[`${id}-0`, 8]]));
      seen.push(...doubleBooked, ...overCapacity);
    }
    assert.deepEqual([...new Set(seen)], [], 'no GPU on two live pods, no node over capacity');
    const pods = await listPods(kc, id);
    assert.equal(named(pods, 'a')?.spec?.nodeName, undefined, 'the late bind of a did not land');
    assert.equal(named(pods, 'b')?.spec?.nodeName, `${id}-0`);
    assert.ok(fence?.refused.some((r) => r.includes(`${id}/a`) && r.includes('stale binding refused: made by r1')), `the fence refused it: ${fence?.refused.join('; ') ?? ''}`);
  });
});
