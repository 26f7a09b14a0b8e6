/** `gantry sim ...`: the simulators over real traces. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { runExperiment } from '../../sim/openb/experiment.js';
import { NODE_ORDERS, WORKLOAD_MODES } from '../../sim/openb/replay.js';
import { loadPublished } from '../../sim/openb/published.js';
import { terminalReport, toJson, writeReport } from '../../sim/openb/report.js';
import { OPENB_SOURCE, loadOpenbNodes, loadOpenbPods } from '../../sim/openb/trace.js';
import { familyName, parseFamily } from '../../sim/openb/families.js';
import { existingFile, parseNumber, parsePolicies, parseSeeds } from '../flags.js';
import { progressBar } from '../progress.js';
import { CHURN_POLICIES, JOB_POLICIES, TRACE_POLICIES, prepare, runJobsExperiment, type JobPolicy, type JobsSpec } from '../../sim/jobs/experiment.js';
import { PHILLY_FLEET, fleetGpus } from '../../sim/jobs/setup.js';
import { PHILLY_SOURCE } from '../../sim/jobs/philly.js';
import { CHURN_DEFAULTS, type ChurnSpec } from '../../sim/jobs/churn.js';
import { loadQueuesFile } from '../../sim/jobs/queues-file.js';
import { registerLlmServer } from './llm-server.js';
import { registerSimServe } from './sim-serve.js';
import { addDataOptions, dataSettings, parseDataFlags, registerSimDatasets, type DataFlags } from './sim-data.js';
import { parsePrices, pricesSetting } from './sim-prices.js';
import { churnTerminal, costTerminal, terminalReport as jobsTerminal, toJson as jobsJson, writeReport as writeJobsReport } from '../../sim/jobs/report.js';

interface OpenbFlags {
  pods?: string;
  nodes?: string;
  policy: string;
  seeds: string;
  inflate: string;
  nodeOrder: string;
  workload: string;
  family?: string;
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
  const workload = WORKLOAD_MODES.find((w) => w === flags.workload.trim());
  if (!workload) throw new UserError('BAD_FLAG', `--workload: unknown setting "${flags.workload}" (choose from ${WORKLOAD_MODES.join(', ')})`);
  const family = flags.family !== undefined ? parseFamily('--family', flags.family) : undefined;
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
    workload,
    ...(family ? { family } : {}),
    ...(threads !== undefined ? { threads } : {}),
    onProgress: (done, total) => bar.update(done, total, `${done}/${total} replays`),
  });
  bar.stop();
  // A family is not the published file: no published figures beside it.
  const published = family ? null : loadPublished(podsFile);
  if (flags.json) {
    process.stdout.write(JSON.stringify(toJson(podsFile, results, published, nodeOrder, workload, family ? familyName(family) : undefined)) + '\n');
  } else {
    process.stdout.write(terminalReport(results, published) + '\n');
  }
  if (flags.out) {
    const files = await writeReport(flags.out, podsFile, results, published, `gantry ${argv.slice(2).join(' ')}`, nodeOrder, workload);
    if (!flags.json) process.stdout.write(`wrote ${files.join(', ')}\n`);
  }
}

interface JobsFlags extends DataFlags {
  trace?: string;
  prices?: string;
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
  workload: string;
  hours: string;
  queues?: string;
  servers: string;
  gangGpus: string;
  meanMinutes: string;
  checkpointing: string;
  nonPreemptible: string;
  burstEvery: string;
  burstJobs: string;
  burstPriority: string;
  json?: boolean;
  out?: string;
}

/** "lo-hi" (or one number) within [min, max]. */
function parseRange(flag: string, value: string, min: number, max: number, integer = false): [number, number] {
  const parts = value.split('-').map((x) => x.trim());
  if (parts.length > 2) throw new UserError('BAD_FLAG', `${flag}: "${value}" is not a number or a range lo-hi`);
  const lo = parseNumber(flag, parts[0] as string, min, max, integer);
  const hi = parts.length === 2 ? parseNumber(flag, parts[1] as string, min, max, integer) : lo;
  if (hi < lo) throw new UserError('BAD_FLAG', `${flag}: range ${value} ends below its start`);
  return [lo, hi];
}

/** The churn workload's settings from the flags (see src/sim/jobs/churn.ts). */
function churnSpec(flags: JobsFlags, seed: number, load: number): ChurnSpec {
  const queues = flags.queues ? loadQueuesFile(existingFile('--queues', flags.queues)) : CHURN_DEFAULTS.queues;
  return {
    seed,
    load,
    hours: parseNumber('--hours', flags.hours, 0.1, 24 * 365),
    servers: parseNumber('--servers', flags.servers, 1, 100_000, true),
    queues,
    gangGpus: parseRange('--gang-gpus', flags.gangGpus, 1, 64, true),
    meanMinutes: parseNumber('--mean-minutes', flags.meanMinutes, 1, 10_000),
    checkpointing: parseNumber('--checkpointing', flags.checkpointing, 0, 1),
    nonPreemptible: parseNumber('--non-preemptible', flags.nonPreemptible, 0, 1),
    burstEveryHours: parseRange('--burst-every', flags.burstEvery, 0.01, 1000),
    burstJobs: parseRange('--burst-jobs', flags.burstJobs, 0, 1000, true),
    burstPriority: parseNumber('--burst-priority', flags.burstPriority, -1e6, 1e6, true),
  };
}

function parseDay(flag: string, value: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value.trim());
  const t = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
  if (!Number.isFinite(t)) throw new UserError('BAD_FLAG', `${flag}: "${value}" is not a date (YYYY-MM-DD, UTC)`);
  return t;
}

async function simJobs(flags: JobsFlags, argv: readonly string[]): Promise<void> {
  const workload = flags.workload.trim();
  if (workload !== 'philly' && workload !== 'churn') throw new UserError('BAD_FLAG', `--workload: unknown workload "${flags.workload}" (choose from philly, churn)`);
  if (workload === 'churn') return simChurn(flags, argv);
  if (flags.queues) throw new UserError('BAD_FLAG', '--queues applies to --workload churn (the Philly workload has one queue per virtual cluster)');
  const defaultTrace = join(process.cwd(), '..', 'shared', 'traces', 'philly', 'philly.csv');
  const trace = flags.trace ? existingFile('--trace', flags.trace) : existsSync(defaultTrace) ? defaultTrace : null;
  if (!trace) throw new UserError('BAD_FLAG', `--trace FILE is required (the Philly trace as processed for Pollux, e.g. ../shared/traces/philly/philly.csv; original data: ${PHILLY_SOURCE})`);
  const policies = parseJobPolicies('--policy', flags.policy);
  const spec: JobsSpec = {
    ...withPrices(flags),
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
    ...withDataSpec(flags),
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
    settings: { ...(spec.pricesMicros ? { prices: pricesSetting(spec.pricesMicros) } : {}), seed: spec.seed, checkpointMinutes: spec.checkpointMinutes, graceSeconds: spec.graceSeconds, cycleSeconds: spec.cycleSeconds, restartSeconds: spec.restartSeconds, guaranteedFraction: spec.guaranteedFraction, servers8: spec.fleet.eightGpuServers, servers2: spec.fleet.twoGpuServers, ...dataSettings(spec.data) },
  };
  if (flags.json) process.stdout.write(JSON.stringify(jobsJson(ctx, results)) + '\n');
  else process.stdout.write(jobsTerminal(results) + '\n\n' + costTerminal(results) + '\n');
  if (flags.out) {
    const files = await writeJobsReport(flags.out, ctx, results, `gantry ${argv.slice(2).join(' ')}`);
    if (!flags.json) process.stdout.write(`wrote ${files.join(', ')}\n`);
  }
}

async function simChurn(flags: JobsFlags, argv: readonly string[]): Promise<void> {
  const policies = parseJobPolicies('--policy', flags.policy === 'all' ? CHURN_POLICIES.join(',') : flags.policy);
  const seed = parseNumber('--seed', flags.seed, 0, 2 ** 31, true);
  const churn = churnSpec(flags, seed, parseNumber('--load', flags.load, 0.01, 1000));
  const spec: JobsSpec = {
    ...withPrices(flags),
    trace: '',
    from: 0,
    days: churn.hours / 24,
    load: churn.load,
    fleet: { ...PHILLY_FLEET, eightGpuServers: churn.servers, twoGpuServers: 0 },
    seed,
    checkpointMinutes: parseNumber('--checkpoint-minutes', flags.checkpointMinutes, 0.1, 10_000),
    graceSeconds: parseNumber('--grace-seconds', flags.graceSeconds, 0, 3600),
    cycleSeconds: parseNumber('--cycle-seconds', flags.cycleSeconds, 1, 3600),
    restartSeconds: parseNumber('--restart-seconds', flags.restartSeconds, 0, 3600),
    guaranteedFraction: 0,
    churn,
    ...withDataSpec(flags),
  };
  const prepared = prepare(spec);
  if (prepared.jobs.length === 0) throw new UserError('EMPTY_WINDOW', `the churn workload has no jobs at --load ${churn.load} over --hours ${churn.hours}`);
  const bar = progressBar(!flags.json && process.stderr.isTTY === true);
  const progress = new Map<string, number>();
  const results = await runJobsExperiment(spec, policies, (policy, done, total) => {
    progress.set(policy, done / Math.max(1, total));
    const sum = [...progress.values()].reduce((a, b) => a + b, 0);
    bar.update(Math.round((sum / policies.length) * 1000), 1000, `simulating ${policies.join(', ')}`);
  });
  bar.stop();
  const ctx = {
    trace: 'churn',
    window: { from: 'generated', days: churn.hours / 24, load: churn.load, jobs: prepared.jobs.length },
    gpus: churn.servers * 8,
    settings: { ...(spec.pricesMicros ? { prices: pricesSetting(spec.pricesMicros) } : {}), ...dataSettings(spec.data), seed, hours: churn.hours, gangGpus: churn.gangGpus, meanMinutes: churn.meanMinutes, checkpointing: churn.checkpointing, nonPreemptible: churn.nonPreemptible, burstEveryHours: churn.burstEveryHours, burstJobs: churn.burstJobs, burstPriority: churn.burstPriority, queues: churn.queues, cycleSeconds: spec.cycleSeconds, restartSeconds: spec.restartSeconds },
  };
  if (flags.json) process.stdout.write(JSON.stringify(jobsJson(ctx, results)) + '\n');
  else process.stdout.write(jobsTerminal(results) + '\n\n' + churnTerminal(results) + '\n\n' + costTerminal(results) + '\n');
  if (flags.out) {
    const files = await writeJobsReport(flags.out, ctx, results, `gantry ${argv.slice(2).join(' ')}`);
    if (!flags.json) process.stdout.write(`wrote ${files.join(', ')}\n`);
  }
}

function withPrices(flags: JobsFlags): Pick<JobsSpec, 'pricesMicros'> {
  return flags.prices === undefined ? {} : { pricesMicros: parsePrices(flags.prices) };
}

function withDataSpec(flags: JobsFlags): Pick<JobsSpec, 'data'> {
  const data = parseDataFlags(flags);
  return data ? { data } : {};
}

function parseJobPolicies(flag: string, value: string): JobPolicy[] {
  if (value.trim() === 'all') return [...TRACE_POLICIES];
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
    .option(
      '--workload <source>',
      "gantry's target workload: online (learned from the pods arrived so far, as gantry up and gantry k8s do) or oracle (the whole trace, the FGD paper's setting); fgd always has the whole trace's",
      'online',
    )
    .option(
      '--family <knobs>',
      'replay a workload family derived from --pods instead: comma-separated KNOB=FRACTION with KNOB multigpu (whole-GPU pods asking for 2-8 GPUs), constrained (GPU pods limited to 1-2 models), share (single-GPU pods asking for a share), cpuonly (pods without GPU); see docs/benchmarks.md',
    )
    .option('--threads <n>', 'worker threads (default: one per core)')
    .option('--json', 'print one JSON object instead of a table')
    .option('--out <dir>', 'write summary.md, curves.csv, allocation.svg and results.json to this directory')
    .action(async (flags: OpenbFlags) => simOpenb(flags, process.argv));
  registerSimDatasets(sim);
  const jobs = sim
    .command('jobs')
    .description(`simulate queueing, fair share and preemption policies over the Philly job trace (Microsoft, 2017; published at ${PHILLY_SOURCE}; a copy lives in ../shared/traces/philly)`)
    .option('--workload <name>', 'philly (a window of the Philly trace) or churn (generated: gangs, priorities, bursts, a queue tree that borrows; see docs/preemption.md)', 'philly')
    .option('--trace <file>', 'Philly trace CSV (default: ../shared/traces/philly/philly.csv)')
    .option('--from <date>', 'window start, YYYY-MM-DD (UTC)', '2017-10-09')
    .option('--days <n>', 'window length in days', '7')
    .option('--load <factor>', 'compress arrivals by this factor (2 = twice the arrival rate)', '1')
    .option('--policy <list>', `comma-separated: ${JOB_POLICIES.join(', ')} (sjf uses true durations: an oracle; gantry-up, -k8s, -across: the core as each mode configures it), or all (philly: ${TRACE_POLICIES.join(', ')}; churn: ${CHURN_POLICIES.join(', ')})`, 'all')
    .option('--seed <n>', 'random seed', '1')
    .option('--servers-8gpu <n>', '8-GPU servers in the cluster', String(PHILLY_FLEET.eightGpuServers))
    .option('--servers-2gpu <n>', '2-GPU servers in the cluster', String(PHILLY_FLEET.twoGpuServers))
    .option('--guaranteed <fraction>', 'share of the GPUs covered by queue guarantees (proportional to each virtual cluster\'s GPU time)', '0.5')
    .option('--checkpoint-minutes <n>', 'jobs save a checkpoint every N minutes of progress', '30')
    .option('--grace-seconds <n>', 'grace a preempted gantry job gets to save (baselines stop jobs at once)', '30')
    .option('--cycle-seconds <n>', 'scheduling cycle interval', '30')
    .option('--restart-seconds <n>', 'time a resumed job needs before it progresses again', '60')
    .option('--hours <n>', 'churn: simulated hours of arrivals', '48')
    .option('--queues <file>', 'churn: the queue tree, YAML (queues: [{ name, parent?, guaranteedGpus?, limitGpus?, weight? }]); default org 48 -> team-a 24, team-b 24, scratch 0')
    .option('--servers <n>', 'churn: 8-GPU servers', String(CHURN_DEFAULTS.servers))
    .option('--gang-gpus <lo-hi>', 'churn: GPUs per job (split into pods of 1, 2, 4 or 8)', CHURN_DEFAULTS.gangGpus.join('-'))
    .option('--mean-minutes <n>', 'churn: mean run time of a job', String(CHURN_DEFAULTS.meanMinutes))
    .option('--checkpointing <share>', 'churn: share of jobs that checkpoint (every 10-30 min, 30 s grace)', String(CHURN_DEFAULTS.checkpointing))
    .option('--non-preemptible <share>', 'churn: share of jobs (in queues with a guarantee) that may not be preempted', String(CHURN_DEFAULTS.nonPreemptible))
    .option('--burst-every <lo-hi>', 'churn: hours between bursts of high-priority jobs', CHURN_DEFAULTS.burstEveryHours.join('-'))
    .option('--burst-jobs <lo-hi>', 'churn: jobs per burst', CHURN_DEFAULTS.burstJobs.join('-'))
    .option('--burst-priority <n>', 'churn: priority of burst jobs (others 0)', String(CHURN_DEFAULTS.burstPriority))
    .option('--prices <file|list>', 'bill GPU time as gantry cost does: the file gantry prices ls -o json writes, or MODEL=PRICE,... per GPU-hour (the Philly fleet is P100, the churn fleet A100)')
    .option('--json', 'print one JSON object instead of a table')
    .option('--out <dir>', 'write summary.md, results.json, queues.csv, cost.csv, utilization.svg and queues.svg');
  addDataOptions(jobs).action(async (flags: JobsFlags) => simJobs(flags, process.argv));
  registerLlmServer(sim);
  registerSimServe(sim);
}
