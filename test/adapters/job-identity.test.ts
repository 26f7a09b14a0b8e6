/** Per-job uids and per-team gids: unique among unfinished jobs, stable across restarts, reused after release. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { JobIdentities, killAllOf, processesOf, type MetaStore } from '../../src/adapters/executor/job-identity.js';

function memoryStore(): MetaStore & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, getMeta: (k) => data.get(k), setMeta: (k, v) => void data.set(k, v) };
}

it('gives each job its own uid and each team one gid, the same on every call', () => {
  const ids = new JobIdentities(memoryStore(), 300_000, 100);
  const a1 = ids.forJob('job-1', 'a');
  const a2 = ids.forJob('job-2', 'a');
  const b1 = ids.forJob('job-3', 'b');
  assert.deepEqual(a1, { uid: 300_000, gid: 300_000 });
  assert.deepEqual(a2, { uid: 300_001, gid: 300_000 });
  assert.deepEqual(b1, { uid: 300_002, gid: 300_001 });
  assert.deepEqual(ids.forJob('job-1', 'a'), a1, 'stable across attempts');
});

it('persists: a restarted server knows the uids of unfinished jobs and the team gids', () => {
  const store = memoryStore();
  const first = new JobIdentities(store, 300_000, 100);
  first.forJob('job-1', 'a');
  first.forJob('job-2', 'b');
  const again = new JobIdentities(store, 300_000, 100);
  assert.equal(again.uidOf('job-2'), 300_001);
  assert.equal(again.teamGid('b'), 300_001);
  assert.deepEqual(again.forJob('job-3', 'c'), { uid: 300_002, gid: 300_002 });
});

it('a finished job\'s uid goes back to the pool; an exhausted range is an error', () => {
  const ids = new JobIdentities(memoryStore(), 300_000, 2);
  ids.forJob('job-1', 'a');
  ids.forJob('job-2', 'a');
  assert.throws(() => ids.forJob('job-3', 'a'), /no free uid left/);
  ids.release('job-1');
  assert.equal(ids.uidOf('job-1'), undefined);
  assert.equal(ids.forJob('job-3', 'a').uid, 300_000);
});

it('refuses a privileged or overflowing range', () => {
  assert.throws(() => new JobIdentities(memoryStore(), 0, 10), /not a valid unprivileged uid range/);
  assert.throws(() => new JobIdentities(memoryStore(), 2 ** 32 - 5, 10), /not a valid unprivileged uid range/);
});

it('kills every process of a uid, wherever it went', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const uid = 299_000 + (process.pid % 900);
  while (killAllOf(uid) > 0) await new Promise((r) => setTimeout(r, 20));
  const sh = spawn('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', '/bin/sh', '-c', 'setsid sleep 401 & (sleep 402 &); exec sleep 403'], { stdio: 'ignore', detached: true });
  sh.unref();
  const end = Date.now() + 5000;
  // Three sleeps (one in its own session, one orphaned, one in place of the shell); a fork of
  // setsid or of the subshell may still be there for a moment on a loaded machine.
  while (processesOf(uid).length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  try {
    assert.ok(processesOf(uid).length >= 3, `processes of ${uid}: ${processesOf(uid).length}`);
  } finally {
    let rounds = 0;
    while (killAllOf(uid) > 0 && rounds++ < 100) await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(processesOf(uid), []);
});
