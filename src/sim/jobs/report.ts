/**
 * Reports for `gantry sim jobs`: the JSON others script against, a terminal table, and with
 * --out a directory holding summary.md (tables), results.json, utilization.svg (GPU
 * utilisation over time per policy) and queues.svg (each queue's share against its guarantee).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JobsResult } from './engine.js';
import { csv, markdownTable, terminalTable, type Cell } from '../report/table.js';
import { costLineJson as line, money } from '../report/cost-lines.js';
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
      ...(r.data
        ? {
            bytesMoved: Math.round(r.data.bytesMoved),
            bytesFromSource: Math.round(r.data.bytesFromSource),
            cacheHitRate: r3(r.data.cacheHitRate),
            bytesMovedBy: r.data.bytesMovedBy,
            dataWaitSeconds: { mean: r1(r.data.dataWaitSeconds.mean), p99: r1(r.data.dataWaitSeconds.p99) },
          }
        : {}),
      cost: costJson(r.cost),
      utilization: { sampleSeconds: r.sampleSeconds, series: r.utilizationSeries.map(r3) },
      queues: r.queues.map((q) => ({ name: q.name, guaranteedGpus: q.guaranteedGpus, meanUsedGpus: r3(q.meanUsedGpus), shareOfGuaranteeArriving: r3(q.shareOfGuaranteeArriving) })),
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

/** Cost as `gantry cost -o json` words it: GPU-hours and money (to the micro-unit) by queue and GPU model. */
function costJson(c: JobsResult['cost']): object {
  return { byQueue: c.byQueue.map(line), byModel: c.byModel.map(line), total: line(c.total) };
}

/** Cost per policy: GPU-hours billed, cost, the part redone after preemption, the dearest queue. */
export function costRows(results: readonly JobsResult[]): { header: string[]; rows: Cell[][] } {
  const c = (f: (r: JobsResult) => Cell): Cell[] => results.map(f);
  return byColumns([
    col('policy', c((r) => r.policy)),
    col('GPU-h billed', c((r) => (r.cost.total.gpuSeconds / 3600).toFixed(1))),
    col('cost', c((r) => money(r.cost.total.costMicros))),
    col('GPU-h redone (preempted)', c((r) => (r.cost.total.preemptedGpuSeconds / 3600).toFixed(1))),
    col('cost redone', c((r) => money(r.cost.total.preemptedCostMicros))),
    col('dearest queue', c((r) => (r.cost.byQueue[0] ? `${r.cost.byQueue[0].key} (${money(r.cost.byQueue[0].costMicros)})` : '-'))),
  ]);
}

export function costTerminal(results: readonly JobsResult[]): string {
  const t = costRows(results);
  return terminalTable(t.header, t.rows);
}

/**
 * One time unit per column, named in the header: hours when any value reaches an hour,
 * seconds otherwise (a column never mixes "1487 s" with "1.06 h").
 */
function timeColumn(title: string, seconds: readonly number[]): { header: string; cells: string[] } {
  const hours = seconds.some((x) => x >= 3600);
  return { header: `${title} (${hours ? 'h' : 's'})`, cells: seconds.map((x) => (Number.isFinite(x) ? (hours ? (x / 3600).toFixed(2) : String(Math.round(x))) : '-')) };
}

const col = (header: string, cells: readonly Cell[]): { header: string; cells: readonly Cell[] } => ({ header, cells });

/** A table from columns (header + one cell per row). */
function byColumns(columns: readonly { header: string; cells: readonly Cell[] }[]): { header: string[]; rows: Cell[][] } {
  const n = columns[0]?.cells.length ?? 0;
  return { header: columns.map((c) => c.header), rows: Array.from({ length: n }, (_, i) => columns.map((c) => c.cells[i] as Cell)) };
}

function rows(results: readonly JobsResult[]): { header: string[]; rows: Cell[][] } {
  const fifo = results.find((r) => r.policy === 'fifo');
  const time = (title: string, f: (r: JobsResult) => number) => timeColumn(title, results.map(f));
  return byColumns([
    col('policy', results.map((r) => (r.oracle ? `${r.policy} (oracle)` : r.policy))),
    time('mean JCT', (r) => r.jctSeconds.mean),
    col('vs fifo (%)', results.map((r) => (fifo ? (((r.jctSeconds.mean - fifo.jctSeconds.mean) / fifo.jctSeconds.mean) * 100).toFixed(1) : '-'))),
    time('p50 JCT', (r) => r.jctSeconds.p50),
    time('p99 JCT', (r) => r.jctSeconds.p99),
    time('mean wait', (r) => r.queueingDelaySeconds.mean),
    time('p99 wait', (r) => r.queueingDelaySeconds.p99),
    time('makespan', (r) => r.makespanSeconds),
    col('GPU util (%)', results.map((r) => (r.gpuUtilization * 100).toFixed(1))),
    col('fairness (Jain)', results.map((r) => r.fairnessIndex.toFixed(3))),
    time('guarantee violated', (r) => r.guaranteeViolationSeconds),
    time('queue below guarantee', (r) => r.guaranteeViolationQueueSeconds),
    col('preemptions', results.map((r) => r.preemptions)),
    col('GPU-h lost', results.map((r) => r.gpuHoursLostToPreemption.toFixed(1))),
    ...dataColumns(results),
  ]);
}

/** With a dataset catalogue: bytes moved, byte hit rate and data wait per start. */
function dataColumns(results: readonly JobsResult[]): { header: string; cells: readonly Cell[] }[] {
  if (!results.some((r) => r.data)) return [];
  const cell = (f: (d: NonNullable<JobsResult['data']>) => string): Cell[] => results.map((r) => (r.data ? f(r.data) : '-'));
  return [
    col('moved (TB)', cell((d) => (d.bytesMoved / 1e12).toFixed(1))),
    col('cache hits (%)', cell((d) => (d.cacheHitRate * 100).toFixed(1))),
    col('mean data wait (s)', cell((d) => String(Math.round(d.dataWaitSeconds.mean)))),
    col('p99 data wait (s)', cell((d) => String(Math.round(d.dataWaitSeconds.p99)))),
  ];
}

/** Whether preemption kept its promises: churn metrics per policy (see ChurnMetrics). */
export function churnRows(results: readonly JobsResult[]): { header: string[]; rows: Cell[][] } {
  const c = (f: (r: JobsResult) => Cell): Cell[] => results.map(f);
  return byColumns([
    col('policy', c((r) => r.policy)),
    col('preempted max (times per job)', c((r) => r.churn.preemptionsMax)),
    col('p99', c((r) => r.churn.preemptionsP99)),
    col('jobs >= 3', c((r) => r.churn.preemptedAtLeast3)),
    col('ping-pong pairs', c((r) => r.churn.pingPongPairs)),
    timeColumn('deficit beyond bound', results.map((r) => r.churn.deficitSeconds)),
    col('episodes', c((r) => r.churn.deficitEpisodes)),
    timeColumn('longest', results.map((r) => r.churn.longestDeficitSeconds)),
    col('wasted GPU time (% of work)', c((r) => (r.churn.wastedShare * 100).toFixed(2))),
    col('partial gangs', c((r) => r.churn.partialGangs)),
    col('double-bookings', c((r) => r.churn.doubleBookings)),
  ]);
}

export function churnTerminal(results: readonly JobsResult[]): string {
  const t = churnRows(results);
  return terminalTable(t.header, t.rows);
}

export function terminalReport(results: readonly JobsResult[]): string {
  const t = rows(results);
  return terminalTable(t.header, t.rows);
}

/** A round upper bound for an axis: 1, 1.5, 2, 3, 4, 5, 6, 8 x a power of ten. */
function niceCeil(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 1.5, 2, 3, 4, 5, 6, 8, 10]) if (m * p >= x - 1e-9) return m * p;
  return 10 * p;
}

/**
 * GPU utilisation over the busy period: from the first arrival until the last job of any
 * policy started, plus a tenth. After it only the tail of long jobs runs, the same for every
 * policy, and drawing it (hundreds of hours at high load) would squeeze the busy part flat.
 */
export function utilizationChartSpec(results: readonly JobsResult[]): ReturnType<typeof lineChartSpec> {
  const busyH = Math.max(0, ...results.map((r) => r.busySeconds / 3600));
  const spanH = Math.max(0, ...results.map((r) => r.makespanSeconds / 3600));
  // (A busy period that reaches the end of the run: the whole run, ending where it ends.)
  const end = niceCeil(busyH * 1.1) >= spanH ? Math.max(spanH, 1e-3) : niceCeil(busyH * 1.1);
  const series = results.map((r) => ({ name: r.policy, points: r.utilizationSeries.map((y, i) => ({ x: ((i + 0.5) * r.sampleSeconds) / 3600, y: y * 100 })) }));
  const subtitle = spanH > end ? `busy period only: the last ${Math.round(spanH - end)} h of the run, when only long jobs finish, are left out` : 'the whole run';
  const lastArrivalH = Math.max(0, ...results.map((r) => r.arrivalSeconds / 3600));
  return lineChartSpec('GPU utilisation over time', 'hours since the first arrival', 'GPUs allocated (%)', series, { yDomain: [0, 100], xDomain: [0, end], subtitle, markers: [{ x: lastArrivalH, label: 'last arrival' }] });
}

export async function writeReport(dir: string, ctx: JobsReportContext, results: readonly JobsResult[], command: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const t = rows(results);
  const churn = churnRows(results);
  const cost = costRows(results);
  const costHeader = ['policy', 'by', 'key', 'attempts', 'GPU-h', 'cost', 'GPU-h redone', 'cost redone'];
  const costLines: Cell[][] = results.flatMap((r) =>
    (['queue', 'model'] as const).flatMap((by) => (by === 'queue' ? r.cost.byQueue : r.cost.byModel).map((l) => [r.policy, by, l.key, l.attempts, (l.gpuSeconds / 3600).toFixed(2), (l.costMicros / 1e6).toFixed(2), (l.preemptedGpuSeconds / 3600).toFixed(2), (l.preemptedCostMicros / 1e6).toFixed(2)])),
  );
  const all = results.flatMap((r) => r.queues.map((q) => ({ policy: r.policy, q })));
  const violated = timeColumn('guarantee violated', all.map((x) => x.q.violationSeconds));
  const below = timeColumn('queue below guarantee', all.map((x) => x.q.queueViolationSeconds));
  const queueHeader = ['policy', 'queue', 'guaranteed GPUs', 'mean used GPUs', 'mean deserved GPUs', 'used / guaranteed (whole run)', 'used / guaranteed (while jobs arrive)', violated.header, below.header];
  const queueRows: Cell[][] = all.map(({ policy, q }, i) => [policy, q.name, q.guaranteedGpus, q.meanUsedGpus.toFixed(1), q.meanDeservedGpus.toFixed(1), q.shareOfGuarantee.toFixed(2), q.shareOfGuaranteeArriving.toFixed(2), violated.cells[i] as string, below.cells[i] as string]);
  const md =
    `# Job scheduling on the Philly trace\n\n` +
    `Trace ${ctx.trace}, window from ${ctx.window.from} for ${ctx.window.days} day(s), arrivals compressed ${ctx.window.load}x ` +
    `(${ctx.window.jobs} jobs), ${ctx.gpus} GPUs. JCT = completion - submission; wait = first start - submission. ` +
    `"guarantee violated" = time a queue had a job covered by its unused guarantee (waiting jobs taken in order while they fit) waiting beyond one cycle plus the grace period; ` +
    `"queue below guarantee" (stricter) = time a queue stayed below its guarantee with any fitting job waiting, continuously beyond one cycle plus the grace (back-to-back arrivals chain into one episode).\n\n` +
    markdownTable(t.header, t.rows) +
    `\n` +
    markdownTable(churn.header, churn.rows) +
    `\nSettings: \`${JSON.stringify(ctx.settings)}\`\n\nCommand: \`${command}\`\n\n![GPU utilisation](utilization.svg)\n\n![Queue shares](queues.svg)\n\n## Queues\n\n` +
    markdownTable(queueHeader, queueRows) +
    `\n## Cost\n\nBilled as \`gantry cost\` bills: each attempt's GPUs x time x the price of its GPU model${ctx.settings['prices'] ? ` (${String(ctx.settings['prices'])})` : ' (no --prices: GPU-hours only)'}, rounded per attempt to the micro-unit; "redone" = attempts that were preempted.\n\n` +
    markdownTable(cost.header, cost.rows) +
    `\n` +
    markdownTable(costHeader, costLines);
  const util = await renderSvg(utilizationChartSpec(results));
  const queues = await renderSvg(
    barChartSpec(
      "Each queue's mean use against its guarantee",
      ctx.trace === 'churn' ? 'queue' : 'queue (virtual cluster)',
      'GPUs used / GPUs guaranteed',
      results.flatMap((r) => r.queues.filter((q) => q.guaranteedGpus > 0 && q.leaf).map((q) => ({ group: q.name.replace(/^vc-/, ''), series: r.policy, value: +q.shareOfGuaranteeArriving.toFixed(3) }))),
      { reference: 1, yScale: 'symlog', subtitle: 'mean while jobs arrive; dashed: exactly its guarantee; log scale above 1' },
    ),
  );
  const files: Record<string, string> = {
    'summary.md': md,
    'results.json': JSON.stringify(toJson(ctx, results), null, 2) + '\n',
    'queues.csv': csv(queueHeader, queueRows),
    'cost.csv': csv(costHeader, costLines),
    'utilization.svg': util,
    'queues.svg': queues,
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  return Object.keys(files).map((n) => join(dir, n));
}
