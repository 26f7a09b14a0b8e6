/**
 * Shared-prefix serving (docs/benchmarks.md, "Shared-prefix routing"; issue 12's target: prefix
 * cache hit rate at least 80 % and throughput at least 1.8x round robin, at the same objective).
 *
 * Real processes: `--replicas` simulated LLM servers (`gantry sim llm-server`, each with a KV
 * cache of `--kv-tokens`, so one replica cannot hold every system prompt) behind Gantry's router
 * (bench/router-overhead-parts.ts, its own process), once per routing policy. Each request is a
 * streamed completion whose prompt is one of `--groups` system prompts (`--prefix-tokens` long,
 * drawn uniformly) and a question of its own (`--suffix-tokens`). Arrivals are Poisson at
 * rising rates; each rate runs `--warmup` + `--seconds` and is judged on the requests sent after
 * the warm-up: it holds the objective when their p99 time to first token (at the client) is
 * within `--objective-ms` and none failed. A policy's throughput is
 * the highest rate that holds it (every request answered, p99 within the objective; rates
 * stop at the first that misses), after `--prime` x groups requests that fill the caches the
 * way the policy fills them. The hit rate is the replicas' own
 * `vllm:prefix_cache_hits_total / vllm:prefix_cache_queries_total` (tokens) over that rate.
 * `--time-scale` stretches the servers' modelled durations (and the objective is meant at that
 * scale), so a loaded machine's own delays weigh less.
 *
 * Usage: npm run build && nice node dist/bench/shared-prefix.js [--replicas 4] [--groups 32]
 *   [--prefix-tokens 1024] [--suffix-tokens 32] [--max-tokens 16] [--kv-tokens 12000]
 *   [--time-scale 2] [--objective-ms 1000] [--seconds 15] [--warmup 4]
 *   [--rates 8,12,16,...] [--prime 3] [--prime-rate 8] [--seed 7] [--policies round-robin,load-prefix] [--json]
 *   (a policy named NAME+gate runs NAME with the prompt-queue bound of routing.promptQueueShare 0.5)
 */
import type { ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { createRng, type Rng } from '../src/core/rng.js';
import { DEFAULT_LLM_ENGINE_PROFILE } from '../src/serve/llm-model/engine-profile.js';
import { prefillBoundTokens } from '../src/serve/router/prefill-gate.js';
import { startAndRead, streamCompletion, type StreamOutcome } from './stream-client.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const num = (name: string, dflt: number): number => Number(opt(name, String(dflt)));
const REPLICAS = num('replicas', 4);
const GROUPS = num('groups', 32);
const PREFIX = num('prefix-tokens', 1024);
const SUFFIX = num('suffix-tokens', 32);
const MAX_TOKENS = num('max-tokens', 16);
const KV = num('kv-tokens', 12_000);
const TIME_SCALE = num('time-scale', 2);
const OBJECTIVE_MS = num('objective-ms', 1000);
const SECONDS = num('seconds', 15);
const WARMUP = num('warmup', 4);
const RATES = opt('rates', '8,12,16,20,24,28,32,40,48,56,64,80,96').split(',').map(Number);
const POLICIES = opt('policies', 'round-robin,load-prefix').split(',');
const JSON_OUT = args.includes('--json');
/** Before the first rate: `--prime` x groups requests at `--prime-rate`. */
const PRIME_FACTOR = num('prime', 3);
const PRIME_RATE = num('prime-rate', 8);
const SEED = num('seed', 7);
const here = dirname(fileURLToPath(import.meta.url));
const BIN = resolve(here, '../../bin/gantry.js');
const PARTS = join(here, 'router-overhead-parts.js');
const load = (): string => loadavg().map((x) => x.toFixed(1)).join(' ');
const log = (line: string): void => void (JSON_OUT || console.error(line));

const prefixes = Array.from({ length: GROUPS }, (_, g) => Array.from({ length: PREFIX }, (_, i) => `s${g}w${i}`).join(' '));

function send(pool: Pool, rng: Rng, serial: number, out: StreamOutcome[], done: () => void): void {
  const g = rng.int(GROUPS);
  const question = Array.from({ length: SUFFIX }, (_, i) => `q${serial}x${i}`).join(' ');
  out.push(streamCompletion(pool, '/bench/v1/completions', JSON.stringify({ model: 'sim', prompt: `${prefixes[g]} ${question}`, max_tokens: MAX_TOKENS, stream: true }), done));
}

/** Poisson arrivals at `rate` for `seconds`; resolves once every answer ended. */
async function poisson(pool: Pool, rng: Rng, rate: number, seconds: number, serial: { n: number }): Promise<StreamOutcome[]> {
  const out: StreamOutcome[] = [];
  let open = 0;
  let sending = true;
  const t0 = performance.now();
  let next = 0;
  await new Promise<void>((resolveAll) => {
    const finished = (): void => {
      open--;
      if (!sending && open === 0) resolveAll();
    };
    const tick = (): void => {
      const now = performance.now() - t0;
      while (next <= now && next < seconds * 1000) {
        open++;
        send(pool, rng, serial.n++, out, finished);
        next += (-Math.log(1 - rng.next()) / rate) * 1000;
      }
      if (next < seconds * 1000) setTimeout(tick, Math.max(0, Math.min(5, next - now)));
      else {
        sending = false;
        if (open === 0) resolveAll();
      }
    };
    tick();
  });
  return out;
}

async function prefixCounters(ports: readonly number[]): Promise<{ hits: number; queries: number }> {
  let hits = 0;
  let queries = 0;
  for (const p of ports) {
    const text = await (await fetch(`http://127.0.0.1:${p}/metrics`)).text();
    const read = (name: string): number => Number(/^(\S+)(?:\{[^}]*\})? (\S+)$/m.exec(text.split('\n').find((l) => l.startsWith(name)) ?? '')?.[2] ?? 0);
    hits += read('vllm:prefix_cache_hits_total');
    queries += read('vllm:prefix_cache_queries_total');
  }
  return { hits, queries };
}

interface Step {
  policy: string;
  rate: number;
  sent: number;
  answeredPerSecond: number;
  failed: number;
  ttftP50Ms: number;
  ttftP99Ms: number;
  hitRate: number;
  holds: boolean;
  load: string;
}

const steps: Step[] = [];
for (const policy of POLICIES) {
  const children: ChildProcess[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < REPLICAS; i++) {
      const s = await startAndRead([BIN, 'sim', 'llm-server', '--port', '0', '--time-scale', String(TIME_SCALE), '--profile', JSON.stringify({ kvCacheTokens: KV }), '--max-tokens', String(MAX_TOKENS)], (l) => /listening on http:\/\/[^:]+:(\d+)/.exec(l)?.[1] ?? null);
      children.push(s.child);
      ports.push(Number(s.value));
    }
    // `NAME+gate`: the router holds prompts above each replica's prompt queue (prefill-gate.ts),
    // bounded as a service with this objective would be, at the servers' time scale.
    const [routePolicy, gated] = policy.endsWith('+gate') ? [policy.slice(0, -5), true] : [policy, false];
    const gate = gated ? ['--prompt-queue-tokens', String(prefillBoundTokens(OBJECTIVE_MS, DEFAULT_LLM_ENGINE_PROFILE.prefillMsPerToken * TIME_SCALE))] : [];
    const router = await startAndRead([PARTS, 'router', '--policy', routePolicy, ...gate, ...ports.map(String)], (l) => (/^\d+$/.test(l.trim()) ? l.trim() : null));
    children.push(router.child);
    const pool = new Pool(`http://127.0.0.1:${router.value}`, { connections: 1024, pipelining: 1 });
    const rng = createRng(SEED);
    const serial = { n: 0 };
    // Caches filled the way the policy fills them before anything is judged.
    await poisson(pool, rng, PRIME_RATE, (PRIME_FACTOR * GROUPS) / PRIME_RATE, serial);
    for (const rate of RATES) {
      const before = await prefixCounters(ports);
      const all = await poisson(pool, rng, rate, WARMUP + SECONDS, serial);
      const after = await prefixCounters(ports);
      const t0 = all[0]?.sentAt ?? 0;
      const judged = all.filter((o) => o.sentAt - t0 >= WARMUP * 1000);
      const ttfts = judged.filter((o) => o.ok).map((o) => o.ttftMs).sort((a, b) => a - b);
      const q = (p: number): number => Math.round(ttfts[Math.min(ttfts.length - 1, Math.ceil(p * ttfts.length) - 1)] ?? Infinity);
      const failed = judged.filter((o) => !o.ok).length;
      const step: Step = {
        policy,
        rate,
        sent: judged.length,
        answeredPerSecond: +((judged.length - failed) / SECONDS).toFixed(1),
        failed,
        ttftP50Ms: q(0.5),
        ttftP99Ms: q(0.99),
        hitRate: +((after.hits - before.hits) / Math.max(1, after.queries - before.queries)).toFixed(3),
        holds: false,
        load: load(),
      };
      step.holds = failed === 0 && step.ttftP99Ms <= OBJECTIVE_MS;
      steps.push(step);
      log(`${policy} ${rate}/s: p50 ${step.ttftP50Ms} ms, p99 ${step.ttftP99Ms} ms, ${step.answeredPerSecond}/s answered, ${failed} failed, hit rate ${(step.hitRate * 100).toFixed(1)} % ${step.holds ? 'holds' : 'MISSES'} (load ${step.load})`);
      if (!step.holds) break;
    }
    await pool.close();
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
}

const best = (policy: string): Step | undefined => steps.filter((s) => s.policy === policy && s.holds).at(-1);
const summary = POLICIES.map((policy) => ({ policy, throughputAtObjective: best(policy)?.rate ?? 0, ttftP99Ms: best(policy)?.ttftP99Ms ?? null, hitRate: best(policy)?.hitRate ?? null }));
const rr = summary.find((s) => s.policy === 'round-robin')?.throughputAtObjective ?? 0;
const report = { objectiveMs: OBJECTIVE_MS, timeScale: TIME_SCALE, replicas: REPLICAS, groups: GROUPS, prefixTokens: PREFIX, kvTokens: KV, steps, summary: summary.map((s) => ({ ...s, overRoundRobin: rr > 0 ? +(s.throughputAtObjective / rr).toFixed(2) : null })) };
if (JSON_OUT) console.log(JSON.stringify(report));
else {
  console.table(steps);
  console.table(report.summary);
}
