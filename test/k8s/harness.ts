/**
 * A real Kubernetes control plane for tests and benchmarks: etcd and kube-apiserver built from
 * Go modules by scripts/k8s/ensure-binaries.sh (cached outside the repo), started on free
 * loopback ports with keys and tokens generated at run time, and stopped afterwards.
 * Optionally kube-scheduler (the benchmark baseline) on the same apiserver.
 *
 * The apiserver runs like envtest's: token auth, RBAC, no controller-manager (so no garbage
 * collection and no finalising of deleted pods: tests play the kubelet where they need one).
 * Optionally kube-controller-manager with chosen controllers, and `inCluster` for pods that
 * really run and talk to it (real-node-helm.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The Kubernetes version in scripts/k8s/versions.env. */
export function k8sVersion(): string {
  const env = readFileSync(join(REPO, 'scripts/k8s/versions.env'), 'utf8');
  const m = /^K8S_VERSION=(\S+)$/m.exec(env);
  if (!m?.[1]) throw new Error('scripts/k8s/versions.env has no K8S_VERSION');
  return m[1];
}

/** Where ensure-binaries.sh puts the binaries for this version. */
export function binaryDir(): string {
  const root = process.env['GANTRY_K8S_CACHE'] ?? join(homedir(), '.cache/gantry/k8s');
  return join(root, k8sVersion());
}

/** Null when the binaries are there; otherwise why the k8s tests cannot run. */
export function missingBinaries(): string | null {
  const dir = binaryDir();
  for (const b of ['etcd', 'kube-apiserver', 'kube-scheduler', '.complete']) {
    if (!existsSync(join(dir, b))) return `k8s test binaries not built (${join(dir, b)} missing; run scripts/k8s/ensure-binaries.sh)`;
  }
  return null;
}

/**
 * Options for node:test's `describe`/`it` that skip the k8s tests when the binaries are missing,
 * and fail instead when GANTRY_REQUIRE_K8S=1 (CI).
 */
export function k8sTestOptions(): { skip?: string } {
  const missing = missingBinaries();
  if (missing === null) return {};
  if (process.env['GANTRY_REQUIRE_K8S'] === '1') {
    throw new Error(`GANTRY_REQUIRE_K8S=1 but ${missing}`);
  }
  return { skip: missing };
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** GET over TLS without verifying the apiserver's self-signed cert; status code or 0 on error. */
function httpsStatus(url: string, token: string): Promise<number> {
  return new Promise((res) => {
    const req = request(url, { rejectUnauthorized: false, headers: { authorization: `Bearer ${token}` }, timeout: 2000 }, (r) => {
      r.resume();
      r.on('end', () => res(r.statusCode ?? 0));
    });
    req.on('error', () => res(0));
    req.on('timeout', () => {
      req.destroy();
      res(0);
    });
    req.end();
  });
}

export interface ControlPlaneOptions {
  /** Extra users for tokens.csv: name -> groups. Token = `<name>-token`. */
  readonly users?: Readonly<Record<string, readonly string[]>>;
  /** Extra kube-apiserver flags. */
  readonly apiserverArgs?: readonly string[];
  /** Keep process logs in the work dir (printed on failure); default true. */
  readonly logs?: boolean;
  /**
   * Like a real cluster rather than envtest (the Helm install on a real node): the ServiceAccount
   * admission plugin on (pods get a token), and the apiserver also reached at this address of the
   * machine (it listens on every address, advertises this one, and its certificate names it), where
   * pods reach it. Webhook Services are called at their endpoints (there is no kube-proxy).
   */
  readonly inCluster?: { readonly address: string };
}

export class ControlPlane {
  readonly dir: string;
  readonly adminToken = 'admin-token';
  etcdPort = 0;
  apiPort = 0;
  private procs: { name: string; proc: ChildProcess }[] = [];
  private readonly started = new Map<string, { bin: string; args: string[] }>();

  private constructor(private readonly opts: ControlPlaneOptions) {
    // etcd's data dir lives on tmpfs where there is one: fsync-free and fast.
    const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
    this.dir = mkdtempSync(join(base, 'gantry-k8s-'));
  }

  static async start(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
    // Ports are picked free (bound to port 0, then released); another process on this machine
    // may take one in between: start again on other ports then.
    for (let attempt = 1; ; attempt++) {
      const cp = new ControlPlane(opts);
      try {
        await cp.boot();
        return cp;
      } catch (e) {
        await cp.stop();
        if (attempt >= 3 || !/address already in use/.test((e as Error).message)) throw e;
      }
    }
  }

  get server(): string {
    return `https://127.0.0.1:${this.apiPort}`;
  }

  private spawnLogged(name: string, bin: string, args: string[]): ChildProcess {
    const out = createWriteStream(join(this.dir, `${name}.log`), { flags: 'a' });
    const proc = spawn(join(binaryDir(), bin), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.started.set(name, { bin, args });
    proc.stdout?.pipe(out);
    proc.stderr?.pipe(out);
    this.procs.push({ name, proc });
    return proc;
  }

  private async boot(): Promise<void> {
    const missing = missingBinaries();
    if (missing) throw new Error(missing);
    const d = this.dir;
    this.etcdPort = await freePort();
    const peerPort = await freePort();
    this.spawnLogged('etcd', 'etcd', [
      '--name=default',
      `--data-dir=${join(d, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${this.etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${this.etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync',
      '--quota-backend-bytes=4294967296',
      '--log-level=warn',
    ]);
    const { publicKey, privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    writeFileSync(join(d, 'sa.pub'), publicKey);
    writeFileSync(join(d, 'sa.key'), privateKey);
    const tokens = [`${this.adminToken},admin,admin-uid,"system:masters"`];
    for (const [user, groups] of Object.entries(this.opts.users ?? {})) {
      tokens.push(`${user}-token,${user},${user}-uid,"${groups.join(',')}"`);
    }
    writeFileSync(join(d, 'tokens.csv'), tokens.join('\n') + '\n');
    this.apiPort = await freePort();
    this.spawnLogged('kube-apiserver', 'kube-apiserver', [
      `--etcd-servers=http://127.0.0.1:${this.etcdPort}`,
      `--bind-address=${this.opts.inCluster ? '0.0.0.0' : '127.0.0.1'}`,
      `--advertise-address=${this.opts.inCluster?.address ?? '127.0.0.1'}`,
      `--secure-port=${this.apiPort}`,
      `--cert-dir=${join(d, 'certs')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(d, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(d, 'sa.key')}`,
      `--token-auth-file=${join(d, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--allow-privileged=true',
      `--disable-admission-plugins=${this.opts.inCluster ? '' : 'ServiceAccount,'}TaintNodesByCondition`,
      ...(this.opts.inCluster ? ['--enable-aggregator-routing=true'] : []),
      // A test run creates thousands of objects quickly; do not let the default limits queue them.
      '--max-requests-inflight=2000',
      '--max-mutating-requests-inflight=1000',
      '--enable-priority-and-fairness=false',
      ...(this.opts.apiserverArgs ?? []),
    ]);
    await this.waitReady();
  }

  private async waitReady(): Promise<void> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      for (const { name, proc } of this.procs) {
        if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode} during start-up:\n${this.logTail(name)}`);
      }
      if ((await httpsStatus(`${this.server}/readyz`, this.adminToken)) === 200) break;
      if (Date.now() > deadline) throw new Error(`kube-apiserver not ready after 90s:\n${this.logTail('kube-apiserver')}`);
      await sleep(250);
    }
  }

  logTail(name: string, lines = 30): string {
    try {
      return readFileSync(join(this.dir, `${name}.log`), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** A KubeConfig for a token user (default: the admin). */
  kubeConfig(token = this.adminToken, user = 'admin'): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'test', server: this.server, skipTLSVerify: true }],
      users: [{ name: user, token }],
      contexts: [{ name: 'test', cluster: 'test', user }],
      currentContext: 'test',
    });
    return kc;
  }

  /** Writes a kubeconfig file (for child processes: the scheduler, kube-scheduler). */
  writeKubeconfig(file = join(this.dir, 'admin.kubeconfig'), token = this.adminToken, user = 'admin'): string {
    const yaml = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: test',
      '  cluster:',
      `    server: ${this.server}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      `- name: ${user}`,
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: test',
      '  context:',
      '    cluster: test',
      `    user: ${user}`,
      'current-context: test',
      '',
    ].join('\n');
    writeFileSync(file, yaml);
    return file;
  }

  /** Starts the real kube-scheduler against this apiserver (benchmark baseline). */
  startKubeScheduler(configFile: string, extraArgs: readonly string[] = []): ChildProcess {
    return this.spawnLogged('kube-scheduler', 'kube-scheduler', [`--config=${configFile}`, '--secure-port=0', '-v=1', ...extraArgs]);
  }

  /**
   * Starts the real kube-controller-manager with only the named controllers (Deployments,
   * DaemonSets, EndpointSlices ...), publishing the apiserver's CA as kube-root-ca.crt.
   */
  startControllerManager(controllers: readonly string[]): ChildProcess {
    return this.spawnLogged('kube-controller-manager', 'kube-controller-manager', [
      `--kubeconfig=${this.writeKubeconfig(join(this.dir, 'controller-manager.kubeconfig'))}`,
      `--controllers=${controllers.join(',')}`,
      // The apiserver's self-signed serving certificate, followed by the CA that signed it.
      `--root-ca-file=${join(this.dir, 'certs', 'apiserver.crt')}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--concurrent-deployment-syncs=2',
      '-v=1',
    ]);
  }

  async stopProcess(name: string): Promise<void> {
    const entry = this.procs.find((p) => p.name === name);
    if (!entry) return;
    this.procs = this.procs.filter((p) => p !== entry);
    await terminate(entry.proc);
  }

  /**
   * Stops kube-apiserver and starts it again on the same port and etcd (failover tests: the
   * clients' connections break and their watches must resume); resolves once it is ready.
   */
  async restartApiserver(): Promise<void> {
    const how = this.started.get('kube-apiserver');
    if (!how) throw new Error('kube-apiserver was not started');
    await this.stopProcess('kube-apiserver');
    this.spawnLogged('kube-apiserver', how.bin, how.args);
    await this.waitReady();
  }

  async stop(): Promise<void> {
    // Stop in reverse start order: schedulers, apiserver, then etcd.
    for (const { proc } of [...this.procs].reverse()) await terminate(proc);
    this.procs = [];
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function terminate(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(timer);
}
