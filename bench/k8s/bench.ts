/**
 * Kubernetes mode benchmark: Gantry vs the real kube-scheduler on the same apiserver.
 *
 *   npm run build && node dist/bench/k8s/bench.js [--nodes 1000] [--pods 2000] [--rates 100] [--latency-pods 1000]
 *       [--sizes 1,1,1,2,2,4,8] [--only gantry,kube-scheduler (binpack] [--kwok] [--runtime 2s] [--restart]
 *
 * One control plane (etcd + kube-apiserver from scripts/k8s/ensure-binaries.sh), N fake nodes
 * with 8 H100 each (nvidia.com/gpu: 8 and GFD labels). With --kwok, kwok (scripts/k8s/ensure-kwok.sh)
 * is their kubelet: it makes them Ready, bound pods Running, and steady-phase pods Succeeded after
 * --runtime. For each scheduler, on the same nodes:
 *  1. backlog: all pods (whole-GPU requests, sizes drawn from --sizes with a fixed seed)
 *     exist before the scheduler starts; throughput = pods bound per second between the first
 *     and the last bind seen by a watch; packing measured on the result;
 *  2. steady arrivals, per rate of --rates: pods created at a fixed rate; latency per pod =
 *     from the create call's answer to the watch event that shows it bound.
 * Gantry's heap (after a forced GC) and RSS are sampled with the backlog bound and with no pods.
 * --restart runs restart.ts instead (Gantry only). Pods are deleted between runs.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ControlPlane } from '../../test/k8s/harness.js';
import { fakeNode, fakePod, sleep } from '../../test/k8s/cluster.js';
import { createRng, type Rng } from '../../src/core/rng.js';
import { reuseConnections } from '../../src/adapters/k8s/connections.js';
import { BindWatch, GPUS_PER_NODE, overbooking, packing, parallel, percentile, type Overbooking, type Packing } from './measure.js';
import { kwokNode, RUNTIME_ANNOTATION, startKwok, waitNodesReady } from './kwok.js';
import { probeHeap, rssOf, type MemorySample } from './memory.js';
import { GANTRY, baselineRuns, stopProc, type SchedulerRun } from './schedulers.js';
import { runRestart } from './restart.js';
import { args, drawSize, type Args } from './args.js';

/**
 * Deletes every pod of the namespace. A loaded apiserver may time out deleting 10,000 pods in
 * one call (it goes on deleting): the call is repeated until none is left.
 */
export async function deleteAllPods(kc: KubeConfig, namespace: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  for (let attempt = 0; ; attempt++) {
    try {
      if (attempt % 20 === 0) await core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 });
      const left = await core.listNamespacedPod({ namespace, limit: 1 });
      if (left.items.length === 0) return;
    } catch (e) {
      process.stderr.write(`deleting the pods of ${namespace}: ${(e as Error).message}; again\n`);
    }
    await sleep(500);
  }
}


interface Steady {
  pods: number;
  rate: number;
  bound: number;
  running: number;
  finished: number;
  p50ms: number;
  p99ms: number;
  maxms: number;
  overbooking: Overbooking;
  watchReconnects: number;
}

interface Memory {
  /** Gantry: heap after GC and RSS with the backlog bound, then with no pods; others: RSS only. */
  withBacklog: MemorySample;
  noPods: MemorySample;
  afterSteady: MemorySample;
}

interface Result {
  scheduler: string;
  settings: string;
  backlog: { pods: number; bound: number; running: number; firstToLastS: number; podsPerS: number; startToLastS: number; packing: Packing; overbooking: Overbooking; watchReconnects: number };
  steady: Steady[];
  memory: Memory;
}

async function sample(proc: ChildProcess, gantry: boolean): Promise<MemorySample> {
  if (gantry) return probeHeap(proc);
  return { heapUsed: NaN, rss: rssOf(proc.pid) };
}

async function backlogPhase(kc: KubeConfig, cp: ControlPlane, kubeconfig: string, s: SchedulerRun, a: Args, ns: string, rng: Rng): Promise<{ proc: ChildProcess; backlog: Result['backlog'] }> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  const sizes = new Map<string, number>();
  const pods = Array.from({ length: a.pods }, (_, i) => {
    const g = drawSize(a, rng);
    sizes.set(`p${i}`, g);
    return fakePod(ns, `p${i}`, { gpus: g, schedulerName: s.schedulerName, cpu: '1' });
  });
  await parallel(pods, 32, async (p) => {
    await core.createNamespacedPod({ namespace: ns, body: p });
  });
  const w = new BindWatch(kc);
  await w.start(ns);
  const t0 = performance.now();
  const proc = s.start(cp, kubeconfig);
  const deadline = Date.now() + 600_000;
  let lastCount = -1;
  let stableSince = Date.now();
  while (w.boundAt.size < a.pods && Date.now() < deadline) {
    await sleep(200);
    if (w.boundAt.size !== lastCount) {
      lastCount = w.boundAt.size;
      stableSince = Date.now();
    } else if (w.boundAt.size > 0 && Date.now() - stableSince > 20_000) break; // nothing more fits
  }
  if (a.kwok) await waitFor(() => [...w.traces.values()].every((t) => t.runningAt !== undefined), 60_000);
  const times = [...w.boundAt.values()].sort((x, y) => x - y);
  const first = times[0] ?? t0;
  const last = times[times.length - 1] ?? t0;
  w.stop();
  const backlog = {
    pods: a.pods,
    bound: w.boundAt.size,
    running: [...w.traces.values()].filter((t) => t.runningAt !== undefined).length,
    firstToLastS: (last - first) / 1000,
    podsPerS: times.length > 1 ? (times.length - 1) / ((last - first) / 1000) : 0,
    startToLastS: (last - t0) / 1000,
    packing: packing(w.nodeOf, sizes, a.nodes),
    overbooking: overbooking(w.traces, GPUS_PER_NODE, s.gantry),
    watchReconnects: w.reconnects,
  };
  process.stderr.write(`${s.name}: backlog ${backlog.bound}/${a.pods} bound (${backlog.running} running), ${backlog.podsPerS.toFixed(1)} pods/s\n`);
  return { proc, backlog };
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const d = Date.now() + timeoutMs;
  while (!cond() && Date.now() < d) await sleep(200);
}

async function steadyPhase(kc: KubeConfig, s: SchedulerRun, a: Args, rate: number, ns: string, rng: Rng): Promise<Steady> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  const w = new BindWatch(kc);
  await w.start(ns);
  const createdAt = new Map<string, number>();
  const startAt = performance.now();
  const interval = 1000 / rate;
  const creates: Promise<void>[] = [];
  const annotations = a.kwok ? { [RUNTIME_ANNOTATION]: a.runtime } : undefined;
  for (let i = 0; i < a.latencyPods; i++) {
    const due = startAt + i * interval;
    const now = performance.now();
    if (due > now) await sleep(due - now);
    const name = `q${i}`;
    const body = fakePod(ns, name, { gpus: drawSize(a, rng), schedulerName: s.schedulerName, cpu: '1', ...(annotations ? { annotations } : {}) });
    creates.push(core.createNamespacedPod({ namespace: ns, body }).then(() => void createdAt.set(name, performance.now())));
  }
  await Promise.all(creates);
  await waitFor(() => w.boundAt.size >= a.latencyPods, 120_000);
  if (a.kwok) await waitFor(() => [...w.traces.values()].every((t) => t.finished), 60_000);
  w.stop();
  const lat: number[] = [];
  for (const [name, t] of w.boundAt) {
    const c = createdAt.get(name);
    if (c !== undefined) lat.push(Math.max(0, t - c));
  }
  const traces = [...w.traces.values()];
  const r: Steady = {
    pods: a.latencyPods,
    rate,
    bound: w.boundAt.size,
    running: traces.filter((t) => t.runningAt !== undefined).length,
    finished: traces.filter((t) => t.finished).length,
    p50ms: percentile(lat, 50),
    p99ms: percentile(lat, 99),
    maxms: percentile(lat, 100),
    overbooking: overbooking(w.traces, GPUS_PER_NODE, s.gantry),
    watchReconnects: w.reconnects,
  };
  process.stderr.write(`${s.name}: steady ${rate}/s ${r.bound}/${a.latencyPods} bound (${r.running} ran, ${r.finished} finished), p50 ${r.p50ms.toFixed(1)} ms, p99 ${r.p99ms.toFixed(1)} ms\n`);
  return r;
}

async function runOne(cp: ControlPlane, kc: KubeConfig, kubeconfig: string, s: SchedulerRun, a: Args, nsIndex: number): Promise<Result> {
  const rng = createRng(42);
  const ns1 = `bench-${nsIndex}-backlog`;
  const { proc, backlog } = await backlogPhase(kc, cp, kubeconfig, s, a, ns1, rng);
  try {
    return await afterBacklog(kc, s, a, nsIndex, proc, backlog, rng);
  } finally {
    await stopProc(proc);
  }
}

async function afterBacklog(kc: KubeConfig, s: SchedulerRun, a: Args, nsIndex: number, proc: ChildProcess, backlog: Result['backlog'], rng: Rng): Promise<Result> {
  const ns1 = `bench-${nsIndex}-backlog`;
  const withBacklog = await sample(proc, s.gantry);
  await deleteAllPods(kc, ns1);
  await sleep(3000); // let the scheduler see the deletions
  const noPods = await sample(proc, s.gantry);
  const steady: Steady[] = [];
  for (const [j, rate] of a.rates.entries()) {
    const ns = `bench-${nsIndex}-steady-${j}`;
    steady.push(await steadyPhase(kc, s, a, rate, ns, rng));
  }
  const afterSteady = await sample(proc, s.gantry);
  await stopProc(proc);
  for (const j of a.rates.keys()) await deleteAllPods(kc, `bench-${nsIndex}-steady-${j}`);
  return { scheduler: s.name, settings: s.settings, backlog, steady, memory: { withBacklog, noPods, afterSteady } };
}

export async function createNodes(kc: KubeConfig, a: Args): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const tn = performance.now();
  await parallel(
    Array.from({ length: a.nodes }, (_, i) => `node-${String(i).padStart(5, '0')}`),
    32,
    async (name) => {
      const n = fakeNode(name, { gpus: GPUS_PER_NODE });
      await core.createNode({ body: a.kwok ? kwokNode(n) : n });
    },
  );
  process.stderr.write(`created ${a.nodes} nodes in ${((performance.now() - tn) / 1000).toFixed(1)} s\n`);
  if (a.kwok) process.stderr.write(`kwok made them Ready in ${(await waitNodesReady(kc, a.nodes, 600_000)).toFixed(1)} s more\n`);
}

function report(a: Args, results: readonly Result[]): void {
  const mb = (x: number): string => (x / 1048576).toFixed(1);
  const table = ['| scheduler | backlog pods/s | bound | nodes used | partial nodes | stranded GPUs | ' + a.rates.map((r) => `p50 / p99 ms at ${r}/s`).join(' | ') + ' | heap MB (backlog / none) | RSS MB (backlog / none) |'];
  table.push('|' + '---|'.repeat(6 + a.rates.length + 2));
  for (const r of results) {
    const p = r.backlog.packing;
    const m = r.memory;
    table.push(
      `| ${r.scheduler} | ${r.backlog.podsPerS.toFixed(1)} | ${r.backlog.bound}/${r.backlog.pods} | ${p.nodesUsed} | ${p.partialNodes} | ${p.strandedGpus} | ` +
        r.steady.map((x) => `${x.p50ms.toFixed(1)} / ${x.p99ms.toFixed(1)}`).join(' | ') +
        ` | ${mb(m.withBacklog.heapUsed)} / ${mb(m.noPods.heapUsed)} | ${mb(m.withBacklog.rss)} / ${mb(m.noPods.rss)} |`,
    );
  }
  process.stderr.write(table.join('\n') + '\n');
  const g = results.find((r) => r.scheduler === 'gantry');
  if (g) for (const r of results) if (r !== g) process.stderr.write(`gantry / ${r.scheduler}: ${(g.backlog.podsPerS / r.backlog.podsPerS).toFixed(2)}x throughput\n`);
}

async function main(): Promise<void> {
  const a = args();
  const cp = await ControlPlane.start();
  let kwok: ChildProcess | null = null;
  try {
    // The load generator reuses connections too, so that it loads the apiserver no more than it must.
    const kc = reuseConnections(cp.kubeConfig());
    const kubeconfig = cp.writeKubeconfig();
    if (a.kwok) kwok = startKwok(kubeconfig, cp.dir);
    await createNodes(kc, a);
    const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');
    const header = { nodes: a.nodes, gpusPerNode: GPUS_PER_NODE, sizes: a.sizes, pods: a.pods, rates: a.rates, latencyPods: a.latencyPods, kwok: a.kwok, runtime: a.runtime, loadAtStart: load() };
    let out: unknown;
    if (a.restart) {
      out = { ...header, restart: await runRestart(cp, kc, kubeconfig, a) };
    } else {
      const runs = [GANTRY, ...baselineRuns()].filter((r) => a.only === null || a.only.split(',').some((o) => r.name.startsWith(o)));
      const results: Result[] = [];
      for (const [i, r] of runs.entries()) results.push(await runOne(cp, kc, kubeconfig, r, a, i));
      report(a, results);
      out = { ...header, loadAtEnd: load(), results };
    }
    const json = JSON.stringify(out, null, 2) + '\n';
    process.stdout.write(json);
    if (a.out) writeFileSync(a.out, json);
  } finally {
    if (kwok) await stopProc(kwok);
    await cp.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
