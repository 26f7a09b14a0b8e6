/** `gantry sim serve` results as a terminal table, markdown and the JSON the issue fixes. */
import { markdownTable, terminalTable, type Cell } from '../report/table.js';
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

export function serveTerminalReport(results: readonly ServeRunResult[]): string {
  return terminalTable(HEADER, rows(results));
}

export function serveMarkdownReport(results: readonly ServeRunResult[]): string {
  return markdownTable(HEADER, rows(results));
}

const round = (v: number, d = 1): number | null => (Number.isFinite(v) ? Math.round(v * 10 ** d) / 10 ** d : null);

export function serveJson(trace: string, objectiveMs: number, results: readonly ServeRunResult[]): unknown {
  return {
    trace,
    ttftObjectiveMs: objectiveMs,
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
    })),
  };
}
