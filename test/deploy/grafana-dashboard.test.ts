/**
 * deploy/grafana/gantry-dashboard.json is a Grafana dashboard that parses, has unique panel
 * ids and grid positions inside the 24 columns, and queries only metrics a real server's
 * /metrics declares (scraped as an admin after a job ran, so per-job and cost series exist).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { job, startTestServer, waitState, type TestServer } from '../helpers/server.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string; refId: string }[];
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

describe('the Grafana dashboard in deploy/', () => {
  let t: TestServer;
  let metrics = '';
  const dashboard = JSON.parse(readFileSync('deploy/grafana/gantry-dashboard.json', 'utf8')) as { uid: string; title: string; panels: Panel[]; templating: { list: { name: string; definition?: string }[] } };

  before(async () => {
    t = await startTestServer({ gpus: '1xH100-80GB' });
    assert.equal((await t.api('PUT', '/v1/prices/H100-80GB', { pricePerGpuHour: 2 })).status, 200);
    const r = await t.api('POST', '/v1/jobs', job({ name: 'm', command: 'sleep 0.3', resources: { gpu: 1 } }));
    await waitState(t, String(r.body['id']), ['succeeded']);
    metrics = (await t.api('GET', '/metrics')).text;
  });
  after(async () => {
    await t.close();
  });

  it('is a well-formed dashboard', () => {
    assert.equal(dashboard.uid, 'gantry-overview');
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    for (const p of dashboard.panels) {
      assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits in 24 columns`);
      if (p.type !== 'row') assert.ok((p.targets ?? []).length > 0, `${p.title} queries something`);
    }
  });

  it('queries only metrics that /metrics declares', () => {
    const declared = new Set([...metrics.matchAll(/^# TYPE (\S+) (\w+)/gm)].map((m) => m[1] as string));
    const exists = (name: string): boolean => declared.has(name) || declared.has(name.replace(/_(bucket|sum|count)$/, ''));
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr));
    for (const v of dashboard.templating.list) {
      const m = v.definition ? /label_values\((\w+)/.exec(v.definition) : null;
      if (m) exprs.push(m[1] as string);
    }
    const names = new Set(exprs.flatMap(metricNames));
    assert.ok(names.size >= 15, `reads ${names.size} metrics`);
    for (const n of names) assert.ok(exists(n), `${n} is not in /metrics`);
    // A few that must be there by name.
    for (const n of ['DCGM_FI_DEV_GPU_UTIL', 'gantry_gpus_idle_reserved', 'gantry_cost_total', 'gantry_scheduling_latency_seconds_bucket']) assert.ok(names.has(n), n);
    assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le, route) (rate(x_bucket{a="b"}[$__rate_interval]))) * 3600'), ['x_bucket']);
  });
});
