/** `gantry sim ...`: the simulators over real traces. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { runExperiment } from '../../sim/openb/experiment.js';
import { loadPublished } from '../../sim/openb/published.js';
import { terminalReport, toJson, writeReport } from '../../sim/openb/report.js';
import { OPENB_SOURCE, loadOpenbNodes, loadOpenbPods } from '../../sim/openb/trace.js';
import { existingFile, parseNumber, parsePolicies, parseSeeds } from '../flags.js';
import { progressBar } from '../progress.js';

interface OpenbFlags {
  pods?: string;
  nodes?: string;
  policy: string;
  seeds: string;
  inflate: string;
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
  const threads = flags.threads !== undefined ? parseNumber('--threads', flags.threads, 1, 64, true) : undefined;
  // Validate both files up front so a malformed row fails fast with file, line and field.
  const nodes = loadOpenbNodes(nodesFile);
  if (nodes.every((n) => n.gpuCount === 0)) throw new UserError('TRACE_NO_GPUS', `${nodesFile}: no node has GPUs`);
  loadOpenbPods(podsFile);
  const bar = progressBar(!flags.json && process.stderr.isTTY === true);
  const results = await runExperiment({
    nodesFile,
    podsFile,
    policies,
    seeds,
    inflate,
    ...(threads !== undefined ? { threads } : {}),
    onProgress: (done, total) => bar.update(done, total, `${done}/${total} replays`),
  });
  bar.stop();
  const published = loadPublished(podsFile);
  if (flags.json) {
    process.stdout.write(JSON.stringify(toJson(podsFile, results, published)) + '\n');
  } else {
    process.stdout.write(terminalReport(results, published) + '\n');
  }
  if (flags.out) {
    const files = await writeReport(flags.out, podsFile, results, published, `gantry ${argv.slice(2).join(' ')}`);
    if (!flags.json) process.stdout.write(`wrote ${files.join(', ')}\n`);
  }
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
    .option('--threads <n>', 'worker threads (default: one per core)')
    .option('--json', 'print one JSON object instead of a table')
    .option('--out <dir>', 'write summary.md, curves.csv, allocation.svg and results.json to this directory')
    .action(async (flags: OpenbFlags) => simOpenb(flags, process.argv));
}
