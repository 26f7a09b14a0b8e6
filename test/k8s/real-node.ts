/**
 * A real node for the Kubernetes tests: containerd (Debian's, with runc) and the kubelet (built
 * from Go modules by scripts/k8s/ensure-kubelet.sh) registered with the test apiserver, and
 * Gantry's device plugin (`gantry k8s device-plugin`) advertising simulated GPUs on it. Pods
 * bound to the node really run, in containers made from the local images ensure-kubelet.sh made.
 *
 * Everything lives under one run folder (sockets, state, pod volumes, logs) with its own node
 * name, bridge, subnet, ports and cgroup root, and is torn down by PID and by path. What a
 * kubelet changes outside its --root-dir (kernel settings, /var/lib/kubelet/device-plugins) is
 * kept inside its own mount namespace. Facts behind this: docs/kubernetes.md, "Real-node tests".
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import { binaryDir, freePort, type ControlPlane } from './harness.js';
import { REPO, sleep, waitFor } from './cluster.js';

export const BUSYBOX_IMAGE = 'gantry.local/busybox:1';
const PAUSE_IMAGE = 'gantry.local/pause:1';
/** The kernel settings the kubelet writes at start; each gets a private copy in its namespace. */
const KERNEL_SETTINGS = ['vm/overcommit_memory', 'vm/panic_on_oom', 'kernel/panic', 'kernel/panic_on_oops', 'kernel/keys/root_maxkeys', 'kernel/keys/root_maxbytes'];

/** Null when this machine can run a real node; otherwise why not. */
export function missingRealNode(): string | null {
  if (process.getuid?.() !== 0) return 'real-node tests need root (mount namespaces, overlayfs, cgroups, veth)';
  const check = spawnSync('bash', [join(REPO, 'scripts/k8s/ensure-kubelet.sh'), '--check'], { encoding: 'utf8' });
  if (check.status !== 0) return `real-node tests: ${check.stderr.trim() || 'scripts/k8s/ensure-kubelet.sh --check failed'}`;
  if (!nodeIp()) return 'real-node tests: no non-loopback IPv4 address for the node (the kubelet refuses loopback)';
  return null;
}

/** Skip the real-node tests where they cannot run; fail instead with GANTRY_REQUIRE_KUBELET=1 (CI). */
export function realNodeTestOptions(): { skip?: string } {
  const missing = missingRealNode();
  if (missing === null) return {};
  if (process.env['GANTRY_REQUIRE_KUBELET'] === '1') throw new Error(`GANTRY_REQUIRE_KUBELET=1 but ${missing}`);
  return { skip: missing };
}

/** The machine's first non-loopback IPv4 address (the node's InternalIP), or null. */
export function nodeIp(): string | null {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

function run(cmd: string, args: readonly string[], allowFail = false): string {
  const r = spawnSync(cmd, [...args], { encoding: 'utf8' });
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

export interface RealNodeOptions {
  /** Simulated GPUs for the device plugin, e.g. `4xH100-80GB`. */
  readonly gpus: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Bearer token for the device plugin (default: the admin's); the tests use deploy/'s service account. */
  readonly pluginToken?: string;
  /** Start Gantry's device plugin as a process (default); false: a DaemonSet's pod will (helm install). */
  readonly devicePluginProcess?: boolean;
  /**
   * Pods and the host reach each other (default: pods reach nothing off the node): the bridge gets
   * the subnet's first address on the host, and pods a route to the host's own address through it.
   * The host then reaches pod IPs (probes, the apiserver calling a webhook's endpoint) and pods the
   * apiserver on the host's address. No forwarding and no iptables rule: nothing leaves the machine.
   */
  readonly podsReachHost?: boolean;
}

export class RealNode {
  readonly name: string;
  readonly dir: string;
  private readonly tag: string;
  private readonly cgroupRoot: string;
  private readonly bridge: string;
  private readonly procs: { name: string; proc: ChildProcess }[] = [];
  private readonly mountedRoot: string;
  /** How the start went: ms from the start to containerd up, the node Ready, the GPUs advertised. */
  readonly timings: { containerdMs: number; readyMs: number; gpusMs: number } = { containerdMs: 0, readyMs: 0, gpusMs: 0 };
  private kubeletArgs: string[] = [];

  private constructor(private readonly cp: ControlPlane) {
    // Short: unix socket paths are limited to 108 bytes.
    this.dir = mkdtempSync('/tmp/gk-');
    this.tag = this.dir.slice('/tmp/gk-'.length).toLowerCase().replace(/[^a-z0-9]/g, 'x');
    this.name = `gantry-node-${this.tag}`;
    this.cgroupRoot = `/gantry-node-${this.tag}`;
    this.bridge = `gk${this.tag}`.slice(0, 15);
    this.mountedRoot = join(this.dir, 'kubelet');
  }

  get containerdSocket(): string {
    return join(this.dir, 'containerd.sock');
  }

  /**
   * The kubelet's root dir: inside its mount namespace also /var/lib/kubelet, so device-plugins/
   * (which the kubelet keeps under /var/lib/kubelet whatever --root-dir says) and pod-resources/
   * are side by side here as on a real node (the chart's devicePlugin.kubeletDir).
   */
  get kubeletDir(): string {
    return this.mountedRoot;
  }

  /** The kubelet's device-plugins folder as seen from outside its mount namespace. */
  get pluginDir(): string {
    return join(this.mountedRoot, 'device-plugins');
  }

  /** A host folder under the run folder, for hostPath volumes (created). */
  hostDir(name: string): string {
    const d = join(this.dir, 'host', name);
    mkdirSync(d, { recursive: true });
    return d;
  }

  static async start(cp: ControlPlane, o: RealNodeOptions): Promise<RealNode> {
    const n = new RealNode(cp);
    try {
      await n.boot(o);
      return n;
    } catch (e) {
      const logs = ['containerd', 'kubelet', 'device-plugin'].map((p) => `--- ${p}:\n${n.logTail(p)}`).join('\n');
      await n.stop();
      throw new Error(`${(e as Error).message}\n${logs}`);
    }
  }

  logTail(name: string, lines = 25): string {
    return this.logLines(name, (l) => l.slice(-lines));
  }

  /** The last `lines` lines of a log that contain `text` (a pod's name, say). */
  logLinesWith(name: string, text: string, lines = 20): string {
    return this.logLines(name, (l) => l.filter((x) => x.includes(text)).slice(-lines));
  }

  /** The lines of a process's log that `pick` keeps, or '(no log)'. */
  private logLines(name: string, pick: (lines: string[]) => string[]): string {
    try {
      return pick(readFileSync(join(this.dir, `${name}.log`), 'utf8').split('\n')).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** What a pod's containers wrote (the kubelet's log files, every container and restart), or ''. */
  podLog(namespace: string, pod: string): string {
    const logs = join(this.dir, 'logs');
    let out = '';
    for (const folder of existsSync(logs) ? readdirSync(logs) : []) {
      if (!folder.startsWith(`${namespace}_${pod}_`)) continue;
      for (const container of readdirSync(join(logs, folder))) {
        for (const f of readdirSync(join(logs, folder, container)).sort()) out += readFileSync(join(logs, folder, container, f), 'utf8');
      }
    }
    return out;
  }

  log(name: string): string {
    try {
      return readFileSync(join(this.dir, `${name}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  private spawnLogged(name: string, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
    const out = createWriteStream(join(this.dir, `${name}.log`), { flags: 'a' });
    const proc = spawn(cmd, [...args], { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    proc.stdout?.pipe(out);
    proc.stderr?.pipe(out);
    this.procs.push({ name, proc });
    return proc;
  }

  private async boot(o: RealNodeOptions): Promise<void> {
    const d = this.dir;
    const t0 = Date.now();
    const ip = nodeIp();
    if (!ip) throw new Error('no non-loopback IPv4 address');
    for (const sub of ['cni', 'cni-ipam', 'logs', 'pki', 'volume-plugins', 'kernel', 'kubelet', 'host']) mkdirSync(join(d, sub), { recursive: true });

    // --- containerd, with a CNI bridge of its own (no iptables rules, no forwarding)
    const prefix = `10.${200 + (process.pid % 50)}.${Math.floor(Math.random() * 250)}`;
    const subnet = `${prefix}.0/24`;
    const hostSide = `${prefix}.1`;
    const range = { subnet, rangeStart: `${prefix}.2`, gateway: hostSide };
    if (o.podsReachHost) {
      // The bridge made before the CNI plugin sees it, with the host's end of the pod network.
      run('ip', ['link', 'add', 'name', this.bridge, 'type', 'bridge']);
      run('ip', ['addr', 'add', `${hostSide}/24`, 'dev', this.bridge]);
      run('ip', ['link', 'set', this.bridge, 'up']);
    }
    const routes = o.podsReachHost ? [{ dst: `${ip}/32`, gw: hostSide }] : [];
    writeFileSync(join(d, 'cni', '10-gantry.conflist'), JSON.stringify({
      cniVersion: '0.4.0',
      name: `gantry-${this.tag}`,
      plugins: [
        { type: 'bridge', bridge: this.bridge, isGateway: false, ipMasq: false, ipam: { type: 'host-local', ranges: [[range]], routes, dataDir: join(d, 'cni-ipam') } },
        { type: 'loopback' },
      ],
    }));
    writeFileSync(join(d, 'containerd.toml'), [
      'version = 2',
      `root = "${d}/containerd-root"`,
      `state = "${d}/containerd-state"`,
      'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.opt"]',
      '[grpc]',
      `  address = "${this.containerdSocket}"`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = "${PAUSE_IMAGE}"`,
      '  disable_apparmor = true',
      // Required here: the capability bounding set lacks CAP_SYS_RESOURCE, and runc fails every
      // sandbox ("can't get final child's PID from pipe: EOF") when asked to lower oom_score_adj.
      '  restrict_oom_score_adj = true',
      '  netns_mounts_under_state_dir = true',
      '  [plugins."io.containerd.grpc.v1.cri".containerd]',
      '    snapshotter = "overlayfs"',
      '    default_runtime_name = "runc"',
      '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
      '      runtime_type = "io.containerd.runc.v2"',
      '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
      '        SystemdCgroup = false',
      `        Root = "${d}/runc"`,
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      '    bin_dir = "/usr/lib/cni"',
      `    conf_dir = "${d}/cni"`,
      '',
    ].join('\n'));
    const containerd = this.spawnLogged('containerd', 'containerd', ['--config', join(d, 'containerd.toml')]);
    await waitFor('containerd up', async () => {
      if (containerd.exitCode !== null) throw new Error(`containerd exited with ${containerd.exitCode}`);
      return spawnSync('ctr', ['--address', this.containerdSocket, 'version'], { encoding: 'utf8' }).status === 0;
    }, 20_000, 100);
    this.timings.containerdMs = Date.now() - t0;
    for (const image of ['pause', 'busybox']) this.importImage(join(binaryDir(), 'images', `${image}.tar`));

    // --- cgroups: one root per run in every v1 hierarchy (cgroup v2 machines: the one hierarchy)
    for (const h of this.cgroupHierarchies()) {
      const dir = join('/sys/fs/cgroup', h, this.cgroupRoot);
      mkdirSync(dir, { recursive: true });
      if (h === 'cpuset') {
        for (const f of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(dir, f), readFileSync(join('/sys/fs/cgroup/cpuset', f), 'utf8'));
      }
    }

    // --- the kubelet
    const kubeletPort = await freePort();
    const kubeconfig = this.cp.writeKubeconfig(join(d, 'kubelet.kubeconfig'));
    writeFileSync(join(d, 'kubelet.yaml'), [
      'apiVersion: kubelet.config.k8s.io/v1beta1',
      'kind: KubeletConfiguration',
      'address: 127.0.0.1',
      `port: ${kubeletPort}`,
      'healthzPort: 0',
      'readOnlyPort: 0',
      'cgroupDriver: cgroupfs',
      `cgroupRoot: ${this.cgroupRoot}`,
      'failSwapOn: false',
      'failCgroupV1: false',
      'oomScoreAdj: 0',
      'makeIPTablesUtilChains: false',
      'authentication: {anonymous: {enabled: false}, webhook: {enabled: false}}',
      'authorization: {mode: AlwaysAllow}',
      `podLogsDir: ${d}/logs`,
      `volumePluginDir: ${d}/volume-plugins`,
      `containerRuntimeEndpoint: unix://${this.containerdSocket}`,
      'evictionHard: {memory.available: "1Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}',
      'imageGCHighThresholdPercent: 100',
      'imageGCLowThresholdPercent: 99',
      'serializeImagePulls: false',
      'nodeStatusUpdateFrequency: 2s',
      'syncFrequency: 5s',
      'resolvConf: ""',
      '',
    ].join('\n'));
    // The kernel settings and /var/lib/kubelet (device-plugins) are private to the kubelet's mount
    // namespace. Its root dir is a shared mount first, so the volumes it mounts there (emptyDir,
    // configMap tmpfs) are seen by containerd outside.
    for (const k of KERNEL_SETTINGS) {
      const copy = join(d, 'kernel', k.replace(/\//g, '.'));
      writeFileSync(copy, readFileSync(join('/proc/sys', k), 'utf8'));
    }
    run('mount', ['--bind', this.mountedRoot, this.mountedRoot]);
    run('mount', ['--make-shared', this.mountedRoot]);
    mkdirSync('/var/lib/kubelet', { recursive: true });
    const script = [
      'set -e',
      'mount --make-private / 2>/dev/null || true',
      'mount --make-private /proc 2>/dev/null || true',
      `mount --bind ${this.mountedRoot} /var/lib/kubelet`,
      ...KERNEL_SETTINGS.map((k) => `mount --bind ${join(d, 'kernel', k.replace(/\//g, '.'))} /proc/sys/${k}`),
      'exec "$@"',
    ].join('\n');
    const labels = Object.entries({ 'gantry.dev/real-node': 'true', ...o.labels }).map(([k, v]) => `${k}=${v}`).join(',');
    this.kubeletArgs = [
      '-m', '--propagation', 'unchanged', '--', 'sh', '-c', script, 'kubelet-ns',
      join(binaryDir(), 'kubelet'),
      `--config=${join(d, 'kubelet.yaml')}`,
      `--kubeconfig=${kubeconfig}`,
      `--root-dir=${this.mountedRoot}`,
      `--cert-dir=${join(d, 'pki')}`,
      `--hostname-override=${this.name}`,
      `--node-ip=${ip}`,
      `--node-labels=${labels}`,
      '--v=2',
    ];
    await this.startKubelet();
    this.timings.readyMs = Date.now() - t0;
    this.gpuCount = Number(/^(\d+)x/.exec(o.gpus)?.[1] ?? '1');
    if (o.devicePluginProcess === false) return;

    // --- Gantry's device plugin, as deployed: the CLI, with the node's simulated GPUs
    await waitFor('the kubelet device plugin socket', async () => existsSync(join(this.pluginDir, 'kubelet.sock')), 20_000, 100);
    const pluginKubeconfig = o.pluginToken
      ? this.cp.writeKubeconfig(join(d, 'device-plugin.kubeconfig'), o.pluginToken, 'gantry-device-plugin')
      : this.cp.writeKubeconfig(join(d, 'device-plugin.kubeconfig'));
    this.spawnLogged('device-plugin', process.execPath, [
      join(REPO, 'bin/gantry.js'), 'k8s', 'device-plugin', '--node', this.name, '--gpus', o.gpus, '--plugin-dir', this.pluginDir,
      '--pod-resources-socket', join(this.mountedRoot, 'pod-resources', 'kubelet.sock'), '--kubeconfig', pluginKubeconfig,
    ]);
    await this.waitGpus();
  }

  private gpuCount = 0;
  private readonly startedAt = Date.now();

  /** Imports an image archive (`docker save` or OCI) into the node's containerd, for imagePullPolicy Never/IfNotPresent. */
  importImage(tar: string): void {
    run('ctr', ['--address', this.containerdSocket, '-n', 'k8s.io', 'images', 'import', '--all-platforms', tar]);
  }

  private async startKubelet(): Promise<void> {
    const kubelet = this.spawnLogged('kubelet', 'unshare', this.kubeletArgs);
    const core = this.cp.kubeConfig().makeApiClient(CoreV1Api);
    const since = new Date(Date.now() - 1000);
    await waitFor(`node ${this.name} Ready`, async () => {
      if (kubelet.exitCode !== null) throw new Error(`kubelet exited with ${kubelet.exitCode}`);
      const node = await core.readNode({ name: this.name });
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True' && c.lastHeartbeatTime !== undefined && new Date(c.lastHeartbeatTime) >= since);
    }, 60_000, 200);
  }

  /**
   * Until the node advertises its GPUs (the device plugin registered) with their UUIDs, in a status
   * the kubelet posted at or after `since` (after a re-registration, an older status still shows
   * the GPUs the kubelet had before its restart, while it has none yet).
   */
  async waitGpus(since = new Date(0)): Promise<void> {
    const core = this.cp.kubeConfig().makeApiClient(CoreV1Api);
    await waitFor(`node ${this.name} advertises ${this.gpuCount} nvidia.com/gpu`, async () => {
      const node = await core.readNode({ name: this.name });
      const posted = node.status?.conditions?.find((c) => c.type === 'Ready')?.lastHeartbeatTime;
      return node.status?.allocatable?.['nvidia.com/gpu'] === String(this.gpuCount) && node.metadata?.annotations?.['gantry.dev/gpus'] !== undefined && posted !== undefined && new Date(posted) >= since;
    }, 30_000, 200);
    if (this.timings.gpusMs === 0) this.timings.gpusMs = Date.now() - this.startedAt;
  }

  /** Stops the kubelet and starts it again (running containers stay); resolves once the node is Ready. */
  async restartKubelet(): Promise<void> {
    const i = this.procs.findIndex((p) => p.name === 'kubelet');
    const old = this.procs[i];
    if (i >= 0) this.procs.splice(i, 1);
    await terminate(old?.proc);
    await this.startKubelet();
  }

  async readNode(kc: KubeConfig): Promise<V1Node> {
    return kc.makeApiClient(CoreV1Api).readNode({ name: this.name });
  }

  private cgroupHierarchies(): string[] {
    if (!existsSync('/sys/fs/cgroup/cpuset')) return ['']; // cgroup v2: one hierarchy
    return readdirSync('/sys/fs/cgroup').filter((h) => h !== 'unified' && existsSync(join('/sys/fs/cgroup', h, 'cgroup.procs')));
  }

  /** Stops everything in reverse order and removes what the node left (mounts, cgroups, bridge). */
  async stop(): Promise<void> {
    const byName = (name: string): ChildProcess | undefined => this.procs.find((p) => p.name === name)?.proc;
    for (const name of ['device-plugin', 'kubelet']) await terminate(byName(name));
    // Containers left running: every process in the node's cgroups (by PID, nothing else).
    for (let i = 0; i < 3; i++) {
      const pids = this.cgroupPids();
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await sleep(200);
    }
    await terminate(byName('containerd'));
    // Shims of this containerd (they outlive it): found by their -address argument.
    for (const pid of this.shimPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.unmountAll();
    for (const h of this.cgroupHierarchies()) removeCgroupTree(join('/sys/fs/cgroup', h, this.cgroupRoot));
    run('ip', ['link', 'del', this.bridge], true);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private cgroupPids(): number[] {
    const out = new Set<number>();
    const walk = (dir: string): void => {
      if (!existsSync(dir)) return;
      try {
        for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (line.trim()) out.add(Number(line));
        for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
      } catch {
        // removed meanwhile
      }
    };
    const h = this.cgroupHierarchies()[0];
    if (h !== undefined) walk(join('/sys/fs/cgroup', h, this.cgroupRoot));
    return [...out].filter((p) => p !== process.pid);
  }

  private shimPids(): number[] {
    const pids: number[] = [];
    for (const e of readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      try {
        const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
        if (cmd[0]?.endsWith('containerd-shim-runc-v2') && cmd.includes(this.containerdSocket)) pids.push(Number(e));
      } catch {
        // exited meanwhile
      }
    }
    return pids;
  }

  private unmountAll(): void {
    for (let round = 0; round < 3; round++) {
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[4] ?? '')
        .map((p) => p.replace(/\\040/g, ' '))
        .filter((p) => p === this.dir || p.startsWith(`${this.dir}/`));
      if (mounts.length === 0) return;
      for (const m of mounts.sort((a, b) => b.length - a.length)) run('umount', ['-l', m], true);
    }
  }
}

function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
    rmdirSync(dir);
  } catch {
    // still busy (a process that would not die): left for the machine's owner, named in no test
  }
}

async function terminate(proc: ChildProcess | undefined): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await done;
  clearTimeout(timer);
}
