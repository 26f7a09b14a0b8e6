/**
 * Grafana dashboards in deploy/grafana: parsed, checked for shape (unique panel ids, grid
 * positions inside the 24 columns, a query on every panel) and read for the metric names their
 * PromQL queries, so a test can hold those names against a real /metrics.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

export interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string; refId: string }[];
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; definition?: string }[] };
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'le']);

/** Metric names a PromQL expression reads (not functions, keywords, labels or Grafana variables). */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, '')
    .replace(/\$\w+/g, '');
  const out = new Set<string>();
  for (const m of bare.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    if (m[2] || KEYWORDS.has(m[1] as string)) continue;
    out.add(m[1] as string);
  }
  return [...out];
}

export function readDashboard(path: string): Dashboard {
  return JSON.parse(readFileSync(path, 'utf8')) as Dashboard;
}

/** Unique panel ids, every panel inside the 24 columns, every non-row panel queries something. */
export function assertWellFormed(d: Dashboard): void {
  const ids = d.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of d.panels) {
    assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits in 24 columns`);
    if (p.type !== 'row') assert.ok((p.targets ?? []).length > 0, `${p.title} queries something`);
  }
}

/** Every metric the dashboard's panels and variables read. */
export function dashboardMetrics(d: Dashboard): Set<string> {
  const exprs = d.panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr));
  for (const v of d.templating.list) {
    const m = v.definition ? /label_values\((\w+)/.exec(v.definition) : null;
    if (m) exprs.push(m[1] as string);
  }
  return new Set(exprs.flatMap(metricNames));
}

/** Asserts that each name (histogram series by their family) is declared by the exposition text. */
export function assertDeclared(names: Iterable<string>, metricsText: string): void {
  const declared = new Set([...metricsText.matchAll(/^# TYPE (\S+) (\w+)/gm)].map((m) => m[1] as string));
  for (const n of names) assert.ok(declared.has(n) || declared.has(n.replace(/_(bucket|sum|count)$/, '')), `${n} is not in /metrics`);
}
