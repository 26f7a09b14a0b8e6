/**
 * End to end: the server's own surface. /metrics behind a token (members see aggregates
 * only) or on a loopback listener; other teams' queues as aggregates; per-user rate limits and
 * the per-team queued-job cap; every change and every refusal in the audit log, a change and
 * its entry atomically; HTTPS with the CLI; token expiry, revocation and extra tokens; teams
 * without users; queue changes that would leave the tree unloadable; and a server that starts
 * on a database holding rows it cannot load, reports them and leaves them untouched.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { generate } from 'selfsigned';
import { startTestServer, waitState, waitFor, job, call, tempDir, killAllWorkers, type TestServer } from '../helpers/server.js';
import { runCli as gantry } from '../helpers/gantry-process.js';
import { MIGRATIONS, SqliteStore } from '../../src/adapters/store/sqlite-store.js';
import { hashToken } from '../../src/server/auth.js';
import { Client } from '../../src/cli/client.js';

type Item = Record<string, unknown>;
const items = (r: { body: Item }): Item[] => r.body['items'] as Item[];


async function auditActions(t: TestServer): Promise<Item[]> {
  return items(await t.api('GET', '/v1/audit?limit=1000'));
}

describe('metrics, queues and the audit of changes (two teams)', () => {
  let t: TestServer;
  let alice = '';
  let bob = '';
  let running = '';
  let queued = '';
  before(async () => {
    t = await startTestServer({ gpus: '2xA100-80GB', metricsPort: 0 });
    alice = String((await t.api('POST', '/v1/users', { name: 'alice', team: 'vision' })).body['token']);
    bob = String((await t.api('POST', '/v1/users', { name: 'bob', team: 'speech' })).body['token']);
    assert.equal((await t.api('PUT', '/v1/queues/vision', { team: 'vision', guaranteedGpus: 1 })).status, 200);
    assert.equal((await t.api('PUT', '/v1/queues/vision-hold', { team: 'vision', limitGpus: 0 })).status, 200);
    const r = await t.api('POST', '/v1/jobs', job({ name: 'vision-secret-run', queue: 'vision', command: 'sleep 60', resources: { gpu: 1, cpu: '100m', memory: '64Mi' } }), alice);
    assert.equal(r.status, 201, r.text);
    running = String(r.body['id']);
    const q = await t.api('POST', '/v1/jobs', job({ name: 'vision-secret-wait', queue: 'vision-hold', resources: { gpu: 1, cpu: '100m', memory: '64Mi' } }), alice);
    assert.equal(q.status, 201, q.text);
    queued = String(q.body['id']);
    await waitState(t, running, ['running']);
  });
  after(async () => {
    await t.close();
  });

  it('/metrics needs a token; a member sees aggregates only, an admin per-job series of running jobs only', async () => {
    const none = await call(t.url, null, 'GET', '/metrics');
    assert.equal(none.status, 401);
    const member = await call(t.url, bob, 'GET', '/metrics');
    assert.equal(member.status, 200);
    assert.match(member.text, /gantry_queue_depth\{queue="vision-hold"\} 1/);
    assert.match(member.text, /gantry_jobs\{state="running"\} 1/);
    assert.doesNotMatch(member.text, /job="/, 'no per-job series for a member');
    assert.ok(!member.text.includes(running) && !member.text.includes('vision-secret'), 'no job id or name of another team');
    const full = await call(t.url, t.adminToken, 'GET', '/metrics');
    assert.match(full.text, new RegExp(`gantry_gpu_allocation\\{[^}]*job="${running}"`));
    assert.ok(!full.text.includes(`"${queued}"`), 'no series for a queued job');
  });

  it('serves the full view without a token on the loopback metrics listener', async () => {
    const url = t.server.metricsUrl ?? '';
    assert.ok(url.startsWith('http://127.0.0.1:'));
    const r = await fetch(url);
    assert.equal(r.status, 200);
    assert.match(await r.text(), new RegExp(`job="${running}"`));
    assert.equal((await fetch(url.replace('/metrics', '/v1/jobs'))).status, 404);
  });

  it("shows another team's queues only as aggregates", async () => {
    const mine = items(await t.api('GET', '/v1/queues', undefined, alice)).find((q) => q['name'] === 'vision');
    const theirs = items(await t.api('GET', '/v1/queues', undefined, bob)).find((q) => q['name'] === 'vision');
    assert.equal(mine?.['aggregateOnly'], undefined);
    assert.equal(theirs?.['aggregateOnly'], true);
    assert.equal(theirs?.['running'], 1);
    assert.equal(theirs?.['usedGpus'], 1);
    assert.deepEqual(Object.keys(theirs ?? {}).sort(), ['aggregateOnly', 'deservedGpus', 'gpuModels', 'guaranteedGpus', 'limitGpus', 'name', 'ordering', 'parent', 'pending', 'pendingGpus', 'running', 'team', 'usedGpus', 'weight']);
  });

  it('audits progress reports and checkpoint acknowledgements, and reads of another team\'s job', async () => {
    assert.equal((await t.api('POST', `/v1/jobs/${running}/progress`, { step: 5, checkpoint: true }, alice)).status, 200);
    assert.equal((await t.api('GET', `/v1/jobs/${running}`, undefined, bob)).status, 404);
    await waitFor('the audit entries', async () => {
      const a = await auditActions(t);
      return a.some((e) => e['action'] === 'job.checkpoint' && e['target'] === running && e['actor'] === 'alice') && a.some((e) => e['action'] === 'denied' && e['actor'] === 'bob' && e['target'] === running);
    }, 5000);
  });

  it('writes a job and its audit entry in one transaction: a failing audit leaves no job', async () => {
    const db = new Database(join(t.dir, 'gantry.db'));
    const count = (): number => db.prepare('SELECT COUNT(*) FROM jobs').pluck().get() as number;
    const before = count();
    db.exec(`CREATE TRIGGER inject_failure BEFORE INSERT ON audit WHEN NEW.action = 'job.submit' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);
    try {
      const r = await t.api('POST', '/v1/jobs', job({ name: 'never-stored' }), alice);
      assert.equal(r.status, 500, r.text);
      assert.equal(count(), before, 'the job row was rolled back with its audit entry');
    } finally {
      db.exec('DROP TRIGGER inject_failure');
    }
    // And the other way: a change that fails takes its audit entry back.
    db.exec(`CREATE TRIGGER inject_failure BEFORE INSERT ON queues WHEN NEW.name = 'doomed' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);
    try {
      assert.equal((await t.api('PUT', '/v1/queues/doomed', {})).status, 500);
      assert.ok(!(await auditActions(t)).some((e) => e['target'] === 'doomed'), 'no audit entry for a change that did not happen');
      assert.ok(!items(await t.api('GET', '/v1/queues')).some((q) => q['name'] === 'doomed'));
    } finally {
      db.exec('DROP TRIGGER inject_failure');
      db.close();
    }
    assert.equal((await t.api('POST', '/v1/jobs', job({ name: 'stored-now' }), alice)).status, 201);
  });

  it('refuses queue changes that would leave the tree unloadable, changing nothing', async () => {
    const config = (qs: Item[]): string => JSON.stringify(qs.map((q) => [q['name'], q['parent'], q['team'], q['guaranteedGpus'], q['limitGpus'], q['weight']]));
    const before = config(items(await t.api('GET', '/v1/queues')));
    const child = await t.api('PUT', '/v1/queues/vision-sub', { parent: 'vision-hold' });
    assert.equal(child.status, 409);
    assert.equal(child.body.error?.code, 'QUEUE_TREE_INVALID');
    assert.match(child.body.error?.message ?? '', /holds 1 unfinished job/);
    assert.equal((await t.api('PUT', '/v1/queues/orphan', { parent: 'nowhere' })).body.error?.code, 'QUEUE_TREE_INVALID');
    assert.equal((await t.api('PUT', '/v1/queues/p1', {})).status, 200);
    assert.equal((await t.api('PUT', '/v1/queues/p2', { parent: 'p1' })).status, 200);
    const cycle = await t.api('PUT', '/v1/queues/p1', { parent: 'p2' });
    assert.equal(cycle.body.error?.code, 'QUEUE_TREE_INVALID');
    assert.match(cycle.body.error?.message ?? '', /cycle/);
    const after = items(await t.api('GET', '/v1/queues'));
    assert.equal(after.find((q) => q['name'] === 'p1')?.['parent'], null);
    assert.equal(config(after.filter((q) => q['name'] !== 'p1' && q['name'] !== 'p2')), before);
  });

  it('creates teams without users (admin only), and a queue may name one', async () => {
    const r = await t.api('POST', '/v1/teams', { name: 'audio' });
    assert.equal(r.status, 201);
    assert.equal((await t.api('POST', '/v1/teams', { name: 'audio' })).body.error?.code, 'ALREADY_EXISTS');
    const denied = await t.api('POST', '/v1/teams', { name: 'rogue' }, bob);
    assert.equal(denied.status, 403);
    assert.equal((await t.api('PUT', '/v1/queues/audio', { team: 'audio' })).status, 200);
    assert.deepEqual(items(await t.api('GET', '/v1/teams')).find((x) => x['name'] === 'audio'), { name: 'audio', users: [] });
    await waitFor('the audit of team.create and of the refusal', async () => {
      const a = await auditActions(t);
      return a.some((e) => e['action'] === 'team.create' && e['target'] === 'audio') && a.some((e) => e['action'] === 'denied' && e['actor'] === 'bob' && (e['detail'] as Item)['code'] === 'FORBIDDEN' && e['target'] === '/v1/teams');
    }, 5000);
  });

  it('tokens: expiry, revocation, extra tokens, and who may list and revoke them', async () => {
    const short = await t.api('POST', '/v1/users', { name: 'carol', team: 'vision', expires: '1s' });
    assert.equal(short.status, 201, short.text);
    const carol = String(short.body['token']);
    assert.equal((await t.api('GET', '/v1/whoami', undefined, carol)).status, 200);
    await new Promise((r) => setTimeout(r, 1100));
    const expired = await t.api('GET', '/v1/whoami', undefined, carol);
    assert.equal(expired.status, 401);
    assert.match(expired.body.error?.message ?? '', /expired/);

    const extra = await t.api('POST', '/v1/users/carol/tokens', { expires: '30d' });
    assert.equal(extra.status, 201);
    const carol2 = String(extra.body['token']);
    assert.equal((await t.api('GET', '/v1/whoami', undefined, carol2)).body['name'], 'carol');
    const own = items(await t.api('GET', '/v1/tokens', undefined, carol2));
    assert.deepEqual(own.map((x) => x['status']).sort(), ['active', 'expired']);
    assert.equal((await t.api('GET', '/v1/tokens?user=alice', undefined, carol2)).status, 403);
    const aliceTokens = items(await t.api('GET', '/v1/tokens?user=alice'));
    assert.equal(aliceTokens.length, 1);
    assert.equal((await t.api('POST', `/v1/tokens/${String(aliceTokens[0]?.['id'])}/revoke`, undefined, carol2)).body.error?.code, 'TOKEN_NOT_FOUND');

    const revoked = await t.api('POST', `/v1/tokens/${String(extra.body['tokenId'])}/revoke`, undefined, carol2);
    assert.equal(revoked.status, 200, revoked.text);
    assert.equal(revoked.body['status'], 'revoked');
    const after = await t.api('GET', '/v1/whoami', undefined, carol2);
    assert.equal(after.status, 401);
    assert.match(after.body.error?.message ?? '', /revoked/);
    assert.equal((await t.api('POST', '/v1/users/nobody/tokens', {})).body.error?.code, 'USER_NOT_FOUND');
    assert.equal((await t.api('POST', '/v1/users', { name: 'dave', team: 'vision', expires: 'soon' })).body.error?.code, 'BODY_INVALID');
    assert.ok((await auditActions(t)).some((e) => e['action'] === 'token.revoke' && e['actor'] === 'carol'));
  });
});

describe('rate limits and the per-team queued-job cap', () => {
  let t: TestServer;
  let erin = '';
  before(async () => {
    t = await startTestServer({ gpus: '1xA100-80GB', rateLimit: 2, rateBurst: 3, maxQueuedPerTeam: 2 });
    erin = String((await t.api('POST', '/v1/users', { name: 'erin', team: 'nlp' })).body['token']);
    assert.equal((await t.api('PUT', '/v1/queues/held', { limitGpus: 0 })).status, 200);
  });
  after(async () => {
    await t.close();
  });

  it('refuses a user over the rate with 429 and Retry-After, audits it, and exempts admins', async () => {
    const codes: number[] = [];
    let limited: Awaited<ReturnType<TestServer['api']>> | null = null;
    for (let i = 0; i < 6; i++) {
      const r = await t.api('POST', '/v1/jobs/job-999/cancel', undefined, erin);
      codes.push(r.status);
      if (r.status === 429) limited = r;
    }
    assert.ok(limited, `a 429 among ${codes.join(',')}`);
    assert.equal(limited.body.error?.code, 'RATE_LIMITED');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    for (let i = 0; i < 20; i++) assert.equal((await t.api('GET', '/v1/whoami')).status, 200, 'admins are not limited');
    assert.equal((await t.api('POST', '/v1/jobs', job(), null)).status, 401);
    await waitFor('the audit of the refusals', async () => {
      const a = await auditActions(t);
      return a.some((e) => e['action'] === 'denied' && e['actor'] === 'erin' && (e['detail'] as Item)['code'] === 'RATE_LIMITED') && a.some((e) => e['action'] === 'denied' && e['actor'] === 'anonymous' && (e['detail'] as Item)['code'] === 'UNAUTHENTICATED' && e['target'] === '/v1/jobs');
    }, 5000);
    await new Promise((r) => setTimeout(r, 1600)); // (refill for the next test)
  });

  it("refuses a team's submission over the queued-job cap, storing nothing", async () => {
    const submit = (n: number) => t.api('POST', '/v1/jobs', job({ name: `held-${n}`, queue: 'held', resources: { gpu: 1, cpu: '100m', memory: '64Mi' } }), erin);
    assert.equal((await submit(1)).status, 201);
    assert.equal((await submit(2)).status, 201);
    const third = await submit(3);
    assert.equal(third.status, 403, third.text);
    assert.equal(third.body.error?.code, 'QUOTA_EXCEEDED');
    assert.match(third.body.error?.message ?? '', /team nlp already has 2 queued jobs/);
    assert.equal(items(await t.api('GET', '/v1/jobs')).length, 2);
    assert.equal((await t.api('POST', '/v1/jobs', job({ name: 'admin-team', queue: 'held', resources: { gpu: 1, cpu: '100m', memory: '64Mi' } }))).status, 201, 'another team is not capped by nlp');
  });
});

describe('HTTPS with the CLI', () => {
  let t: TestServer;
  let caFile = '';
  before(async () => {
    const dir = tempDir();
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048, algorithm: 'sha256', extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }] } as Parameters<typeof generate>[1]);
    caFile = join(dir, 'cert.pem');
    writeFileSync(caFile, pems.cert);
    writeFileSync(join(dir, 'key.pem'), pems.private);
    t = await startTestServer({ tlsCert: caFile, tlsKey: join(dir, 'key.pem') });
  });
  after(async () => {
    await t.close();
  });

  it('serves https; the CLI trusts a self-signed certificate given with --ca, and says why without it', async () => {
    assert.ok(t.url.startsWith('https://127.0.0.1:'));
    const client = new Client({ url: t.url, token: t.adminToken, ca: readFileSync(caFile, 'utf8') });
    assert.equal((await client.json('GET', '/v1/whoami'))['name'], 'admin');
    const env = { ...process.env, GANTRY_TOKEN: t.adminToken, GANTRY_DATA_DIR: t.dir };
    const ok = await gantry(['teams', 'create', 'secure', '--url', t.url, '--ca', caFile], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /team secure created/);
    const viaEnv = await gantry(['teams', 'list', '--url', t.url], { ...env, GANTRY_CA: caFile });
    assert.match(viaEnv.stdout, /secure/);
    const untrusted = await gantry(['teams', 'list', '--url', t.url], env);
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /TLS_UNTRUSTED|--ca/);
  });
});

describe('a database holding rows the server cannot load', () => {
  let t: TestServer | null = null;
  let pid = 0;
  const dir = tempDir();
  after(async () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
    if (t) {
      killAllWorkers(t.server);
      await t.server.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts anyway, reports each row, keeps a running job running and changes no row', async () => {
    const first = await startTestServer({ dataDir: dir, gpus: '2xA100-80GB' });
    assert.equal((await first.api('PUT', '/v1/queues/held', { limitGpus: 0 })).status, 200);
    const run = await first.api('POST', '/v1/jobs', job({ name: 'keeps-running', command: 'sleep 60' }));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(String((await first.api('POST', '/v1/jobs', job({ name: `held-${i}`, queue: 'held', resources: { gpu: 1, cpu: '100m', memory: '64Mi' } }))).body['id']));
    const running = await waitState(first, String(run.body['id']), ['running']);
    pid = Number(((running['processes'] as Item[])[0] as Item)['pid']);
    await first.server.close(); // (not first.close(): that kills the workers and removes the folder)

    const db = new Database(join(dir, 'gantry.db'));
    db.prepare(`INSERT INTO queues (name, team, parent, guaranteed_gpus, limit_gpus, weight, priority_ordering) VALUES ('loop-a', NULL, 'loop-b', NULL, NULL, 1, 1), ('loop-b', NULL, 'loop-a', NULL, NULL, 1, 1)`).run();
    const seq = (id: string): number => Number(id.slice(4));
    db.prepare(`UPDATE jobs SET spec = json_set(spec, '$.workers', -1) WHERE seq = ?`).run(seq(ids[0] as string));
    db.prepare(`UPDATE jobs SET spec = '{not json' WHERE seq = ?`).run(seq(ids[1] as string));
    db.prepare(`UPDATE jobs SET queue = 'vanished' WHERE seq = ?`).run(seq(String(run.body['id'])));
    const dump = (): string => JSON.stringify([db.prepare('SELECT * FROM queues ORDER BY name').all(), db.prepare('SELECT * FROM jobs ORDER BY seq').all()]);
    const before = dump();
    db.close();

    t = await startTestServer({ dataDir: dir, gpus: '2xA100-80GB' });
    const problems = t.server.storedStateProblems.join('\n');
    assert.match(problems, /queue "loop-a" is not loaded: its parent chain has a cycle/);
    assert.match(problems, new RegExp(`job ${ids[0] as string} \\(queued\\) is not loaded: its spec no longer validates`));
    assert.match(problems, new RegExp(`job ${ids[1] as string} \\(queued\\) is not loaded: its row does not read back`));
    assert.match(problems, new RegExp(`job ${String(run.body['id'])} \\(running\\) is not loaded: its queue "vanished" does not exist; its processes, if any, keep running`));
    const status = await t.api('GET', '/v1/status');
    assert.equal(status.body['storedState'], 'problems');
    assert.equal((status.body['problems'] as string[]).length, 5);
    assert.equal((await t.api('GET', `/v1/jobs/${ids[2] as string}`)).body['state'], 'queued', 'the good job is loaded');
    assert.equal((await t.api('POST', '/v1/jobs', job({ name: 'after' }))).status, 201, 'the server works');
    process.kill(pid, 0); // throws if the running job was killed
    await t.server.close();
    t = null;
    const db2 = new Database(join(dir, 'gantry.db'), { readonly: true });
    const after = JSON.stringify([db2.prepare('SELECT * FROM queues ORDER BY name').all(), db2.prepare(`SELECT * FROM jobs WHERE name <> 'after' ORDER BY seq`).all()]);
    db2.close();
    assert.equal(after, before, 'no stored row changed');
  });
});

describe('store migration of tokens', () => {
  it('opens a database of the first schema: old tokens keep working, gain an id, and jobs are counted', () => {
    const file = join(tempDir(), 'old.db');
    const db = new Database(file);
    db.exec(MIGRATIONS[0] as string);
    db.pragma('user_version = 1');
    db.prepare(`INSERT INTO teams VALUES ('t', 1)`).run();
    db.prepare(`INSERT INTO users VALUES ('u', 't', 0, 1)`).run();
    db.prepare(`INSERT INTO tokens VALUES (?, 'u', 1)`).run(hashToken('gty_old-token-value'));
    db.prepare(`INSERT INTO jobs (name, team, owner, queue, state, spec, submitted_at, attempts, retries, preemptions, not_before, workers) VALUES ('j', 't', 'u', 'default', 'queued', '{}', 1, 0, 0, 0, 0, '[]')`).run();
    db.close();
    const s = new SqliteStore(file);
    const hit = s.tokenByHash(hashToken('gty_old-token-value'));
    assert.equal(hit?.user.name, 'u');
    assert.match(hit?.token.id ?? '', /^tok_[0-9a-f]{16}$/);
    assert.equal(hit?.token.expiresAt, null);
    assert.equal(s.countJobs('t', 'queued'), 1);
    s.close();
  });
});
