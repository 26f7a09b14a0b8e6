/** `gantry sim serve` results as a terminal table, markdown, CSV and the JSON the issue fixes. */
import { csv, markdownTable, terminalTable, type Cell } from '../report/table.js';
import { costLineJson, money } from '../report/cost-lines.js';
import type { TallyLine } from '../../core/cost-tally.js';
import type { ServeRunResult } from './serve-simulation.js';

const HEADER = ['policy', 'rate', 'TTFT p50 (ms)', 'TTFT p99 (ms)', 'ITL p50 (ms)', 'ITL p99 (ms)', 'SLO windows met', 'GPU-s', 'replicas mean / max', 'training GPU-s lost', 'cold / cached starts', 'scale decisions', 'prefix hit rate'];

const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(v < 100 ? 1 : 0) : 'n/a');

function rows(results: readonly ServeRunResult[]): Cell[][] {
  return results.map((r) => [
    r.policy, `${r.rateScale}x`, ms(r.ttftMs.p50), ms(r.ttftMs.p99), ms(r.itlMs.p50), ms(r.itlMs.p99),
    `${(r.sloAttainment * 100).toFixed(1)} %`, Math.round(r.gpuSeconds).toLocaleString('en-US'),
    `${r.replicas.mean.toFixed(2)} / ${r.replicas.max}`, Math.round(r.trainingGpuSecondsLost).toLocaleString('en-US'),
    `${r.coldStarts} / ${r.cachedStarts}`, r.scaleDecisions, `${(r.prefixHitRate * 100).toFixed(1)} %`,
  ]);
}

const COST_HEADER = ['policy', 'rate', 'replicas billed', 'GPU-h billed', 'cost', 'cost / 1k requests'];

/** Cost per policy and rate: the replicas' GPU time billed at the price of the fleet's GPU model. */
function costRows(results: readonly ServeRunResult[]): Cell[][] {
  return results.map((r) => {
    const t = r.cost.total;
    const served = r.requests - r.unserved;
    return [r.policy, `${r.rateScale}x`, t.attempts, (t.gpuSeconds / 3600).toFixed(2), money(t.costMicros), served > 0 ? money((t.costMicros * 1000) / served) : '-'];
  });
}

const CSV_HEADER = ['policy', 'rate', 'by', 'key', 'attempts', 'GPU-h', 'cost'];

/** cost.csv: each policy and rate's cost by GPU model (one service: the sim replays one). */
export function serveCostCsv(results: readonly ServeRunResult[]): string {
  return csv(CSV_HEADER, results.flatMap((r) => r.cost.byModel.map((l): Cell[] => [r.policy, r.rateScale, 'model', l.key, l.attempts, (l.gpuSeconds / 3600).toFixed(3), (l.costMicros / 1e6).toFixed(6)])));
}

export function serveTerminalReport(results: readonly ServeRunResult[]): string {
  return terminalTable(HEADER, rows(results)) + '\n\n' + terminalTable(COST_HEADER, costRows(results));
}

/** The tables of summary.md; `prices` names the prices used (as the settings do), if any. */
export function serveMarkdownReport(results: readonly ServeRunResult[], prices?: string): string {
  return (
    markdownTable(HEADER, rows(results)) +
    `\n## Cost\n\nBilled as \`gantry cost\` bills: each replica is one attempt of one GPU, its time x the price of the fleet's GPU model${prices ? ` (${prices})` : ' (no --prices: GPU-hours only)'}, rounded per replica to the micro-unit.\n\n` +
    markdownTable(COST_HEADER, costRows(results))
  );
}

const round = (v: number, d = 1): number | null => (Number.isFinite(v) ? Math.round(v * 10 ** d) / 10 ** d : null);

/** A cost line in `gantry cost -o json` words, with the GPU-seconds to the millisecond (replicas are short). */
const costJson = (l: TallyLine) => ({ ...costLineJson(l), gpuSeconds: Math.round(l.gpuSeconds * 1000) / 1000 });

/**
 * The run minute by minute, for charts: mean replicas held, GPU-hours held so far, and the p99
 * TTFT of each minute's arrivals (null: none served) against the objective.
 */
function timelineJson(r: ServeRunResult) {
  const g = r.perMinute.gpuSeconds;
  let held = 0;
  return {
    minuteSeconds: 60,
    replicas: g.map((s, m) => round(s / Math.max(1e-9, Math.min(60, r.durationSeconds - m * 60)), 2)),
    gpuHours: g.map((s) => round((held += s) / 3600, 4)),
    ttftP99Ms: r.perMinute.ttftP99Ms.map((v) => round(v)),
  };
}

export function serveJson(trace: string, objectiveMs: number, results: readonly ServeRunResult[], settings: Record<string, unknown> = {}): unknown {
  return {
    trace,
    ttftObjectiveMs: objectiveMs,
    settings,
    results: results.map((r) => ({
      policy: r.policy,
      rateScale: r.rateScale,
      ttftMs: { p50: round(r.ttftMs.p50), p99: round(r.ttftMs.p99) },
      itlMs: { p50: round(r.itlMs.p50), p99: round(r.itlMs.p99) },
      sloAttainment: round(r.sloAttainment, 4),
      gpuSeconds: round(r.gpuSeconds, 0),
      trainingGpuSecondsLost: round(r.trainingGpuSecondsLost, 0),
      coldStarts: r.coldStarts,
      scaleDecisions: r.scaleDecisions,
      cachedStarts: r.cachedStarts,
      router: r.router,
      replicas: { mean: round(r.replicas.mean, 2), max: r.replicas.max },
      prefixHitRate: round(r.prefixHitRate, 4),
      requests: r.requests,
      unserved: r.unserved,
      throughputTokensPerSecond: round(r.throughputTokensPerSecond, 0),
      cost: { byModel: r.cost.byModel.map(costJson), total: costJson(r.cost.total) },
      timeline: timelineJson(r),
    })),
  };
}
