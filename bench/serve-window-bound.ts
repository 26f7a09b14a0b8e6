/**
 * How far below static-peak any autoscaler could go on a trace (issue 12's "25 % fewer
 * GPU-seconds" target): fixed fleets of k replicas for each k in a range, and for each
 * one-minute window the fewest k whose p99 TTFT met the objective there. An oracle that knew
 * every minute's load and started replicas instantly, for free, would still run that many in
 * that minute: the sum over windows is a bound on GPU-seconds (optimistic: a real fleet pays for
 * start-ups and carries queues from one minute to the next).
 *
 *   npx tsc -p . && node dist/bench/serve-window-bound.js [--trace conv|FILE] [--rate 2] [--from 2] [--to 5]
 */
import { join } from 'node:path';
import { loadLlmTrace } from '../src/sim/serve/llm-trace.js';
import { runServeSimulation } from '../src/sim/serve/serve-simulation.js';
import { DEFAULT_LLM_ENGINE_PROFILE } from '../src/serve/llm-model/engine-profile.js';
import { DEFAULT_SERVE_FLEET } from '../src/sim/serve/serve-fleet.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const CONV = join(process.env.GANTRY_TRACES ?? '../shared/traces', 'azure-llm-2023/AzureLLMInferenceTrace_conv.csv');
const traceArg = arg('--trace', 'conv');
const trace = loadLlmTrace(traceArg === 'conv' ? CONV : traceArg);
const rate = Number(arg('--rate', '2'));
const from = Number(arg('--from', '2'));
const to = Number(arg('--to', '5'));
const objective = 1000;
const fewest: number[] = [];
let peakGpuSeconds = NaN;
for (let k = from; k <= to; k++) {
  const r = runServeSimulation({ trace, rateScale: rate, policy: 'static-peak', staticReplicas: k, profile: DEFAULT_LLM_ENGINE_PROFILE, fleet: DEFAULT_SERVE_FLEET, seed: 1, ttftObjectiveMs: objective, kpaTargetConcurrency: 32, minReplicas: 1, maxReplicas: 64 });
  r.windowTtftP99Ms.forEach((p, w) => {
    if (fewest[w] === undefined && !(p > objective)) fewest[w] = k;
  });
  console.log(`k=${k}: ${(r.sloAttainment * 100).toFixed(1)} % of windows, ${Math.round(r.gpuSeconds)} GPU-s; window p99 ${r.windowTtftP99Ms.map((p) => Math.round(p)).join(' ')}`);
  if (Number.isNaN(peakGpuSeconds) && r.sloAttainment >= 0.99) peakGpuSeconds = r.gpuSeconds;
}
const bound = fewest.reduce((s, k) => s + (k ?? NaN), 0) * 60;
console.log(`fewest replicas per window: ${fewest.map((k) => k ?? `>${to}`).join(' ')}`);
console.log(`oracle bound ${Math.round(bound)} GPU-s (window-minutes x replicas); static-peak ${Math.round(peakGpuSeconds)} GPU-s; bound vs static-peak ${((bound / peakGpuSeconds - 1) * 100).toFixed(1)} %`);
