/**
 * deploy/grafana/gantry-dashboard.json is a Grafana dashboard that parses, has unique panel
 * ids and grid positions inside the 24 columns, and queries only metrics a real server's
 * /metrics declares (scraped as an admin after a job ran, so per-job and cost series exist).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { job, startTestServer, waitState, type TestServer } from '../helpers/server.js';
import { assertDeclared, assertWellFormed, dashboardMetrics, metricNames, readDashboard } from '../helpers/grafana.js';

describe('the Grafana dashboard in deploy/', () => {
  let t: TestServer;
  let metrics = '';
  const dashboard = readDashboard('deploy/grafana/gantry-dashboard.json');

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
    assertWellFormed(dashboard);
  });

  it('queries only metrics that /metrics declares', () => {
    const names = dashboardMetrics(dashboard);
    assert.ok(names.size >= 15, `reads ${names.size} metrics`);
    assertDeclared(names, metrics);
    // A few that must be there by name.
    for (const n of ['DCGM_FI_DEV_GPU_UTIL', 'gantry_gpus_idle_reserved', 'gantry_cost_total', 'gantry_scheduling_latency_seconds_bucket']) assert.ok(names.has(n), n);
    assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le, route) (rate(x_bucket{a="b"}[$__rate_interval]))) * 3600'), ['x_bucket']);
  });
});
