/**
 * Charts of use over time read from /v1/history (kept by the server, downsampled): a range
 * picker and one line per series, read again every 10 s so the chart moves on. The server
 * picks the tier (10 s, 5 min or 1 h buckets) from the range.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { AnswerOf, QueryOf } from '../../src/client/contract-types.js';
import { call } from './api.js';
import { useLoad } from './hooks.js';
import { Chart, type Series } from './chart.js';

export type History = AnswerOf<'getHistory'>;
export const HISTORY_RANGES = ['15m', '1h', '6h', '24h', '7d', '30d'] as const;
export type HistoryRange = (typeof HISTORY_RANGES)[number];

/** Reads a history query, again every `everyMs` (and when it changes). */
export function useHistory(query: QueryOf<'getHistory'>, everyMs = 10_000) {
  const h = useLoad(() => call('getHistory', { query }), [JSON.stringify(query)]);
  useEffect(() => {
    const t = setInterval(() => h.reload(), everyMs);
    return () => clearInterval(t);
  }, [JSON.stringify(query), everyMs]);
  return h;
}

/** Lines for a chart: one per series, named by `label` (default "key metric"). */
export function historyLines(h: History | undefined, label: (s: History['series'][number]) => string = (s) => `${s.key} ${s.metric}`): { x: number[]; lines: Series[] } {
  if (!h) return { x: [], lines: [] };
  return { x: h.times.map((t) => t / 1000), lines: h.series.map((s) => ({ label: label(s), values: s.avg })) };
}

export function RangePicker(props: { value: HistoryRange; onChange: (r: HistoryRange) => void; testid?: string }) {
  return (
    <label>
      over{' '}
      <select value={props.value} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value as HistoryRange)} data-testid={props.testid}>
        {HISTORY_RANGES.map((r) => (
          <option value={r}>last {r}</option>
        ))}
      </select>
    </label>
  );
}

/** A chart of one history query with its own range picker. */
export function HistoryChart(props: { title: string; query: Omit<QueryOf<'getHistory'>, 'since'>; yLabel: string; testid: string; label?: (s: History['series'][number]) => string; initial?: HistoryRange; height?: number }) {
  const [range, setRange] = useState<HistoryRange>(props.initial ?? '1h');
  const h = useHistory({ ...props.query, since: range, points: 240 });
  const { x, lines } = useMemo(() => historyLines(h.data, props.label), [h.data]);
  const hasData = lines.some((l) => l.values.some((v) => v !== null));
  return (
    <div class="card" data-testid={`${props.testid}-card`}>
      <div class="toolbar">
        <h2 style="margin:0 1rem 0 0">{props.title}</h2>
        <RangePicker value={range} onChange={setRange} />
        {h.data ? <span class="muted">{h.data.stepSeconds} s steps</span> : null}
      </div>
      {h.error ? <p class="err">{h.error.message}</p> : hasData ? <Chart x={x} series={lines} yLabel={props.yLabel} testid={props.testid} {...(props.height !== undefined ? { height: props.height } : {})} /> : <p class="muted">{h.data ? 'no samples in this range yet' : 'loading…'}</p>}
    </div>
  );
}
