/**
 * Real headless Chromium for the dashboard's tests and benchmark: Debian's chromium (installed
 * by scripts/browser/ensure-chromium.sh) driven by playwright-core. Without it the browser
 * tests are skipped, unless GANTRY_REQUIRE_BROWSER=1 (test:all), which makes them fail.
 * Screenshots go to GANTRY_ARTIFACTS_DIR (default: <tmp>/gantry-artifacts), never the repo.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

function findChromium(): string | null {
  const r = spawnSync('bash', ['scripts/browser/ensure-chromium.sh', '--check'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export const chromiumPath = findChromium();

/** A reason to skip the browser tests, or false to run them. */
export const browserSkip: string | false = chromiumPath
  ? false
  : process.env['GANTRY_REQUIRE_BROWSER'] === '1'
    ? false // run, and fail on launch with the reason
    : 'chromium not installed (scripts/browser/ensure-chromium.sh); GANTRY_REQUIRE_BROWSER=1 makes this a failure';

export async function launchBrowser(): Promise<Browser> {
  if (!chromiumPath) throw new Error('chromium is not installed and GANTRY_REQUIRE_BROWSER=1: run scripts/browser/ensure-chromium.sh');
  // --no-sandbox: the tests run as root in CI containers, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
}

export function artifactsDir(name: string): string {
  const dir = join(process.env['GANTRY_ARTIFACTS_DIR'] ?? join(tmpdir(), 'gantry-artifacts'), name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A page whose console errors and failed requests are collected (a test asserts there are none). */
export async function trackedPage(browser: Browser): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // A refused request (a 404 the page expects and shows) is logged by Chromium itself; not a problem.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
  });
  return { page, problems };
}
