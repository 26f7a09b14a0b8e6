/** Worker cgroups on the real hierarchy (root and a writable cgroupfs; skipped elsewhere). */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cgroups, cgroupPids, oomKills, removeCgroup, signalCgroup, DEFAULT_PIDS_MAX } from '../../src/adapters/executor/cgroups.js';

const cg = Cgroups.detect(`unit-${process.pid}`);
after(() => cg?.tidy());

async function until(fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('is null when not root', { skip: process.getuid?.() === 0 && 'runs as root' }, () => {
  assert.equal(Cgroups.detect('x'), null);
});

it('holds every process a worker starts and kills them all, setsid and double forks included', { skip: !cg && 'no writable cgroups here' }, async () => {
  assert.ok(cg);
  const dirs = cg.create('job-1.1-0', { milliCpu: 500, memoryMiB: 64 });
  try {
    // As the wrapper does: the shell joins the cgroup, then starts children that try to escape.
    const sh = spawn('/bin/sh', ['-c', `for d in ${dirs.join(' ')}; do echo $$ > "$d/cgroup.procs"; done; setsid sleep 301 & (sleep 302 &); exec sleep 303`], { stdio: 'ignore', detached: true });
    sh.unref();
    await until(() => cgroupPids(dirs).length === 3);
    assert.equal(removeCgroup(dirs), false, 'not removable while it holds processes');
    let rounds = 0;
    while (signalCgroup(dirs, 'SIGKILL') > 0 && rounds++ < 100) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(cgroupPids(dirs), []);
    assert.equal(oomKills(dirs), 0);
  } finally {
    signalCgroup(dirs, 'SIGKILL');
    await until(() => cgroupPids(dirs).length === 0).catch(() => undefined);
    assert.equal(removeCgroup(dirs), true);
  }
});

it('sets the job\'s requests as limits and always caps pids', { skip: !cg?.limits && 'no limit controllers' }, () => {
  assert.ok(cg);
  const dirs = cg.create('job-2.1-0', { milliCpu: 1500, memoryMiB: 64 });
  const none = cg.create('job-3.1-0', undefined);
  try {
    const read = (ds: string[], f: string): string | undefined => {
      for (const d of ds) {
        try {
          return readFileSync(join(d, f), 'utf8').trim();
        } catch {
          // Not this controller's directory.
        }
      }
      return undefined;
    };
    if (cg.version === 1) {
      assert.equal(read(dirs, 'memory.limit_in_bytes'), String(64 << 20));
      assert.equal(read(dirs, 'cpu.cfs_quota_us'), '150000');
      assert.equal(read(dirs, 'cpu.cfs_period_us'), '100000');
      assert.equal(read(none, 'cpu.cfs_quota_us'), '-1');
      assert.notEqual(read(none, 'memory.limit_in_bytes'), String(64 << 20));
    } else {
      assert.equal(read(dirs, 'memory.max'), String(64 << 20));
      assert.equal(read(dirs, 'cpu.max'), '150000 100000');
      assert.equal(read(none, 'memory.max'), 'max');
    }
    assert.equal(read(dirs, 'pids.max'), String(DEFAULT_PIDS_MAX));
    assert.equal(read(none, 'pids.max'), String(DEFAULT_PIDS_MAX));
  } finally {
    removeCgroup(dirs);
    removeCgroup(none);
  }
});

it('finds a server\'s worker cgroups by job prefix (orphans after a crash)', { skip: !cg && 'no writable cgroups here' }, () => {
  assert.ok(cg);
  const a = cg.create('job-4.1-0', undefined);
  const b = cg.create('job-40.1-0', undefined);
  try {
    assert.deepEqual(cg.find('job-4.'), [a]);
  } finally {
    removeCgroup(a);
    removeCgroup(b);
  }
});
