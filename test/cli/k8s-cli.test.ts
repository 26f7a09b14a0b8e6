/** `gantry k8s ...` rejects bad input with one clear line, exit code 2, and no stack trace. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { REPO } from '../k8s/cluster.js';
import { parseDurationMs } from '../../src/cli/commands/k8s.js';

function gantry(...args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, 'bin/gantry.js'), ...args], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/nonexistent-kubeconfig' } });
  return { code: r.status, stderr: r.stderr };
}

test('durations accept ms, s, m, h and bare seconds', () => {
  assert.equal(parseDurationMs('--x', '500ms'), 500);
  assert.equal(parseDurationMs('--x', '15s'), 15_000);
  assert.equal(parseDurationMs('--x', '10m'), 600_000);
  assert.equal(parseDurationMs('--x', '2'), 2000);
  assert.throws(() => parseDurationMs('--x', '5x'), /--x: "5x" is not a duration/);
});

test('k8s commands explain bad flags and files without a stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-cli-'));
  const empty = join(dir, 'empty.kubeconfig');
  writeFileSync(empty, 'apiVersion: v1\nkind: Config\nclusters: []\n');
  const cases: [string[], RegExp][] = [
    [['k8s', 'scheduler', '--kubeconfig', join(dir, 'missing')], /^gantry: cannot read kubeconfig .*missing/],
    [['k8s', 'scheduler', '--kubeconfig', empty], /^gantry: no cluster in the kubeconfig/],
    [['k8s', 'scheduler', '--lease-duration', '5x'], /^gantry: --lease-duration: "5x" is not a duration/],
    [['k8s', 'scheduler', '--renew-deadline', '20s'], /^gantry: --renew-deadline must be shorter than --lease-duration/],
    [['k8s', 'scheduler', '--policy', 'nope'], /^gantry: --policy: "nope" is not one of/],
    [['k8s', 'scheduler', '--metrics-port', '70000'], /^gantry: --metrics-port: "70000" is not a port number/],
    [['k8s', 'webhook', '--tls-cert', join(dir, 'c.pem'), '--tls-key', join(dir, 'k.pem')], /^gantry: --tls-cert: cannot read/],
    [['k8s', 'router', '--port', 'http'], /^gantry: --port: "http" is not a port number/],
    [['k8s', 'router', '--metrics-port', '-1'], /^gantry: --metrics-port: "-1" is not a port number/],
    [['k8s', 'router', '--url', 'router.svc/'], /^gantry: --url: "router.svc\/" must be an http\(s\) URL without a trailing "\/"/],
    [['k8s', 'router', '--kubeconfig', empty], /^gantry: no cluster in the kubeconfig/],
  ];
  for (const [args, want] of cases) {
    const r = gantry(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, want);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
