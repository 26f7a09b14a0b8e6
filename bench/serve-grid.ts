/**
 * `gantry sim serve` over many traces (issue 12): the shipped Azure conversation trace and
 * generated traces of other load shapes (flat, waves, bursty, ramp; token lengths drawn from the
 * shipped trace), each at rate scales 1, 2 and 4. Prints one markdown table: per trace and rate,
 * each policy's share of one-minute windows meeting the p99 TTFT objective and its GPU-seconds,
 * and gantry's GPU-seconds against static-peak.
 *
 *   npx tsc -p . && node dist/bench/serve-grid.js [--traces conv,flat,waves,bursty,ramp,step2,step4,step8] [--rates 1,2,4] [--seeds 1] [--policies static-peak,kpa,gantry] [--start-seconds S] [--json FILE]
 *
 * `--start-seconds S`: replicas start in S seconds on idle GPUs (no training to yield, weights
 * on every node), as in `gantry up` with simulated GPUs; by default the fleet is
 * DEFAULT_SERVE_FLEET (20 s to make training yield, 20 s to load cached weights, 90 s cold).
 *
 * `--policies gantry` runs only gantry (static-peak's search is most of the time): the other
 * columns print `-`, and the last column needs static-peak.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '../src/core/rng.js';
import { loadLlmTrace } from '../src/sim/serve/llm-trace.js';
import { generateLlmTrace, LOAD_SHAPES, type LoadShape } from '../src/sim/serve/llm-trace-generator.js';
import { runServeExperiment } from '../src/sim/serve/serve-experiment.js';
import { DEFAULT_LLM_ENGINE_PROFILE } from '../src/serve/llm-model/engine-profile.js';
import { DEFAULT_SERVE_FLEET } from '../src/sim/serve/serve-fleet.js';
import { SERVE_POLICIES, type ServePolicyName } from '../src/sim/serve/serve-policies.js';
import type { ServeRunResult } from '../src/sim/serve/serve-simulation.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const CONV = join(process.env.GANTRY_TRACES ?? '../shared/traces', 'azure-llm-2023/AzureLLMInferenceTrace_conv.csv');
const traces = arg('--traces', ['conv', ...LOAD_SHAPES].join(',')).split(',');
const rates = arg('--rates', '1,2,4').split(',').map(Number);
const seeds = arg('--seeds', '1').split(',').map(Number);
const policies = arg('--policies', SERVE_POLICIES.join(',')).split(',') as ServePolicyName[];
const startSeconds = arg('--start-seconds', '');
const fleet = startSeconds === '' ? DEFAULT_SERVE_FLEET
  : { ...DEFAULT_SERVE_FLEET, yieldSeconds: 0, restartSeconds: 0, coldStartSeconds: Number(startSeconds), cachedStartSeconds: Number(startSeconds) };
const gateArg = arg('--prefill-gate', 'on');
const gateShare = arg('--prefill-share', '');
const gateSpec = { prefillGate: gateArg !== 'off', ...(gateShare !== '' ? { prefillObjectiveShare: Number(gateShare) } : {}) };
const source = loadLlmTrace(CONV);
const dir = mkdtempSync(join(tmpdir(), 'serve-grid-'));
const rows: string[] = [];
const all: Array<{ trace: string; seed: number; results: ServeRunResult[] }> = [];
const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
console.log('| trace | seed | rate | static-peak SLO / GPU-s | kpa SLO / GPU-s | gantry SLO / GPU-s | gantry GPU-s vs static-peak |');
console.log('|---|---|---|---|---|---|---|');
for (const name of traces) {
  for (const seed of seeds) {
    let file = CONV;
    if (name !== 'conv') {
      file = join(dir, `${name}-${seed}.csv`);
      generateLlmTrace(source, name as LoadShape, 3600, source.requests.length / 3600, createRng(seed * 7919), file);
    }
    const trace = loadLlmTrace(file);
    const results = runServeExperiment({
      trace, rateScales: rates, policies, profile: DEFAULT_LLM_ENGINE_PROFILE, fleet,
      seed, ttftObjectiveMs: 1000, kpaTargetConcurrency: 32, minReplicas: 1, maxReplicas: 64, ...gateSpec,
    });
    all.push({ trace: name, seed, results });
    for (const rate of rates) {
      const by = (p: string): ServeRunResult | undefined => results.find((r) => r.policy === p && r.rateScale === rate);
      const cell = (r: ServeRunResult | undefined): string => (r ? `${pct(r.sloAttainment)} / ${Math.round(r.gpuSeconds).toLocaleString('en-US')}` : '-');
      const [peak, gantry] = [by('static-peak'), by('gantry')];
      const vs = peak && gantry ? `${((gantry.gpuSeconds / peak.gpuSeconds - 1) * 100).toFixed(1)} %` : '-';
      const row = `| ${name} | ${seed} | ${rate}x | ${cell(peak)} | ${cell(by('kpa'))} | ${cell(gantry)} | ${vs} |`;
      rows.push(row);
      console.log(row);
    }
  }
}
const json = arg('--json', '');
if (json) writeFileSync(json, JSON.stringify(all, null, 2) + '\n');
