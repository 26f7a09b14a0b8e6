/**
 * Gantry's image, built from the Dockerfile by scripts/docker/build-gantry-image.sh on a real
 * Docker daemon (test/helpers/dockerd.ts), from base images made on this machine
 * (scripts/docker/ensure-node-images.sh: no image registry is reachable here). The daemon keeps
 * its layers in the cache folder between runs, so a run after a source change redoes only the
 * TypeScript stage. Then the image runs what the chart runs: `gantry` as a non-root user on a
 * read-only root filesystem.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'node:https';
import { generate } from 'selfsigned';
import { dockerTestOptions, startDockerd, type PrivateDockerd } from '../helpers/dockerd.js';
import { freePort } from '../k8s/harness.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const TAG = 'gantry:test';
const DATA_ROOT = join(process.env['GANTRY_DOCKER_CACHE'] ?? join(homedir(), '.cache/gantry/docker'), 'image-build-root');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(cmd: string, args: readonly string[], env: Readonly<Record<string, string>>, timeoutMs = 60_000): Promise<Run> {
  return new Promise((res) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      res({ code, stdout, stderr });
    });
  });
}

function getReadyz(port: number, ca: string): Promise<number> {
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, path: '/readyz', ca, servername: 'gantry-webhook.gantry-system.svc', timeout: 1000 }, (r) => {
      r.resume();
      res(r.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
    req.end();
  });
}

describe('the gantry image (Dockerfile on a real Docker daemon)', dockerTestOptions(), () => {
  let d: PrivateDockerd;
  let env: Record<string, string>;
  const docker = (args: readonly string[], timeoutMs?: number): Promise<Run> => run('docker', args, env, timeoutMs);
  const build = async (): Promise<{ seconds: number; id: string }> => {
    const start = Date.now();
    const r = await run('bash', [join(REPO, 'scripts/docker/build-gantry-image.sh'), '--local-base', '--tag', TAG], env, 20 * 60_000);
    assert.equal(r.code, 0, `build failed:\n${r.stdout}${r.stderr}`);
    const id = (await docker(['image', 'inspect', '--format', '{{.Id}}', TAG])).stdout.trim();
    return { seconds: (Date.now() - start) / 1000, id };
  };

  before(async () => {
    mkdirSync(DATA_ROOT, { recursive: true });
    d = await startDockerd({ dataRoot: DATA_ROOT });
    env = { DOCKER_HOST: d.host };
  });
  after(async () => {
    await d?.stop();
  });

  let firstId = '';
  it('builds from the Dockerfile on base images made here', { timeout: 20 * 60_000 }, async (t) => {
    const b = await build();
    firstId = b.id;
    const inspect = JSON.parse((await docker(['image', 'inspect', TAG])).stdout) as { Size: number; Config: { User: string; Entrypoint: string[] } }[];
    const image = inspect[0];
    assert.ok(image);
    // Numeric and non-root: the chart's runAsNonRoot can check it.
    assert.equal(image.Config.User, '65532:65532');
    assert.deepEqual(image.Config.Entrypoint, ['node', '/app/bin/gantry.js']);
    t.diagnostic(`built in ${b.seconds.toFixed(1)} s; image ${(image.Size / 1e6).toFixed(0)} MB`);
  });

  it('reuses every cached layer when nothing changed', { timeout: 10 * 60_000 }, async (t) => {
    const b = await build();
    assert.equal(b.id, firstId, 'an unchanged tree gives the same image');
    t.diagnostic(`rebuilt in ${b.seconds.toFixed(1)} s`);
  });

  it('runs `gantry --version` and loads the native SQLite addon', async () => {
    const version = await docker(['run', '--rm', '--network', 'none', '--read-only', TAG, '--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), '0.1.0');
    const sqlite = await docker(['run', '--rm', '--network', 'none', '--entrypoint', 'node', TAG, '-e',
      "const D = require('/app/node_modules/better-sqlite3'); console.log(new D(':memory:').prepare('select 41 + 1 as x').get().x)"]);
    assert.equal(sqlite.code, 0, sqlite.stderr);
    assert.equal(sqlite.stdout.trim(), '42');
    const bad = await docker(['run', '--rm', '--network', 'none', TAG, 'k8s', 'scheduler', '--policy', 'fastest']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--policy: "fastest" is not one of/);
  });

  it('serves the webhook over TLS as the chart runs it (non-root, read-only root)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-image-tls-'));
    chmodSync(dir, 0o755); // the container's user (65532) reads the files, as from a Secret volume
    try {
      const pems = await generate([{ name: 'commonName', value: 'gantry-webhook.gantry-system.svc' }], {
        keySize: 2048,
        extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'gantry-webhook.gantry-system.svc' }] }],
      });
      writeFileSync(join(dir, 'tls.crt'), pems.cert, { mode: 0o644 });
      writeFileSync(join(dir, 'tls.key'), pems.private, { mode: 0o644 });
      const port = await freePort();
      const started = await docker(['run', '-d', '--network', 'host', '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
        '-v', `${dir}:/tls:ro`, TAG, 'k8s', 'webhook', '--tls-cert=/tls/tls.crt', '--tls-key=/tls/tls.key', `--port=${port}`, '--host=127.0.0.1']);
      assert.equal(started.code, 0, started.stderr);
      const id = started.stdout.trim();
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        status = await getReadyz(port, pems.cert).catch(() => 0);
        if (status !== 200) await new Promise((r) => setTimeout(r, 200));
      }
      const logs = await docker(['logs', id]);
      assert.equal(status, 200, `webhook not ready; its log:\n${logs.stdout}${logs.stderr}`);
      assert.match(logs.stderr, /gantry k8s webhook listening on https:\/\/127\.0\.0\.1/);
      await docker(['rm', '-f', id]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
