/**
 * The dashboard in headless Chromium (docs/benchmarks.md, "Dashboard"): first render with
 * 1,000 GPUs and 10,000 jobs, and the fleet view's responsiveness with 10,000 GPU tiles. The
 * API is the stand-in of bench/dashboard-fixture.ts (real page, bundle and OpenAPI document;
 * synthetic answers checked against the contract), on loopback.
 * Measures, each the median of --runs fresh page loads (times from navigation start):
 *  - fleet first render: until the canvas shows every tile;
 *  - jobs first render: until the first rows show, and until all 10,000 jobs are loaded;
 *  - search over 10,000 loaded jobs: typing to the list redrawn;
 *  - with 10,000 GPUs: first render; re-render after a pushed change (data in -> frame drawn);
 *    frame times while scrolling the fleet; click to the GPU's details; highlight redraw.
 * Usage: npm run build && node dist/bench/dashboard-render.js [--runs 3] [--json]
 */
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../test/helpers/browser.js';
import { startFixture, type FleetShape } from './dashboard-fixture.js';

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf('--runs') + 1] ?? 3) || 3;
const JSON_OUT = args.includes('--json');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? NaN;
};
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};

async function openAt(browser: Browser, url: string, hash: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.addInitScript("localStorage.setItem('gantryToken', 'gty_bench')");
  await page.goto(`${url}/${hash}`);
  return page;
}

// Page-side code is passed as text: this file is compiled without the DOM's types.
async function fleetFirstRender(browser: Browser, url: string, tiles: number): Promise<{ page: Page; ms: number }> {
  const page = await openAt(browser, url, '#/fleet');
  await page.waitForFunction(`window.__gantryFleet && window.__gantryFleet.tiles === ${tiles} && window.__gantryFleet.firstDrawAt > 0`, undefined, { timeout: 60_000 });
  return { page, ms: Number(await page.evaluate('window.__gantryFleet.firstDrawAt')) };
}

async function jobsFirstRender(browser: Browser, url: string, jobs: number): Promise<{ firstRows: number; all: number; search: number }> {
  const page = await openAt(browser, url, '#/jobs');
  await page.waitForSelector(`[data-testid="job-count"][data-complete="true"][data-loaded="${jobs}"]`, { timeout: 120_000 });
  await page.waitForFunction('window.__gantryJobs && window.__gantryJobs.allAt > 0');
  const firstRows = Number(await page.evaluate('window.__gantryJobs.firstRowsAt'));
  const all = Number(await page.evaluate('window.__gantryJobs.allAt'));
  const search = Number(
    await page.evaluate(`new Promise((done) => {
      const input = document.querySelector('[data-testid="job-search"]');
      const count = document.querySelector('[data-testid="job-count"]');
      const before = count.textContent;
      const t0 = performance.now();
      input.value = 'train-nlp-99';
      input.dispatchEvent(new Event('input', { bubbles: true }));
      const poll = () => (count.textContent !== before ? done(performance.now() - t0) : requestAnimationFrame(poll));
      requestAnimationFrame(poll);
    })`),
  );
  await page.close();
  return { firstRows, all, search };
}

interface Responsiveness {
  updateMs: number;
  scrollFrameP50: number;
  scrollFrameP95: number;
  scrollFrameMax: number;
  drawP95: number;
  clickToDetails: number;
  highlight: number;
}

async function fleetResponsiveness(page: Page, push: () => void): Promise<Responsiveness> {
  const before = Number(await page.evaluate('window.__gantryFleet.dataAt'));
  push();
  await page.waitForFunction(`window.__gantryFleet.dataAt > ${before} && window.__gantryFleet.drawnAt > window.__gantryFleet.dataAt`, undefined, { timeout: 30_000 });
  const updateMs = Number(await page.evaluate('window.__gantryFleet.drawnAt - window.__gantryFleet.dataAt'));
  const scroll = (await page.evaluate(`new Promise((done) => {
    const box = document.querySelector('.fleet-scroll');
    const frames = [];
    const draws = [];
    let last = 0;
    let n = 0;
    const step = (ts) => {
      if (last) { frames.push(ts - last); draws.push(window.__gantryFleet.lastDrawMs); }
      last = ts;
      box.scrollTop = (box.scrollTop + 180) % Math.max(1, box.scrollHeight - box.clientHeight);
      box.dispatchEvent(new Event('scroll'));
      if (++n < 150) requestAnimationFrame(step); else done({ frames, draws });
    };
    requestAnimationFrame(step);
  })`)) as { frames: number[]; draws: number[] };
  const clickToDetails = Number(
    await page.evaluate(`new Promise((done) => {
      const c = document.querySelector('[data-testid="fleet-canvas"]');
      document.querySelector('.fleet-scroll').scrollTop = 0;
      setTimeout(() => {
        const r = c.getBoundingClientRect();
        const t0 = performance.now();
        c.dispatchEvent(new MouseEvent('click', { clientX: r.left + 10 + 6 + 15, clientY: r.top + 10 + 18 + 6 + 15, bubbles: true }));
        const poll = () => (document.querySelector('[data-testid="gpu-details"]') ? done(performance.now() - t0) : requestAnimationFrame(poll));
        requestAnimationFrame(poll);
      }, 200);
    })`),
  );
  const highlight = Number(
    await page.evaluate(`new Promise((done) => {
      const input = document.querySelector('[data-testid="fleet-search"]');
      const draws = window.__gantryFleet.draws;
      const t0 = performance.now();
      input.value = 'nlp';
      input.dispatchEvent(new Event('input', { bubbles: true }));
      const poll = () => (window.__gantryFleet.draws > draws ? done(performance.now() - t0) : requestAnimationFrame(poll));
      requestAnimationFrame(poll);
    })`),
  );
  return { updateMs, scrollFrameP50: pct(scroll.frames, 0.5), scrollFrameP95: pct(scroll.frames, 0.95), scrollFrameMax: Math.max(...scroll.frames), drawP95: pct(scroll.draws, 0.95), clickToDetails, highlight };
}

async function scenario(browser: Browser, shape: FleetShape, responsive: boolean): Promise<Record<string, number>> {
  const fx = await startFixture(shape);
  const tiles = shape.nodes * shape.gpusPerNode;
  const fleet: number[] = [];
  const jobsFirst: number[] = [];
  const jobsAll: number[] = [];
  const search: number[] = [];
  const r: Responsiveness[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const f = await fleetFirstRender(browser, fx.url, tiles);
      fleet.push(f.ms);
      if (responsive) r.push(await fleetResponsiveness(f.page, () => fx.push()));
      await f.page.close();
      const j = await jobsFirstRender(browser, fx.url, shape.jobs);
      jobsFirst.push(j.firstRows);
      jobsAll.push(j.all);
      search.push(j.search);
    }
  } finally {
    await fx.close();
  }
  const out: Record<string, number> = { gpus: tiles, jobs: shape.jobs, fleetFirstRenderMs: median(fleet), jobsFirstRowsMs: median(jobsFirst), jobsAllLoadedMs: median(jobsAll), jobSearchMs: median(search) };
  if (responsive) for (const k of Object.keys(r[0] ?? {}) as (keyof Responsiveness)[]) out[k] = median(r.map((x) => x[k]));
  return out;
}

const browser = await launchBrowser();
try {
  const small = await scenario(browser, { nodes: 125, gpusPerNode: 8, jobs: 10_000 }, false);
  const large = await scenario(browser, { nodes: 1250, gpusPerNode: 8, jobs: 10_000 }, true);
  if (JSON_OUT) console.log(JSON.stringify({ runs: RUNS, small, large }, null, 2));
  else {
    const f = (v: number | undefined) => (v === undefined ? '–' : `${v.toFixed(0)} ms`);
    console.log(`dashboard in headless Chromium, median of ${RUNS} page loads`);
    console.log(`1,000 GPUs + 10,000 jobs: fleet first render ${f(small['fleetFirstRenderMs'])}; jobs first rows ${f(small['jobsFirstRowsMs'])}, all 10,000 loaded ${f(small['jobsAllLoadedMs'])}; search ${f(small['jobSearchMs'])}`);
    console.log(`10,000 GPUs: fleet first render ${f(large['fleetFirstRenderMs'])}; re-render after a pushed change ${f(large['updateMs'])}; scroll frames p50 ${f(large['scrollFrameP50'])}, p95 ${f(large['scrollFrameP95'])}, max ${f(large['scrollFrameMax'])} (canvas draw p95 ${(large['drawP95'] ?? 0).toFixed(1)} ms); click to details ${f(large['clickToDetails'])}; highlight redraw ${f(large['highlight'])}`);
  }
} finally {
  await browser.close();
}
