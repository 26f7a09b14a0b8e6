/** The job file format: YAML and JSON alike, defaults, and messages that name the field path. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseJobYaml, toCoreJob, gpuRequestOf, validateJobFile } from '../../src/spec/job-spec.js';
import { UserError } from '../../src/core/errors.js';

it('every example job file is valid', () => {
  // policies.yaml is an admission policy file (checked by the policy tests), not a job.
  const jobs = readdirSync('examples').filter((x) => x.endsWith('.yaml') && x !== 'policies.yaml');
  assert.ok(jobs.length >= 3);
  for (const f of jobs) assert.ok(parseJobYaml(readFileSync(join('examples', f), 'utf8'), f).name);
});

it('fills defaults and builds one core member per worker', () => {
  const j = parseJobYaml('name: t\ncommand: python train.py\nworkers: 2\nresources: {gpu: 1, cpu: 2, memory: 4Gi}\n');
  assert.equal(j.queue, 'default');
  assert.equal(j.preemptible, true);
  assert.deepEqual(j.retries, { limit: 0, backoffSeconds: 5 });
  const core = toCoreJob('job-1', j, 5);
  assert.deepEqual(core.members.map((m) => [m.id, m.cpuMilli, m.memoryMiB, m.gpu]), [['job-1/0', 2000, 4096, { kind: 'whole', count: 1 }], ['job-1/1', 2000, 4096, { kind: 'whole', count: 1 }]]);
});

it('reads shares, memory-only shares and MIG slices', () => {
  assert.deepEqual(gpuRequestOf(validateJobFile({ name: 'a', command: 'x', resources: { gpu: 0.25 } })), { kind: 'share', milli: 250, memoryMiB: 0 });
  assert.deepEqual(gpuRequestOf(validateJobFile({ name: 'a', command: 'x', resources: { gpuMemory: '20Gi' } })), { kind: 'share', milli: 0, memoryMiB: 20480 });
  assert.deepEqual(gpuRequestOf(validateJobFile({ name: 'a', command: 'x', resources: { mig: '3g.40gb' } })), { kind: 'mig', profile: '3g.40gb' });
});

it('names the field path and the reason', () => {
  const msg = (text: string): string => {
    try {
      parseJobYaml(text);
    } catch (e) {
      assert.ok(e instanceof UserError);
      assert.equal(e.code, 'JOB_INVALID');
      return e.message;
    }
    throw new Error('accepted');
  };
  assert.match(msg('name: t\n'), /command: /);
  assert.match(msg('name: t\ncommand: x\nresources: {gpu: 1.5}\n'), /resources\.gpu: must be a whole number/);
  assert.match(msg('name: t\ncommand: x\nresources: {memory: lots}\n'), /resources\.memory: "lots" is not a memory quantity/);
  assert.match(msg('name: t\ncommand: x\ndatasets: [{name: d, path: ""}]\n'), /datasets\[0\]\.path/);
  assert.match(msg('name: t\ncommand: x\ncolour: red\n'), /unknown field "colour"/);
  assert.match(msg('name: [\n'), /not valid YAML/);
  assert.match(msg('- a\n- b\n'), /must be a mapping/);
  assert.match(msg('name: t\ncommand: x\nresources: {gpu: 0.005}\n'), /resources\.gpu: a GPU share must be at least 0\.01 GPU \(got 0\.005\)/);
  assert.match(msg('name: t\ncommand: !!js/function "f()"\n'), /not valid YAML: Unresolved tag/);
  assert.match(msg('name: t\ncommand: "echo \\0"\n'), /command: must not contain a NUL byte/);
  assert.match(msg('name: t\ncommand: x\nexpectedDurationSeconds: 31708800\n'), /expectedDurationSeconds: must be at most 31622400 \(366 days\)/);
  validateJobFile({ name: 't', command: 'x', expectedDurationSeconds: 31_622_400, resources: { gpu: 0.01 } });
});

it('refuses a YAML alias bomb quickly with JOB_INVALID', () => {
  const levels = ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${prev}`).join(', ')}]`);
  }
  assert.throws(() => parseJobYaml(`name: t\ncommand: x\n${levels.join('\n')}\n`), (e: unknown) => e instanceof UserError && e.code === 'JOB_INVALID' && /too many YAML aliases/.test(e.message));
});

it('network applies to image jobs only; the working directory is never the host root', () => {
  const msg = (text: string): string => {
    try {
      parseJobYaml(text);
    } catch (e) {
      assert.ok(e instanceof UserError && e.code === 'JOB_INVALID');
      return e.message;
    }
    throw new Error('accepted');
  };
  assert.equal(parseJobYaml('name: t\ncommand: x\nimage: busybox\n').network, 'none');
  // A stored spec is normalised (network: none) and must validate again after a restart.
  assert.equal(validateJobFile(parseJobYaml('name: t\ncommand: x\n')).network, 'none');
  assert.equal(parseJobYaml('name: t\ncommand: x\nimage: busybox\nnetwork: host\n').network, 'host');
  assert.match(msg('name: t\ncommand: x\nnetwork: host\n'), /network: host applies only to a job that names an image/);
  assert.match(msg('name: t\ncommand: x\nimage: busybox\nnetwork: bridge\n'), /network: /);
  for (const root of ['/', '//', '/tmp/..', '/./']) assert.match(msg(`name: t\ncommand: x\nworkingDir: "${root}"\n`), /workingDir: must not be the root folder/, root);
  assert.equal(parseJobYaml('name: t\ncommand: x\nworkingDir: /tmp/../srv\n').workingDir, '/tmp/../srv');
});
