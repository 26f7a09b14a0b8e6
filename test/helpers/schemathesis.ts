/**
 * The Schemathesis suite, one file per token (test/server/schemathesis-*.e2e.test.ts, each
 * within the runner's five minutes). Schemathesis (from PyPI, installed by scripts/python/ensure-venv.sh into a cached venv) fuzzes a
 * real `gantry up` from its OpenAPI document: all checks, all phases, as an admin, a member of
 * team A, a member of team B and with no token. Team B's job is probed by team A's run: any 2xx
 * answer to A that carries it is a cross-team leak. Jobs the fuzzer submits run as their own
 * uid under cgroup limits when the server is root (the banner says so), never as the server.
 *
 *   GANTRY_SCHEMATHESIS_EXAMPLES=200   examples per operation (default 200; CI sets it)
 *   GANTRY_REQUIRE_SCHEMATHESIS=1      fail, not skip, when the venv is missing
 */
import { after, before, describe, it } from 'node:test';

export type Who = 'admin' | 'user-a' | 'user-b' | 'anonymous';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gantryUp, type GantryProcess } from './gantry-process.js';
import { call, tempDir } from './server.js';

const found = spawnSync('bash', ['scripts/python/ensure-venv.sh', 'schemathesis', '--check'], { encoding: 'utf8' });
const bin = found.status === 0 ? join(found.stdout.trim(), 'schemathesis') : null;
const skip = bin ? false : process.env['GANTRY_REQUIRE_SCHEMATHESIS'] === '1' ? false : 'schemathesis not installed (scripts/python/ensure-venv.sh schemathesis)';
const EXAMPLES = Number(process.env['GANTRY_SCHEMATHESIS_EXAMPLES'] ?? 200);
const CONFIG = resolve('test/schemathesis/schemathesis.toml');

interface Run {
  readonly code: number | null;
  readonly out: string;
  readonly har: string;
}

/** One schemathesis run; its console output and HAR record of every exchange. */
function fuzz(url: string, token: string | null, name: string, dir: string, extra: string[] = []): Promise<Run> {
  const har = join(dir, `${name}.har`);
  const args = ['--config-file', CONFIG, 'run', `${url}/openapi.json`, '--checks', 'all', '--max-examples', String(EXAMPLES), '--seed', '42', '--no-color', '--report', 'har', '--report-har-path', har, ...(token ? ['-H', `Authorization: Bearer ${token}`] : []), ...extra];
  return new Promise((done) => {
    const child = spawn(bin as string, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => done({ code, out, har: existsSync(har) ? readFileSync(har, 'utf8') : '' }));
  });
}

function summary(out: string): string {
  const i = out.indexOf('SUMMARY');
  return i >= 0 ? out.slice(i) : out.slice(-3000);
}

/** Operations schemathesis tested, from "Tested: N" (and "Selected: N/M"). */
function tested(out: string): { tested: number; selected: number } {
  return { tested: Number(/Tested:\s+(\d+)/.exec(out)?.[1] ?? 0), selected: Number(/Selected:\s+(\d+)\//.exec(out)?.[1] ?? -1) };
}

/** The suite for one token (and, with admin, token revocation). */
export function schemathesisSuite(who: Who): void {
describe(`Schemathesis against gantry up as ${who}`, { skip, timeout: 30 * 60_000 }, () => {
  let g: GantryProcess;
  let dir = '';
  const tokens: Record<string, string> = {};
  let teamBJob = '';
  before(async () => {
    assert.ok(bin, 'GANTRY_REQUIRE_SCHEMATHESIS=1 but schemathesis is not installed: run scripts/python/ensure-venv.sh schemathesis');
    dir = tempDir('gantry-st-');
    g = await gantryUp(join(dir, 'data'), ['--gpus', '4xH100-80GB', '--rate-limit', '0']);
    for (const [user, team] of [['user-a', 'team-a'], ['user-b', 'team-b'], ['revoker', 'team-a']] as const) {
      const r = await g.api('POST', '/v1/users', { name: user, team });
      tokens[user] = String(r.body['token']);
      assert.equal((await g.api('PUT', `/v1/queues/${team}`, { team })).status, 200);
    }
    const j = await call(g.url, tokens['user-b'] ?? null, 'POST', '/v1/jobs', { name: 'b-secret', queue: 'team-b', command: 'sleep 600' });
    assert.equal(j.status, 201, j.text);
    teamBJob = String(j.body['id']);
  });
  after(async () => {
    await g?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs the fuzzer\'s jobs contained, not as the server', () => {
    if (process.getuid?.() === 0) assert.match(g.output(), /isolation: each job runs as its own uid/);
    else assert.match(g.output(), /isolation:/);
  });

  // revokeToken is fuzzed apart, with a token of its own: the others would revoke their own.
  {
    it(`finds no failure and no error as ${who}, exercising every operation`, { timeout: 20 * 60_000 }, async () => {
      const token = who === 'admin' ? g.token : who === 'anonymous' ? null : (tokens[who] as string);
      const r = await fuzz(g.url, token, who, dir, ['--exclude-operation-id', 'revokeToken']);
      const s = summary(r.out);
      assert.equal(r.code, 0, `schemathesis as ${who} failed:\n${r.out.slice(0, 20_000)}`);
      const t = tested(s);
      assert.equal(t.tested, t.selected, `every selected operation tested:\n${s}`);
      assert.doesNotMatch(s, /errors?\b.*in \d/i, `no errors:\n${s}`);
      if (who === 'user-a') {
        const leaks = (JSON.parse(r.har) as { log: { entries: { request: { url: string }; response: { status: number; content: { text?: string } } }[] } }).log.entries.filter((e) => e.response.status < 300 && (e.response.content.text ?? '').includes(`"${teamBJob}"`));
        assert.deepEqual(leaks.map((e) => e.request.url), [], 'team B\'s job shown to team A');
      }
      const still = await call(g.url, tokens['user-b'] ?? null, 'GET', `/v1/jobs/${teamBJob}`);
      assert.equal(still.status, 200);
      if (who === 'user-a') {
        // Team A's fuzzed jobs may legitimately take GPUs back from team B through the scheduler
        // (fair-share reclaim), so B's job may be preempted and requeued; what team A must not do
        // is act on it through the API: cancel it, or report its progress.
        assert.ok(!['cancelling', 'cancelled', 'failed', 'succeeded'].includes(String(still.body['state'])) && still.body['reason'] !== 'cancelled', `team A changed team B's job: ${String(still.body['state'])} (${String(still.body['reason'])})`);
        assert.equal(still.body['progress'], null, 'team A reported progress for team B\'s job');
        // (Its attempts are there, as audited denials; nothing else by team A may name the job.)
        const audit = (await g.api('GET', '/v1/audit?limit=1000')).body['items'] as { actor: string; target: string; action: string }[];
        const denied = audit.filter((e) => e.actor === 'user-a' && e.target === teamBJob && e.action === 'denied');
        assert.ok(denied.length > 0, 'the fuzzer tried team B\'s job and was refused');
        assert.deepEqual(audit.filter((e) => e.actor === 'user-a' && e.target === teamBJob && e.action !== 'denied'), [], 'team A acted on team B\'s job');
      }
    });
  }

  // Alone, it has no links to follow: the stateful phase has nothing to run.
  if (who === 'admin') it('finds no failure in token revocation', async () => {
    const r = await fuzz(g.url, tokens['revoker'] ?? null, 'revoker', dir, ['--include-operation-id', 'revokeToken', '--phases', 'examples,coverage,fuzzing']);
    assert.equal(r.code, 0, summary(r.out));
  });
});
}
