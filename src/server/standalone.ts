/**
 * `gantry up`: assembles the standalone control plane (store, inventory, executor,
 * controller, telemetry, HTTP API) over one data directory, and recovers what a previous
 * run left (jobs, their processes). Stopping the server leaves running jobs running; the
 * next start finds them again.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { UserError } from '../core/errors.js';
import { SqliteStore } from '../adapters/store/sqlite-store.js';
import { LocalExecutor, isProcessAlive } from '../adapters/executor/local.js';
import { detectDocker, type DockerStatus } from '../adapters/executor/docker.js';
import { discoverInventory, nvidiaSmi, sampleFromRecord, simulatedInventory, simulatedSample, type GpuSample, type Inventory } from '../adapters/gpu/inventory.js';
import { queryGpus } from '../adapters/gpu/nvidia-smi.js';
import { Controller } from './controller.js';
import { createMetrics } from './metrics.js';
import { buildApi } from './api.js';
import { SubmitWriter } from './submit-writer.js';
import { createUserWithToken } from './auth.js';
import { screenStoredState } from './stored-state.js';

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
  readonly recovered: { requeued: number; adopted: number; queued: number };
  /** The token-less Prometheus listener's URL, when one was asked for. */
  readonly metricsUrl: string | null;
  /** Stored rows that did not load (left untouched), one line each. */
  readonly storedStateProblems: readonly string[];
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

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UserError('BAD_TLS_FILE', `${flag}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new UserError('BAD_FLAG', 'give both --tls-cert and --tls-key, or neither');
  const tls = o.tlsCert !== undefined && o.tlsKey !== undefined ? { cert: readPem(o.tlsCert, '--tls-cert'), key: readPem(o.tlsKey, '--tls-key') } : undefined;
  const metricsHost = o.metricsHost ?? '127.0.0.1';
  if (o.metricsPort !== undefined && !LOOPBACK.test(metricsHost)) throw new UserError('BAD_FLAG', `--metrics-host: "${metricsHost}" is not a loopback address; the token-less metrics listener serves only this machine (use /metrics with a token from elsewhere)`);
  const dataDir = resolve(o.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lock = takeLock(dataDir);
  const log = o.log ?? ((line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
  const rawStore = new SqliteStore(join(dataDir, 'gantry.db'));
  const now = Date.now();

  // First start: a default team and queue, and an admin whose token goes to a 0600 file.
  const adminTokenFile = join(dataDir, 'admin-token');
  let adminTokenCreated = false;
  const store = rawStore;
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

  // Rows that would not load are reported and hidden from the controller, never changed.
  const screened = screenStoredState(rawStore);
  for (const p of screened.problems) log(`stored state: ${p}`);

  let samples: GpuSample[] = [];
  const metricsHooks: { cycle?: (s: number) => void; start?: (s: number) => void } = {};
  const controller = new Controller({
    store: screened.store,
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
  });
  const recovered = controller.recover();
  const metrics = createMetrics(controller, screened.store, () => samples);
  metricsHooks.cycle = (s) => metrics.cycleSeconds.observe(s);
  metricsHooks.start = (s) => metrics.schedulingLatency.observe(s);

  // Telemetry: nvidia-smi for real GPUs, the stated model for simulated ones.
  let sampling = false;
  const sample = async (): Promise<void> => {
    if (sampling) return;
    sampling = true;
    try {
      const node = controller.scheduler.cluster.node(inventory.node.name);
      if (!node) return;
      if (inventory.simulated) {
        const t = Date.now();
        samples = node.gpus.map((g) => simulatedSample(g, g.mig ? 0 : 1000 - g.milliFree, g.memoryMiB - g.memFree, t));
      } else if (node.gpus.length > 0) {
        const records = await queryGpus(nvidiaSmi).catch(() => null);
        if (records) {
          samples = records.map((r) => sampleFromRecord(r, node.gpus[r.index]?.model ?? r.name));
          // A GPU nvidia-smi no longer lists is out of scheduling until it returns.
          for (const g of node.gpus) controller.setGpuHealth(node.name, g.index, records.some((r) => r.uuid === g.uuid));
        }
      }
    } finally {
      sampling = false;
    }
  };
  await sample();
  const telemetryTimer = setInterval(() => void sample(), o.telemetryIntervalMs ?? 2000);
  telemetryTimer.unref();

  const writer = new SubmitWriter(join(dataDir, 'gantry.db'), (rows) => controller.accepted(rows), o.maxQueuedPerTeam ?? 100_000);
  const rateLimit = o.rateLimit ?? 100;
  const app = buildApi({
    store: screened.store,
    controller,
    metrics,
    samples: () => samples,
    dockerAvailable: docker.available,
    writer,
    log,
    rateLimit: { perSecond: rateLimit, burst: o.rateBurst ?? Math.max(1, rateLimit * 2) },
    storedStateProblems: screened.problems,
    ...(tls ? { tls } : {}),
  });
  const host = o.host ?? '127.0.0.1';
  let metricsServer: Server | null = null;
  try {
    await app.listen({ host, port: o.port ?? 7480 });
    if (o.metricsPort !== undefined) metricsServer = await listenMetrics(metricsHost, o.metricsPort, () => metrics.render('full'), metrics.registry.contentType);
  } catch (e) {
    await app.close();
    clearInterval(telemetryTimer);
    controller.stop();
    await writer.close();
    store.close();
    rmSync(lock, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UserError('PORT_IN_USE', `a port is in use (--port ${o.port ?? 7480}${o.metricsPort !== undefined ? ` or --metrics-port ${o.metricsPort}` : ''}; another gantry up?); pick another`);
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
    recovered,
    controller,
    metricsUrl,
    storedStateProblems: screened.problems,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(telemetryTimer);
      controller.stop();
      await app.close();
      if (metricsServer) await new Promise((r) => metricsServer?.close(r));
      await writer.close();
      store.close();
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
