/**
 * A corpus of malformed CLI invocations (bad flags, missing arguments, bad numbers, bad and
 * hostile job files, bad server addresses) against a real server. Each prints exactly one
 * line on stderr naming a code, exits non-zero, prints no stack trace, and changes nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, tempDir, waitState, job, type TestServer } from '../helpers/server.js';
import { runCli } from '../helpers/gantry-process.js';

const gantry = runCli;

describe('malformed CLI corpus', () => {
  let t: TestServer;
  let dir = '';
  let env: Record<string, string> = {};
  before(async () => {
    t = await startTestServer({ gpus: '2xA100-80GB' });
    const r = await t.api('POST', '/v1/jobs', job({ name: 'existing', command: 'sleep 3600' }));
    await waitState(t, String(r.body['id']), ['running']);
    dir = tempDir('gantry-cli-corpus-');
    env = { GANTRY_URL: t.url, GANTRY_TOKEN: t.adminToken, GANTRY_DATA_DIR: join(dir, '.gantry') };
    const files: Record<string, string> = {
      'syntax.yaml': 'name: [unclosed\ncommand: x\n',
      'tabs.yaml': 'name: a\n\tcommand: x\n',
      'list.yaml': '- name: a\n- command: x\n',
      'scalar.yaml': 'just a string\n',
      'empty.yaml': '',
      'comments.yaml': '# nothing here\n',
      'binary.yaml': '\u0000\u0001\u0002\u00ff\u00fe',
      'bomb.yaml': 'name: a\ncommand: x\na: &a [x,x,x,x,x,x,x,x,x]\n' + 'bcdefghi'.split('').map((l, i) => `${l}: &${l} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`).join('\n') + '\n',
      'duplicate.yaml': 'name: a\nname: b\ncommand: x\n',
      'unknown.yaml': 'name: a\ncommand: x\nreplicas: 3\n',
      'noname.yaml': 'command: x\n',
      'nocommand.yaml': 'name: a\n',
      'badname.yaml': 'name: My Job\ncommand: x\n',
      'tinyshare.yaml': 'name: a\ncommand: x\nresources: {gpu: 0.005}\n',
      'forever.yaml': 'name: a\ncommand: x\nexpectedDurationSeconds: 99999999999\n',
      'hugegpu.yaml': 'name: a\ncommand: x\nresources: {gpu: 1e308}\n',
      'negcpu.yaml': 'name: a\ncommand: x\nresources: {cpu: -4}\n',
      'badmem.yaml': 'name: a\ncommand: x\nresources: {memory: 12 parsecs}\n',
      'nul.yaml': 'name: a\ncommand: "echo \\0"\n',
      'gang.yaml': 'name: a\ncommand: x\nworkers: 4\nresources: {gpu: 2}\n',
      'selector.yaml': 'name: a\ncommand: x\nnodeSelector: {zone: mars}\n',
      'nodir.yaml': 'name: a\ncommand: x\nworkingDir: /does/not/exist\n',
      'noqueue.yaml': 'name: a\ncommand: x\nqueue: ghost\n',
      'envlist.yaml': 'name: a\ncommand: x\nenv: [A=1]\n',
      'yamltags.yaml': 'name: a\ncommand: !!js/function "function(){}"\n',
      'bigint.yaml': 'name: a\ncommand: x\npriority: 99999999999999999999999\n',
      'unicode.yaml': 'name: j\u00f6b\u200b\ncommand: x\n',
      'good.yaml': 'name: fine\ncommand: "true"\n',
    };
    for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
    mkdirSync(join(dir, 'a-folder.yaml'));
    writeFileSync(join(dir, 'a-file'), 'x');
  });
  after(async () => {
    await t.close();
  });

  async function snapshot(): Promise<string> {
    const parts = await Promise.all(['/v1/jobs?limit=500', '/v1/queues', '/v1/teams', '/v1/audit?limit=1000'].map((p) => t.api('GET', p)));
    return JSON.stringify(parts.map((p) => p.body), (k, v: unknown) => (k === 'progress' ? undefined : v));
  }

  /** args, and the code the one stderr line must name. */
  function corpus(): [string[], string][] {
    const f = (name: string): string => join(dir, name);
    return [
      // unknown commands and flags, missing arguments
      [['frobnicate'], 'USAGE'],
      [['--frobnicate'], 'USAGE'],
      [['ls', '--bogus'], 'USAGE'],
      [['ls', 'extra-arg'], 'USAGE'],
      [['submit'], 'USAGE'],
      [['get'], 'USAGE'],
      [['logs'], 'USAGE'],
      [['cancel'], 'USAGE'],
      [['explain'], 'USAGE'],
      [['queues', 'set'], 'USAGE'],
      [['nodes', 'cordon'], 'USAGE'],
      [['users', 'create', 'zed'], 'USAGE'],
      [['users', 'create'], 'USAGE'],
      [['submit', '--idempotency-key'], 'USAGE'],
      [['up', '--port'], 'USAGE'],
      [['sim', 'openb', '--policy'], 'USAGE'],
      // bad numbers and values
      [['up', '--port', '99999'], 'BAD_FLAG'],
      [['up', '--port', '-1'], 'BAD_FLAG'],
      [['up', '--port', 'http'], 'BAD_FLAG'],
      [['up', '--port', '80.5'], 'BAD_FLAG'],
      [['up', '--min-runtime', 'soon'], 'BAD_FLAG'],
      [['up', '--stop-grace', '-3'], 'BAD_FLAG'],
      [['up', '--window', '0'], 'BAD_FLAG'],
      [['up', '--data-dir', f('a-file')], 'DATA_DIR_INVALID'],
      [['up', '--data-dir', '/proc/gantry'], 'DATA_DIR_INVALID'],
      [['up', '--data-dir', '/proc/self'], 'DATA_DIR_INVALID'],
      [['up', '--data-dir', join(f('a-file'), 'sub')], 'DATA_DIR_INVALID'],
      [['up', '--gpus', '@/does/not/exist'], 'BAD_GPUS_FLAG'],
      [['quickstart', '--port', '70000'], 'BAD_FLAG'],
      [['quickstart', '--data-dir', f('a-file'), '--port', '0'], 'DATA_DIR_INVALID'],
      [['ls', '--limit', 'many'], 'QUERY_INVALID'],
      [['ls', '--limit', '0'], 'QUERY_INVALID'],
      [['ls', '--limit', '100000'], 'QUERY_INVALID'],
      [['ls', '--state', 'sleeping'], 'QUERY_INVALID'],
      [['ls', '-o', 'yaml'], 'BAD_FLAG'],
      [['logs', 'job-1', '--worker', 'two'], 'BAD_FLAG'],
      [['logs', 'job-1', '--worker', '-1'], 'BAD_FLAG'],
      [['logs', 'job-1', '--worker', '7'], 'WORKER_NOT_FOUND'],
      [['queues', 'set', 'q1', '--guaranteed', 'lots'], 'BAD_FLAG'],
      [['queues', 'set', 'q1', '--guaranteed', '-2'], 'BAD_FLAG'],
      [['queues', 'set', 'q1', '--weight', '0'], 'BODY_INVALID'],
      [['queues', 'set', 'q1', '--guaranteed', '999'], 'GUARANTEE_EXCEEDS_FLEET'],
      [['queues', 'set', 'Bad Name'], 'BAD_REQUEST'],
      [['queues', 'set', 'q1', '--parent', 'ghost'], 'QUEUE_TREE_INVALID'],
      [['queues', 'set', 'q1', '--team', 'ghosts'], 'TEAM_NOT_FOUND'],
      [['users', 'create', 'Zed!', '--team', 'red'], 'BODY_INVALID'],
      [['users', 'create', 'admin', '--team', 'default'], 'ALREADY_EXISTS'],
      [['top', '--interval', 'fast', '--once'], 'BAD_FLAG'],
      [['bench', 'place', '--nodes', 'many'], 'BAD_FLAG'],
      [['sim', 'jobs', '--days', '-1'], 'BAD_FLAG'],
      // missing and unknown things on the server
      [['get', 'job-424242'], 'JOB_NOT_FOUND'],
      [['get', '../../etc/passwd'], 'JOB_NOT_FOUND'],
      [['cancel', 'job-424242'], 'JOB_NOT_FOUND'],
      [['explain', 'job-\u00e9'], 'JOB_NOT_FOUND'],
      [['logs', 'job-424242'], 'JOB_NOT_FOUND'],
      [['nodes', 'cordon', 'ghost'], 'NODE_NOT_FOUND'],
      [['nodes', 'drain', 'ghost'], 'NODE_NOT_FOUND'],
      [['get', 'x'.repeat(300)], 'BAD_REQUEST'],
      // job files
      [['submit', f('missing.yaml')], 'FILE_NOT_FOUND'],
      [['submit', f('a-folder.yaml')], 'FILE_NOT_FOUND'],
      [['submit', '/proc/self/mem'], 'FILE_NOT_FOUND'],
      [['submit', f('syntax.yaml')], 'JOB_INVALID'],
      [['submit', f('tabs.yaml')], 'JOB_INVALID'],
      [['submit', f('list.yaml')], 'JOB_INVALID'],
      [['submit', f('scalar.yaml')], 'JOB_INVALID'],
      [['submit', f('empty.yaml')], 'JOB_INVALID'],
      [['submit', f('comments.yaml')], 'JOB_INVALID'],
      [['submit', f('binary.yaml')], 'JOB_INVALID'],
      [['submit', f('bomb.yaml')], 'JOB_INVALID'],
      [['submit', f('duplicate.yaml')], 'JOB_INVALID'],
      [['submit', f('unknown.yaml')], 'JOB_INVALID'],
      [['submit', f('noname.yaml')], 'JOB_INVALID'],
      [['submit', f('nocommand.yaml')], 'JOB_INVALID'],
      [['submit', f('badname.yaml')], 'JOB_INVALID'],
      [['submit', f('tinyshare.yaml')], 'JOB_INVALID'],
      [['submit', f('forever.yaml')], 'JOB_INVALID'],
      [['submit', f('hugegpu.yaml')], 'JOB_INVALID'],
      [['submit', f('negcpu.yaml')], 'JOB_INVALID'],
      [['submit', f('badmem.yaml')], 'JOB_INVALID'],
      [['submit', f('nul.yaml')], 'JOB_INVALID'],
      [['submit', f('envlist.yaml')], 'JOB_INVALID'],
      [['submit', f('yamltags.yaml')], 'JOB_INVALID'],
      [['submit', f('bigint.yaml')], 'JOB_INVALID'],
      [['submit', f('unicode.yaml')], 'JOB_INVALID'],
      [['submit', f('gang.yaml')], 'UNSATISFIABLE'],
      [['submit', f('selector.yaml')], 'UNSATISFIABLE'],
      [['submit', f('nodir.yaml')], 'WORKDIR_NOT_FOUND'],
      [['submit', f('noqueue.yaml')], 'QUEUE_NOT_FOUND'],
      [['submit', f('good.yaml'), f('syntax.yaml')], 'JOB_INVALID'],
      [['submit', f('good.yaml'), f('good.yaml'), '--idempotency-key', 'k'], 'BAD_FLAG'],
      [['submit', f('good.yaml'), '--idempotency-key', 'has space'], 'BAD_REQUEST'],
      // where the server is, and who asks
      [['ls', '--url', 'http://127.0.0.1:1'], 'SERVER_UNREACHABLE'],
      [['ls', '--url', 'not a url'], 'SERVER_UNREACHABLE'],
      [['ls', '--url', 'http://127.0.0.1:99999'], 'SERVER_UNREACHABLE'],
      [['ls', '--url', 'ftp://127.0.0.1/'], 'SERVER_UNREACHABLE'],
    ];
  }

  it('prints one line with a code, exits non-zero, and changes nothing', async () => {
    const cases = corpus();
    assert.ok(cases.length >= 60, `at least 60 cases (have ${cases.length})`);
    const before = await snapshot();
    const problems: string[] = [];
    for (const [args, code] of cases) {
      const r = await gantry(args, env, dir);
      const label = `gantry ${args.join(' ').slice(0, 80)}`;
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      if (r.code === 0 || r.code === null) problems.push(`${label}: exit ${String(r.code)}`);
      else if (lines.length !== 1) problems.push(`${label}: ${lines.length} stderr lines: ${r.stderr.slice(0, 300)}`);
      else if (!lines[0]?.startsWith('gantry: ') || !(lines[0].includes(`[${code}]`) || lines[0].startsWith(`gantry: ${code}:`))) problems.push(`${label}: want ${code}, got: ${lines[0]?.slice(0, 300) ?? ''}`);
      else if (/\n\s+at \S|node:internal|FST_/.test(r.stderr)) problems.push(`${label}: stack or framework text: ${r.stderr.slice(0, 300)}`);
    }
    // A bad-token case: an unknown token is refused by name.
    const bad = await gantry(['ls'], { ...env, GANTRY_TOKEN: 'gty_wrong' }, dir);
    if (bad.code === 0 || !/^gantry: UNAUTHENTICATED: /.test(bad.stderr)) problems.push(`bad token: ${bad.stderr}`);
    assert.deepEqual(problems, [], `${problems.length} of ${cases.length + 1} invocations answered badly`);
    assert.equal(await snapshot(), before, 'state unchanged');
    assert.equal((await t.api('GET', '/healthz', undefined, null)).status, 200);
  });
});
