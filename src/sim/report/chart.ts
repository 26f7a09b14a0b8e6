/**
 * Charts for reports: Vega-Lite specs rendered to SVG headless (no browser, no canvas).
 * The same specs can be embedded by the dashboard.
 */
import type { TopLevelSpec } from 'vega-lite';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Loaded on first use: Vega is large, and most commands never draw a chart.
  const vega = await import('vega');
  const { compile } = await import('vega-lite');
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export interface Series {
  /** Legend name; series with the same name share a colour (e.g. measured and published). */
  readonly name: string;
  readonly points: readonly { readonly x: number; readonly y: number }[];
  /** Drawn dashed (e.g. a published reference curve). */
  readonly dashed?: boolean;
}

const LINE_HEIGHT = 380;

/**
 * A line chart of several series sharing axes. The measured/published legend appears only
 * when some series is published (dashed). Points outside `xDomain` are dropped.
 */
export function lineChartSpec(title: string, xTitle: string, yTitle: string, series: readonly Series[], opts: { yDomain?: [number, number]; xDomain?: [number, number]; subtitle?: string; markers?: readonly { x: number; label: string }[] } = {}): TopLevelSpec {
  const inX = (x: number): boolean => !opts.xDomain || (x >= opts.xDomain[0] && x <= opts.xDomain[1]);
  const values = series.flatMap((s) =>
    s.points.filter((p) => Number.isFinite(p.y) && inX(p.x)).map((p) => ({ series: s.name, x: p.x, y: p.y, source: s.dashed ? 'published' : 'measured' })),
  );
  const published = series.some((s) => s.dashed);
  const markers = (opts.markers ?? []).filter((m) => inX(m.x)).map((m) => ({ ...m }));
  const line = {
    mark: { type: 'line', strokeWidth: 1.6, clip: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: xTitle, ...(opts.xDomain ? { scale: { domain: opts.xDomain, nice: false } } : {}) },
      y: { field: 'y', type: 'quantitative', title: yTitle, scale: { zero: false, ...(opts.yDomain ? { domain: opts.yDomain } : {}) } },
      color: { field: 'series', type: 'nominal', title: null },
      ...(published
        ? {
            strokeDash: { field: 'source', type: 'nominal', title: null, scale: { domain: ['measured', 'published'], range: [[1, 0], [5, 3]] } },
            detail: { field: 'source', type: 'nominal' },
          }
        : {}),
    },
  };
  // Vertical markers (e.g. "last arrival"): a dotted rule and its label at the top.
  const rules = { data: { values: markers }, mark: { type: 'rule', strokeDash: [2, 3], color: '#666' }, encoding: { x: { field: 'x', type: 'quantitative' } } };
  const labels = { data: { values: markers }, mark: { type: 'text', align: 'left', baseline: 'bottom', dx: 4, dy: -4, color: '#444' }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { value: LINE_HEIGHT }, text: { field: 'label' } } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, anchor: 'start', ...(opts.subtitle ? { subtitle: opts.subtitle } : {}) },
    width: 860,
    height: LINE_HEIGHT,
    data: { values },
    layer: markers.length > 0 ? [line, rules, labels] : [line],
  } as TopLevelSpec;
}

/** Ticks of a logarithmic-above-1 axis (Vega's own crowd together at the top). */
const SYMLOG_TICKS = [0, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/** The widest a chart's plot gets, so that a report reads at 1,200 px without scrolling. */
export const MAX_PLOT_WIDTH = 1000;

/**
 * A grouped bar chart in one plot: a group per x position, one bar per series beside each
 * other, at most MAX_PLOT_WIDTH wide; `reference` draws a dashed line at that value.
 */
export function barChartSpec(title: string, xTitle: string, yTitle: string, rows: readonly { group: string; series: string; value: number }[], opts: { reference?: number; subtitle?: string; yScale?: 'linear' | 'symlog' } = {}): TopLevelSpec {
  const groups = new Set(rows.map((r) => r.group)).size;
  const series = new Set(rows.map((r) => r.series)).size;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const top = SYMLOG_TICKS.find((v) => v >= max) ?? max;
  const wanted = groups * (series * 12 + 14);
  const width = Math.max(240, Math.min(MAX_PLOT_WIDTH, wanted));
  const bars = {
    mark: 'bar',
    encoding: {
      x: { field: 'group', type: 'nominal', title: xTitle, sort: null, axis: { labelAngle: wanted > MAX_PLOT_WIDTH || groups > 16 ? -45 : 0 } },
      xOffset: { field: 'series' },
      y: { field: 'value', type: 'quantitative', title: yTitle, ...(opts.yScale === 'symlog' ? { scale: { type: 'symlog', domain: [0, top] }, axis: { format: '~g', values: SYMLOG_TICKS.filter((v) => v <= top) } } : {}) },
      color: { field: 'series', type: 'nominal', title: null },
    },
  };
  const rule = { data: { values: [{ value: opts.reference }] }, mark: { type: 'rule', strokeDash: [5, 3], color: '#444' }, encoding: { y: { field: 'value', type: 'quantitative' } } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, anchor: 'start', ...(opts.subtitle ? { subtitle: opts.subtitle } : {}) },
    width,
    height: 320,
    data: { values: rows.map((r) => ({ ...r })) },
    layer: opts.reference === undefined ? [bars] : [bars, rule],
  } as TopLevelSpec;
}
