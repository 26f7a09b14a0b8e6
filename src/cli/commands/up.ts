/** `gantry up`: the standalone control plane in the foreground. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import type { RunningServer } from '../../server/standalone.js';
import { dataDirDefault } from '../client.js';
import { parseNumber } from '../flags.js';

export function banner(s: RunningServer): string {
  const lines = [
    `Gantry is up at ${s.url}  (dashboard: ${s.url}/ , API: ${s.url}/openapi.json , metrics: ${s.url}/metrics with a token${s.metricsUrl ? `, or ${s.metricsUrl} without` : ''}; services: ${s.routerUrl}/NAME/)`,
    `  data:   ${s.dataDir} (private, 0700)`,
    `  jobs:   ${s.workspace} (team workspaces)`,
    ...isolationLines(s),
    `  admin token: ${s.adminTokenFile}${s.adminTokenCreated ? ' (created now; the CLI reads it from there when run in this folder)' : ''}`,
    ...dashboardLink(s),
    `  GPUs:   ${s.inventory.summary}`,
    `  shares: ${s.sharing}`,
    `  docker: ${s.docker.available ? 'available' : `not available (${s.docker.detail}); jobs that name an image are refused (DOCKER_UNAVAILABLE)`}`,
  ];
  const r = s.recovered;
  if (r.adopted + r.requeued + r.queued > 0) lines.push(`  recovered: ${r.queued} queued, ${r.adopted} running re-adopted, ${r.requeued} requeued or failed (processes lost)`);
  const p = s.storedStateProblems;
  if (p.length > 0) lines.push(`  stored state: ${p.length} row(s) not loaded, left untouched (the log lists each; GET /v1/status): ${p.slice(0, 3).join('; ')}${p.length > 3 ? '; ...' : ''}`);
  return lines.join('\n') + '\n';
}

/**
 * The dashboard signed in as the admin: the token goes in the URL's fragment, which a browser
 * never sends to a server; the page keeps it and removes it from the address bar.
 */
function dashboardLink(s: RunningServer): string[] {
  let token = '';
  try {
    token = readFileSync(s.adminTokenFile, 'utf8').trim();
  } catch {
    return [];
  }
  return token ? [`  sign in: ${s.url}/#token=${encodeURIComponent(token)}  (the admin's dashboard link: keep it private)`] : [];
}

/** What keeps jobs apart here, said plainly: an operator must know when it is only one team's server. */
function isolationLines(s: RunningServer): string[] {
  const i = s.isolation;
  const lines = i.perJobUids
    ? ['  isolation: each job runs as its own uid with its team\'s gid (server is root); teams cannot read each other\'s files or signal each other\'s jobs']
    : [`  isolation: NONE between jobs: the server is not root, so jobs run as its user and could read its state; single-tenant mode, team "${i.onlyTeam ?? 'default'}" only (run as root for many teams: docs/security.md)`];
  lines.push(
    i.cgroups
      ? `  limits: ${i.cgroups}: every process a job starts is tracked and stopped with it; cpu/memory requests are enforced, pids capped`
      : '  limits: no cgroups (not root or none writable): cpu/memory requests are NOT enforced; a job\'s processes are tracked by process group' + (i.perJobUids ? ' and uid' : ' only'),
  );
  for (const w of i.warnings) lines.push(`  warning: ${w}`);
  return lines;
}

/** `--gpus @file` reads the inventory line from a file (comments after #). */
function gpusFlag(v: string): string {
  if (!v.startsWith('@')) return v;
  try {
    return readFileSync(v.slice(1), 'utf8').split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean).join(',');
  } catch {
    throw new UserError('BAD_GPUS_FLAG', `--gpus: cannot read ${v.slice(1)}`);
  }
}

function intOption(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UserError('BAD_FLAG', `${name}: "${v}" is not a whole number`);
  return n;
}

/** A size in bytes: 500Gi, 2T, 1048576. */
export function sizeOption(v: string, name: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?)?\s*$/.exec(v);
  const unit = m ? { '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 }[m[2] ?? ''] : undefined;
  if (!m || unit === undefined) throw new UserError('BAD_FLAG', `${name}: "${v}" is not a size (examples: 500Gi, 2T, 1048576)`);
  return Math.floor(Number(m[1]) * unit);
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start the standalone control plane (API, scheduler, local executor, dashboard)')
    .option('--data-dir <dir>', 'private state directory (SQLite, admin token, exit files)', '.gantry')
    .option('--workspace <dir>', 'team workspaces: job folders with logs, checkpoints, work dirs (default: <data-dir>-work)')
    .option('--id-base <uid>', 'as root: first uid/gid given to jobs and teams', '200000')
    .option('--no-cgroups', 'no cgroup per worker (cpu/memory requests then go unenforced)')
    .option('--gpus <spec>', 'simulated inventory when the machine has no GPUs, e.g. 8xH100-80GB or 2xA100-80GB:mig,1xL4, or @FILE holding such a line')
    .option('--sim-nodes <n>', 'with --gpus: that many simulated nodes, each with those GPUs (HOST, HOST-n2, ...); their jobs run on this machine too')
    .option('--host <host>', 'address to listen on (default localhost only)', '127.0.0.1')
    .option('--port <port>', 'port', '7480')
    .option('--min-runtime <seconds>', 'a job runs at least this long before it may be preempted', '60')
    .option('--stop-grace <seconds>', 'between SIGTERM and SIGKILL when stopping a job', '10')
    .option('--mps <mode>', 'MPS control daemons for GPU shares: auto (real GPUs, when nvidia-cuda-mps-control is on PATH), on, off', 'auto')
    .option('--window <jobs>', 'queued jobs of each queue the scheduler considers at a time (the rest wait their turn in order)', '1000')
    .option('--tls-cert <file>', 'PEM certificate: serve HTTPS (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--metrics-port <port>', 'also serve /metrics without a token on this port (loopback only, for a local Prometheus)')
    .option('--router-port <port>', 'the inference services\' router: service NAME is at http://HOST:PORT/NAME/ (default: --port + 1)')
    .option('--metrics-host <host>', 'loopback address for --metrics-port', '127.0.0.1')
    .option('--rate-limit <n>', 'requests per second per user (admins exempt); 0 = no limit', '100')
    .option('--rate-burst <n>', 'requests a user may send at once before --rate-limit applies (default: twice the limit)')
    .option('--cache-dir <dir>', 'the node\'s dataset cache folder (default: <data-dir>-datasets)')
    .option('--cache-capacity <size>', 'bytes the dataset cache may hold, e.g. 500Gi, 2T (least recently used copies are evicted)', '100Gi')
    .option('--max-queued-per-team <n>', 'queued jobs a team may have; more are refused (QUOTA_EXCEEDED); 0 = no cap', '100000')
    .action(async (o: { dataDir: string; workspace?: string; idBase: string; cgroups: boolean; gpus?: string; simNodes?: string; host: string; port: string; minRuntime: string; stopGrace: string; window: string; mps: string; tlsCert?: string; tlsKey?: string; metricsPort?: string; routerPort?: string; metricsHost: string; rateLimit: string; rateBurst?: string; maxQueuedPerTeam: string; cacheDir?: string; cacheCapacity: string }) => {
      if (o.mps !== 'auto' && o.mps !== 'on' && o.mps !== 'off') throw new UserError('BAD_FLAG', `--mps: "${o.mps}" is not auto, on or off`);
      const windowPerQueue = intOption(o.window, '--window');
      if (windowPerQueue < 1) throw new UserError('BAD_FLAG', `--window: must be at least 1, got ${windowPerQueue}`);
      // Loaded here, not at the top: other commands need none of the server's modules.
      const { startServer } = await import('../../server/standalone.js');
      const server = await startServer({
        dataDir: o.dataDir === '.gantry' ? dataDirDefault() : o.dataDir,
        ...(o.workspace !== undefined ? { workspace: o.workspace } : {}),
        idBase: intOption(o.idBase, '--id-base'),
        cgroups: o.cgroups,
        host: o.host,
        port: parseNumber('--port', o.port, 0, 65535, true),
        minRuntimeSeconds: intOption(o.minRuntime, '--min-runtime'),
        stopGraceSeconds: intOption(o.stopGrace, '--stop-grace'),
        windowPerQueue,
        mps: o.mps,
        ...(o.gpus ? { gpus: gpusFlag(o.gpus) } : {}),
        ...(o.simNodes !== undefined ? { simNodes: intOption(o.simNodes, '--sim-nodes') } : {}),
        ...(o.tlsCert !== undefined ? { tlsCert: o.tlsCert } : {}),
        ...(o.tlsKey !== undefined ? { tlsKey: o.tlsKey } : {}),
        ...(o.metricsPort !== undefined ? { metricsPort: intOption(o.metricsPort, '--metrics-port'), metricsHost: o.metricsHost } : {}),
        ...(o.routerPort !== undefined ? { routerPort: intOption(o.routerPort, '--router-port') } : {}),
        rateLimit: intOption(o.rateLimit, '--rate-limit'),
        ...(o.rateBurst !== undefined ? { rateBurst: Math.max(1, intOption(o.rateBurst, '--rate-burst')) } : {}),
        maxQueuedPerTeam: intOption(o.maxQueuedPerTeam, '--max-queued-per-team'),
        ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}),
        cacheCapacityBytes: sizeOption(o.cacheCapacity, '--cache-capacity'),
      });
      process.stdout.write(banner(server) + `  ready ${Math.round(performance.now())} ms after the process started; Ctrl-C stops the server (running jobs keep running and are found again on the next start)\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          void server.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
