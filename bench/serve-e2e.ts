/**
 * Services end to end (docs/benchmarks.md, "Services end to end"; issue 12's target: the p99
 * TTFT objective held in at least 99 % of one-minute windows, zero 5xx, no stream cut by
 * scale-in or rollout, scale-out decided within 6 s of a step).
 *
 * A real `gantry up` (its own process, simulated GPUs) runs one service whose replicas are
 * `gantry sim llm-server` processes (one GPU each), autoscaled by the `gantry` policy and routed
 * by `load-prefix`. The Azure conversation trace is replayed through the router as streamed
 * completions: `--phase-seconds` at 1x, then the trace's next part at 2x, then at 4x (the
 * arrivals of each part compressed by the factor; prompt and output lengths as in the trace,
 * outputs capped at `--max-output`). Measured at the client: TTFT per one-minute window of
 * arrivals, status codes, streams cut; from the server: each scale decision (explain) and the
 * replicas over time.
 *
 * Usage: npm run build && nice node dist/bench/serve-e2e.js [--trace FILE] [--phase-seconds 180]
 *   [--factors 1,2,4] [--objective-ms 1000] [--max-output 64] [--gpus 8xH100-80GB] [--prompt-queue-share 0.5] [--json]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { loadLlmTrace } from '../src/sim/serve/llm-trace.js';
import { streamCompletion, type StreamOutcome } from './stream-client.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const TRACE = opt('trace', join(process.env['GANTRY_TRACES'] ?? '../shared/traces', 'azure-llm-2023/AzureLLMInferenceTrace_conv.csv'));
const PHASE_S = Number(opt('phase-seconds', '180'));
const FACTORS = opt('factors', '1,2,4').split(',').map(Number);
const OBJECTIVE_MS = Number(opt('objective-ms', '1000'));
const MAX_OUTPUT = Number(opt('max-output', '64'));
const GPUS = opt('gpus', '8xH100-80GB');
/** routing.promptQueueShare of the service (0: replicas queue every prompt they are sent). */
const PROMPT_QUEUE_SHARE = Number(opt('prompt-queue-share', '0.5'));
const JSON_OUT = args.includes('--json');
const here = dirname(fileURLToPath(import.meta.url));
const BIN = resolve(here, '../../bin/gantry.js');
const log = (line: string): void => void (JSON_OUT || console.error(`${new Date().toISOString().slice(11, 19)} ${line}`));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
type Row = Record<string, unknown>;

const trace = loadLlmTrace(TRACE);
const words = (n: number, tag: string): string => Array.from({ length: n }, (_, i) => `${tag}w${i}`).join(' ');

/** The trace's requests for each phase: consecutive parts, arrivals divided by the factor (seconds from the phase start). */
function phases(): Array<{ factor: number; requests: Array<{ at: number; prompt: number; output: number }> }> {
  const out: Array<{ factor: number; requests: Array<{ at: number; prompt: number; output: number }> }> = [];
  let from = trace.requests[0]?.at ?? 0;
  for (const factor of FACTORS) {
    const to = from + PHASE_S * factor;
    const part = trace.requests.filter((r) => r.at >= from && r.at < to).map((r) => ({ at: (r.at - from) / factor, prompt: r.promptTokens, output: Math.min(MAX_OUTPUT, r.outputTokens) }));
    out.push({ factor, requests: part });
    from = to;
  }
  return out;
}

async function upServer(dir: string): Promise<{ child: ChildProcess; url: string; token: string }> {
  const child = spawn(process.execPath, [BIN, 'up', '--data-dir', dir, '--port', '0', '--gpus', GPUS, '--min-runtime', '0', '--stop-grace', '5'], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 300 && !existsSync(join(dir, 'server.json')); i++) await sleep(100);
  const url = (JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8')) as { url: string }).url;
  return { child, url, token: readFileSync(join(dir, 'admin-token'), 'utf8').trim() };
}

const dir = mkdtempSync(join(tmpdir(), 'gantry-serve-e2e-'));
const up = await upServer(dir);
const api = async (method: string, path: string, body?: unknown): Promise<Row> => {
  const r = await fetch(`${up.url}${path}`, { method, headers: { authorization: `Bearer ${up.token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return (await r.json()) as Row;
};
try {
  const created = await api('POST', '/v1/services', {
    kind: 'Service',
    name: 'chat',
    command: `${process.execPath} ${BIN} sim llm-server --port $PORT --drain-seconds 60`,
    resources: { gpu: 1, cpu: '100m', memory: '1Gi' },
    replicas: { min: 1, max: Number(GPUS.split('x')[0]) },
    objective: { ttftP99Ms: OBJECTIVE_MS },
    autoscaler: { policy: 'gantry' },
    routing: { policy: 'load-prefix', promptQueueShare: PROMPT_QUEUE_SHARE },
    drainSeconds: 60,
  });
  const url = new URL(String(created['url']));
  for (let i = 0; i < 300; i++) {
    if (((await api('GET', '/v1/services/chat'))['replicas'] as Row)['ready'] === 1) break;
    await sleep(200);
  }
  const pool = new Pool(url.origin, { connections: 2048, pipelining: 1 });
  const base = url.pathname;
  const outcomes: Array<StreamOutcome & { phase: number }> = [];
  const replicaSamples: Array<{ t: number; ready: number; desired: number; starting: number; draining: number; load1: number }> = [];
  const t0 = performance.now();
  const wallStart = Date.now();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const s = await api('GET', '/v1/services/chat');
      const r = s['replicas'] as Row;
      replicaSamples.push({ t: (performance.now() - t0) / 1000, ready: Number(r['ready']), desired: Number(r['desired']), starting: Number(r['starting']), draining: Number(r['draining']), load1: loadavg()[0]! });
      await sleep(2000);
    }
  })();
  const stepStarts: number[] = [];
  let open = 0;
  let serial = 0;
  for (const [k, ph] of phases().entries()) {
    const start = performance.now();
    stepStarts.push(Date.now());
    log(`phase ${k + 1}: ${ph.factor}x, ${ph.requests.length} requests in ${PHASE_S} s (load ${loadavg()[0]!.toFixed(1)})`);
    for (const r of ph.requests) {
      const wait = start + r.at * 1000 - performance.now();
      if (wait > 1) await sleep(wait);
      open++;
      const body = JSON.stringify({ model: 'sim', prompt: words(r.prompt, `r${serial++}`), max_tokens: Math.max(1, r.output), stream: true });
      const o = streamCompletion(pool, `${base}/v1/completions`, body, () => void open--);
      outcomes.push(Object.assign(o, { phase: k }));
    }
    const rest = start + PHASE_S * 1000 - performance.now();
    if (rest > 0) await sleep(rest);
  }
  while (open > 0) await sleep(100);
  sampling = false;
  await sampler;
  await pool.close();

  // One-minute windows by arrival.
  const windows = new Map<number, number[]>();
  for (const o of outcomes) {
    const w = Math.floor((o.sentAt - t0) / 60_000);
    if (!windows.has(w)) windows.set(w, []);
    windows.get(w)!.push(o.ttftMs < 0 ? Infinity : o.ttftMs);
  }
  const p99 = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)] ?? 0;
  };
  // Per window also the machine's load and the fleet: a miss with replicas to spare (desired
  // reached, no replica starting) under a high load is the machine's, not the autoscaler's.
  const inWindow = (w: number) => replicaSamples.filter((x) => Math.floor(x.t / 60) === w);
  const mean = (xs: number[]): number => (xs.length > 0 ? +(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1) : 0);
  const windowRows = [...windows]
    .sort((a, b) => a[0] - b[0])
    .map(([w, xs]) => ({ minute: w + 1, requests: xs.length, ttftP99Ms: Math.round(p99(xs)), met: p99(xs) <= OBJECTIVE_MS, load1: mean(inWindow(w).map((x) => x.load1)), readyMean: mean(inWindow(w).map((x) => x.ready)), desiredMax: Math.max(0, ...inWindow(w).map((x) => x.desired)), startingMean: mean(inWindow(w).map((x) => x.starting)) }));
  const explain = await api('GET', '/v1/services/chat/explain?limit=500');
  const decisions = ((explain['decisions'] ?? []) as Row[]).map((d) => ({ at: Date.parse(String(d['at'])), current: Number(d['current']), desired: Number(d['desired']), reason: String(d['reason']) })).reverse();
  const scaleOut = stepStarts.map((at, k) => {
    const d = decisions.find((x) => x.at >= at && x.at < at + PHASE_S * 1000 && x.desired > x.current);
    return { phase: k + 1, factor: FACTORS[k], firstScaleUpAfterS: d ? +((d.at - at) / 1000).toFixed(1) : null };
  });
  const byPhase = FACTORS.map((factor, k) => {
    const mine = outcomes.filter((o) => o.phase === k);
    const ttfts = mine.filter((o) => o.ttftMs >= 0).map((o) => o.ttftMs);
    return { phase: k + 1, factor, requests: mine.length, ttftP50Ms: Math.round([...ttfts].sort((a, b) => a - b)[Math.floor(ttfts.length / 2)] ?? 0), ttftP99Ms: Math.round(p99(ttfts)), status5xx: mine.filter((o) => o.status >= 500).length, cut: mine.filter((o) => o.cut).length, failed: mine.filter((o) => !o.ok).length, maxReady: Math.max(0, ...replicaSamples.filter((s) => s.t * 1000 >= stepStarts[k]! - wallStart && s.t * 1000 < stepStarts[k]! - wallStart + PHASE_S * 1000).map((s) => s.ready)) };
  });
  const report = {
    trace: TRACE,
    phaseSeconds: PHASE_S,
    objectiveMs: OBJECTIVE_MS,
    maxOutput: MAX_OUTPUT,
    windowsMet: windowRows.filter((w) => w.met).length,
    windows: windowRows.length,
    status5xx: outcomes.filter((o) => o.status >= 500).length,
    cut: outcomes.filter((o) => o.cut).length,
    byPhase,
    scaleOut,
    windowRows,
    decisions: decisions.filter((d) => d.at >= wallStart).map((d) => ({ t: +((d.at - wallStart) / 1000).toFixed(1), current: d.current, desired: d.desired, reason: d.reason.slice(0, 160) })).filter((d) => d.current !== d.desired),
    load: loadavg().map((x) => +x.toFixed(1)),
  };
  if (JSON_OUT) console.log(JSON.stringify(report));
  else {
    console.table(byPhase);
    console.table(windowRows);
    console.table(scaleOut);
    console.table(report.decisions);
    console.log(JSON.stringify({ windowsMet: report.windowsMet, windows: report.windows, status5xx: report.status5xx, cut: report.cut, load: report.load }));
  }
} finally {
  // Replicas are jobs and outlive the server: remove the service and wait for them to end
  // first; any replica process group still there afterwards is killed.
  const pids: number[] = [];
  const svc = await api('GET', '/v1/services/chat').catch(() => ({}) as Row);
  for (const r of (svc['replicaList'] ?? []) as Row[]) {
    const j = await api('GET', `/v1/jobs/${String(r['job'])}`).catch(() => ({}) as Row);
    for (const p of (j['processes'] ?? []) as Array<{ pid: number }>) pids.push(p.pid);
  }
  await api('DELETE', '/v1/services/chat').catch(() => undefined);
  for (let i = 0; i < 120; i++) {
    const active = await api('GET', '/v1/jobs?state=active').catch(() => ({ items: [] }));
    if (((active['items'] ?? []) as unknown[]).length === 0) break;
    await sleep(500);
  }
  up.child.kill('SIGTERM');
  await new Promise((r) => (up.child.exitCode !== null ? r(null) : up.child.once('exit', r)));
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // ended
    }
  }
  for (const d of [dir, `${dir}-work`, `${dir}-datasets`]) rmSync(d, { recursive: true, force: true });
}
