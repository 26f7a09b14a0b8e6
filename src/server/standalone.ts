/**
 * `gantry up`: assembles the standalone control plane (store, inventory, executor,
 * controller, telemetry, HTTP API) over one data directory, and recovers what a previous
 * run left (jobs, their processes). Stopping the server leaves running jobs running; the
 * next start finds them again.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve, sep } from 'node:path';
import { UserError } from '../core/errors.js';
import { SqliteStore } from '../adapters/store/sqlite-store.js';
import { LocalExecutor, isProcessAlive } from '../adapters/executor/local.js';
import { detectDocker, type DockerStatus } from '../adapters/executor/docker.js';
import { discoverInventory, nvidiaSmi, sampleFromRecord, simulatedInventory, simulatedSample, type GpuSample, type Inventory } from '../adapters/gpu/inventory.js';
import { queryGpus } from '../adapters/gpu/nvidia-smi.js';
import { discoverMigDevices, migDeviceUuid, type MigDevice } from '../adapters/gpu/mig-devices.js';
import { MPS_CONTROL, MpsDaemons, onPath } from '../adapters/gpu/mps-daemons.js';
import type { GpuDevices } from './worker-env.js';
import { Controller } from './controller.js';
import { createMetrics } from './metrics.js';
import { buildApi } from './api.js';
import { SubmitWriter } from './submit-writer.js';
import { createUserWithToken } from './auth.js';

export interface ServerOptions {
  readonly dataDir: string;
  readonly host?: string;
  readonly port?: number;
  /** Simulated inventory, e.g. "8xH100-80GB"; absent = discover (or reuse the last simulated one). */
  readonly gpus?: string;
  readonly minRuntimeSeconds?: number;
  readonly stopGraceSeconds?: number;
  readonly telemetryIntervalMs?: number;
  readonly tickMs?: number;
  /** Queued jobs of each queue handed to the scheduler at a time (default 1,000; see queue-window.ts). */
  readonly windowPerQueue?: number;
  /**
   * MPS control daemons for GPU shares: `auto` (default) runs them on a real inventory when
   * nvidia-cuda-mps-control is on PATH; `on` requires the program (and runs them for a
   * simulated inventory too); `off` never.
   */
  readonly mps?: 'auto' | 'on' | 'off';
  readonly log?: (line: string) => void;
}

export interface RunningServer {
  readonly url: string;
  readonly dataDir: string;
  readonly adminTokenFile: string;
  /** Set only when this start created the admin user. */
  readonly adminTokenCreated: boolean;
  readonly inventory: Inventory;
  readonly docker: DockerStatus;
  /** How GPU shares are isolated, for the banner (MPS daemons, or why not). */
  readonly sharing: string;
  readonly recovered: { requeued: number; adopted: number; queued: number };
  readonly controller: Controller;
  close(): Promise<void>;
}

function takeLock(dataDir: string): string {
  const lock = join(dataDir, 'server.pid');
  if (existsSync(lock)) {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isProcessAlive(pid, null)) {
      throw new UserError('DATA_DIR_IN_USE', `another gantry up (pid ${pid}) uses ${dataDir}; stop it first or pick another --data-dir`);
    }
  }
  writeFileSync(lock, String(process.pid));
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
      const srv = createServer();
      srv.once('error', () => res(false));
      srv.listen({ host, port, exclusive: true }, () => srv.close(() => res(true)));
    });
  for (let p = from + 1; p <= Math.min(65535, from + 50); p++) if (await tryPort(p)) return p;
  return 0;
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const mpsMode = o.mps ?? 'auto';
  const mpsProgram = mpsMode === 'off' ? null : onPath(MPS_CONTROL);
  if (mpsMode === 'on' && mpsProgram === null) throw new UserError('MPS_UNAVAILABLE', `--mps on: ${MPS_CONTROL} is not on PATH; install the NVIDIA driver's MPS tools, or use --mps auto`);
  const dataDir = resolve(o.dataDir);
  prepareDataDir(dataDir);
  const lock = takeLock(dataDir);
  const log = o.log ?? ((line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
  const store = new SqliteStore(join(dataDir, 'gantry.db'));
  const now = Date.now();

  // First start: a default team and queue, and an admin whose token goes to a 0600 file.
  const adminTokenFile = join(dataDir, 'admin-token');
  let adminTokenCreated = false;
  if (store.listUsers().length === 0) {
    const token = createUserWithToken(store, 'admin', 'default', true, now);
    if (!store.getQueue('default')) store.putQueue({ name: 'default', team: null, parent: null, guaranteedGpus: null, limitGpus: null, weight: 1, priorityOrdering: true });
    writeFileSync(adminTokenFile, `${token}\n`, { mode: 0o600 });
    chmodSync(adminTokenFile, 0o600);
    store.appendAudit({ at: now, actor: 'gantry', action: 'bootstrap', target: 'admin', source: 'local', detail: null });
    adminTokenCreated = true;
  }

  const gpus = o.gpus ?? store.getMeta('simulated-gpus');
  const inventory = gpus ? simulatedInventory(gpus) : await discoverInventory();
  if (o.gpus) store.setMeta('simulated-gpus', o.gpus);
  if (adminTokenCreated) {
    // The default queue is guaranteed the whole machine, so non-preemptible jobs can run in it.
    store.putQueue({ name: 'default', team: null, parent: null, guaranteedGpus: inventory.node.gpus?.length ?? 0, limitGpus: null, weight: 1, priorityOrdering: true });
  }
  const docker = await detectDocker();
  const mps = mpsProgram !== null && (mpsMode === 'on' || !inventory.simulated) ? new MpsDaemons(dataDir, log) : null;
  mps?.adopt((inventory.node.gpus ?? []).flatMap((g) => (g.uuid ? [g.uuid] : [])));
  const sharing = mps
    ? `MPS, one control daemon per GPU holding shares (${mpsProgram ?? MPS_CONTROL}; folders under ${join(dataDir, 'mps')})`
    : `MPS limits are set in each share's environment but not enforced (${mpsMode === 'off' ? '--mps off' : inventory.simulated ? 'simulated inventory, no MPS daemon' : `${MPS_CONTROL} not on PATH`})`;
  // MIG device UUIDs of a real inventory, refreshed by telemetry (an admin may change the layout).
  const hasRealMig = !inventory.simulated && (inventory.node.gpus ?? []).some((g) => g.migEnabled);
  let migDevices: readonly MigDevice[] = inventory.migDevices ?? [];
  let migListedAt = Date.now();
  const gpuDevices: GpuDevices = {
    migUuid: (_node, gpu, profile, start) => migDeviceUuid(migDevices, gpu.uuid, gpu.index, profile, start),
    mps: (_node, gpuUuid) => mps?.ensure(gpuUuid) ?? null,
  };

  let samples: GpuSample[] = [];
  const metricsHooks: { cycle?: (s: number) => void; start?: (s: number) => void } = {};
  const controller = new Controller({
    store,
    executor: new LocalExecutor(),
    inventory,
    dataDir,
    minRuntimeMs: (o.minRuntimeSeconds ?? 60) * 1000,
    stopGraceMs: (o.stopGraceSeconds ?? 10) * 1000,
    ...(o.windowPerQueue !== undefined ? { windowPerQueue: o.windowPerQueue } : {}),
    ...(docker.available ? { dockerSocket: docker.socket } : {}),
    log,
    onCycle: (s) => metricsHooks.cycle?.(s),
    onStart: (_job, waited) => metricsHooks.start?.(waited),
    gpuDevices,
  });
  const recovered = controller.recover();
  const metrics = createMetrics(controller, store, () => samples);
  metricsHooks.cycle = (s) => metrics.cycleSeconds.observe(s);
  metricsHooks.start = (s) => metrics.schedulingLatency.observe(s);

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
        samples = node.gpus.map((g) => simulatedSample(g, g.mig ? 0 : 1000 - g.milliFree, g.memoryMiB - g.memFree, t));
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
    } finally {
      sampling = false;
    }
  };
  await sample();
  const telemetryTimer = setInterval(() => void sample(), o.telemetryIntervalMs ?? 2000);
  telemetryTimer.unref();

  const writer = new SubmitWriter(join(dataDir, 'gantry.db'), (rows) => controller.accepted(rows));
  const app = buildApi({ store, controller, metrics, samples: () => samples, dockerAvailable: docker.available, writer, log });
  const host = o.host ?? '127.0.0.1';
  try {
    await app.listen({ host, port: o.port ?? 7480 });
  } catch (e) {
    stopped = true;
    clearInterval(telemetryTimer);
    controller.stop();
    await writer.close();
    store.close();
    rmSync(lock, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      const free = await freePortNear(host, o.port ?? 7480);
      throw new UserError('PORT_IN_USE', `port ${o.port ?? 7480} on ${host} is in use (another gantry up?); ${free > 0 ? `port ${free} is free: add --port ${free}` : 'pick another with --port'}`);
    }
    if (code === 'EACCES') throw new UserError('PORT_IN_USE', `port ${o.port ?? 7480} on ${host} needs privileges; pick one above 1023 with --port`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UserError('BAD_HOST', `cannot listen on ${host}: no such local address`);
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (o.port ?? 7480);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  // Written whole and then renamed into place: a client (or a test) polling for the file never
  // reads it half-written.
  const serverFile = join(dataDir, 'server.json');
  writeFileSync(`${serverFile}.tmp`, JSON.stringify({ url, pid: process.pid }) + '\n');
  renameSync(`${serverFile}.tmp`, serverFile);
  controller.start(o.tickMs ?? 100);
  controller.tick();

  let closed = false;
  return {
    url,
    dataDir,
    adminTokenFile,
    adminTokenCreated,
    inventory,
    docker,
    sharing,
    recovered,
    controller,
    async close() {
      if (closed) return;
      closed = true;
      stopped = true;
      clearInterval(telemetryTimer);
      controller.stop();
      await app.close();
      await writer.close();
      store.close();
      rmSync(lock, { force: true });
    },
  };
}
