/**
 * A real S3-compatible server for tests: SeaweedFS (`weed server` with its S3 gateway) built by
 * scripts/s3/ensure-seaweedfs.sh, on 127.0.0.1 with static keys and a fresh folder. Without the
 * binary, `s3Skip` says why (and with GANTRY_REQUIRE_S3=1 the tests fail instead of skipping).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { tempDir, waitFor } from './server.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

export const S3_KEYS = { accessKeyId: 'gantry', secretAccessKey: 'gantry-secret' };

function weedPath(): string | null {
  const r = spawnSync('bash', ['scripts/s3/ensure-seaweedfs.sh', '--check'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Why the S3 tests cannot run here (a string for `skip`), or false; throws when GANTRY_REQUIRE_S3=1. */
export function s3Skip(): string | false {
  if (weedPath() !== null) return false;
  const why = 'SeaweedFS is not built (run scripts/s3/ensure-seaweedfs.sh; npm run test:all does)';
  if (process.env['GANTRY_REQUIRE_S3'] === '1') throw new Error(`GANTRY_REQUIRE_S3=1 but ${why}`);
  return why;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

/** Four HTTP ports whose +10000 gRPC ports are free too. */
async function pickPorts(): Promise<number[]> {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20_000 + Math.floor(Math.random() * 9_000);
    const ports = [base, base + 1, base + 2, base + 3];
    let ok = true;
    for (const p of ports) if (!(await portFree(p)) || !(await portFree(p + 10_000))) ok = false;
    if (ok) return ports;
  }
  throw new Error('no free ports for SeaweedFS');
}

export interface S3Server {
  readonly endpoint: string;
  readonly client: S3Client;
  readonly env: NodeJS.ProcessEnv;
  stop(): void;
}

/** `ip`: the address it serves on (default loopback; a real node's pods reach the host's own address). */
export async function startSeaweedfs(o: { ip?: string } = {}): Promise<S3Server> {
  const ip = o.ip ?? '127.0.0.1';
  const bin = weedPath();
  if (bin === null) throw new Error('SeaweedFS is not built');
  const dir = tempDir('gantry-s3-');
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 's3.json'), JSON.stringify({ identities: [{ name: 'gantry', credentials: [{ accessKey: S3_KEYS.accessKeyId, secretKey: S3_KEYS.secretAccessKey }], actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'] }] }));
  const [master, volume, filer, s3] = (await pickPorts()) as [number, number, number, number];
  const args = ['-logtostderr=true', 'server', `-ip=${ip}`, `-ip.bind=${ip}`, `-dir=${join(dir, 'data')}`, `-master.port=${master}`, `-volume.port=${volume}`, '-filer', `-filer.port=${filer}`, `-filer.localSocket=${join(dir, 'filer.sock')}`, `-s3.localSocket=${join(dir, 's3.sock')}`, '-master.telemetry=false', '-master.volumeSizeLimitMB=256', '-volume.max=1000', '-volume.preStopSeconds=0', '-s3', `-s3.port=${s3}`, `-s3.config=${join(dir, 's3.json')}`, '-s3.autoCreateBucket=false', '-s3.allowDeleteBucketNotEmpty=false', '-s3.port.iceberg=0', '-s3.port.lance=0'];
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, WEED_MASTER_VOLUME_GROWTH_COPY_1: '1', WEED_MASTER_VOLUME_GROWTH_COPY_OTHER: '1' } });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-200_000)));
  const stop = (): void => {
    child.kill('SIGKILL'); // SIGTERM takes ~16 s (the filer's flush budget) and keeps nothing we need
    for (const role of ['master', 'volume', 'filer', 's3']) for (const p of [master, volume, filer, s3]) rmSync(`/tmp/seaweedfs-${role}-grpc-${p + 10_000}.sock`, { force: true });
    rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
  };
  try {
    // Writable once the S3 gateway has the filer's lock ring (about 10 s after start).
    await waitFor('SeaweedFS to accept writes', async () => log.includes(`LockRing: s3@${ip}:${s3 + 10_000} received ring update`) || (child.exitCode !== null && Promise.reject(new Error(`weed exited: ${log.slice(-2000)}`))), 60_000);
  } catch (e) {
    stop();
    throw e;
  }
  const endpoint = `http://${ip}:${s3}`;
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3_KEYS });
  const env = { ...process.env, AWS_ACCESS_KEY_ID: S3_KEYS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_KEYS.secretAccessKey, AWS_REGION: 'us-east-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  return { endpoint, client, env, stop };
}
