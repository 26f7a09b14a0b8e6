/**
 * The jobs list keeps its rows while it reads the API again, in real headless Chromium: during
 * a burst of jobs (each one pushes several events, each event a reload of the newest page) and
 * across filter changes, a MutationObserver sees every state the list is drawn in, and the
 * number of rows never drops to 0 (the list used to be emptied before each new answer).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { job, startTestServer, waitState, type TestServer } from '../helpers/server.js';
import { artifactsDir, browserSkip, launchBrowser, trackedPage } from '../helpers/browser.js';
import type { Browser, Page } from 'playwright-core';

const shots = artifactsDir('jobs-steady');

// Browser-side code is passed as text: this file is compiled without the DOM's types.
const WATCH = `(() => {
  const count = () => document.querySelectorAll('[data-job]').length;
  window.__rows = { min: count(), states: 0 };
  new MutationObserver(() => {
    window.__rows.states++;
    window.__rows.min = Math.min(window.__rows.min, count());
  }).observe(document.body, { childList: true, subtree: true });
})()`;
const fewestRows = async (page: Page): Promise<{ min: number; states: number }> => (await page.evaluate('window.__rows')) as { min: number; states: number };
const resetWatch = (page: Page) => page.evaluate(`window.__rows.min = document.querySelectorAll('[data-job]').length; window.__rows.states = 0`);
const showsAll = (page: Page, ids: readonly string[]) => page.waitForFunction(`${JSON.stringify(ids)}.every((id) => document.querySelector('[data-job="' + id + '"]'))`, undefined, { timeout: 20_000 });

describe('the jobs list in Chromium keeps its rows while it reloads', { skip: browserSkip, timeout: 240_000 }, () => {
  let t: TestServer;
  let browser: Browser;
  let running = '';
  before(async () => {
    t = await startTestServer({ gpus: '2xH100-80GB' });
    const r = await t.api('POST', '/v1/jobs', job({ name: 'long-run', command: 'sleep 120', resources: { gpu: 1, cpu: '100m', memory: '64Mi' } }));
    assert.equal(r.status, 201, r.text);
    running = String(r.body['id']);
    await waitState(t, running, ['running']);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('through a burst of pushed job events and through filter changes', async () => {
    const { page, problems } = await trackedPage(browser);
    await page.goto(`${t.url}/#token=${encodeURIComponent(t.adminToken)}`);
    await page.waitForSelector('[data-testid="who"]');
    await page.evaluate(`location.hash = '#/jobs'`);
    await page.waitForSelector('.live[data-live="live"]', { timeout: 10_000 });
    await page.waitForSelector(`[data-job="${running}"]`);
    await page.evaluate(WATCH);

    // A burst: 12 jobs submitted one after another, each queued, started and finished.
    const burst: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await t.api('POST', '/v1/jobs', job({ name: `burst-${i}`, command: 'true', resources: { cpu: '100m', memory: '64Mi' } }));
      assert.equal(r.status, 201, r.text);
      burst.push(String(r.body['id']));
    }
    for (const id of burst) await waitState(t, id, ['succeeded']);
    await showsAll(page, burst);
    await page.waitForFunction(`document.querySelectorAll('[data-job] .pill.s-succeeded').length === ${burst.length}`, undefined, { timeout: 20_000 });
    const duringBurst = await fewestRows(page);
    assert.ok(duringBurst.states > 0, 'the list was redrawn during the burst');
    assert.ok(duringBurst.min >= 1, `the list went empty during the burst (fewest rows ${duringBurst.min} over ${duringBurst.states} redraws)`);

    // Filters: the rows already read that fit the new filter stay until the API's answer.
    await resetWatch(page);
    await page.selectOption('[data-testid="filter-state"]', 'running');
    await page.waitForFunction(`[...document.querySelectorAll('[data-job]')].map((e) => e.getAttribute('data-job')).join() === ${JSON.stringify(running)}`, undefined, { timeout: 10_000 });
    await page.waitForSelector('[data-testid="job-count"][data-complete="true"]');
    await page.selectOption('[data-testid="filter-state"]', '');
    await showsAll(page, [running, ...burst]);
    await page.waitForSelector('[data-testid="job-count"][data-complete="true"]');
    const acrossFilters = await fewestRows(page);
    assert.ok(acrossFilters.min >= 1, `the list went empty on a filter change (fewest rows ${acrossFilters.min} over ${acrossFilters.states} redraws)`);
    await page.screenshot({ path: join(shots, 'jobs-after-burst.png') });
    assert.deepEqual(problems, []);
    await page.close();
  });
});
