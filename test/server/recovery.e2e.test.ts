/**
 * Crash safety end to end: `gantry up` as its own process is killed with SIGKILL while jobs
 * run and wait. After a restart on the same data dir, queued jobs are still queued and run,
 * running workers are found again by pid and finish normally, and a worker that vanished
 * while the server was down is reported with a clear reason and requeued by its retry policy.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { call, tempDir, waitFor, job } from '../helpers/server.js';
import { testIdBase } from '../helpers/server.js';
import { gantryUp, started, type GantryProcess as Proc } from '../helpers/gantry-process.js';

/** This file's servers share one uid range (kept across their restarts), apart from other files' servers. */
const ID_BASE = testIdBase();

const up = (dir: string, extra: string[]): Promise<Proc> => gantryUp(dir, ['--stop-grace', '2', ...extra], process.env, { idBase: ID_BASE });

describe('kill -9 of the control plane', () => {
  const dir = tempDir('gantry-crash-');
  const pids: number[] = [];
  after(() => {
    for (const c of started) c.kill('SIGKILL');
    for (const pid of pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}-work`, { recursive: true, force: true });
  });

  it('loses nothing: queued jobs stay queued, running ones are re-adopted, lost ones are requeued with a reason', async () => {
    const first = await up(dir, ['--gpus', '1xH100-80GB']);
    const api = (p: Proc, m: string, path: string, body?: unknown) => call(p.url, p.token, m, path, body);
    const get = async (p: Proc, id: string) => (await api(p, 'GET', `/v1/jobs/${id}`)).body;

    const a = String((await api(first, 'POST', '/v1/jobs', job({ name: 'a', resources: { gpu: 1 }, command: 'sleep 2; echo A-done' }))).body['id']);
    const b = String((await api(first, 'POST', '/v1/jobs', job({ name: 'b', resources: { gpu: 1 }, command: 'echo B-done' }))).body['id']);
    const c = String((await api(first, 'POST', '/v1/jobs', job({ name: 'c', command: 'sleep 30', retries: { limit: 1, backoffSeconds: 0 } }))).body['id']);
    const running = async (id: string) => waitFor(`${id} running`, async () => {
      const j = await get(first, id);
      return j['state'] === 'running' && (j['processes'] as unknown[]).length > 0 ? j : null;
    });
    const aPid = ((await running(a))['processes'] as { pid: number }[])[0]?.pid ?? 0;
    const cPid = ((await running(c))['processes'] as { pid: number }[])[0]?.pid ?? 0;
    pids.push(aPid, cPid);
    assert.equal((await get(first, b))['state'], 'queued');

    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    process.kill(-cPid, 'SIGKILL'); // c's worker dies while nobody watches

    const second = await up(dir, []); // the simulated inventory is remembered
    const afterA = await get(second, a);
    assert.ok(['running', 'succeeded'].includes(String(afterA['state'])), `a is ${String(afterA['state'])}`);
    assert.equal((afterA['processes'] as { pid: number }[])[0]?.pid, aPid, 'same process, re-adopted');

    const cj = await waitFor('c requeued with a reason', async () => {
      const j = await get(second, c);
      return String(j['reason'] ?? '').includes('lost after a control-plane restart') || Number(j['attempts']) >= 2 ? j : null;
    });
    assert.equal(cj['retries'], 1);

    const doneA = await waitFor('a done', async () => ((await get(second, a))['state'] === 'succeeded' ? true : null), 15_000);
    assert.ok(doneA);
    assert.match((await api(second, 'GET', `/v1/jobs/${a}/logs`)).text, /A-done/);
    await waitFor('b done', async () => ((await get(second, b))['state'] === 'succeeded' ? true : null), 15_000);
    assert.match((await api(second, 'GET', `/v1/jobs/${b}/logs`)).text, /B-done/);

    const cNow = await waitFor('c running again', async () => {
      const j = await get(second, c);
      return j['state'] === 'running' ? j : null;
    });
    assert.equal(cNow['attempts'], 2);
    pids.push(...(cNow['processes'] as { pid: number }[]).map((p) => p.pid));
    await api(second, 'POST', `/v1/jobs/${c}/cancel`);
    await waitFor('c cancelled', async () => ((await get(second, c))['state'] === 'cancelled' ? true : null));

    const all = (await api(second, 'GET', '/v1/jobs')).body['items'] as unknown[];
    assert.equal(all.length, 3, 'every acknowledged submission survived');
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
  });

  it('keeps every acknowledged submission when killed in the middle of a burst', async () => {
    const burstDir = tempDir('gantry-burst-');
    try {
      const p = await up(burstDir, ['--gpus', '1xH100-80GB']);
      const node = ((await call(p.url, p.token, 'GET', '/v1/nodes')).body['items'] as { name: string }[])[0]?.name ?? '';
      await call(p.url, p.token, 'POST', `/v1/nodes/${node}/cordon`); // jobs stay queued: no processes to clean up
      const acked: string[] = [];
      let killed = false;
      const client = async (c: number): Promise<void> => {
        for (let i = 0; !killed; i++) {
          try {
            const r = await call(p.url, p.token, 'POST', '/v1/jobs', job({ name: `burst-${c}-${i}` }));
            if (r.status === 201) acked.push(String(r.body['id']));
          } catch {
            return; // the server is gone
          }
        }
      };
      const clients = Array.from({ length: 20 }, (_, c) => client(c));
      await waitFor('some acknowledged submissions', async () => acked.length >= 200);
      p.child.kill('SIGKILL');
      killed = true;
      await Promise.all(clients);
      await new Promise((r) => (p.child.exitCode !== null || p.child.signalCode !== null ? r(null) : p.child.once('exit', r)));

      const q = await up(burstDir, []);
      const stored = new Set<string>();
      let cursor: string | null = null;
      do {
        const page: Awaited<ReturnType<typeof call>> = await call(q.url, q.token, 'GET', `/v1/jobs?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
        for (const j of page.body['items'] as { id: string; state: string }[]) {
          stored.add(j.id);
          assert.equal(j.state, 'queued');
        }
        cursor = page.body['nextCursor'] as string | null;
      } while (cursor);
      const missing = acked.filter((id) => !stored.has(id));
      assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged jobs lost`);
      q.child.kill('SIGTERM');
      await new Promise((r) => q.child.once('exit', r));
    } finally {
      rmSync(burstDir, { recursive: true, force: true });
      rmSync(`${burstDir}-work`, { recursive: true, force: true });
    }
  });
});
