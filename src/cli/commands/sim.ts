/** `gantry sim ...`: the simulators over real traces. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { runExperiment } from '../../sim/openb/experiment.js';
import { NODE_ORDERS } from '../../sim/openb/replay.js';
import { loadPublished } from '../../sim/openb/published.js';
import { terminalReport, toJson, writeReport } from '../../sim/openb/report.js';
import { OPENB_SOURCE, loadOpenbNodes, loadOpenbPods } from '../../sim/openb/trace.js';
import { existingFile, parseNumber, parsePolicies, parseSeeds } from '../flags.js';
import { progressBar } from '../progress.js';
import { JOB_POLICIES, prepare, runJobsExperiment, type JobPolicy, type JobsSpec } from '../../sim/jobs/experiment.js';
import { PHILLY_FLEET, fleetGpus } from '../../sim/jobs/setup.js';
import { PHILLY_SOURCE } from '../../sim/jobs/philly.js';
import { terminalReport as jobsTerminal, toJson as jobsJson, writeReport as writeJobsReport } from '../../sim/jobs/report.js';

interface OpenbFlags {
  pods?: string;
  nodes?: string;
  policy: string;
  seeds: string;
  inflate: string;
  nodeOrder: string;
  json?: boolean;
  out?: string;
  threads?: string;
}

async function simOpenb(flags: OpenbFlags, argv: readonly string[]): Promise<void> {
  if (!flags.pods) throw new UserError('BAD_FLAG', `--pods FILE is required (an openb pod list, e.g. ../shared/traces/openb/openb_pod_list_default.csv; the trace is published at ${OPENB_SOURCE})`);
  const podsFile = existingFile('--pods', flags.pods);
  const nodesFile = flags.nodes ? existingFile('--nodes', flags.nodes) : join(dirname(podsFile), 'openb_node_list_gpu_node.csv');
  if (!flags.nodes && !existsSync(nodesFile)) throw new UserError('BAD_FLAG', `--nodes FILE is required: no openb_node_list_gpu_node.csv next to ${podsFile}`);
  const policies = parsePolicies('--policy', flags.policy);
  const seeds = parseSeeds('--seeds', flags.seeds);
  const inflate = parseNumber('--inflate', flags.inflate, 1, 10);
  const nodeOrder = NODE_ORDERS.find((o) => o === flags.nodeOrder.trim());
  if (!nodeOrder) throw new UserError('BAD_FLAG', `--node-order: unknown order "${flags.nodeOrder}" (choose from ${NODE_ORDERS.join(', ')})`);
  const threads = flags.threads !== undefined ? parseNumber('--threads', flags.threads, 1, 64, true) : undefined;
  // Validate both files up front so a malformed row fails fast with file, line and field.
  const nodes = loadOpenbNodes(nodesFile);
  if (nodes.every((n) => n.gpuCount === 0)) throw new UserError('TRACE_NO_GPUS', `${nodesFile}: no node has GPUs`);
  const pods = loadOpenbPods(podsFile);
  const bar = progressBar(!flags.json && process.stderr.isTTY === true);
  const results = await runExperiment({
    loaded: { nodes, pods },
    nodesFile,
    podsFile,
    policies,
    seeds,
    inflate,
    nodeOrder,
    ...(threads !== undefined ? { threads } : {}),
    onProgress: (done, total) => bar.update(done, total, `${done}/${total} replays`),
  });
  bar.stop();
  const published = loadPublished(podsFile);
  if (flags.json) {
    process.stdout.write(JSON.stringify(toJson(podsFile, results, published, nodeOrder)) + '\n');
  } else {
    process.stdout.write(terminalReport(results, published) + '\n');
  }
  if (flags.out) {
    const files = await writeReport(flags.out, podsFile, results, published, `gantry ${argv.slice(2).join(' ')}`, nodeOrder);
    if (!flags.json) process.stdout.write(`wrote ${files.join(', ')}\n`);
  }
}

interface JobsFlags {
  trace?: string;
  from: string;
  days: string;
  load: string;
  policy: string;
  seed: string;
  servers8gpu: string;
  servers2gpu: string;
  guaranteed: string;
  checkpointMinutes: string;
  graceSeconds: string;
  cycleSeconds: string;
  restartSeconds: string;
  json?: boolean;
  out?: string;
}

function parseDay(flag: string, value: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value.trim());
  const t = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
  if (!Number.isFinite(t)) throw new UserError('BAD_FLAG', `${flag}: "${value}" is not a date (YYYY-MM-DD, UTC)`);
  return t;
}

async function simJobs(flags: JobsFlags, argv: readonly string[]): Promise<void> {
  const defaultTrace = join(process.cwd(), '..', 'shared', 'traces', 'philly', 'philly.csv');
  const trace = flags.trace ? existingFile('--trace', flags.trace) : existsSync(defaultTrace) ? defaultTrace : null;
  if (!trace) throw new UserError('BAD_FLAG', `--trace FILE is required (the Philly trace as processed for Pollux, e.g. ../shared/traces/philly/philly.csv; original data: ${PHILLY_SOURCE})`);
  const policies = parseJobPolicies('--policy', flags.policy);
  const spec: JobsSpec = {
    trace,
    from: parseDay('--from', flags.from),
    days: parseNumber('--days', flags.days, 0.01, 120),
    load: parseNumber('--load', flags.load, 0.01, 1000),
    fleet: { ...PHILLY_FLEET, eightGpuServers: parseNumber('--servers-8gpu', flags.servers8gpu, 0, 100_000, true), twoGpuServers: parseNumber('--servers-2gpu', flags.servers2gpu, 0, 100_000, true) },
    seed: parseNumber('--seed', flags.seed, 0, 2 ** 31, true),
    checkpointMinutes: parseNumber('--checkpoint-minutes', flags.checkpointMinutes, 0.1, 10_000),
    graceSeconds: parseNumber('--grace-seconds', flags.graceSeconds, 0, 3600),
    cycleSeconds: parseNumber('--cycle-seconds', flags.cycleSeconds, 1, 3600),
    restartSeconds: parseNumber('--restart-seconds', flags.restartSeconds, 0, 3600),
    guaranteedFraction: parseNumber('--guaranteed', flags.guaranteed, 0, 1),
  };
  if (spec.fleet.eightGpuServers + spec.fleet.twoGpuServers === 0) throw new UserError('BAD_FLAG', '--servers-8gpu and --servers-2gpu: the cluster needs at least one server');
  const prepared = prepare(spec);
  if (prepared.jobs.length === 0) throw new UserError('EMPTY_WINDOW', `no job of ${trace} was submitted between ${flags.from} and ${flags.days} day(s) later`);
  const bar = progressBar(!flags.json && process.stderr.isTTY === true);
  const progress = new Map<string, number>();
  const results = await runJobsExperiment(spec, policies, (policy, done, total) => {
    progress.set(policy, done / Math.max(1, total));
    const sum = [...progress.values()].reduce((a, b) => a + b, 0);
    bar.update(Math.round((sum / policies.length) * 1000), 1000, `simulating ${policies.join(', ')}`);
  });
  bar.stop();
  const ctx = {
    trace,
    window: { from: new Date(spec.from).toISOString().slice(0, 10), days: spec.days, load: spec.load, jobs: prepared.jobs.length },
    gpus: fleetGpus(spec.fleet),
    settings: { seed: spec.seed, checkpointMinutes: spec.checkpointMinutes, graceSeconds: spec.graceSeconds, cycleSeconds: spec.cycleSeconds, restartSeconds: spec.restartSeconds, guaranteedFraction: spec.guaranteedFraction, servers8: spec.fleet.eightGpuServers, servers2: spec.fleet.twoGpuServers },
  };
  if (flags.json) process.stdout.write(JSON.stringify(jobsJson(ctx, results)) + '\n');
  else process.stdout.write(jobsTerminal(results) + '\n');
  if (flags.out) {
    const files = await writeJobsReport(flags.out, ctx, results, `gantry ${argv.slice(2).join(' ')}`);
    if (!flags.json) process.stdout.write(`wrote ${files.join(', ')}\n`);
  }
}

function parseJobPolicies(flag: string, value: string): JobPolicy[] {
  if (value.trim() === 'all') return [...JOB_POLICIES];
  const names = value.split(',').map((x) => x.trim()).filter(Boolean);
  if (names.length === 0) throw new UserError('BAD_FLAG', `${flag}: give at least one policy (${JOB_POLICIES.join(', ')}, or all)`);
  for (const n of names) if (!(JOB_POLICIES as readonly string[]).includes(n)) throw new UserError('BAD_FLAG', `${flag}: unknown policy "${n}" (choose from ${JOB_POLICIES.join(', ')}, or all)`);
  return [...new Set(names)] as JobPolicy[];
}

export function registerSim(program: Command): void {
  const sim = program.command('sim').description('simulate placement and queueing policies over real cluster traces');
  sim
    .command('openb')
    .description(
      `replay the FGD paper's GPU-sharing experiment on an openb trace (Alibaba cluster-trace-gpu-v2023, published at ${OPENB_SOURCE}; a copy lives in ../shared/traces/openb)`,
    )
    .option('--pods <file>', 'openb pod list CSV (openb_pod_list_<variant>.csv)')
    .option('--nodes <file>', 'openb node list CSV (default: openb_node_list_gpu_node.csv next to --pods)')
    .option('--policy <list>', 'comma-separated policies: random, dotprod, packing, clustering, bestfit, fgd, gantry, or all', 'all')
    .option('--seeds <seeds>', 'seeds: a list and/or ranges, e.g. 42-51', '42-51')
    .option('--inflate <factor>', 'append sampled pods until the requested GPU reaches this multiple of capacity', '1.3')
    .option(
      '--node-order <order>',
      'where ties between equal scores go: shuffled (as the reference simulator: nodes renamed per seed with a random prefix, ties to the first name) or name (the original node names)',
      'shuffled',
    )
    .option('--threads <n>', 'worker threads (default: one per core)')
    .option('--json', 'print one JSON object instead of a table')
    .option('--out <dir>', 'write summary.md, curves.csv, allocation.svg and results.json to this directory')
    .action(async (flags: OpenbFlags) => simOpenb(flags, process.argv));
  sim
    .command('jobs')
    .description(`simulate queueing, fair share and preemption policies over the Philly job trace (Microsoft, 2017; published at ${PHILLY_SOURCE}; a copy lives in ../shared/traces/philly)`)
    .option('--trace <file>', 'Philly trace CSV (default: ../shared/traces/philly/philly.csv)')
    .option('--from <date>', 'window start, YYYY-MM-DD (UTC)', '2017-10-09')
    .option('--days <n>', 'window length in days', '7')
    .option('--load <factor>', 'compress arrivals by this factor (2 = twice the arrival rate)', '1')
    .option('--policy <list>', `comma-separated: ${JOB_POLICIES.join(', ')} (sjf uses true durations: an oracle), or all`, 'all')
    .option('--seed <n>', 'random seed', '1')
    .option('--servers-8gpu <n>', '8-GPU servers in the cluster', String(PHILLY_FLEET.eightGpuServers))
    .option('--servers-2gpu <n>', '2-GPU servers in the cluster', String(PHILLY_FLEET.twoGpuServers))
    .option('--guaranteed <fraction>', 'share of the GPUs covered by queue guarantees (proportional to each virtual cluster\'s GPU time)', '0.5')
    .option('--checkpoint-minutes <n>', 'jobs save a checkpoint every N minutes of progress', '30')
    .option('--grace-seconds <n>', 'grace a preempted gantry job gets to save (baselines stop jobs at once)', '30')
    .option('--cycle-seconds <n>', 'scheduling cycle interval', '30')
    .option('--restart-seconds <n>', 'time a resumed job needs before it progresses again', '60')
    .option('--json', 'print one JSON object instead of a table')
    .option('--out <dir>', 'write summary.md, results.json, queues.csv, utilization.svg and queues.svg')
    .action(async (flags: JobsFlags) => simJobs(flags, process.argv));
}
