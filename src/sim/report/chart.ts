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

/** A line chart of several series sharing axes. */
export function lineChartSpec(title: string, xTitle: string, yTitle: string, series: readonly Series[], opts: { yDomain?: [number, number]; xDomain?: [number, number] } = {}): TopLevelSpec {
  const inX = (x: number): boolean => !opts.xDomain || (x >= opts.xDomain[0] && x <= opts.xDomain[1]);
  const values = series.flatMap((s) =>
    s.points.filter((p) => Number.isFinite(p.y) && inX(p.x)).map((p) => ({ series: s.name, x: p.x, y: p.y, source: s.dashed ? 'published' : 'measured' })),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 640,
    height: 380,
    data: { values },
    mark: { type: 'line', strokeWidth: 1.6, clip: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: xTitle, ...(opts.xDomain ? { scale: { domain: opts.xDomain } } : {}) },
      y: { field: 'y', type: 'quantitative', title: yTitle, scale: { zero: false, ...(opts.yDomain ? { domain: opts.yDomain } : {}) } },
      color: { field: 'series', type: 'nominal', title: null },
      strokeDash: { field: 'source', type: 'nominal', title: null, scale: { domain: ['measured', 'published'], range: [[1, 0], [5, 3]] } },
      detail: { field: 'source', type: 'nominal' },
    },
  };
}

/** A grouped bar chart: one bar per (group, series). */
export function barChartSpec(title: string, yTitle: string, rows: readonly { group: string; series: string; value: number }[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: { step: 18 },
    height: 320,
    data: { values: rows.map((r) => ({ ...r })) },
    mark: 'bar',
    encoding: {
      x: { field: 'series', type: 'nominal', title: null, axis: { labels: false, ticks: false } },
      xOffset: { field: 'series' },
      column: { field: 'group', type: 'nominal', title: null },
      y: { field: 'value', type: 'quantitative', title: yTitle },
      color: { field: 'series', type: 'nominal', title: null },
    },
  } as TopLevelSpec;
}
