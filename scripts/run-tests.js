#!/usr/bin/env node
// Runs every compiled test file under dist/test with node's built-in test runner.
// Node 20's `--test` does not expand globs, so the files are listed here.
// Usage: node scripts/run-tests.js [substring filter ...]
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = walk('dist/test').filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (files.length === 0) {
  console.error('no test files found under dist/test (did the build run?)');
  process.exit(1);
}
// The Kubernetes tests need etcd + kube-apiserver built by scripts/k8s/ensure-binaries.sh.
if (files.some((f) => f.includes('/k8s/'))) {
  const check = spawnSync('bash', ['scripts/k8s/ensure-binaries.sh', '--check'], { encoding: 'utf8' });
  if (check.status === 0) console.log(`k8s tests: running against binaries in ${check.stdout.trim()}`);
  else if (process.env.GANTRY_REQUIRE_K8S === '1') {
    console.error('k8s tests: binaries missing and GANTRY_REQUIRE_K8S=1; run scripts/k8s/ensure-binaries.sh');
    process.exit(1);
  } else console.log('k8s tests: SKIPPED (binaries not built; run scripts/k8s/ensure-binaries.sh, needs Go)');
}
// The container tests start a real dockerd and load the image scripts/docker/ensure-docker.sh builds.
if (files.some((f) => /docker|container/.test(f))) {
  const check = spawnSync('bash', ['scripts/docker/ensure-docker.sh', '--check'], { encoding: 'utf8' });
  const root = process.getuid?.() === 0;
  if (check.status === 0 && root) console.log(`docker tests: running against a private dockerd with the image in ${check.stdout.trim()}`);
  else if (process.env.GANTRY_REQUIRE_DOCKER === '1') {
    console.error(`docker tests: ${root ? check.stderr.trim() : 'need root'}, and GANTRY_REQUIRE_DOCKER=1`);
    process.exit(1);
  } else console.log(`docker tests: real-daemon tests SKIPPED (${root ? check.stderr.trim() : 'not root: dockerd is started by hand'})`);
}
// A test that hangs fails after 10 minutes (--test-timeout; it bounds a whole file too, and a
// cold image build on a loaded machine takes minutes), and a test file whose tests are done
// exits even if something it started is still alive (--test-force-exit). As a last guard, the
// whole run is stopped, with everything it started, after GANTRY_TEST_TIMEOUT_MIN minutes
// (default 45): a hang then fails CI with a message instead of eating its time limit. The whole
// suite takes 25-27 min on a quiet 2-core machine and passed 30 under load (2026-12-07).
const limitMin = Number(process.env.GANTRY_TEST_TIMEOUT_MIN ?? 45);
const runner = spawn(process.execPath, ['--test', '--test-reporter=spec', '--test-force-exit', '--test-timeout=600000', ...files], { stdio: 'inherit', detached: true });
const watchdog = setTimeout(() => {
  console.error(`\ntests: still running after ${limitMin} minutes; stopping them (GANTRY_TEST_TIMEOUT_MIN raises the limit)`);
  try {
    process.kill(-runner.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}, limitMin * 60_000);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    try {
      process.kill(-runner.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    process.exit(1);
  });
}
runner.on('exit', (code) => {
  clearTimeout(watchdog);
  process.exit(code ?? 1);
});
