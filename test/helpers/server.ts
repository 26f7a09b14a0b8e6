/** A real Gantry server for tests: loopback, a temporary data dir with a real SQLite file, real processes. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signalCgroup } from '../../src/adapters/executor/cgroups.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/standalone.js';

export interface Reply {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string } };
  text: string;
  headers: Headers;
}

export async function call(url: string, token: string | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const h: Record<string, string> = { ...headers };
  if (token) h['authorization'] = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    h['content-type'] ??= 'application/json';
  }
  const res = await fetch(url + path, { method, headers: h, ...(payload !== undefined ? { body: payload } : {}) });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = {};
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

export interface TestServer {
  readonly server: RunningServer;
  readonly url: string;
  readonly dir: string;
  readonly adminToken: string;
  api(method: string, path: string, body?: unknown, token?: string | null, headers?: Record<string, string>): Promise<Reply>;
  close(): Promise<void>;
}

export function tempDir(prefix = 'gantry-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Kills every worker process group the data dir's jobs still have (test cleanup). */
export function killAllWorkers(server: RunningServer): void {
  for (const row of server.controller.activeJobs()) {
    for (const w of row.workers) {
      // Until the cgroup is empty (killed tasks die once thawed), so the server can remove it.
      for (let i = 0; w.cgroups && i < 100 && signalCgroup(w.cgroups, 'SIGKILL') > 0; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      try {
        process.kill(-w.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

/**
 * A uid range of its own for each test server: servers sharing a range give their first jobs
 * the same uid, and one job's end kills every process of its uid, so a concurrent test's job too.
 */
export function testIdBase(): number {
  return 1_000_000 + Math.floor(Math.random() * 4000) * 65_536;
}

export async function startTestServer(opts: Partial<ServerOptions> = {}): Promise<TestServer> {
  const dir = opts.dataDir ?? tempDir();
  const server = await startServer({ dataDir: dir, port: 0, idBase: testIdBase(), gpus: '8xH100-80GB', minRuntimeSeconds: 0, stopGraceSeconds: 2, telemetryIntervalMs: 500, tickMs: 50, log: () => undefined, ...opts });
  const adminToken = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
  return {
    server,
    url: server.url,
    dir,
    adminToken,
    api: (method, path, body, token = adminToken, headers = {}) => call(server.url, token, method, path, body, headers),
    async close() {
      killAllWorkers(server);
      await server.close();
      rmSync(dir, { recursive: true, force: true });
      rmSync(server.workspace, { recursive: true, force: true });
    },
  };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Reads until `ok` holds (every 250 ms); fails with the last value read, so a timeout says
 * what the state was.
 */
export async function waitUntil<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until the job reaches one of the states; returns the job. */
export async function waitState(t: { api: TestServer['api'] }, id: string, states: string[], timeoutMs = 20_000): Promise<Record<string, unknown>> {
  let last = '';
  try {
    return await waitFor(`${id} to be ${states.join('/')}`, async () => {
      const r = await t.api('GET', `/v1/jobs/${id}`);
      last = `${String(r.body['state'])} (${String(r.body['reason'])})`;
      return states.includes(String(r.body['state'])) ? r.body : null;
    }, timeoutMs);
  } catch (e) {
    throw new Error(`${(e as Error).message}; last state ${last}`);
  }
}

export function job(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'test', command: 'true', resources: { cpu: '100m', memory: '64Mi' }, ...overrides };
}
