/**
 * The openb placement sweep: every pod-list variant x seeds x policies, replayed as in the
 * FGD paper (src/sim/openb/replay.ts), reporting unallocated GPU % at 100 % arrived next to
 * the published FGD result (expected/SUMMARY_gpu_alloc_by_arrival.csv).
 *
 *   npx tsc -p . && node dist/bench/openb-policy-sweep.js [options]
 *     --traces DIR        openb folder (default $GANTRY_OPENB_DIR or <repo>/../shared/traces/openb)
 *     --variants a,b      pod-list variants (default: every openb_pod_list_*.csv in DIR)
 *     --policies a,b      policies (default fgd,gantry); the last one is judged
 *     --seeds 42-51       seeds, a range or a list (default 42-51)
 *     --inflate 1.3       arrivals until this multiple of GPU capacity (default 1.3)
 *     --workers N         worker threads (default min(2, cores))
 *     --json FILE         also write every per-seed result as JSON
 *
 * The judged policy passes a variant when its mean is below the published FGD mean by more
 * than the published FGD sd (margin > 1 sd). Variants without a published FGD row show the
 * difference to our own fgd instead. Traces are read in place, never copied.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadOpenbNodes, loadOpenbPods, type OpenbNode, type OpenbPod } from '../src/sim/openb/trace.js';
import { replay } from '../src/sim/openb/replay.js';
import { isPolicyName, type PolicyName } from '../src/core/policies.js';

interface Job {
  readonly variant: string;
  readonly policy: PolicyName;
  readonly seed: number;
}

interface JobResult extends Job {
  /** Unallocated GPU % at 100 % arrived. */
  readonly unalloc: number;
  readonly seconds: number;
}

interface WorkerInput {
  readonly traces: string;
  readonly inflate: number;
}

const NODE_FILE = 'openb_node_list_gpu_node.csv';
const SUMMARY_FILE = join('expected', 'SUMMARY_gpu_alloc_by_arrival.csv');

function podFile(traces: string, variant: string): string {
  return join(traces, `openb_pod_list_${variant}.csv`);
}

function runWorker(): void {
  const input = workerData as WorkerInput;
  let nodes: OpenbNode[] | null = null;
  const pods = new Map<string, OpenbPod[]>();
  parentPort?.on('message', (job: Job) => {
    nodes ??= loadOpenbNodes(join(input.traces, NODE_FILE));
    let list = pods.get(job.variant);
    if (!list) pods.set(job.variant, (list = loadOpenbPods(podFile(input.traces, job.variant))));
    const r = replay({ nodes, pods: list, policy: job.policy, seed: job.seed, inflate: input.inflate, now: () => performance.now() });
    const result: JobResult = { ...job, unalloc: 100 - (r.curve[100] as number), seconds: r.seconds };
    parentPort?.postMessage(result);
  });
}

interface Args {
  traces: string;
  variants: string[] | null;
  policies: PolicyName[];
  seeds: number[];
  inflate: number;
  workers: number;
  json: string | null;
}

function usage(message: string): never {
  process.stderr.write(`openb-policy-sweep: ${message}\n`);
  process.exit(2);
}

function parseSeeds(s: string): number[] {
  const range = /^(\d+)-(\d+)$/.exec(s);
  if (range) {
    const a = Number(range[1]);
    const b = Number(range[2]);
    if (b < a) usage(`empty seed range ${s}`);
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  }
  const list = s.split(',').map((x) => Number(x.trim()));
  if (list.some((x) => !Number.isInteger(x))) usage(`--seeds: expected a range like 42-51 or a list, got "${s}"`);
  return list;
}

function parseArgs(argv: readonly string[]): Args {
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const args: Args = {
    traces: process.env.GANTRY_OPENB_DIR ?? resolve(repo, '..', 'shared', 'traces', 'openb'),
    variants: null,
    policies: ['fgd', 'gantry'],
    seeds: parseSeeds('42-51'),
    inflate: 1.3,
    workers: Math.min(2, availableParallelism()),
    json: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = argv[i + 1];
    if (flag === '--help' || flag === '-h') {
      process.stdout.write('usage: node dist/bench/openb-policy-sweep.js [--traces DIR] [--variants a,b] [--policies fgd,gantry] [--seeds 42-51] [--inflate 1.3] [--workers 2] [--json FILE]\n');
      process.exit(0);
    }
    if (value === undefined) usage(`${flag} needs a value`);
    i++;
    switch (flag) {
      case '--traces':
        args.traces = resolve(value);
        break;
      case '--variants':
        args.variants = value === 'all' ? null : value.split(',').map((v) => v.trim());
        break;
      case '--policies': {
        const ps = value.split(',').map((p) => p.trim());
        for (const p of ps) if (!isPolicyName(p)) usage(`unknown policy "${p}"`);
        args.policies = ps as PolicyName[];
        break;
      }
      case '--seeds':
        args.seeds = parseSeeds(value);
        break;
      case '--inflate':
        args.inflate = Number(value);
        if (!(args.inflate > 0)) usage(`--inflate: expected a positive number, got "${value}"`);
        break;
      case '--workers':
        args.workers = Math.max(1, Math.trunc(Number(value)) || 1);
        break;
      case '--json':
        args.json = value;
        break;
      default:
        usage(`unknown option ${flag}`);
    }
  }
  return args;
}

/** Variant names in the folder: default first, then cpu* and gpushare* by their number. */
function listVariants(traces: string): string[] {
  const names = readdirSync(traces)
    .map((f) => /^openb_pod_list_(.+)\.csv$/.exec(f)?.[1])
    .filter((v): v is string => v !== undefined);
  const key = (v: string): [number, string, number] => {
    if (v === 'default') return [0, '', 0];
    const m = /^([a-z]+)(\d+)$/.exec(v);
    return m ? [1, m[1] as string, Number(m[2])] : [2, v, 0];
  };
  return names.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka[0] - kb[0] || (ka[1] < kb[1] ? -1 : ka[1] > kb[1] ? 1 : 0) || ka[2] - kb[2];
  });
}

/** Published FGD (mean unallocated %, sd) at 100 % arrived, by variant. */
function publishedFgd(traces: string): Map<string, { mean: number; sd: number }> {
  const out = new Map<string, { mean: number; sd: number }>();
  const file = join(traces, SUMMARY_FILE);
  if (!existsSync(file)) return out;
  const lines = readFileSync(file, 'utf8').trim().split(/\r?\n/);
  const header = (lines[0] ?? '').split(',');
  const col = (name: string): number => header.indexOf(name);
  const [cW, cP, cA, cU, cS] = [col('workload'), col('policy'), col('arrived_pct'), col('mean_unalloc_pct'), col('std')];
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    if (f[cP] !== 'FGD' || Number(f[cA]) !== 100) continue;
    const variant = (f[cW] ?? '').replace(/^openb_pod_list_/, '');
    out.set(variant, { mean: Number(f[cU]), sd: Number(f[cS]) });
  }
  return out;
}

function stats(xs: readonly number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const v = xs.length > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1) : 0;
  return { mean, sd: Math.sqrt(v) };
}

async function runJobs(args: Args, jobs: readonly Job[]): Promise<JobResult[]> {
  const results: JobResult[] = [];
  let next = 0;
  const input: WorkerInput = { traces: args.traces, inflate: args.inflate };
  const n = Math.min(args.workers, jobs.length);
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<void>((done, fail) => {
          const w = new Worker(fileURLToPath(import.meta.url), { workerData: input });
          const feed = (): void => {
            const job = jobs[next++];
            if (job) w.postMessage(job);
            else void w.terminate().then(() => done());
          };
          w.on('message', (r: JobResult) => {
            results.push(r);
            process.stderr.write(`\r${results.length}/${jobs.length} runs`);
            feed();
          });
          w.on('error', fail);
          feed();
        }),
    ),
  );
  process.stderr.write('\n');
  return results;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(join(args.traces, NODE_FILE))) usage(`no ${NODE_FILE} in ${args.traces} (use --traces or GANTRY_OPENB_DIR)`);
  const variants = args.variants ?? listVariants(args.traces);
  for (const v of variants) if (!existsSync(podFile(args.traces, v))) usage(`no pod list for variant "${v}" in ${args.traces}`);
  const jobs: Job[] = [];
  for (const variant of variants) for (const policy of args.policies) for (const seed of args.seeds) jobs.push({ variant, policy, seed });
  const t0 = performance.now();
  const results = await runJobs(args, jobs);
  const wall = (performance.now() - t0) / 1000;
  if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 1));

  const published = publishedFgd(args.traces);
  const judged = args.policies[args.policies.length - 1] as PolicyName;
  const cell = (variant: string, policy: string): { mean: number; sd: number } =>
    stats(results.filter((r) => r.variant === variant && r.policy === policy).map((r) => r.unalloc));
  const head = ['variant', 'published FGD', ...args.policies.map((p) => `${p} (ours)`), `margin of ${judged}`, 'pass'];
  const rows: string[][] = [];
  let passed = 0;
  let judgedCount = 0;
  for (const v of variants) {
    const pub = published.get(v);
    const ours = args.policies.map((p) => cell(v, p));
    const j = ours[ours.length - 1] as { mean: number; sd: number };
    let margin = '';
    let pass = '';
    if (pub && pub.sd > 0) {
      const m = (pub.mean - j.mean) / pub.sd;
      margin = `${m >= 0 ? '+' : ''}${m.toFixed(1)} sd`;
      pass = m > 1 ? 'PASS' : 'FAIL';
      judgedCount++;
      if (m > 1) passed++;
    } else if (args.policies.includes('fgd') && judged !== 'fgd') {
      const d = j.mean - cell(v, 'fgd').mean;
      margin = `${d >= 0 ? '+' : ''}${d.toFixed(2)} vs our fgd`;
      pass = '(no published)';
    }
    rows.push([v, pub ? `${pub.mean.toFixed(2)} (${pub.sd.toFixed(2)})` : '-', ...ours.map((o) => `${o.mean.toFixed(2)} (${o.sd.toFixed(2)})`), margin, pass]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  const out = [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
  const perRun = new Map<string, number[]>();
  for (const r of results) {
    const list = perRun.get(r.policy) ?? [];
    list.push(r.seconds);
    perRun.set(r.policy, list);
  }
  out.push('');
  out.push(`Unallocated GPU % at 100 % arrived, mean (sd) over seeds ${args.seeds[0]}..${args.seeds[args.seeds.length - 1]} (${args.seeds.length}), inflate ${args.inflate}.`);
  out.push(`${judged}: ${passed}/${judgedCount} published variants beaten by more than 1 sd.`);
  out.push(`Seconds per replay: ${[...perRun].map(([p, s]) => `${p} ${stats(s).mean.toFixed(2)}`).join(', ')}; wall ${wall.toFixed(0)} s with ${args.workers} worker(s).`);
  process.stdout.write(`${out.join('\n')}\n`);
}

if (isMainThread) {
  main().catch((e: unknown) => {
    process.stderr.write(`openb-policy-sweep: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
} else {
  runWorker();
}
