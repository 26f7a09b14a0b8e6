/**
 * InferenceService on a real apiserver: how long from applying one to its replicas bound (and
 * Ready), and how long from a load step to the autoscaler's scale-out decision, per autoscaler
 * policy. The scheduler and the InferenceService controller run in this process, `gantry k8s
 * router` as its own process; replicas are simulated LLM servers on loopback pod IPs (fake
 * nodes, test/k8s/replica-kubelet.ts). Each round applies a new service (min 2, max 4, one
 * GPU each), waits for 2 Ready, starts `--clients` streaming clients and waits for the status
 * to ask for more, then deletes the service.
 *
 *   node dist/bench/k8s/inference-scale.js [--rounds 3] [--clients 12] [--policies kpa,gantry]
 */
import { loadavg } from 'node:os';
import { ControlPlane } from '../../test/k8s/harness.js';
import { createNamespace, createNode, createQueue, fakeNode, installGantryCrds, listPods, waitFor } from '../../test/k8s/cluster.js';
import { freePortAnyAddress, ReplicaKubelet } from '../../test/k8s/replica-kubelet.js';
import { applyIsvc, isvcStatus, removeIsvc, replicasOf, startRouterProcess, startServing, streamLoad } from '../../test/k8s/inference-cluster.js';

const NS = 'serve';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const rounds = Number(flag('--rounds', '3'));
const clients = Number(flag('--clients', '12'));
const policies = flag('--policies', 'kpa,gantry').split(',');

/**
 * The autoscalers' settings: kpa at 2 requests in flight per replica; gantry with a replica
 * profile whose output tokens are costly (20 ms each), so the clients' tokens need more than 2
 * replicas. Both with their default windows (60 s stable, 6 s panic).
 */
const AUTOSCALER: Record<string, Record<string, unknown>> = {
  kpa: { policy: 'kpa', targetInFlight: 2 },
  gantry: { policy: 'gantry', profile: { decodeBaseMs: 320, decodeMsPerSequence: 10 } },
};

const cp = await ControlPlane.start();
const kc = cp.kubeConfig();
await installGantryCrds(kc);
await createNamespace(kc, NS);
for (const n of ['gpu-a', 'gpu-b']) await createNode(kc, fakeNode(n, { gpus: 8 }));
await createQueue(kc, 'serving', { quota: { gpu: 16 } });
const serving = await startServing(kc, () => undefined);
const kubelet = new ReplicaKubelet(kc, NS, 0.5);
const router = await startRouterProcess(cp, NS);
const port = await freePortAnyAddress();
const rows: string[] = [];
try {
  for (let r = 1; r <= rounds; r++) {
    for (const policy of policies) {
      const name = `svc-${policy}-${r}`;
      const t0 = Date.now();
      await applyIsvc(kc, NS, name, { port, replicas: { min: 2, max: 4 }, resources: { gpu: 1 }, autoscaler: AUTOSCALER[policy] ?? { policy } });
      await waitFor('2 bound', async () => replicasOf(await listPods(kc, NS), name).filter((p) => p.spec?.nodeName).length === 2, 60_000, 10);
      const bound = (Date.now() - t0) / 1000;
      await waitFor('2 Ready', async () => (await isvcStatus(kc, NS, name)).readyReplicas === 2, 60_000, 20);
      const ready = (Date.now() - t0) / 1000;
      await sleepUntilRouted(router.base, name);
      const step = Date.now();
      const load = streamLoad(router.base, name, clients, 48);
      const scaled = await waitFor('scale-out', async () => {
        const s = await isvcStatus(kc, NS, name);
        return (s.desiredReplicas ?? 0) > 2 ? s : null;
      }, 60_000, 20);
      const decided = (Date.parse(scaled.lastScale?.time ?? '') - step) / 1000;
      await waitFor('a new replica serves', async () => load.results.some((x) => x.replica !== `${name}-r1` && x.replica !== `${name}-r2` && x.status === 200), 60_000, 20);
      const serves = (Date.now() - step) / 1000;
      await load.stop();
      const failed = load.results.filter((x) => x.status !== 200 || !x.done).length;
      const row = `| ${policy} | ${r} | ${bound.toFixed(2)} | ${ready.toFixed(2)} | ${decided.toFixed(2)} (${scaled.lastScale?.panic ? 'panic' : 'stable'}, 2 -> ${scaled.lastScale?.to ?? '?'}) | ${serves.toFixed(2)} | ${load.results.length} / ${failed} | ${loadavg()[0]?.toFixed(1) ?? '?'} |`;
      rows.push(row);
      console.log(row);
      await removeIsvc(kc, NS, name);
      await waitFor('replicas gone', async () => replicasOf(await listPods(kc, NS), name).length === 0, 60_000, 50);
    }
  }
} finally {
  router.child.kill('SIGTERM');
  await kubelet.stop();
  await serving.stop();
  await cp.stop();
}
console.log('\n| policy | round | applied -> 2 bound (s) | -> 2 Ready (s) | load step -> scale-out decided (s) | -> new replica serving (s) | streams / failed | load avg |');
console.log('|---|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);

/** The router knows the service once its watch delivered it: one request that gets a 200. */
async function sleepUntilRouted(base: string, name: string): Promise<void> {
  await waitFor('routed', async () => (await fetch(`${base}/${name}/health`)).status === 200, 30_000, 20);
}
