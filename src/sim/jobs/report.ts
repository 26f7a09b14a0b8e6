/**
 * Reports for `gantry sim jobs`: the JSON others script against, a terminal table, and with
 * --out a directory holding summary.md (tables), results.json, utilization.svg (GPU
 * utilisation over time per policy) and queues.svg (each queue's share against its guarantee).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JobsResult } from './engine.js';
import { csv, markdownTable, terminalTable, type Cell } from '../report/table.js';
import { barChartSpec, lineChartSpec, renderSvg } from '../report/chart.js';

export interface JobsReportContext {
  readonly trace: string;
  readonly window: { readonly from: string; readonly days: number; readonly load: number; readonly jobs: number };
  readonly gpus: number;
  readonly settings: Record<string, unknown>;
}

const r1 = (x: number): number => Math.round(x * 10) / 10;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

export function toJson(ctx: JobsReportContext, results: readonly JobsResult[]): object {
  return {
    trace: ctx.trace,
    window: ctx.window,
    gpus: ctx.gpus,
    settings: ctx.settings,
    results: results.map((r) => ({
      policy: r.policy,
      ...(r.oracle ? { oracle: true } : {}),
      jctSeconds: { mean: r1(r.jctSeconds.mean), p50: r1(r.jctSeconds.p50), p99: r1(r.jctSeconds.p99) },
      queueingDelaySeconds: { mean: r1(r.queueingDelaySeconds.mean), p99: r1(r.queueingDelaySeconds.p99) },
      makespanSeconds: r1(r.makespanSeconds),
      gpuUtilization: r3(r.gpuUtilization),
      fairnessIndex: r3(r.fairnessIndex),
      guaranteeViolationSeconds: r1(r.guaranteeViolationSeconds),
      guaranteeViolationQueueSeconds: r1(r.guaranteeViolationQueueSeconds),
      preemptions: r.preemptions,
      gpuHoursLostToPreemption: r1(r.gpuHoursLostToPreemption),
      completed: r.completed,
      jobs: r.jobs,
      wallSeconds: r1(r.wallSeconds),
      churn: {
        ...r.churn,
        fastestPingPongSeconds: r.churn.fastestPingPongSeconds === null ? null : r1(r.churn.fastestPingPongSeconds),
        deficitSeconds: r1(r.churn.deficitSeconds),
        longestDeficitSeconds: r1(r.churn.longestDeficitSeconds),
        wastedGpuSeconds: Math.round(r.churn.wastedGpuSeconds),
        wastedShare: Math.round(r.churn.wastedShare * 10_000) / 10_000,
        deficitSecondsByQueue: Object.fromEntries(r.queues.filter((q) => q.deficitSeconds > 0).map((q) => [q.name, r1(q.deficitSeconds)])),
      },
    })),
  };
}

const h = (s: number): string => (s >= 3600 ? `${(s / 3600).toFixed(2)} h` : `${Math.round(s)} s`);

function rows(results: readonly JobsResult[]): { header: string[]; rows: Cell[][] } {
  const fifo = results.find((r) => r.policy === 'fifo');
  return {
    header: ['policy', 'mean JCT', 'vs fifo', 'p50 JCT', 'p99 JCT', 'mean wait', 'p99 wait', 'makespan', 'GPU util', 'fairness', 'guarantee violated', 'queue below guarantee', 'preemptions', 'GPU-h lost'],
    rows: results.map((r) => [
      r.oracle ? `${r.policy} (oracle)` : r.policy,
      h(r.jctSeconds.mean),
      fifo ? `${(((r.jctSeconds.mean - fifo.jctSeconds.mean) / fifo.jctSeconds.mean) * 100).toFixed(1)} %` : '-',
      h(r.jctSeconds.p50),
      h(r.jctSeconds.p99),
      h(r.queueingDelaySeconds.mean),
      h(r.queueingDelaySeconds.p99),
      h(r.makespanSeconds),
      `${(r.gpuUtilization * 100).toFixed(1)} %`,
      r.fairnessIndex.toFixed(3),
      h(r.guaranteeViolationSeconds),
      h(r.guaranteeViolationQueueSeconds),
      r.preemptions,
      r.gpuHoursLostToPreemption.toFixed(1),
    ]),
  };
}

/** Whether preemption kept its promises: churn metrics per policy (see ChurnMetrics). */
export function churnRows(results: readonly JobsResult[]): { header: string[]; rows: Cell[][] } {
  return {
    header: ['policy', 'preempted max', 'p99', 'jobs >= 3', 'ping-pong pairs', 'deficit beyond bound', 'episodes', 'longest', 'wasted GPU time', 'partial gangs', 'double-bookings'],
    rows: results.map((r) => [
      r.policy,
      r.churn.preemptionsMax,
      r.churn.preemptionsP99,
      r.churn.preemptedAtLeast3,
      r.churn.pingPongPairs,
      h(r.churn.deficitSeconds),
      r.churn.deficitEpisodes,
      h(r.churn.longestDeficitSeconds),
      `${(r.churn.wastedShare * 100).toFixed(2)} %`,
      r.churn.partialGangs,
      r.churn.doubleBookings,
    ]),
  };
}

export function churnTerminal(results: readonly JobsResult[]): string {
  const t = churnRows(results);
  return terminalTable(t.header, t.rows);
}

export function terminalReport(results: readonly JobsResult[]): string {
  const t = rows(results);
  return terminalTable(t.header, t.rows);
}

export async function writeReport(dir: string, ctx: JobsReportContext, results: readonly JobsResult[], command: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const t = rows(results);
  const queueHeader = ['policy', 'queue', 'guaranteed GPUs', 'mean used GPUs', 'mean deserved GPUs', 'used / guaranteed', 'guarantee violated', 'queue below guarantee'];
  const queueRows: Cell[][] = results.flatMap((r) =>
    r.queues.map((q) => [r.policy, q.name, q.guaranteedGpus, q.meanUsedGpus.toFixed(1), q.meanDeservedGpus.toFixed(1), q.shareOfGuarantee.toFixed(2), h(q.violationSeconds), h(q.queueViolationSeconds)]),
  );
  const md =
    `# Job scheduling on the Philly trace\n\n` +
    `Trace ${ctx.trace}, window from ${ctx.window.from} for ${ctx.window.days} day(s), arrivals compressed ${ctx.window.load}x ` +
    `(${ctx.window.jobs} jobs), ${ctx.gpus} GPUs. JCT = completion - submission; wait = first start - submission. ` +
    `"guarantee violated" = time a queue had a job covered by its unused guarantee (waiting jobs taken in order while they fit) waiting beyond one cycle plus the grace period; ` +
    `"queue below guarantee" (stricter) = time a queue stayed below its guarantee with any fitting job waiting, continuously beyond one cycle plus the grace (back-to-back arrivals chain into one episode).\n\n` +
    markdownTable(t.header, t.rows) +
    `\n` +
    markdownTable(churnRows(results).header, churnRows(results).rows) +
    `\nSettings: \`${JSON.stringify(ctx.settings)}\`\n\nCommand: \`${command}\`\n\n![GPU utilisation](utilization.svg)\n\n![Queue shares](queues.svg)\n\n## Queues\n\n` +
    markdownTable(queueHeader, queueRows);
  const hours = (i: number): number => (i * 15) / 60;
  const util = await renderSvg(
    lineChartSpec('GPU utilisation over time', 'hours since the first arrival', 'GPUs allocated, %', results.map((r) => ({ name: r.policy, points: r.utilizationSeries.map((y, i) => ({ x: hours(i), y: y * 100 })) })), {
      yDomain: [0, 100],
      xDomain: [0, Math.max(1, ...results.map((r) => hours(r.utilizationSeries.length)))],
    }),
  );
  const queues = await renderSvg(
    barChartSpec(
      "Each queue's mean use against its guarantee (1 = exactly its guarantee)",
      'used / guaranteed',
      results.flatMap((r) => r.queues.filter((q) => q.guaranteedGpus > 0).map((q) => ({ group: q.name.replace(/^vc-/, ''), series: r.policy, value: +q.shareOfGuarantee.toFixed(3) }))),
    ),
  );
  const files: Record<string, string> = {
    'summary.md': md,
    'results.json': JSON.stringify(toJson(ctx, results), null, 2) + '\n',
    'queues.csv': csv(queueHeader, queueRows),
    'utilization.svg': util,
    'queues.svg': queues,
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  return Object.keys(files).map((n) => join(dir, n));
}
