/**
 * `gantry up`: assembles the standalone control plane (store, inventory, executor,
 * controller, telemetry, HTTP API) over one data directory, and recovers what a previous
 * run left (jobs, their processes). Stopping the server leaves running jobs running; the
 * next start finds them again.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { UserError } from '../core/errors.js';
import { SqliteStore } from '../adapters/store/sqlite-store.js';
import { LocalExecutor, isProcessAlive } from '../adapters/executor/local.js';
import { detectDocker, type DockerStatus } from '../adapters/executor/docker.js';
import { HistoryStore } from '../adapters/store/history-store.js';
import { HistorySampler, simulatedBusyMilli, statedUtilization } from './history/history-sampler.js';
import { discoverInventory, inventoryNodes, nvidiaSmi, sampleFromRecord, simulatedInventory, simulatedSample, type GpuSample, type Inventory } from '../adapters/gpu/inventory.js';
import { queryGpus } from '../adapters/gpu/nvidia-smi.js';
import { discoverMigDevices, migDeviceUuid, type MigDevice } from '../adapters/gpu/mig-devices.js';
import { MPS_CONTROL, MpsDaemons, onPath } from '../adapters/gpu/mps-daemons.js';
import type { GpuDevices } from './worker-env.js';
import { Controller } from './controller.js';
import { CostLedger } from '../adapters/store/cost-ledger.js';
import { CostRecorder } from './cost/cost-recorder.js';
import { BudgetTable } from './cost/budgets.js';
import { BudgetWatch } from './cost/budget-watch.js';
import { createMetrics } from './metrics.js';
import { buildApi, routesOf } from './api.js';
import { AdmissionPolicies } from './admission-policies.js';
import { DatasetService } from './datasets.js';
import { ServiceWeights } from './services/service-weights.js';
import { SubmitWriter } from './submit-writer.js';
import { createUserWithToken } from './auth.js';
import { Cgroups } from '../adapters/executor/cgroups.js';
import { JobIdentities } from '../adapters/executor/job-identity.js';
import { prepareWorkspace } from './job-files.js';
import { screenStoredState } from './stored-state.js';
import { ServiceRecords } from '../adapters/store/service-records.js';
import { ServiceManager } from './services/service-manager.js';
import { registerServiceMetrics } from './services/service-metrics.js';
import { HttpRouter } from '../serve/router/http-router.js';

export interface ServerOptions {
  readonly dataDir: string;
  /** Team workspace root for job folders (default: `<dataDir>-work`, beside the data dir). */
  readonly workspace?: string;
  /** First uid/gid of the range jobs and teams get when the server is root (default 200000). */
  readonly idBase?: number;
  /** false: no cgroup per worker even where possible (processes tracked by uid and group; no limits). */
  readonly cgroups?: boolean;
  readonly host?: string;
  readonly port?: number;
  /** Simulated inventory, e.g. "8xH100-80GB"; absent = discover (or reuse the last simulated one). */
  readonly gpus?: string;
  /** With a simulated inventory: how many nodes carry it (default 1; remembered like `gpus`). */
  readonly simNodes?: number;
  readonly minRuntimeSeconds?: number;
  readonly stopGraceSeconds?: number;
  readonly telemetryIntervalMs?: number;
  /** How often budgets are checked against spending (default 10 s; also after each change to them). */
  readonly budgetCheckMs?: number;
  readonly tickMs?: number;
  /** Queued jobs of each queue handed to the scheduler at a time (default 1,000; see queue-window.ts). */
  readonly windowPerQueue?: number;
  /**
   * MPS control daemons for GPU shares: `auto` (default) runs them on a real inventory when
   * nvidia-cuda-mps-control is on PATH; `on` requires the program (and runs them for a
   * simulated inventory too); `off` never.
   */
  readonly mps?: 'auto' | 'on' | 'off';
  /** PEM files: serve HTTPS instead of HTTP. */
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  /** A second, token-less listener for /metrics (Prometheus); loopback addresses only. */
  readonly metricsHost?: string;
  readonly metricsPort?: number;
  /** Requests/s per non-admin user (0 = no limit; default 100) and the burst (default 2x). */
  readonly rateLimit?: number;
  readonly rateBurst?: number;
  /** Queued jobs a team may have (0 = no cap; default 100,000). */
  readonly maxQueuedPerTeam?: number;
  /** The node's dataset cache folder (default `<dataDir>-datasets`) and its capacity in bytes (default 100 GiB). */
  readonly cacheDir?: string;
  readonly cacheCapacityBytes?: number;
  /** The services' router port (default: --port + 1, or any free port when --port is 0). */
  readonly routerPort?: number;
  readonly log?: (line: string) => void;
}

export interface RunningServer {
  readonly url: string;
  readonly dataDir: string;
  readonly workspace: string;
  /** What keeps jobs apart and within their limits here (for the banner). */
  readonly isolation: Isolation;
  readonly adminTokenFile: string;
  /** Set only when this start created the admin user. */
  readonly adminTokenCreated: boolean;
  readonly inventory: Inventory;
  readonly docker: DockerStatus;
  /** How GPU shares are isolated, for the banner (MPS daemons, or why not). */
  readonly sharing: string;
  readonly recovered: { requeued: number; adopted: number; queued: number };
  /** Every route the HTTP API registered (method, fastify pattern), for the contract test. */
  readonly routes: () => readonly { readonly method: string; readonly url: string }[];
  /** The token-less Prometheus listener's URL, when one was asked for. */
  readonly metricsUrl: string | null;
  /** The services' router: a service NAME is at `<routerUrl>/NAME`. */
  readonly routerUrl: string;
  readonly services: ServiceManager;
  /** Stored rows that did not load (left untouched), one line each. */
  readonly storedStateProblems: readonly string[];
  readonly controller: Controller;
  close(): Promise<void>;
}

export interface Isolation {
  /** Jobs run as their own uids (the server is root); false = single-tenant mode. */
  readonly perJobUids: boolean;
  /** The one team a non-root server serves. */
  readonly onlyTeam: string | null;
  /** 'cgroup v1 (...)' or null when workers are tracked by process group only. */
  readonly cgroups: string | null;
  readonly warnings: readonly string[];
}

/** A state file only the server's user may read or write (created so, and fixed if it exists). */
function privateFile(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
}

function writePrivate(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** Folders above the workspace a job's uid cannot pass through (its HOME would be unreachable). */
function closedAncestors(dir: string): string[] {
  const out: string[] = [];
  for (let d = dirname(dir); ; d = dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0) out.push(d);
    } catch {
      // Checked again when the workspace is made.
    }
    if (dirname(d) === d) return out;
  }
}

/**
 * Beside the data dir, unless job uids could not reach it there (a data dir under a private
 * home, e.g. /root): then under /var/lib/gantry, which they can.
 */
function defaultWorkspace(dataDir: string, tag: string, root: boolean): string {
  const beside = `${dataDir}-work`;
  if (!root || closedAncestors(beside).length === 0) return beside;
  mkdirSync('/var/lib/gantry', { recursive: true, mode: 0o711 });
  return join('/var/lib/gantry', `${basename(dataDir).replace(/^\.+/, '') || 'gantry'}-${tag}-work`);
}

function takeLock(dataDir: string): string {
  const lock = join(dataDir, 'server.pid');
  if (existsSync(lock)) {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isProcessAlive(pid, null)) {
      throw new UserError('DATA_DIR_IN_USE', `another gantry up (pid ${pid}) uses ${dataDir}; stop it first or pick another --data-dir`);
    }
  }
  writePrivate(lock, String(process.pid));
  return lock;
}

/** UUIDs of the GPUs where jobs hold shares (part of a GPU, not MIG): their MPS daemons must run. */
function gpusWithShares(controller: Controller): Set<string> {
  const out = new Set<string>();
  for (const [key, holders] of controller.gpuHolders()) {
    const slash = key.lastIndexOf('/');
    const gpu = controller.scheduler.cluster.node(key.slice(0, slash))?.gpus[Number(key.slice(slash + 1))];
    if (gpu && holders.some((h) => h.mig === undefined && (h.milli < 1000 || h.memoryMiB < gpu.memoryMiB))) out.add(gpu.uuid);
  }
  return out;
}

/** Kernel pseudo-filesystems: a state directory there cannot hold a database. */
const PSEUDO_FS = ['/proc', '/sys', '/dev'];

/** Refuses a data dir that is a file, lives on a pseudo-filesystem, or cannot be created. */
export function prepareDataDir(dataDir: string): void {
  let existing = dataDir;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  let real = existing;
  try {
    real = realpathSync(existing);
  } catch {
    // unreadable: mkdir below reports it
  }
  if (PSEUDO_FS.some((p) => real === p || real.startsWith(p + sep))) throw new UserError('DATA_DIR_INVALID', `--data-dir ${dataDir}: is under ${real.split(sep).slice(0, 2).join(sep)}, a kernel pseudo-filesystem; pick a folder on a real disk`);
  if (existsSync(existing) && !statSync(existing).isDirectory()) throw new UserError('DATA_DIR_INVALID', `--data-dir ${dataDir}: ${existing === dataDir ? 'is' : `${existing} is`} a file, not a folder`);
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new UserError('DATA_DIR_INVALID', `--data-dir ${dataDir}: cannot create it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** A port near `from` that is free on `host` now (0 when none of the next 50 is). */
export async function freePortNear(host: string, from: number): Promise<number> {
  const tryPort = (port: number): Promise<boolean> =>
    new Promise((res) => {
      const srv = createNetServer();
      srv.once('error', () => res(false));
      srv.listen({ host, port, exclusive: true }, () => srv.close(() => res(true)));
    });
  for (let p = from + 1; p <= Math.min(65535, from + 50); p++) if (await tryPort(p)) return p;
  return 0;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UserError('BAD_TLS_FILE', `${flag}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const mpsMode = o.mps ?? 'auto';
  const mpsProgram = mpsMode === 'off' ? null : onPath(MPS_CONTROL);
  if (mpsMode === 'on' && mpsProgram === null) throw new UserError('MPS_UNAVAILABLE', `--mps on: ${MPS_CONTROL} is not on PATH; install the NVIDIA driver's MPS tools, or use --mps auto`);
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new UserError('BAD_FLAG', 'give both --tls-cert and --tls-key, or neither');
  const tls = o.tlsCert !== undefined && o.tlsKey !== undefined ? { cert: readPem(o.tlsCert, '--tls-cert'), key: readPem(o.tlsKey, '--tls-key') } : undefined;
  const metricsHost = o.metricsHost ?? '127.0.0.1';
  if (o.metricsPort !== undefined && !LOOPBACK.test(metricsHost)) throw new UserError('BAD_FLAG', `--metrics-host: "${metricsHost}" is not a loopback address; the token-less metrics listener serves only this machine (use /metrics with a token from elsewhere)`);
  const dataDir = resolve(o.dataDir);
  // The server's state is its own: jobs run as other uids and must not read the token or the DB.
  prepareDataDir(dataDir);
  chmodSync(dataDir, 0o700);
  const root = process.getuid?.() === 0;
  const tag = createHash('sha256').update(dataDir).digest('hex').slice(0, 10);
  const workspace = resolve(o.workspace ?? defaultWorkspace(dataDir, tag, root));
  if (workspace === dataDir || workspace.startsWith(`${dataDir}/`)) throw new UserError('BAD_WORKSPACE', `--workspace ${workspace} lies inside the data dir ${dataDir}; jobs must not reach the server's state: pick a folder outside it`);
  prepareWorkspace(workspace);
  mkdirSync(join(dataDir, 'workers'), { recursive: true, mode: 0o700 });
  chmodSync(join(dataDir, 'workers'), 0o700);
  const lock = takeLock(dataDir);
  const log = o.log ?? ((line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
  // SQLite gives -wal and -shm the database file's mode.
  for (const f of ['gantry.db', 'gantry.db-wal', 'gantry.db-shm']) if (f === 'gantry.db' || existsSync(join(dataDir, f))) privateFile(join(dataDir, f));
  const rawStore = new SqliteStore(join(dataDir, 'gantry.db'));
  const now = Date.now();

  // First start: a default team and queue, and an admin whose token goes to a 0600 file.
  const adminTokenFile = join(dataDir, 'admin-token');
  let adminTokenCreated = false;
  const store = rawStore;
  if (store.listUsers().length === 0) {
    const token = createUserWithToken(store, 'admin', 'default', true, now);
    if (!store.getQueue('default')) store.putQueue({ name: 'default', team: null, parent: null, guaranteedGpus: null, limitGpus: null, weight: 1, priorityOrdering: true });
    writePrivate(adminTokenFile, `${token}\n`);
    store.appendAudit({ at: now, actor: 'gantry', action: 'bootstrap', target: 'admin', source: 'local', detail: null });
    adminTokenCreated = true;
  }

  const gpus = o.gpus ?? store.getMeta('simulated-gpus');
  const simNodes = o.simNodes ?? (o.gpus ? 1 : Number(store.getMeta('simulated-nodes') ?? 1));
  if (o.simNodes !== undefined && !gpus) throw new UserError('BAD_GPUS_FLAG', '--sim-nodes needs a simulated inventory (--gpus)');
  const inventory = gpus ? simulatedInventory(gpus, undefined, simNodes) : await discoverInventory();
  if (o.gpus) store.setMeta('simulated-gpus', o.gpus);
  if (gpus) store.setMeta('simulated-nodes', String(simNodes));
  if (adminTokenCreated) {
    // The default queue is guaranteed the whole machine, so non-preemptible jobs can run in it.
    store.putQueue({ name: 'default', team: null, parent: null, guaranteedGpus: inventoryNodes(inventory).reduce((n, x) => n + (x.gpus?.length ?? 0), 0), limitGpus: null, weight: 1, priorityOrdering: true });
  }
  const docker = await detectDocker();
  // MPS pipes must be reachable by the jobs' uids: they live in the workspace (0711), not in the private data dir.
  const mps = mpsProgram !== null && (mpsMode === 'on' || !inventory.simulated) ? new MpsDaemons(workspace, log) : null;
  mps?.adopt((inventory.node.gpus ?? []).flatMap((g) => (g.uuid ? [g.uuid] : [])));
  const sharing = mps
    ? `MPS, one control daemon per GPU holding shares (${mpsProgram ?? MPS_CONTROL}; folders under ${join(workspace, 'mps')})`
    : `MPS limits are set in each share's environment but not enforced (${mpsMode === 'off' ? '--mps off' : inventory.simulated ? 'simulated inventory, no MPS daemon' : `${MPS_CONTROL} not on PATH`})`;
  // MIG device UUIDs of a real inventory, refreshed by telemetry (an admin may change the layout).
  const hasRealMig = !inventory.simulated && (inventory.node.gpus ?? []).some((g) => g.migEnabled);
  let migDevices: readonly MigDevice[] = inventory.migDevices ?? [];
  let migListedAt = Date.now();
  const gpuDevices: GpuDevices = {
    migUuid: (_node, gpu, profile, start) => migDeviceUuid(migDevices, gpu.uuid, gpu.index, profile, start),
    mps: (_node, gpuUuid) => mps?.ensure(gpuUuid) ?? null,
  };
  if (existsSync(adminTokenFile)) chmodSync(adminTokenFile, 0o600);

  // Root: every job its own uid, its team's gid, a cgroup per worker. Otherwise every job runs
  // as the server, which then cannot keep teams apart and serves one team.
  if (o.idBase !== undefined && (!Number.isInteger(o.idBase) || o.idBase < 1000 || o.idBase > 4_294_000_000)) throw new UserError('BAD_FLAG', `--id-base: ${o.idBase} is not an unprivileged uid range start (1000 .. 4294000000)`);
  const identities = root ? new JobIdentities(store, o.idBase ?? 200_000) : undefined;
  const cgroups = root && o.cgroups !== false ? Cgroups.detect(tag) : null;
  const onlyTeam = root ? null : (store.listUsers().find((u) => u.admin)?.team ?? 'default');
  const warnings: string[] = [];
  if (root) {
    const closed = closedAncestors(workspace);
    if (closed.length > 0) warnings.push(`job uids cannot pass through ${closed.join(', ')} to reach the workspace ${workspace}; pick a --workspace outside them`);
  }
  const isolation: Isolation = { perJobUids: root, onlyTeam, cgroups: cgroups?.describe() ?? null, warnings };

  // Rows that would not load are reported and hidden from the controller, never changed.
  const screened = screenStoredState(rawStore);
  for (const p of screened.problems) log(`stored state: ${p}`);

  let samples: GpuSample[] = [];
  const metricsHooks: { cycle?: (s: number) => void; start?: (s: number) => void } = {};
  const datasets = new DatasetService({
    db: rawStore.connection,
    node: inventory.node.name,
    extraNodes: (inventory.extraNodes ?? []).map((n) => n.name),
    cacheDir: resolve(o.cacheDir ?? `${dataDir}-datasets`),
    capacityBytes: o.cacheCapacityBytes ?? 100 * 2 ** 30,
    log,
  });
  const stopGraceMs = (o.stopGraceSeconds ?? 10) * 1000;
  const ledger = new CostLedger(rawStore.connection);
  // Cost reports read the ledger from memory; read it now, between other work (docs/cost.md).
  ledger.warm().catch((e: unknown) => log(`cost ledger: could not read it into memory now (${e instanceof Error ? e.message : String(e)}); the first report will`));
  const costHooks: { recorder?: CostRecorder } = {};
  const policies = new AdmissionPolicies(dataDir);
  for (const p of policies.problems) log(`stored state: ${p}`);
  const controller = new Controller({
    dataGate: (row, bindings) => datasets.gate(row, bindings),
    datasetBytes: (name, version) => datasets.bytesOf(name, version),
    admissionGate: (row, userGpuMilli) => policies.judgeStart(row, userGpuMilli),
    store: screened.store,
    executor: new LocalExecutor({ cgroups }),
    inventory,
    dataDir,
    workspace,
    ...(identities ? { identities } : {}),
    ...(onlyTeam !== null ? { onlyTeam } : {}),
    minRuntimeMs: (o.minRuntimeSeconds ?? 60) * 1000,
    stopGraceMs,
    ...(o.windowPerQueue !== undefined ? { windowPerQueue: o.windowPerQueue } : {}),
    ...(docker.available ? { dockerSocket: docker.socket } : {}),
    log,
    onCycle: (s) => metricsHooks.cycle?.(s),
    onStart: (_job, waited) => metricsHooks.start?.(waited),
    onAttemptStart: (job, bindings, at) => costHooks.recorder?.started(job, bindings, at),
    onAttemptEnd: (job, at, outcome) => costHooks.recorder?.ended(job, at, outcome),
    gpuDevices,
  });
  const recovered = controller.recover();
  // A queued job held by quota, a budget or a policy may wait for long: its data is not prefetched.
  const capacityOnly = (id: string): boolean => (controller.pendingReasons(id) ?? []).every((r) => r.kind !== 'quota' && r.kind !== 'budget');
  // Each fill's end reports the caches to the scheduler (placement counts the bytes on each node) and wakes it.
  const reportCaches = (): void => controller.updateNodeCaches(datasets.reports());
  datasets.connect(() => controller.activeJobs(), () => {
    reportCaches();
    controller.kick();
  }, capacityOnly, (id) => controller.dataNodeFor(id));
  reportCaches();
  for (const cache of datasets.caches.values()) {
    const resumed = cache.resumeInterrupted((n, v) => datasets.catalog.get(n, v));
    if (resumed.length > 0) log(`dataset cache${datasets.caches.size > 1 ? ` of ${cache.node}` : ''}: resuming interrupted fills: ${resumed.join(', ')}`);
  }
  const prefetchTimer = setInterval(() => {
    const started = datasets.prefetch();
    if (started.length > 0) log(`dataset cache: prefetching for queued jobs: ${started.join(', ')}`);
    reportCaches();
  }, o.tickMs !== undefined ? Math.max(200, o.tickMs * 10) : 2000);
  prefetchTimer.unref();
  const metrics = createMetrics(controller, screened.store, () => samples);
  metricsHooks.cycle = (s) => metrics.cycleSeconds.observe(s);
  metricsHooks.start = (s) => metrics.schedulingLatency.observe(s);
  costHooks.recorder = new CostRecorder(ledger, (node, gpu) => controller.scheduler.cluster.node(node)?.gpus[gpu]?.model, metrics.registry);
  const history = new HistoryStore(rawStore.connection);
  const historySampler = new HistorySampler(controller, history, ledger, [metrics.registry, metrics.aggregate]);
  history.prune(Date.now());
  const budgets = new BudgetTable(rawStore.connection);
  const budgetWatch = new BudgetWatch({
    ledger,
    budgets,
    queues: () => rawStore.listQueues(),
    clock: Date.now,
    setHolds: (h) => controller.setBudgetHolds(h),
    event: (action, target, detail) => {
      rawStore.appendAudit({ at: Date.now(), actor: 'gantry', action, target, source: 'budget', detail });
      log(`${action} ${target}: spent ${String(detail['spent'])} of ${String(detail['limit'])}`);
    },
    meta: { get: (k) => rawStore.getMeta(k), set: (k, v) => rawStore.setMeta(k, v) },
  });
  budgetWatch.check();
  const budgetTimer = setInterval(() => budgetWatch.check(), o.budgetCheckMs ?? 10_000);
  budgetTimer.unref();

  // Telemetry: nvidia-smi for real GPUs, the stated model for simulated ones.
  let sampling = false;
  let stopped = false;
  const sample = async (): Promise<void> => {
    if (sampling || stopped) return;
    sampling = true;
    try {
      const node = controller.scheduler.cluster.node(inventory.node.name);
      if (!node) return;
      if (inventory.simulated) {
        const t = Date.now();
        const holders = controller.gpuHolders();
        const stated = (job: string): number | undefined => statedUtilization(controller.activeJob(job)?.spec.env);
        samples = node.gpus.map((g) => simulatedSample(g, simulatedBusyMilli(holders.get(`${node.name}/${g.index}`) ?? [], stated), g.memoryMiB - g.memFree, t));
      } else if (node.gpus.length > 0) {
        // Lenient: a lost GPU must not hide the others (nor its own absence).
        const records = await queryGpus(nvidiaSmi, true).catch(() => null);
        if (stopped) return; // closed while nvidia-smi ran: the store is gone
        if (records) {
          samples = records.map((r) => sampleFromRecord(r, node.gpus[r.index]?.model ?? r.name));
          // A GPU nvidia-smi no longer lists is out of scheduling until it returns.
          for (const g of node.gpus) controller.setGpuPresent(node.name, g.index, records.some((r) => r.uuid === g.uuid));
        }
        if (hasRealMig && Date.now() - migListedAt >= 30_000) {
          migDevices = await discoverMigDevices(nvidiaSmi).catch(() => migDevices);
          migListedAt = Date.now();
        }
      }
      if (mps && !stopped) mps.sync(gpusWithShares(controller));
      if (!stopped) historySampler.sample(samples, Date.now());
    } finally {
      sampling = false;
    }
  };
  await sample();
  const telemetryTimer = setInterval(() => void sample(), o.telemetryIntervalMs ?? 2000);
  telemetryTimer.unref();
  const historyPruneTimer = setInterval(() => history.prune(Date.now()), 600_000);
  historyPruneTimer.unref();

  const writer = new SubmitWriter(join(dataDir, 'gantry.db'), (rows) => controller.accepted(rows), o.maxQueuedPerTeam ?? 100_000);
  const rateLimit = o.rateLimit ?? 100;
  let routerUrl = '';
  const services = new ServiceManager({ records: new ServiceRecords(rawStore.connection), store: screened.store, controller, writer, routerUrl: () => routerUrl, log, weights: new ServiceWeights(datasets, controller) });
  registerServiceMetrics(metrics.registry, services);
  const router = new HttpRouter({ service: (name) => services.route(name) });
  const app = buildApi({
    store: screened.store,
    controller,
    metrics,
    samples: () => samples,
    dockerAvailable: docker.available,
    writer,
    log,
    rateLimit: { perSecond: rateLimit, burst: o.rateBurst ?? Math.max(1, rateLimit * 2) },
    storedStateProblems: [...screened.problems, ...policies.problems],
    datasets,
    cost: { ledger, budgets, watch: budgetWatch },
    history,
    policies,
    services,
    ...(tls ? { tls } : {}),
  });
  const host = o.host ?? '127.0.0.1';
  let metricsServer: Server | null = null;
  try {
    await app.listen({ host, port: o.port ?? 7480 });
    if (o.metricsPort !== undefined) metricsServer = await listenMetrics(metricsHost, o.metricsPort, () => metrics.render('full'), metrics.registry.contentType);
    const apiPort = (app.server.address() as { port: number }).port;
    const routerPort = await router.listen(host, o.routerPort ?? (o.port === 0 || apiPort >= 65535 ? 0 : apiPort + 1));
    routerUrl = `http://${host.includes(':') ? `[${host}]` : host}:${routerPort}`;
  } catch (e) {
    stopped = true;
    await app.close();
    await router.close();
    clearInterval(telemetryTimer);
    clearInterval(historyPruneTimer);
    clearInterval(prefetchTimer);
    clearInterval(budgetTimer);
    controller.stop();
    await writer.close();
    store.close();
    rmSync(lock, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      const free = await freePortNear(host, o.port ?? 7480);
      throw new UserError('PORT_IN_USE', `port ${o.port ?? 7480}${o.metricsPort !== undefined ? ` (or --metrics-port ${o.metricsPort})` : ''}${` (or the router's port, --router-port ${o.routerPort ?? (o.port ?? 7480) + 1})`} on ${host} is in use (another gantry up?); ${free > 0 ? `port ${free} is free: add --port ${free}` : 'pick another with --port'}`);
    }
    if (code === 'EACCES') throw new UserError('PORT_IN_USE', `port ${o.port ?? 7480} on ${host} needs privileges; pick one above 1023 with --port`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UserError('BAD_HOST', `cannot listen on ${host}: no such local address`);
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (o.port ?? 7480);
  const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const maddr = metricsServer?.address();
  const metricsUrl = maddr && typeof maddr === 'object' ? `http://${metricsHost.includes(':') ? `[${metricsHost}]` : metricsHost}:${maddr.port}/metrics` : null;
  // Written whole and then renamed into place: a client (or a test) polling for the file never
  // reads it half-written.
  const serverFile = join(dataDir, 'server.json');
  writePrivate(`${serverFile}.tmp`, JSON.stringify({ url, routerUrl, pid: process.pid }) + '\n');
  renameSync(`${serverFile}.tmp`, serverFile);
  controller.start(o.tickMs ?? 100);
  controller.tick();
  services.start();

  let closed = false;
  return {
    url,
    dataDir,
    workspace,
    isolation,
    adminTokenFile,
    adminTokenCreated,
    inventory,
    docker,
    sharing,
    recovered,
    controller,
    metricsUrl,
    storedStateProblems: [...screened.problems, ...policies.problems],
    routerUrl,
    services,
    routes: () => routesOf(app),
    async close() {
      if (closed) return;
      closed = true;
      stopped = true;
      clearInterval(telemetryTimer);
      clearInterval(historyPruneTimer);
      clearInterval(prefetchTimer);
      clearInterval(budgetTimer);
      // A removed service's replicas end before the server does (the controller still runs,
      // to escalate to SIGKILL after the stop grace and to record the exits).
      await services.shutdown(2 * stopGraceMs + 2_000);
      controller.stop();
      await router.close();
      await app.close();
      if (metricsServer) await new Promise((r) => metricsServer?.close(r));
      await writer.close();
      await datasets.close();
      store.close();
      cgroups?.tidy();
      rmSync(lock, { force: true });
    },
  };
}

/** The token-less /metrics listener for a local Prometheus (full view: it is loopback only). */
function listenMetrics(host: string, port: number, render: () => Promise<string>, contentType: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
      return;
    }
    render().then(
      (text) => res.writeHead(200, { 'content-type': contentType }).end(text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error).message}\n`),
    );
  });
  return new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolveListen(server));
  });
}
