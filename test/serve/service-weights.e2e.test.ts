/**
 * A service's weights as a dataset, end to end in `gantry up` (its own process, real SQLite,
 * `gantry sim llm-server` replicas that read their weights in full before they are Ready).
 * Two simulated nodes of one GPU each; the weights (a local-path dataset) are cached on the
 * second only:
 * - the replica lands on the node holding the weights, and its GANTRY_WEIGHTS is that node's
 *   read-only copy; `get` and `explain` show the copy per replica and per node;
 * - the next replica's node (the other one, the first being full) gets the weights staged
 *   before any scale-out, so the replica that scales out starts from cache;
 * - a service whose weights are cached nowhere copies them first.
 * Ready times (apply -> Ready) are printed: cached, prefetched for scale-out, not cached.
 * Size: GANTRY_WEIGHTS_TEST_MIB (default 256).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { call, tempDir, testIdBase, waitFor, waitUntil } from '../helpers/server.js';

type Row = Record<string, unknown>;
const ID_BASE = testIdBase();
const BIN = resolve('bin/gantry.js');
const MIB = Number(process.env['GANTRY_WEIGHTS_TEST_MIB'] ?? 256);
const SERVER = `${process.execPath} ${BIN} sim llm-server --port $PORT --time-scale 0.1 --drain-seconds 1 --weights $GANTRY_WEIGHTS`;
const children: ChildProcess[] = [];
const pids = new Set<number>();

/** A folder with one file of `mib` MiB (distinct content per seed). */
function weightsFolder(dir: string, mib: number, seed: number): string {
  mkdirSync(dir, { recursive: true });
  const block = randomBytes(2 ** 20);
  block.writeUInt32LE(seed, 0);
  const fd = openSync(join(dir, 'model.safetensors'), 'w');
  for (let i = 0; i < mib; i++) {
    block.writeUInt32LE(i, 4);
    writeSync(fd, block);
  }
  closeSync(fd);
  return dir;
}

function envOf(pid: number): Record<string, string> {
  const raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(raw.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

describe('service weights as a dataset, on two simulated nodes', () => {
  const dir = tempDir('gantry-svc-weights-');
  let child: ChildProcess | null = null;
  after(() => {
    child?.kill('SIGKILL');
    for (const pid of pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const d of [dir, `${dir}-work`, `${dir}-datasets`, `${dir}-weights`]) rmSync(d, { recursive: true, force: true });
  });

  it('places the replica where the weights are, stages them for the next one, and reports Ready times', async () => {
    child = spawn(process.execPath, [BIN, 'up', '--data-dir', dir, '--port', '0', '--gpus', '1xH100-80GB', '--sim-nodes', '2', '--min-runtime', '0', '--stop-grace', '2', '--id-base', String(ID_BASE)], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor('server.json', async () => existsSync(join(dir, 'server.json')) || (child?.exitCode !== null && Promise.reject(new Error(`server exited: ${err}`))), 30_000);
    const { url } = JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8')) as { url: string };
    const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
    const api = async (method: string, path: string, body?: unknown): Promise<Row> => {
      const r = await call(url, token, method, path, body);
      assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    };
    const nodes = ((await api('GET', '/v1/nodes'))['items'] as Row[]).map((n) => String(n['name'])).sort();
    assert.equal(nodes.length, 2);
    const [first, second] = nodes as [string, string];

    // Weights on the second node only (the first would be the scheduler's pick without them).
    weightsFolder(join(`${dir}-weights`, 'warm'), MIB, 1);
    weightsFolder(join(`${dir}-weights`, 'cold'), MIB, 2);
    await api('POST', '/v1/datasets', { name: 'warm', source: { type: 'local', path: join(`${dir}-weights`, 'warm') } });
    await api('POST', '/v1/datasets', { name: 'cold', source: { type: 'local', path: join(`${dir}-weights`, 'cold') } });
    await api('POST', `/v1/datasets/warm/latest/fill?node=${encodeURIComponent(second)}&wait=true`);
    const bad = await call(url, token, 'POST', '/v1/datasets/warm/latest/fill?node=nowhere');
    assert.equal(bad.status, 404);
    assert.equal((bad.body['error'] as Row)['code'], 'NODE_NOT_FOUND');

    const spec = (name: string, dataset: string, replicas: Row): Row => ({ kind: 'Service', name, command: SERVER, weights: { dataset }, resources: { gpu: 1, cpu: '100m', memory: '1Gi' }, replicas, autoscaler: { policy: 'kpa', targetInFlight: 1000 }, readiness: { periodSeconds: 0.2 }, drainSeconds: 1 });
    const svc = (name: string): Promise<Row> => api('GET', `/v1/services/${name}`);
    const readyList = (s: Row): Row[] => ((s['replicaList'] ?? []) as Row[]).filter((r) => r['state'] === 'ready');
    // Apply -> Ready, and of it the wait before the newest replica's process started (placement and its copy).
    const timeToReady = async (name: string, body: Row, ready: number): Promise<{ ms: number; startMs: number; readWeightsMs: number; s: Row }> => {
      const t0 = Date.now();
      await api('POST', '/v1/services', body);
      const s = await waitUntil(`${name}: ${ready} Ready`, () => svc(name), (x) => readyList(x).length >= ready, 300_000);
      const ms = Date.now() - t0;
      const started = await Promise.all(readyList(s).map(async (r) => Date.parse(String((await api('GET', `/v1/jobs/${String(r['job'])}`))['startedAt']))));
      // The server's own account of reading its weights (the newest replica's).
      const newest = readyList(s).sort((a, b) => String(b['name']).localeCompare(String(a['name']), undefined, { numeric: true }))[0] as Row;
      const health = (await (await fetch(`http://127.0.0.1:${String(newest['port'])}/health`)).json()) as { startup: { weightsSeconds: number; weightsBytes: number } };
      assert.equal(health.startup.weightsBytes, MIB * 2 ** 20, 'the replica read the whole copy');
      return { ms, startMs: Math.max(...started) - t0, readWeightsMs: Math.round(health.startup.weightsSeconds * 1000), s };
    };
    const pidOf = async (job: unknown): Promise<number> => {
      const p = (((await api('GET', `/v1/jobs/${String(job)}`))['processes'] ?? []) as { pid: number }[])[0]?.pid ?? 0;
      pids.add(p);
      return p;
    };

    // 1. Cached: the replica goes to the second node and reads its copy there.
    // At max 1 nothing is staged for a next replica while this one starts (no copy competes with it).
    const cached = await timeToReady('warm', spec('warm', 'warm', { min: 1, max: 1 }), 1);
    assert.deepEqual((cached.s['spec'] as Row)['weights'], { dataset: 'warm@1' }, 'the version is pinned at apply');
    const r1 = readyList(cached.s)[0] as Row;
    assert.equal(r1['node'], second, 'the replica lands where the weights are');
    assert.equal((r1['weights'] as Row)['state'], 'cached');
    const env1 = envOf(await pidOf(r1['job']));
    assert.equal(env1['GANTRY_WEIGHTS'], join(`${dir}-datasets`, '.nodes', second, 'warm@1'));
    const w = cached.s['weights'] as Row;
    assert.equal(w['dataset'], 'warm@1');
    const byNode = new Map(((w['nodes'] as Row[]) ?? []).map((n) => [n['node'], n]));
    assert.equal((byNode.get(second) as Row)['expectedStartSeconds'], 0);

    // 2. The second node is full: the next replica would go to the first, whose copy is made now.
    await api('POST', '/v1/services', spec('warm', 'warm', { min: 1, max: 2 }));
    const staged = await waitUntil('the weights staged for the next replica', () => svc('warm'), (s) => ((s['weights'] as Row)['next'] as Row | null)?.['node'] === first && ((s['weights'] as Row)['next'] as Row)['state'] === 'cached', 120_000);
    assert.equal(((staged['weights'] as Row)['nodes'] as Row[]).every((n) => n['state'] === 'cached'), true);
    const explained = await api('GET', '/v1/services/warm/explain');
    assert.equal((explained['weights'] as Row)['dataset'], 'warm@1');
    assert.deepEqual(((explained['weights'] as Row)['replicas'] as Row[]).map((r) => [r['replica'], r['node'], r['state']]), [['warm-r1', second, 'cached']]);
    // The CLI prints the same: the copy per replica and per node, and where the next replica goes.
    const cli = (...a: string[]): string => {
      const r = spawnSync(process.execPath, [BIN, ...a, '--data-dir', dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    const explainText = cli('explain', 'svc/warm');
    assert.match(explainText, new RegExp(`replica warm-r1 on ${second}: warm@1 cached`));
    assert.match(explainText, new RegExp(`next replica would go to ${first}: warm@1 cached`));
    assert.match(cli('get', 'svc/warm'), new RegExp(`warm-r1 .*on ${second}; weights cached`));
    const scaled = await timeToReady('warm', spec('warm', 'warm', { min: 2, max: 2 }), 2);
    const r2 = readyList(scaled.s).find((r) => r['node'] === first) as Row;
    assert.ok(r2, 'the scaled-out replica runs on the first node');
    assert.equal(envOf(await pidOf(r2['job']))['GANTRY_WEIGHTS'], join(`${dir}-datasets`, 'warm@1'));
    assert.equal((scaled.s['weights'] as Row)['next'], null, 'at max replicas nothing is staged');

    // 3. Not cached anywhere: the copy comes first.
    await api('DELETE', '/v1/services/warm');
    await waitUntil('the warm replicas gone', () => api('GET', '/v1/jobs?state=active'), (b) => (b['items'] as Row[]).length === 0, 60_000);
    const cold = await timeToReady('cold', spec('cold', 'cold', { min: 1, max: 1 }), 1);
    const r3 = readyList(cold.s)[0] as Row;
    await pidOf(r3['job']);
    assert.equal((r3['weights'] as Row)['state'], 'cached');
    const phases = (x: { ms: number; startMs: number; readWeightsMs: number }): Row => ({ ready: x.ms, processStarted: x.startMs, readWeights: x.readWeightsMs });
    console.log(JSON.stringify({ weightsMiB: MIB, ms: { cached: phases(cached), scaleOutPrefetched: phases(scaled), notCached: phases(cold) } }));
    await api('DELETE', '/v1/services/cold');
    child.kill('SIGTERM');
    await new Promise((r) => (child?.exitCode !== null ? r(null) : child.once('exit', r)));
  });
});
