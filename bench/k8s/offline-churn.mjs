// The leader's CPU under churn, without an apiserver: pods of the 1,1,1,2,2,4,8 mix arrive one by
// one (a cycle each), are bound (answered at once), show up bound and running, and finish and
// go 150 arrivals later (3 s at 50 pods/s), on fake nodes of 8 GPUs. Prints ms per pod in all and
// in cycles; add --cpu-prof to see where it goes. Compare two builds with the same arguments:
//   node [--cpu-prof] bench/k8s/offline-churn.mjs <dist> [pods=3000] [nodes=5000]
import { pathToFileURL } from 'node:url';
import { setImmediate } from 'node:timers';
const dist = process.argv[2];
const PODS = Number(process.argv[3] ?? 3000), NODES = Number(process.argv[4] ?? 5000);
const imp = (p) => import(pathToFileURL(`${dist}/${p}`).href);
const { KubeConfig } = await import('@kubernetes/client-node');
const { KubeScheduler } = await imp('src/adapters/k8s/scheduler.js');
const { fakeNode, fakePod } = await imp('test/k8s/cluster.js');
const { slimPod, slimNode } = await imp('src/adapters/k8s/slim.js');
const pending = [];
const ok = async () => {};
const writes = { bindPod: async (ns, name, node, ann) => { pending.push({ name, node, ann }); }, evictPod: ok, upsertConfigMap: ok, recordEvent: ok, patchPodGroupStatus: ok, patchQueueStatus: ok, getLease: ok, writeLease: ok };
const kc = new KubeConfig();
kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
const s = new KubeScheduler({ kubeConfig: kc, writes, namespace: 'g', identity: 'm', leaderElection: false, log: () => {} });
for (let i = 0; i < NODES; i++) s.onNode(slimNode(JSON.parse(JSON.stringify(fakeNode(`node-${i}`, { gpus: 8 })))));
s.initialSync();
s.leading = true; s.relisted = true; s.term = 1;
const sizes = [1, 1, 1, 2, 2, 4, 8];
let rv = 1000;
const json = new Map();
const running = []; // [endAtIndex, pod json]
const t0 = performance.now();
let cycleMs = 0, cycles = 0;
for (let i = 0; i < PODS; i++) {
  const p = fakePod('bench-latency', `q${i}`, { gpus: sizes[i % 7], schedulerName: 'gantry', cpu: '1', annotations: { 'gantry.dev/bench-runtime': '3s' } });
  p.metadata.uid = `uid-${i}`; p.metadata.resourceVersion = String(++rv); p.metadata.creationTimestamp = new Date().toISOString(); p.status = { phase: 'Pending' };
  json.set(p.metadata.name, p);
  s.onPod(slimPod(JSON.parse(JSON.stringify(p))));
  const c0 = performance.now(); s.runCycle(); cycleMs += performance.now() - c0; cycles++;
  await new Promise((r) => setImmediate(r));
  for (const b of pending.splice(0)) {
    const q = JSON.parse(JSON.stringify(json.get(b.name))); q.spec.nodeName = b.node; Object.assign(q.metadata.annotations ??= {}, b.ann); q.metadata.resourceVersion = String(++rv);
    s.onPod(slimPod(JSON.parse(JSON.stringify(q))));
    q.status = { phase: 'Running' }; q.metadata.resourceVersion = String(++rv); s.onPod(slimPod(JSON.parse(JSON.stringify(q))));
    json.set(b.name, q); running.push([i + 150, b.name]); // runs for 150 arrivals (3 s at 50/s)
  }
  while (running.length && running[0][0] <= i) {
    const [, name] = running.shift(); const q = json.get(name);
    q.status = { phase: 'Succeeded' }; q.metadata.resourceVersion = String(++rv); s.onPod(slimPod(JSON.parse(JSON.stringify(q))));
    s.onPodDeleted(slimPod(JSON.parse(JSON.stringify(q)))); json.delete(name);
  }
}
const ms = performance.now() - t0;
console.log(JSON.stringify({ pods: PODS, nodes: NODES, binds: s.stats.binds, msPerPod: +(ms / PODS).toFixed(3), cycleMsPerPod: +(cycleMs / cycles).toFixed(3) }));
process.exit(0);
