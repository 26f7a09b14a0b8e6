/**
 * `gantry up` as its own process (for tests that kill it, restart it, or give it a PATH with
 * stand-in GPU tools), and the stand-in nvidia-smi / nvidia-cuda-mps-control of test/fixtures/bin.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { call, testIdBase, waitFor, type Reply } from './server.js';

const BIN = resolve('bin/gantry.js');

export interface GantryProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly token: string;
  /** What the server printed (the banner on stdout, logs on stderr). */
  output(): string;
  api(method: string, path: string, body?: unknown): Promise<Reply>;
  /** SIGTERM (or the given signal), then waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Every process started here, for a file's `after` to kill. */
export const started: ChildProcess[] = [];

/** For a server started again on the same data dir: keep its uid range, allow a slower start. */
export interface GantryUpOptions {
  /** The uid range's base (`--id-base`); a restart must reuse the first start's. */
  readonly idBase?: number;
  /** How long to wait for the banner, in ms (15 s by default). */
  readonly readyMs?: number;
}

export async function gantryUp(dir: string, args: string[] = [], env: NodeJS.ProcessEnv = process.env, opts: GantryUpOptions = {}): Promise<GantryProcess> {
  rmSync(join(dir, 'server.json'), { force: true });
  const idBase = opts.idBase ?? testIdBase();
  const child = spawn(process.execPath, [BIN, 'up', '--data-dir', dir, '--port', '0', '--min-runtime', '0', '--stop-grace', '1', '--id-base', String(idBase), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  started.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  // server.json is written before the banner is printed: wait for both.
  await waitFor('the server to be ready', async () => (existsSync(join(dir, 'server.json')) && out.includes('\n  ready ')) || (child.exitCode !== null && Promise.reject(new Error(`server exited: ${out}`))), opts.readyMs ?? 15_000);
  const url = (JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8')) as { url: string }).url;
  const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
  return {
    child,
    url,
    token,
    output: () => out,
    api: (method, path, body) => call(url, token, method, path, body),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill(signal);
        await gone;
      }
    },
  };
}

/**
 * A folder with the stand-in GPU tools, to put first on PATH; `smiDir` holds the captures
 * the stand-in nvidia-smi prints (query.csv, topo.txt, list.txt, mig-lgi.txt).
 */
export function standInGpuTools(root: string, tools: readonly ('nvidia-smi' | 'nvidia-cuda-mps-control')[]): { env: NodeJS.ProcessEnv; smiDir: string; mpsLog: string } {
  const bin = join(root, 'bin');
  const smiDir = join(root, 'smi');
  mkdirSync(bin, { recursive: true });
  mkdirSync(smiDir, { recursive: true });
  for (const t of tools) {
    copyFileSync(resolve('test/fixtures/bin', t), join(bin, t));
    chmodSync(join(bin, t), 0o755);
  }
  const mpsLog = join(root, 'mps-calls.jsonl');
  return { env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}`, FAKE_NVIDIA_SMI_DIR: smiDir, FAKE_MPS_LOG: mpsLog }, smiDir, mpsLog };
}

export function fixture(name: string): string {
  return readFileSync(resolve('test/fixtures/nvidia-smi', name), 'utf8');
}

/** What one `gantry` CLI invocation did. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI (bin/gantry.js) as a child process with `env` over the test's environment. */
export function runCli(args: readonly string[], env: Readonly<Record<string, string | undefined>>, cwd?: string): Promise<CliRun> {
  return new Promise((res) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, ...(cwd !== undefined ? { cwd } : {}), timeout: 30_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      res({ code, stdout, stderr });
    });
  });
}
