/**
 * A canary rollout survives a restart of `gantry up`: the server (its own process) is killed
 * with SIGKILL while a canary is Ready and waiting for requests, and started again on the same
 * data dir. The rollout comes back from SQLite in the same phase, weight and revisions, both
 * revisions' replicas are kept (none drains), the router splits requests between them again,
 * and the rollout goes on to its promotion.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { tempDir, testIdBase, waitUntil } from '../helpers/server.js';
import { gantryUp, started, type GantryProcess as Proc } from '../helpers/gantry-process.js';

type Row = Record<string, unknown>;
const ID_BASE = testIdBase();
const BIN = resolve('bin/gantry.js');
const SERVER = `${process.execPath} ${BIN} sim llm-server --port $PORT --time-scale 0.1 --drain-seconds 5`;

const up = (dir: string): Promise<Proc> => gantryUp(dir, ['--gpus', '2xH100-80GB', '--stop-grace', '2'], process.env, { idBase: ID_BASE, readyMs: 20_000 });

describe('a rollout across a restart of gantry up', () => {
  const dir = tempDir('gantry-rollout-restart-');
  const pids = new Set<number>();
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

  it('resumes the canary with its phase, weight and revisions, keeps both revisions\' replicas, and promotes', async () => {
    let p = await up(dir);
    const api = (method: string, path: string, body?: unknown) => p.api(method, path, body);
    const get = async (): Promise<Row> => (await api('GET', '/v1/services/chat')).body;
    const rollout = (s: Row): Row => (s['rollout'] ?? {}) as Row;
    const list = (s: Row): Row[] => (s['replicaList'] ?? []) as Row[];
    const notePids = async (s: Row): Promise<void> => {
      for (const r of list(s)) for (const pr of ((await api('GET', `/v1/jobs/${String(r['job'])}`)).body['processes'] ?? []) as { pid: number }[]) pids.add(pr.pid);
    };
    const base = {
      kind: 'Service',
      name: 'chat',
      command: SERVER,
      env: { MODEL_VERSION: 'v1' },
      resources: { cpu: '100m', memory: '1Gi' },
      replicas: { min: 1, max: 1 },
      autoscaler: { policy: 'kpa', targetInFlight: 1000 },
      routing: { policy: 'p2c' },
      rollout: { canaryPercent: 40, analysisSeconds: 2, minRequests: 10 },
      drainSeconds: 5,
    };
    const v1 = String((await api('POST', '/v1/services', base)).body['revision']);
    await waitUntil('a Ready v1 replica', get, (s) => (s['replicas'] as Row)['ready'] === 1, 30_000);
    const v2 = String((await api('POST', '/v1/services', { ...base, env: { MODEL_VERSION: 'v2' } })).body['revision']);
    assert.notEqual(v2, v1);
    // No requests yet: the canary is Ready and waits for minRequests, so it cannot be promoted before the kill.
    const before = await waitUntil('the canary Ready', get, (s) => rollout(s)['phase'] === 'canary' && /canary Ready|waits for more/.test(String(rollout(s)['reason'])) && list(s).filter((r) => r['state'] === 'ready').length === 2, 30_000);
    await notePids(before);
    const jobsBefore = list(before).map((r) => `${String(r['job'])}:${String(r['revision'])}`).sort();

    p.child.kill('SIGKILL');
    await new Promise((r) => p.child.once('exit', r));
    p = await up(dir);

    const resumed = await get();
    assert.equal(rollout(resumed)['phase'], 'canary', 'the phase is stored');
    assert.equal(rollout(resumed)['canaryWeight'], 40, 'the canary weight is stored');
    assert.equal(rollout(resumed)['from'], v1);
    assert.equal(rollout(resumed)['to'], v2);
    assert.equal(resumed['revision'], v2);
    assert.deepEqual(list(resumed).map((r) => `${String(r['job'])}:${String(r['revision'])}`).sort(), jobsBefore, 'the same replicas of both revisions, none started or stopped');
    const ready = await waitUntil('both replicas Ready again', get, (s) => list(s).filter((r) => r['state'] === 'ready').length === 2, 30_000);
    assert.equal(list(ready).length, 2, 'no replica drained');

    const url = String(ready['url']);
    const seen = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: `hello ${i}`, max_tokens: 2 }) });
      assert.equal(r.status, 200);
      await r.text();
      const rev = list(ready).find((x) => x['job'] === r.headers.get('x-gantry-replica'))?.['revision'];
      seen.set(String(rev), (seen.get(String(rev)) ?? 0) + 1);
    }
    assert.ok((seen.get(v2) ?? 0) > 5 && (seen.get(v1) ?? 0) > 5, `the router splits again: ${JSON.stringify([...seen])}`);
    const done = await waitUntil('the promotion done', get, (s) => rollout(s)['phase'] === 'done', 60_000);
    await notePids(done);
    assert.equal(done['revision'], v2);
    await waitUntil('only v2 left', get, (s) => list(s).length === 1 && list(s)[0]?.['revision'] === v2, 30_000);
  });
});
