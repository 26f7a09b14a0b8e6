/** `gantry sim serve`: replays an LLM inference trace through the router, autoscalers and the server model. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { loadLlmTrace, AZURE_LLM_SOURCE } from '../../sim/serve/llm-trace.js';
import { runServeExperiment } from '../../sim/serve/serve-experiment.js';
import { SERVE_POLICIES, type ServePolicyName } from '../../sim/serve/serve-policies.js';
import { DEFAULT_SERVE_FLEET } from '../../sim/serve/serve-fleet.js';
import { serveCostCsv, serveJson, serveMarkdownReport, serveTerminalReport } from '../../sim/serve/serve-report.js';
import { findGpuModel } from '../../core/model/gpu-catalog.js';
import { parsePrices, pricesSetting } from './sim-prices.js';
import type { SharedPrefixSpec } from '../../sim/serve/serve-simulation.js';
import { existingFile, parseNumber } from '../flags.js';
import { progressBar } from '../progress.js';
import { parseProfile } from './llm-server.js';

interface ServeFlags {
  trace?: string;
  rateScale: string;
  policy: string;
  ttftObjectiveMs: string;
  kpaTarget: string;
  seed: string;
  nodes: string;
  gpusPerNode: string;
  maxReplicas: string;
  profile?: string;
  sharedPrefix?: string;
  gpuModel: string;
  prices?: string;
  json?: boolean;
  out?: string;
}

function parsePolicyList(value: string): ServePolicyName[] {
  if (value.trim() === 'all') return [...SERVE_POLICIES];
  const names = value.split(',').map((x) => x.trim()).filter(Boolean);
  if (names.length === 0) throw new UserError('BAD_FLAG', `--policy: give at least one of ${SERVE_POLICIES.join(', ')}`);
  for (const n of names) if (!(SERVE_POLICIES as readonly string[]).includes(n)) throw new UserError('BAD_FLAG', `--policy: unknown policy "${n}" (choose from ${SERVE_POLICIES.join(', ')}, or all)`);
  return [...new Set(names)] as ServePolicyName[];
}

function parseSharedPrefix(value: string | undefined): SharedPrefixSpec | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+):(\d+)(?::([\d.]+))?$/.exec(value.trim());
  if (!m) throw new UserError('BAD_FLAG', `--shared-prefix: "${value}" is not GROUPS:TOKENS[:ZIPF] (e.g. 20:800:1.1)`);
  return { groups: parseNumber('--shared-prefix groups', m[1]!, 1, 100_000, true), tokens: parseNumber('--shared-prefix tokens', m[2]!, 1, 1_000_000, true), zipf: m[3] ? parseNumber('--shared-prefix zipf', m[3], 0, 5) : 1 };
}

async function simServe(flags: ServeFlags): Promise<void> {
  if (!flags.trace) throw new UserError('BAD_FLAG', `--trace FILE is required (an LLM inference trace with TIMESTAMP, ContextTokens, GeneratedTokens, e.g. ../shared/traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv; published in ${AZURE_LLM_SOURCE})`);
  const trace = loadLlmTrace(existingFile('--trace', flags.trace));
  const rateScales = flags.rateScale.split(',').map((x) => parseNumber('--rate-scale', x.trim(), 0.01, 100));
  const objective = parseNumber('--ttft-objective-ms', flags.ttftObjectiveMs, 1, 600_000);
  const gpuModel = findGpuModel(flags.gpuModel)?.name;
  if (!gpuModel) throw new UserError('BAD_FLAG', `--gpu-model: "${flags.gpuModel}" is not a GPU model of the catalogue (e.g. H100-80GB, A100-80GB, L40S)`);
  const fleet = { ...DEFAULT_SERVE_FLEET, gpuModel, nodes: parseNumber('--nodes', flags.nodes, 1, 10_000, true), gpusPerNode: parseNumber('--gpus-per-node', flags.gpusPerNode, 1, 64, true) };
  const pricesMicros = flags.prices === undefined ? undefined : parsePrices(flags.prices);
  const prices = pricesMicros ? pricesSetting(pricesMicros) : undefined;
  const sharedPrefix = parseSharedPrefix(flags.sharedPrefix);
  const bar = progressBar(!flags.json && process.stderr.isTTY === true);
  const results = runServeExperiment({
    trace,
    rateScales,
    policies: parsePolicyList(flags.policy),
    profile: parseProfile(flags.profile),
    fleet,
    seed: parseNumber('--seed', flags.seed, 0, 2 ** 31, true),
    ttftObjectiveMs: objective,
    kpaTargetConcurrency: parseNumber('--kpa-target', flags.kpaTarget, 1, 10_000),
    minReplicas: 1,
    maxReplicas: parseNumber('--max-replicas', flags.maxReplicas, 1, 100_000, true),
    ...(sharedPrefix ? { sharedPrefix } : {}),
    ...(pricesMicros ? { pricesMicros } : {}),
    onProgress: (done, total, what) => bar.update(done, total, what),
  });
  bar.stop();
  const json = serveJson(trace.file, objective, results, { gpuModel, ...(prices ? { prices } : {}) });
  if (flags.json) process.stdout.write(JSON.stringify(json) + '\n');
  else process.stdout.write(`${trace.requests.length} requests over ${(trace.durationSeconds / 60).toFixed(1)} min, p99 TTFT objective ${objective} ms, ${fleet.nodes} x ${fleet.gpusPerNode} GPUs shared with training\n${serveTerminalReport(results)}\n`);
  if (flags.out) {
    mkdirSync(flags.out, { recursive: true });
    writeFileSync(join(flags.out, 'results.json'), JSON.stringify(json, null, 2) + '\n');
    writeFileSync(join(flags.out, 'summary.md'), `# gantry sim serve\n\nTrace: ${trace.file} (${trace.requests.length} requests). p99 TTFT objective ${objective} ms; "SLO windows met" is the share of one-minute windows whose p99 TTFT met it.\n\n${serveMarkdownReport(results, prices)}`);
    writeFileSync(join(flags.out, 'cost.csv'), serveCostCsv(results));
    if (!flags.json) process.stdout.write(`wrote ${join(flags.out, 'summary.md')}, ${join(flags.out, 'results.json')}, ${join(flags.out, 'cost.csv')}\n`);
  }
}

export function registerSimServe(sim: Command): void {
  sim
    .command('serve')
    .description('replay an LLM inference trace through the router, the autoscalers and the simulated model server on a fleet shared with training')
    .option('--trace <file>', 'LLM inference trace CSV (TIMESTAMP, ContextTokens, GeneratedTokens)')
    .option('--rate-scale <list>', 'arrival rate multipliers, e.g. 1,2,4 (arrivals compressed in time)', '1')
    .option('--policy <list>', `comma-separated: ${SERVE_POLICIES.join(', ')}, or all`, 'all')
    .option('--ttft-objective-ms <ms>', 'p99 time-to-first-token objective', '1000')
    .option('--kpa-target <n>', 'kpa: in-flight requests per replica (Knative container concurrency target)', '32')
    .option('--seed <n>', 'random seed', '1')
    .option('--nodes <n>', 'nodes in the fleet', String(DEFAULT_SERVE_FLEET.nodes))
    .option('--gpus-per-node <n>', 'GPUs per node', String(DEFAULT_SERVE_FLEET.gpusPerNode))
    .option('--max-replicas <n>', 'most replicas a service may have', '64')
    .option('--profile <json|file>', 'model server timing profile overrides (as gantry sim llm-server --profile)')
    .option('--shared-prefix <groups:tokens[:zipf]>', 'give prompts shared leading tokens from GROUPS system prompts (Zipf popularity), to exercise prefix caching')
    .option('--gpu-model <model>', "the fleet's GPU model (what replicas' GPU time is priced as)", DEFAULT_SERVE_FLEET.gpuModel)
    .option('--prices <file|list>', 'bill replicas\' GPU time as gantry cost does: the file gantry prices ls -o json writes, or MODEL=PRICE,... per GPU-hour')
    .option('--json', 'print one JSON object instead of a table')
    .option('--out <dir>', 'write summary.md, results.json and cost.csv')
    .action(async (flags: ServeFlags) => simServe(flags));
}
