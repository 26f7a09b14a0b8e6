// Heap per bound pod of `gantry k8s scheduler`, without an apiserver: a KubeScheduler fed nodes and
// pods as its watches deliver them (slimmed), measured after a forced GC (docs/benchmarks.md,
// "Scheduler memory"). --leader: the pods arrive pending, are placed by cycles (binds answered at
// once) and then show up bound; otherwise they arrive bound (a standby, or a restart's adoption).
// --listwatch: also holds each pod in a map like client-node's ListWatch cache. SNAP=<file> writes
// heap snapshots before (<file>.0) and after. Compare two builds with the same arguments:
//   node --expose-gc bench/k8s/offline-heap.mjs <dist> [pods=2000] [nodes=1000] [--leader] [--listwatch]
import { pathToFileURL } from 'node:url';
const dist = process.argv[2];
const PODS = Number(process.argv[3] ?? 2000), NODES = Number(process.argv[4] ?? 1000);
const imp = (p) => import(pathToFileURL(`${dist}/${p}`).href);
const { KubeConfig } = await import('@kubernetes/client-node');
const { KubeScheduler } = await imp('src/adapters/k8s/scheduler.js');
const { fakeNode, fakePod } = await imp('test/k8s/cluster.js');
const { slimPod, slimNode } = await imp('src/adapters/k8s/slim.js');
const refuse = () => Promise.reject(new Error('no'));
const bound = new Map();
const writes = { bindPod: async (ns, name, node, ann) => { bound.set(name, { node, ann }); }, evictPod: refuse, upsertConfigMap: refuse, recordEvent: refuse, patchPodGroupStatus: refuse, patchQueueStatus: refuse, getLease: refuse, writeLease: refuse };
const kc = new KubeConfig();
kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
const s = new KubeScheduler({ kubeConfig: kc, writes, namespace: 'g', identity: 'm', leaderElection: false, log: () => {} });
const lw = new Map(); // emulates ListWatch's cache: ns -> name -> obj
const cache = (o) => { const ns = o.metadata.namespace ?? ''; let m = lw.get(ns); if (!m) lw.set(ns, (m = new Map())); m.set(o.metadata.name, o); };
const useLw = process.argv.includes('--listwatch');
const leader = process.argv.includes('--leader');
for (let i = 0; i < NODES; i++) { const n = slimNode(JSON.parse(JSON.stringify(fakeNode(`node-${i}`, { gpus: 8 })))); s.onNode(n); }
s.initialSync();
const sizes = [1, 1, 1, 2, 2, 4, 8];
let rv = 1000;
const heap = () => { globalThis.gc(); globalThis.gc(); return process.memoryUsage().heapUsed; };
// place pods first-fit, as JSON from the apiserver
const free = new Array(NODES).fill(8);
const podJson = [];
let node = 0;
for (let i = 0; i < PODS; i++) {
  const g = sizes[i % sizes.length];
  while (free[node] < g) node++;
  const first = 8 - free[node];
  free[node] -= g;
  const p = fakePod('bench-backlog', `p${i}`, { gpus: g, schedulerName: 'gantry', cpu: '1' });
  p.metadata.uid = `6f1c2a3b-${String(i).padStart(4, '0')}-4d5e-8f90-123456789abc`;
  p.metadata.resourceVersion = String(++rv);
  p.metadata.creationTimestamp = '2026-12-07T05:00:00Z';
  p.spec.nodeName = `node-${node}`;
  const gpus = Array.from({ length: g }, (_, k) => ({ index: first + k, uuid: `GPU-sim-node-${node}-${first + k}`, milli: 1000, memoryMiB: 81559 }));
  p.metadata.annotations = { ...p.metadata.annotations, 'gantry.dev/gpu-assignment': JSON.stringify({ node: `node-${node}`, gpus }), 'gantry.dev/gpu-uuids': gpus.map((x) => x.uuid).join(',') };
  p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], hostIP: '10.0.0.1', podIP: '10.1.0.1', startTime: '2026-12-07T05:00:01Z' };
  podJson.push(JSON.stringify(p));
}
let jsons = podJson;
if (leader) {
  s.leading = true; s.relisted = true; s.term = 1;
  // pending pods, one cycle per 200 (as arrivals come), then their bound versions as the watch shows them
  for (let i = 0; i < podJson.length; i++) {
    const p = JSON.parse(podJson[i]); delete p.spec.nodeName; delete p.metadata.annotations['gantry.dev/gpu-assignment']; delete p.metadata.annotations['gantry.dev/gpu-uuids']; p.status = { phase: 'Pending' };
    podJson[i] = JSON.stringify(p);
  }
}
const h0 = heap();
if (leader) {
  for (let i = 0; i < podJson.length; i++) {
    const sp = slimPod(JSON.parse(podJson[i])); if (useLw) cache(sp); s.onPod(sp);
    if (i % 200 === 199) { s.runCycle(); await new Promise((r) => setTimeout(r, 5)); }
  }
  s.runCycle(); await new Promise((r) => setTimeout(r, 50));
  while (s.calls.busy > 0) await new Promise((r) => setTimeout(r, 20));
  jsons = { *[Symbol.iterator]() { for (const j of podJson) { const p = JSON.parse(j); const b = bound.get(p.metadata.name); if (!b) { yield j; continue; } bound.delete(p.metadata.name); p.spec.nodeName = b.node; Object.assign(p.metadata.annotations, b.ann); p.metadata.resourceVersion = String(++rv); p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], hostIP: '10.0.0.1', podIP: '10.1.0.1', startTime: '2026-12-07T05:00:01Z' }; yield JSON.stringify(p); } } };
}
if (process.env.SNAP) { const v8 = await import('node:v8'); v8.writeHeapSnapshot(process.env.SNAP + '.0'); }
for (const j of jsons) { const sp = slimPod(JSON.parse(j)); if (useLw) cache(sp); s.onPod(sp); }
const h1 = heap();
console.log(JSON.stringify({ pods: PODS, nodes: NODES, booked: [...s.core.cluster.allBindings()].length, perPodBytes: Math.round((h1 - h0) / PODS), listwatch: useLw, leader, binds: s.stats.binds }));
if (process.env.SNAP) { const v8 = await import('node:v8'); v8.writeHeapSnapshot(process.env.SNAP); }
process.exit(0);
