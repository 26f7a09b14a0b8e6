/** The local executor with real processes: exit codes through the wrapper, group signals, orphans found by pid file. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalExecutor, isProcessAlive } from '../../src/adapters/executor/local.js';
import type { LaunchSpec } from '../../src/adapters/executor/executor.js';

function spec(dir: string, command: string, job = 'job-7'): LaunchSpec {
  return { jobId: job, rank: 0, node: 'n', command, env: { PATH: process.env['PATH'] ?? '', GANTRY_JOB: job }, cwd: dir, logPath: join(dir, 'log'), exitFile: join(dir, 'exit'), pidFile: join(dir, 'pid') };
}

async function until(fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('records the exit code in a file and the output in the log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-exec-'));
  try {
    const ex = new LocalExecutor();
    const w = ex.start(spec(dir, 'echo hello; exit 3'));
    await until(() => ex.status(w) !== 'running');
    assert.deepEqual(ex.status(w), { code: 3, signal: null });
    assert.equal(readFileSync(join(dir, 'log'), 'utf8'), 'hello\n');
    assert.equal(readFileSync(join(dir, 'pid'), 'utf8'), String(w.pid));
    // A fresh executor (a restarted server) reads the same answer from the exit file.
    assert.deepEqual(new LocalExecutor().status(w), { code: 3, signal: null });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('signals the whole process group; the wrapper still records the exit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-exec-'));
  try {
    const ex = new LocalExecutor();
    const w = ex.start(spec(dir, 'echo started; sleep 30 & sleep 30; wait'));
    await until(() => existsSync(join(dir, 'log')) && readFileSync(join(dir, 'log'), 'utf8').includes('started'));
    ex.signal(w, 'SIGTERM');
    await until(() => ex.status(w) !== 'running');
    const s = ex.status(w);
    assert.ok(s !== 'running' && s !== 'lost' && s.code === 143, JSON.stringify(s));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('reaps an orphan by its pid file only when it is that job\'s worker', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-exec-'));
  try {
    const ex = new LocalExecutor();
    const w = ex.start(spec(dir, 'sleep 30', 'job-9'));
    await until(() => existsSync(join(dir, 'pid')));
    assert.equal(ex.reapOrphans('job-8', [join(dir, 'pid')]), 0, 'another job: left alone');
    assert.ok(isProcessAlive(w.pid, w.startTicks));
    assert.equal(ex.reapOrphans('job-9', [join(dir, 'pid'), join(dir, 'missing')]), 1);
    await until(() => !isProcessAlive(w.pid, w.startTicks));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
