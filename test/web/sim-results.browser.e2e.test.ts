/**
 * The simulator view in real headless Chromium: the results.json of a real `gantry sim jobs
 * --prices --out` run and of a second run loaded from disk, their policies compared in a table
 * (cost included) and in the utilisation chart; an openb-shaped file draws its curve; a file
 * that is not a results.json is refused with the reason and changes nothing shown; a real
 * `gantry sim serve --prices --out` run shows the figures of its file and its three charts.
 * Screenshots go to <tmp>/gantry-artifacts/sim-results.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createRng } from '../../src/core/rng.js';
import { generateLlmTrace } from '../../src/sim/serve/llm-trace-generator.js';
import { artifactsDir, browserSkip, launchBrowser, trackedPage } from '../helpers/browser.js';

const shots = artifactsDir('sim-results');
const gantry = (...args: string[]) => spawnSync(process.execPath, ['bin/gantry.js', ...args], { encoding: 'utf8' });

describe('the simulator results view in Chromium', { skip: browserSkip, timeout: 240_000 }, () => {
  let t: TestServer;
  let browser: Browser;
  let dir = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-sim-view-'));
    for (const [out, prices] of [['a', 'A100=1.8'], ['b', 'A100=2.5']] as const) {
      const r = gantry('sim', 'jobs', '--workload', 'churn', '--hours', '3', '--servers', '2', '--policy', 'fifo,gantry-up', '--prices', prices, '--out', join(dir, out));
      assert.equal(r.status, 0, r.stderr);
    }
    writeFileSync(join(dir, 'openb.json'), JSON.stringify({ pods: 'openb_pod_list_default.csv', workload: 'online', results: ['fgd', 'gantry'].map((policy, i) => ({ policy, seeds: [42, 43], unallocatedPct: { 80: { mean: 1 + i, sd: 0 }, 90: { mean: 3 + i, sd: 0 }, 100: { mean: 8 - i, sd: 0 } } })) }));
    writeFileSync(join(dir, 'not-results.json'), JSON.stringify({ hello: 'world' }));
    // sim serve: five minutes of waves at 12 requests/s (the policies differ), every policy, priced.
    const source = { file: 'source', durationSeconds: 1, requests: [{ at: 0, promptTokens: 300, outputTokens: 40 }, { at: 0, promptTokens: 1500, outputTokens: 250 }, { at: 1, promptTokens: 800, outputTokens: 120 }] };
    generateLlmTrace(source, 'waves', 300, 12, createRng(7), join(dir, 'waves.csv'));
    const serve = gantry('sim', 'serve', '--trace', join(dir, 'waves.csv'), '--policy', 'all', '--prices', 'H100-80GB=2.49', '--out', join(dir, 'serve'));
    assert.equal(serve.status, 0, serve.stderr);
    t = await startTestServer({ gpus: '1xH100-80GB' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('compares the policies of loaded runs in a table and charts, and refuses a file that is not one', async () => {
    const { page, problems } = await trackedPage(browser);
    await page.goto(`${t.url}/#token=${encodeURIComponent(t.adminToken)}`);
    await page.waitForSelector('[data-testid="who"]');
    await page.click('nav a[data-view="sim"]');
    await page.waitForSelector('h1:text("Simulator results")');
    await page.setInputFiles('[data-testid="sim-file"]', join(dir, 'a', 'results.json'));
    await page.waitForSelector('[data-testid="sim-jobs-table"] tr[data-run="gantry-up"]');
    await page.waitForSelector('[data-testid="sim-util-chart"] canvas');
    const costs = await page.$$eval('[data-testid="sim-cost"]', (els) => els.map((e) => Number((e.textContent ?? '').replace(/,/g, ''))));
    assert.equal(costs.length, 2);
    for (const c of costs) assert.ok(c > 0, `cost ${c}`);
    assert.equal(await page.locator('[data-testid="sim-cost-by-queue"] td:text("team-a")').count(), 1);

    // A second run, priced higher: four runs compared; the same GPU time costs more.
    await page.setInputFiles('[data-testid="sim-file"]', { name: 'b.json', mimeType: 'application/json', buffer: readFileSync(join(dir, 'b', 'results.json')) });
    await page.waitForFunction(`document.querySelectorAll('[data-testid="sim-jobs-table"] tbody tr').length === 4`);
    const all = await page.$$eval('[data-testid="sim-cost"]', (els) => els.map((e) => Number((e.textContent ?? '').replace(/,/g, ''))));
    assert.ok(Math.abs((all[2] as number) / (all[0] as number) - 2.5 / 1.8) < 0.01, `fifo at 2.5 vs 1.8: ${all.join(', ')}`);
    await page.waitForSelector('[data-testid="sim-util-chart"] .u-legend:has-text("gantry-up · b")');
    await page.screenshot({ path: join(shots, 'sim-jobs.png'), fullPage: true });

    // openb: the unallocated curve per policy.
    await page.setInputFiles('[data-testid="sim-file"]', join(dir, 'openb.json'));
    await page.waitForSelector('[data-testid="sim-openb-chart"] canvas');
    await page.waitForSelector('[data-testid="sim-openb-table"] tr[data-run="fgd"]');
    await page.screenshot({ path: join(shots, 'sim-openb.png'), fullPage: true });

    // Not a results.json: the reason, and the runs shown stay as they were.
    await page.setInputFiles('[data-testid="sim-file"]', join(dir, 'not-results.json'));
    await page.waitForSelector('[data-testid="sim-error"]:has-text("not the results.json of gantry sim jobs, serve or openb")');
    assert.equal(await page.locator('[data-testid="sim-jobs-table"] tbody tr').count(), 4);
    await page.screenshot({ path: join(shots, 'sim-refused.png'), fullPage: true });
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('shows a gantry sim serve run: objective, GPU-hours and cost per policy, replicas and TTFT over time', async () => {
    const { page, problems } = await trackedPage(browser);
    await page.goto(`${t.url}/#token=${encodeURIComponent(t.adminToken)}`);
    await page.waitForSelector('[data-testid="who"]');
    await page.click('nav a[data-view="sim"]');
    const file = JSON.parse(readFileSync(join(dir, 'serve', 'results.json'), 'utf8')) as { results: { policy: string; sloAttainment: number; gpuSeconds: number; cost: { total: { cost: number } } }[] };
    await page.setInputFiles('[data-testid="sim-file"]', join(dir, 'serve', 'results.json'));
    await page.waitForSelector('[data-testid="sim-serve-table"] tr[data-run="gantry"]');
    const cells = async (id: string) => page.$$eval(`[data-testid="${id}"]`, (els) => els.map((e) => Number((e.textContent ?? '').replace(/,/g, ''))));
    assert.deepEqual(await cells('sim-serve-attainment'), file.results.map((r) => Number((r.sloAttainment * 100).toFixed(1))));
    assert.deepEqual(await cells('sim-serve-gpu-hours'), file.results.map((r) => Number((r.gpuSeconds / 3600).toFixed(2))));
    assert.deepEqual(await cells('sim-serve-cost'), file.results.map((r) => Number(r.cost.total.cost.toFixed(2))));
    for (const c of await cells('sim-serve-cost')) assert.ok(c > 0, `cost ${c}`);
    for (const chart of ['sim-serve-replicas-chart', 'sim-serve-gpu-hours-chart', 'sim-serve-ttft-chart']) await page.waitForSelector(`[data-testid="${chart}"] .u-legend:has-text("gantry · results")`);
    await page.waitForSelector('[data-testid="sim-serve-ttft-chart"] .u-legend:has-text("objective 1000 ms")');
    await page.screenshot({ path: join(shots, 'sim-serve.png'), fullPage: true });
    assert.deepEqual(problems, []);
    await page.close();
  });
});
