/**
 * Kubernetes mode benchmark: Gantry vs the real kube-scheduler on the same apiserver.
 *
 *   npm run build && node dist/bench/k8s/bench.js [--nodes 1000] [--pods 2000] [--rate 100] [--latency-pods 1000]
 *                                                  [--sizes 1,1,1,2,2,4,8] [--only gantry,kube-scheduler (binpack]
 *
 * One control plane (etcd + kube-apiserver from scripts/k8s/ensure-binaries.sh), N fake nodes
 * with 8 H100 each (nvidia.com/gpu: 8 and GFD labels). For each scheduler, on the same nodes:
 *  1. backlog: all pods (whole-GPU requests, sizes drawn from --sizes with a fixed seed)
 *     exist before the scheduler starts; throughput = pods bound per second between the first
 *     and the last bind seen by a watch; packing measured on the result;
 *  2. steady arrivals: pods created at a fixed rate on an empty cluster; latency per pod =
 *     from the create call's answer to the watch event that shows it bound.
 * Pods are deleted between runs, so every scheduler starts from the same empty nodes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { ControlPlane } from '../../test/k8s/harness.js';
import { fakeNode, fakePod, REPO, sleep } from '../../test/k8s/cluster.js';
import { createRng } from '../../src/core/rng.js';
import { reuseConnections } from '../../src/adapters/k8s/connections.js';

interface Args {
  nodes: number;
  pods: number;
  rate: number;
  latencyPods: number;
  only: string | null;
  sizes: number[];
}

function args(): Args {
  const a: Args = { nodes: 1000, pods: 2000, rate: 100, latencyPods: 1000, only: null, sizes: [1, 1, 1, 2, 2, 4, 8] };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) {
    const k = v[i];
    const x = v[i + 1] ?? '';
    if (k === '--nodes') a.nodes = Number(x);
    else if (k === '--pods') a.pods = Number(x);
    else if (k === '--rate') a.rate = Number(x);
    else if (k === '--latency-pods') a.latencyPods = Number(x);
    else if (k === '--only') a.only = x;
    else if (k === '--sizes') {
      a.sizes = x.split(',').map(Number);
      if (a.sizes.some((n) => !Number.isInteger(n) || n < 1 || n > GPUS_PER_NODE)) throw new Error(`--sizes: GPUs per pod, 1..${GPUS_PER_NODE}, comma separated`);
    }
    else throw new Error(`unknown flag ${k}`);
  }
  return a;
}

const GPUS_PER_NODE = 8;

interface SchedulerRun {
  readonly name: string;
  readonly schedulerName: string;
  readonly settings: string;
  start(cp: ControlPlane, kubeconfig: string): ChildProcess;
}

function kubeSchedulerRun(name: string, qps: number, burst: number, binpack: boolean): SchedulerRun {
  return {
    name,
    schedulerName: 'default-scheduler',
    settings: `client QPS ${qps} / burst ${burst}; ${binpack ? 'NodeResourcesFit MostAllocated on nvidia.com/gpu (bin packing)' : 'default profile (LeastAllocated)'}; percentageOfNodesToScore default (adaptive)`,
    start(cp, kubeconfig) {
      const cfg = join(cp.dir, `${name}.yaml`);
      const lines = [
        'apiVersion: kubescheduler.config.k8s.io/v1',
        'kind: KubeSchedulerConfiguration',
        'clientConnection:',
        `  kubeconfig: ${kubeconfig}`,
        `  qps: ${qps}`,
        `  burst: ${burst}`,
        'leaderElection:',
        '  leaderElect: false',
        'profiles:',
        '- schedulerName: default-scheduler',
      ];
      if (binpack) {
        lines.push(
          '  pluginConfig:',
          '  - name: NodeResourcesFit',
          '    args:',
          '      scoringStrategy:',
          '        type: MostAllocated',
          '        resources:',
          '        - name: nvidia.com/gpu',
          '          weight: 1',
        );
      }
      writeFileSync(cfg, lines.join('\n') + '\n');
      return cp.startKubeScheduler(cfg);
    },
  };
}

const GANTRY: SchedulerRun = {
  name: 'gantry',
  schedulerName: 'gantry',
  settings: 'gantry k8s scheduler, defaults (Lease election on, 64 API calls in flight, no client-side QPS limit; scores every node)',
  start(_cp, kubeconfig) {
    // GANTRY_BENCH_NODE_ARGS: extra node flags for the scheduler process (e.g. --cpu-prof).
    const nodeArgs = (process.env['GANTRY_BENCH_NODE_ARGS'] ?? '').split(' ').filter((x) => x !== '');
    const p = spawn(process.execPath, [...nodeArgs, join(REPO, 'bin/gantry.js'), 'k8s', 'scheduler', `--kubeconfig=${kubeconfig}`, '--namespace=default', '--identity=bench', '--metrics-port=0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    p.stderr?.on('data', (d: Buffer) => {
      const s = d.toString();
      if (/error|failed/i.test(s)) process.stderr.write(`[gantry] ${s}`);
    });
    return p;
  },
};

async function parallel<T>(items: readonly T[], width: number, f: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (i < items.length) {
        const x = items[i++] as T;
        await f(x);
      }
    }),
  );
}

/** Watches pods of a namespace; records when each was first seen bound (ms, performance clock). */
class BindWatch {
  readonly boundAt = new Map<string, number>();
  readonly nodeOf = new Map<string, string>();
  private req: { abort(): void } | null = null;
  constructor(private readonly kc: KubeConfig) {}
  async start(namespace: string): Promise<void> {
    this.req = await new Watch(this.kc).watch(
      `/api/v1/namespaces/${namespace}/pods`,
      {},
      (_phase: string, pod: V1Pod) => {
        const name = pod.metadata?.name ?? '';
        if (pod.spec?.nodeName && !this.boundAt.has(name)) {
          this.boundAt.set(name, performance.now());
          this.nodeOf.set(name, pod.spec.nodeName);
        }
      },
      () => undefined,
    );
  }
  stop(): void {
    this.req?.abort();
  }
}

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

interface Packing {
  nodesUsed: number;
  fullNodes: number;
  partialNodes: number;
  strandedGpus: number;
  emptyNodes: number;
}

function packing(nodeOf: ReadonlyMap<string, string>, sizes: ReadonlyMap<string, number>, nodes: number): Packing {
  const used = new Map<string, number>();
  for (const [pod, node] of nodeOf) used.set(node, (used.get(node) ?? 0) + (sizes.get(pod) ?? 0));
  let full = 0;
  let partial = 0;
  let stranded = 0;
  for (const u of used.values()) {
    if (u >= GPUS_PER_NODE) full++;
    else if (u > 0) {
      partial++;
      stranded += GPUS_PER_NODE - u;
    }
  }
  return { nodesUsed: used.size, fullNodes: full, partialNodes: partial, strandedGpus: stranded, emptyNodes: nodes - used.size };
}

async function deleteAllPods(kc: KubeConfig, namespace: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 });
  for (;;) {
    const left = await core.listNamespacedPod({ namespace, limit: 1 });
    if (left.items.length === 0) return;
    await sleep(500);
  }
}

async function stopProc(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}

interface Result {
  scheduler: string;
  settings: string;
  backlog: { pods: number; bound: number; firstToLastS: number; podsPerS: number; startToLastS: number; packing: Packing };
  steady: { pods: number; rate: number; bound: number; p50ms: number; p99ms: number; maxms: number };
}

async function runOne(cp: ControlPlane, kc: KubeConfig, kubeconfig: string, s: SchedulerRun, a: Args, nsIndex: number): Promise<Result> {
  const core = kc.makeApiClient(CoreV1Api);
  const rng = createRng(42);
  // Phase 1: backlog.
  const ns1 = `bench-${nsIndex}-backlog`;
  await core.createNamespace({ body: { metadata: { name: ns1 } } });
  const sizes = new Map<string, number>();
  const pods = Array.from({ length: a.pods }, (_, i) => {
    const g = a.sizes[Math.floor(rng.next() * a.sizes.length)] ?? 1;
    sizes.set(`p${i}`, g);
    return fakePod(ns1, `p${i}`, { gpus: g, schedulerName: s.schedulerName, cpu: '1' });
  });
  await parallel(pods, 32, async (p) => {
    await core.createNamespacedPod({ namespace: ns1, body: p });
  });
  const w1 = new BindWatch(kc);
  await w1.start(ns1);
  const t0 = performance.now();
  const proc = s.start(cp, kubeconfig);
  const deadline = Date.now() + 600_000;
  let lastCount = -1;
  let stableSince = Date.now();
  while (w1.boundAt.size < a.pods && Date.now() < deadline) {
    await sleep(200);
    if (w1.boundAt.size !== lastCount) {
      lastCount = w1.boundAt.size;
      stableSince = Date.now();
    } else if (w1.boundAt.size > 0 && Date.now() - stableSince > 20_000) break; // nothing more fits
  }
  const times = [...w1.boundAt.values()].sort((x, y) => x - y);
  const first = times[0] ?? t0;
  const last = times[times.length - 1] ?? t0;
  const backlog = {
    pods: a.pods,
    bound: w1.boundAt.size,
    firstToLastS: (last - first) / 1000,
    podsPerS: times.length > 1 ? (times.length - 1) / ((last - first) / 1000) : 0,
    startToLastS: (last - t0) / 1000,
    packing: packing(w1.nodeOf, sizes, a.nodes),
  };
  w1.stop();
  process.stderr.write(`${s.name}: backlog ${backlog.bound}/${a.pods} bound, ${backlog.podsPerS.toFixed(1)} pods/s\n`);
  await deleteAllPods(kc, ns1);
  await sleep(2000); // let the scheduler see the deletions

  // Phase 2: steady arrivals on the empty cluster (the scheduler keeps running).
  const ns2 = `bench-${nsIndex}-steady`;
  await core.createNamespace({ body: { metadata: { name: ns2 } } });
  const w2 = new BindWatch(kc);
  await w2.start(ns2);
  const createdAt = new Map<string, number>();
  const startAt = performance.now();
  const interval = 1000 / a.rate;
  const creates: Promise<void>[] = [];
  for (let i = 0; i < a.latencyPods; i++) {
    const due = startAt + i * interval;
    const now = performance.now();
    if (due > now) await sleep(due - now);
    const name = `q${i}`;
    const g = a.sizes[Math.floor(rng.next() * a.sizes.length)] ?? 1;
    creates.push(
      core.createNamespacedPod({ namespace: ns2, body: fakePod(ns2, name, { gpus: g, schedulerName: s.schedulerName, cpu: '1' }) }).then(() => {
        createdAt.set(name, performance.now());
      }),
    );
  }
  await Promise.all(creates);
  const d2 = Date.now() + 120_000;
  while (w2.boundAt.size < a.latencyPods && Date.now() < d2) await sleep(200);
  w2.stop();
  const lat: number[] = [];
  for (const [name, t] of w2.boundAt) {
    const c = createdAt.get(name);
    if (c !== undefined) lat.push(Math.max(0, t - c));
  }
  const steady = { pods: a.latencyPods, rate: a.rate, bound: w2.boundAt.size, p50ms: percentile(lat, 50), p99ms: percentile(lat, 99), maxms: percentile(lat, 100) };
  process.stderr.write(`${s.name}: steady ${steady.bound}/${a.latencyPods} bound, p50 ${steady.p50ms.toFixed(0)} ms, p99 ${steady.p99ms.toFixed(0)} ms\n`);
  await stopProc(proc);
  await deleteAllPods(kc, ns2);
  return { scheduler: s.name, settings: s.settings, backlog, steady };
}

async function main(): Promise<void> {
  const a = args();
  const cp = await ControlPlane.start();
  try {
    // The load generator reuses connections too, so that it loads the apiserver no more than it must.
    const kc = reuseConnections(cp.kubeConfig());
    const kubeconfig = cp.writeKubeconfig();
    const core = kc.makeApiClient(CoreV1Api);
    const tn = performance.now();
    await parallel(
      Array.from({ length: a.nodes }, (_, i) => `node-${String(i).padStart(4, '0')}`),
      32,
      async (name) => {
        await core.createNode({ body: fakeNode(name, { gpus: GPUS_PER_NODE }) });
      },
    );
    process.stderr.write(`created ${a.nodes} nodes in ${((performance.now() - tn) / 1000).toFixed(1)} s\n`);
    const runs: SchedulerRun[] = [
      GANTRY,
      kubeSchedulerRun('kube-scheduler (binpack, QPS 5000)', 5000, 5000, true),
      kubeSchedulerRun('kube-scheduler (default, QPS 5000)', 5000, 5000, false),
      kubeSchedulerRun('kube-scheduler (default, QPS 50)', 50, 100, false),
    ].filter((r) => a.only === null || a.only.split(',').some((o) => r.name.startsWith(o)));
    const results: Result[] = [];
    for (const [i, r] of runs.entries()) results.push(await runOne(cp, kc, kubeconfig, r, a, i));
    process.stdout.write(JSON.stringify({ nodes: a.nodes, gpusPerNode: GPUS_PER_NODE, sizes: a.sizes, pods: a.pods, rate: a.rate, results }, null, 2) + '\n');
    const g = results.find((r) => r.scheduler === 'gantry');
    const table = ['| scheduler | backlog pods/s | bound | nodes used | partial nodes | stranded GPUs | empty nodes | steady p50 ms | steady p99 ms |', '|---|---|---|---|---|---|---|---|---|'];
    for (const r of results) {
      const p = r.backlog.packing;
      table.push(`| ${r.scheduler} | ${r.backlog.podsPerS.toFixed(1)} | ${r.backlog.bound}/${r.backlog.pods} | ${p.nodesUsed} | ${p.partialNodes} | ${p.strandedGpus} | ${p.emptyNodes} | ${r.steady.p50ms.toFixed(0)} | ${r.steady.p99ms.toFixed(0)} |`);
    }
    process.stderr.write(table.join('\n') + '\n');
    if (g) for (const r of results) if (r !== g) process.stderr.write(`gantry / ${r.scheduler}: ${(g.backlog.podsPerS / r.backlog.podsPerS).toFixed(2)}x throughput\n`);
  } finally {
    await cp.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
