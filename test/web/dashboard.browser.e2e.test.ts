/**
 * The dashboard in real headless Chromium against a real server (SQLite, real processes): every
 * page loads without errors; the #token= link and the login form sign in; a job submitted
 * through the API appears and changes state without a reload (server-sent events); the jobs
 * filters and search work; a member of one team never sees another team's jobs, in the list,
 * on a job page or in the fleet's details. Screenshots go to <tmp>/gantry-artifacts/dashboard.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { job, startTestServer, waitState, type TestServer } from '../helpers/server.js';
import { artifactsDir, browserSkip, launchBrowser, trackedPage } from '../helpers/browser.js';

const shots = artifactsDir('dashboard');

// Browser-side code is passed as text: this file is compiled without the DOM's types.
const go = (page: Page, hash: string) => page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
const gone = (page: Page, id: string) => page.waitForFunction(`!document.querySelector('[data-job="${id}"]')`);

async function signIn(page: Page, url: string, token: string, view = 'fleet'): Promise<void> {
  await page.goto(`${url}/#token=${encodeURIComponent(token)}`);
  await page.waitForSelector('[data-testid="who"]');
  await go(page, `#/${view}`);
  await page.waitForSelector('.live[data-live="live"]', { timeout: 10_000 });
}

describe('the dashboard in Chromium', { skip: browserSkip, timeout: 240_000 }, () => {
  let t: TestServer;
  let browser: Browser;
  let alice = '';
  let bob = '';
  let bobJob = '';
  let aliceJob = '';
  before(async () => {
    t = await startTestServer({ gpus: '4xH100-80GB' });
    alice = String((await t.api('POST', '/v1/users', { name: 'alice', team: 'vision' })).body['token']);
    bob = String((await t.api('POST', '/v1/users', { name: 'bob', team: 'speech' })).body['token']);
    assert.equal((await t.api('PUT', '/v1/queues/vision', { team: 'vision', guaranteedGpus: 2 })).status, 200);
    assert.equal((await t.api('PUT', '/v1/queues/speech', { team: 'speech', guaranteedGpus: 2 })).status, 200);
    assert.equal((await t.api('PUT', '/v1/prices/H100-80GB', { pricePerGpuHour: 2.49 })).status, 200);
    assert.equal((await t.api('PUT', '/v1/budgets/team/vision', { period: 'month', limit: 500, mode: 'soft' })).status, 200);
    const b = await t.api('POST', '/v1/jobs', job({ name: 'speech-secret-run', queue: 'speech', command: 'sleep 120', resources: { gpu: 1, cpu: '100m', memory: '64Mi' } }), bob);
    assert.equal(b.status, 201, b.text);
    bobJob = String(b.body['id']);
    const a = await t.api('POST', '/v1/jobs', job({ name: 'vision-train', queue: 'vision', command: 'echo hello-from-vision; sleep 120', resources: { gpu: 0.5, cpu: '100m', memory: '64Mi' } }), alice);
    assert.equal(a.status, 201, a.text);
    aliceJob = String(a.body['id']);
    // Holds a GPU and leaves it idle (a simulated GPU shows the utilisation its job states).
    const idle = await t.api('POST', '/v1/jobs', job({ name: 'held-idle', queue: 'speech', command: 'sleep 120', env: { GANTRY_SIMULATED_GPU_UTIL: '0' }, resources: { gpu: 1, cpu: '100m', memory: '64Mi' } }), bob);
    assert.equal(idle.status, 201, idle.text);
    await waitState(t, bobJob, ['running']);
    await waitState(t, aliceJob, ['running']);
    await waitState(t, String(idle.body['id']), ['running']);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('loads every page for an admin signed in by the #token= link, without errors', async () => {
    const { page, problems } = await trackedPage(browser);
    await signIn(page, t.url, t.adminToken);
    assert.equal(new URL(page.url()).hash, '#/fleet', 'the token is removed from the address bar');
    await page.waitForSelector('canvas[data-tiles="4"]');
    await page.waitForSelector('[data-testid="fleet-history-chart"] canvas', { timeout: 20_000 }); // from /v1/history
    await page.waitForFunction(`document.querySelector('[data-testid="fleet-idle-reserved"]')?.textContent === '1'`, undefined, { timeout: 20_000 });
    await page.screenshot({ path: join(shots, 'fleet.png'), fullPage: true });
    for (const [view, selector] of [
      ['jobs', `[data-job="${bobJob}"]`],
      ['queues', '[data-queue="vision"]'],
      ['services', 'h1:text("Services")'],
      ['datasets', 'h1:text("Datasets")'],
      ['cost', '[data-testid="cost-total"]'],
    ] as const) {
      await page.click(`nav a[data-view="${view}"]`);
      await page.waitForSelector(selector);
      if (view === 'queues') await page.waitForSelector('[data-testid="queue-chart"] .u-legend:has-text("vision")', { timeout: 20_000 });
      if (view === 'cost') {
        await page.waitForSelector('[data-testid="budget-table"] td:has-text("vision")');
        await page.waitForSelector('[data-testid="cost-chart"] .u-legend:has-text("vision budget (month)")'); // the budget's line
      }
      await page.screenshot({ path: join(shots, `${view}.png`), fullPage: true });
    }
    await page.click('nav a[data-view="jobs"]');
    await page.click(`[data-job="${aliceJob}"] a`);
    await page.waitForSelector('[data-testid="job-log"]:has-text("hello-from-vision")');
    assert.match((await page.textContent('[data-testid="job-state"]')) ?? '', /running/);
    await page.waitForSelector('[data-testid="job-gpu-chart"] canvas', { timeout: 20_000 }); // GPU use, from /v1/history
    await page.screenshot({ path: join(shots, 'job.png'), fullPage: true });
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('signs in with the form, and refuses a bad token with the reason', async () => {
    const { page, problems } = await trackedPage(browser);
    await page.goto(`${t.url}/`);
    await page.fill('#token', 'gty_not-a-token');
    await page.click('button[type="submit"]');
    await page.waitForSelector('[role="alert"]:has-text("UNAUTHENTICATED")');
    await page.screenshot({ path: join(shots, 'login-refused.png') });
    await page.fill('#token', alice);
    await page.click('button[type="submit"]');
    assert.match((await (await page.waitForSelector('[data-testid="who"]')).textContent()) ?? '', /alice · vision/);
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('shows a job submitted through the API, and its state changes, without a reload', async () => {
    const { page, problems } = await trackedPage(browser);
    await signIn(page, t.url, t.adminToken, 'jobs');
    await page.waitForSelector(`[data-job="${bobJob}"]`);
    await page.evaluate('window.marker = 42');
    const r = await t.api('POST', '/v1/jobs', job({ name: 'arrives-live', queue: 'vision', command: 'sleep 1', resources: { cpu: '100m', memory: '64Mi' } }));
    assert.equal(r.status, 201, r.text);
    const id = String(r.body['id']);
    await page.waitForSelector(`[data-job="${id}"]`, { timeout: 10_000 });
    await page.waitForSelector(`[data-job="${id}"] .pill.s-succeeded`, { timeout: 20_000 });
    assert.equal(await page.evaluate('window.marker'), 42, 'the page was not reloaded');
    await page.screenshot({ path: join(shots, 'jobs-live.png') });
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('filters the jobs by state and queue, and searches them by name', async () => {
    const { page, problems } = await trackedPage(browser);
    const done = await t.api('POST', '/v1/jobs', job({ name: 'quick-done', queue: 'speech', command: 'true', resources: { cpu: '100m', memory: '64Mi' } }));
    await waitState(t, String(done.body['id']), ['succeeded']);
    await signIn(page, t.url, t.adminToken, 'jobs');
    await page.waitForSelector(`[data-job="${bobJob}"]`);
    await page.selectOption('[data-testid="filter-state"]', 'running');
    await gone(page, String(done.body['id']));
    // Until the API's answer arrives the list shows the rows already read that fit the filter,
    // so each check waits for the filtered answer; it fails by timing out when it never does.
    await page.waitForFunction(`((want, not) => { const shown = [...document.querySelectorAll('[data-job]')].map((e) => e.getAttribute('data-job')); return want.every((id) => shown.includes(id)) && !shown.includes(not); })(${JSON.stringify([bobJob, aliceJob])}, ${JSON.stringify(String(done.body['id']))})`, undefined, { timeout: 10_000 });
    await page.selectOption('[data-testid="filter-queue"]', 'vision');
    await page.waitForFunction(`[...document.querySelectorAll('[data-job]')].map((e) => e.getAttribute('data-job')).join() === ${JSON.stringify(aliceJob)}`, undefined, { timeout: 10_000 });
    await page.selectOption('[data-testid="filter-state"]', '');
    await page.selectOption('[data-testid="filter-queue"]', '');
    await page.fill('[data-testid="job-search"]', 'quick-d');
    await page.waitForFunction(`[...document.querySelectorAll('[data-job]')].map((e) => e.getAttribute('data-job')).join() === ${JSON.stringify(String(done.body['id']))}`, undefined, { timeout: 10_000 });
    // The search is in the URL (written a moment after the list is drawn).
    await page.waitForURL(/q=quick-d/, { timeout: 10_000 });
    await page.screenshot({ path: join(shots, 'jobs-filtered.png') });
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('never shows a member another team\'s jobs or costs: list, job page, fleet details, cost', async () => {
    const { page, problems } = await trackedPage(browser);
    await signIn(page, t.url, alice, 'jobs');
    await page.waitForSelector(`[data-job="${aliceJob}"]`);
    const html = await page.content();
    assert.ok(!html.includes(bobJob) && !html.includes('speech-secret'), 'no trace of the other team\'s job in the list');
    await go(page, `#/jobs/${bobJob}`);
    await page.waitForSelector('[data-testid="job-error"]:has-text("No such job")');
    await page.screenshot({ path: join(shots, 'member-other-job.png') });
    // The fleet: the other team's GPU is drawn as "another team", with no name in its details.
    const placed = (await t.api('GET', `/v1/jobs/${bobJob}`)).body['placement'] as { gpus: { index: number }[] }[];
    const gpu = placed[0]?.gpus[0]?.index ?? 0;
    await go(page, '#/fleet');
    const canvas = await page.waitForSelector('canvas[data-tiles="4"]');
    const box = await canvas.boundingBox();
    assert.ok(box);
    // Layout (web/src/fleet/layout.ts): the first node's box at 10,10; tiles 30 px, 4 apart, after an 18 px header and 6 px padding.
    await page.mouse.click(box.x + 10 + 6 + gpu * 34 + 15, box.y + 10 + 18 + 6 + 15);
    const details = await page.waitForSelector('[data-testid="gpu-details"]');
    const text = (await details.textContent()) ?? '';
    assert.match(text, new RegExp(`GPU ${gpu}`));
    assert.match(text, /another team's job/);
    assert.ok(!text.includes(bobJob) && !text.includes('speech'), text);
    await page.screenshot({ path: join(shots, 'member-fleet.png') });
    // Costs: the member's own team only.
    await go(page, '#/cost');
    await page.waitForSelector('text=scope: team vision');
    await page.waitForSelector('[data-testid="cost-table"] td:has-text("vision")');
    assert.ok(!((await page.textContent('main')) ?? '').includes('speech'), 'no cost line of another team');
    await page.screenshot({ path: join(shots, 'member-cost.png') });
    assert.deepEqual(problems, []);
    await page.close();
  });
});
