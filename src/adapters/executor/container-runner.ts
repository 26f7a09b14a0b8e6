/**
 * Runs one worker as a container through the Docker Engine API (a unix socket; no docker CLI).
 * The local executor starts this script as the worker process, in the worker's process group
 * and with the worker's log file as stdout, so everything the executor does for processes
 * (pid files, exit files, restart adoption) holds for containers too:
 *  - refuses binds outside the job's own folders (container-binds.ts), then creates the
 *    container: the job's CPU and memory requests as its limits (no swap beyond them, a pids
 *    limit), no network unless the job asks for the host's, the worker's identity as its user,
 *    the job's folders bind-mounted at the same paths (a missing folder is an error, not
 *    created), only the granted GPUs (an NVIDIA device request by UUID), an init process as
 *    PID 1 so signals reach the command;
 *  - starts it, streams its logs (demultiplexed) to stdout as they come, waits, and exits with
 *    its exit code; a container killed for memory leaves `${exitFile}.oom` and exits 137;
 *  - SIGUSR1 / SIGINT / SIGHUP are forwarded (the checkpoint protocol's signal); SIGTERM is
 *    forwarded and followed by SIGKILL shortly before the executor's grace ends, so the runner
 *    is still alive to report the end and remove the container;
 *  - the container is removed when it ends. Containers whose runner died (SIGKILL) are removed
 *    by the next runner that starts (each container is labelled with its runner's pid).
 * When the container cannot run, one line saying why goes to the log and to
 * `${exitFile}.reason`, and the runner exits 125 (docker's code for "the daemon failed").
 * Usage: node container-runner.js SPEC.json
 */
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { bindProblems } from './container-binds.js';
import { dockerCall, followLogs, replyMessage } from './docker-api.js';
import { isProcessAlive, processStartTicks } from './local.js';

export interface ContainerSpec {
  readonly socket: string;
  readonly name: string;
  readonly image: string;
  /** Argument vector, or a shell command line run with /bin/sh -c. */
  readonly command: string | readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /** Host paths mounted at the same path in the container. */
  readonly binds: readonly string[];
  /** The job's own folders: every bind must be one of them or lie inside one. */
  readonly allowedRoots: readonly string[];
  /** Host paths no bind may contain (the server's data directory). */
  readonly hiddenPaths: readonly string[];
  /** GPU or MIG UUIDs to pass through; empty for a simulated inventory (environment only). */
  readonly gpuUuids: readonly string[];
  readonly stopGraceSeconds: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly network: 'none' | 'host';
  readonly limits?: { readonly milliCpu: number; readonly memoryMiB: number };
  /** "uid:gid" to run as; absent = the image's user. */
  readonly user?: string;
  /** The worker's exit file; the runner's markers (`.oom`, `.reason`) are written beside it. */
  readonly exitFile: string;
}

/** A reason the container could not run, for the user (shown without a stack trace). */
export class ContainerError extends Error {}

/** Enough processes for data-loader workers and their threads; stops a fork bomb. */
export const PIDS_LIMIT = 8192;
const MiB = 1024 * 1024;
const RUNNER_LABEL = 'gantry.dev/runner';

export function createBody(spec: ContainerSpec, hostCpus = availableParallelism()): Record<string, unknown> {
  // 0 (or no limits at all) = no limit on that resource.
  const cpu = spec.limits?.milliCpu ?? 0;
  const memory = (spec.limits?.memoryMiB ?? 0) * MiB;
  // The daemon refuses a CPU limit above the host's CPUs or below 0.01 of one.
  const cpuLimit = cpu > 0 ? { NanoCpus: Math.min(Math.max(cpu, 10), hostCpus * 1000) * 1_000_000 } : {};
  // Swap equal to memory: the limit is the memory a job may use, not memory plus swap.
  // /dev/shm (data-loader workers) counts against the same limit; the default 64 MiB is too small.
  const memoryLimit = memory > 0 ? { Memory: memory, MemorySwap: memory, ShmSize: Math.floor(memory / 2) } : {};
  return {
    Image: spec.image,
    Cmd: typeof spec.command === 'string' ? ['/bin/sh', '-c', spec.command] : [...spec.command],
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    WorkingDir: spec.cwd,
    Labels: spec.labels,
    ...(spec.user !== undefined ? { User: spec.user } : {}),
    Tty: false,
    AttachStdout: false,
    AttachStderr: false,
    HostConfig: {
      // Mounts, not Binds: a missing host folder is an error instead of being created as root.
      Mounts: spec.binds.map((b) => ({ Type: 'bind', Source: b, Target: b })),
      NetworkMode: spec.network,
      Init: true,
      PidsLimit: PIDS_LIMIT,
      ...cpuLimit,
      ...memoryLimit,
      ...(spec.gpuUuids.length > 0 ? { DeviceRequests: [{ Driver: 'nvidia', DeviceIDs: [...spec.gpuUuids], Capabilities: [['gpu']] }] } : {}),
    },
  };
}

/** The runner's label value: its pid namespace, pid and start time (so a reused pid is not taken for it). */
function runnerIdentity(pid = process.pid): string {
  let ns = '';
  try {
    ns = readlinkSync('/proc/self/ns/pid');
  } catch {
    // no /proc: the label still names the pid
  }
  return `${ns} ${pid} ${processStartTicks(pid) ?? ''}`;
}

/** Removes containers left by runners that were killed before they could remove them. */
async function removeOrphans(socket: string): Promise<void> {
  const filters = encodeURIComponent(JSON.stringify({ label: [RUNNER_LABEL] }));
  const r = await dockerCall(socket, 'GET', `/containers/json?all=1&filters=${filters}`);
  if (r.status !== 200) return;
  const ns = runnerIdentity().split(' ')[0];
  for (const c of JSON.parse(r.text) as { Id: string; Labels?: Record<string, string> }[]) {
    const [cns, pid, ticks] = (c.Labels?.[RUNNER_LABEL] ?? '').split(' ');
    if (cns !== ns || !pid || isProcessAlive(Number(pid), ticks ? Number(ticks) : null)) continue;
    await dockerCall(socket, 'DELETE', `/containers/${c.Id}?force=1`).catch(() => undefined);
  }
}

async function pull(spec: ContainerSpec, write: (b: Buffer) => void): Promise<void> {
  write(Buffer.from(`gantry: image ${spec.image} is not present; pulling it\n`));
  const at = spec.image.lastIndexOf(':');
  const [repo, tag] = at > spec.image.lastIndexOf('/') ? [spec.image.slice(0, at), spec.image.slice(at + 1)] : [spec.image, 'latest'];
  const r = await dockerCall(spec.socket, 'POST', `/images/create?fromImage=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}`);
  // A failed pull may still answer 200, with the error inside the progress stream.
  const failed = r.text.split('\n').map((line) => /"error"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(line)?.[1]).find((e) => e !== undefined);
  if (r.status !== 200 || failed !== undefined) throw new ContainerError(`image ${spec.image} is not on this machine and pulling it failed: ${failed ?? replyMessage(r)}`);
}

async function create(spec: ContainerSpec, write: (b: Buffer) => void): Promise<string> {
  const body = createBody(spec);
  body['Labels'] = { ...spec.labels, [RUNNER_LABEL]: runnerIdentity() };
  const path = `/containers/create?name=${encodeURIComponent(spec.name)}`;
  let r = await dockerCall(spec.socket, 'POST', path, body);
  if (r.status === 404) {
    await pull(spec, write);
    r = await dockerCall(spec.socket, 'POST', path, body);
  }
  if (r.status !== 201) throw new ContainerError(`the Docker daemon refused to create the container: ${replyMessage(r)}`);
  return (JSON.parse(r.text) as { Id: string }).Id;
}

function startError(spec: ContainerSpec, message: string): ContainerError {
  if (/could not select device driver/i.test(message)) {
    return new ContainerError(`the job was granted GPUs ${spec.gpuUuids.join(',')} but the Docker daemon cannot pass GPUs to containers (${message}): install the NVIDIA Container Toolkit and configure it for this daemon`);
  }
  return new ContainerError(`the Docker daemon could not start the container: ${message}`);
}

/**
 * Whether the daemon saw the container's cgroup run out of memory. The daemon learns it from an
 * event that may come just after the exit: a SIGKILL nobody sent (137 while not stopping) is
 * asked about again for up to a second.
 */
async function oomKilled(socket: string, id: string, killedUnasked: boolean): Promise<boolean> {
  for (let i = 0; ; i++) {
    const r = await dockerCall(socket, 'GET', `/containers/${id}/json`);
    if (r.status === 200 && (JSON.parse(r.text) as { State?: { OOMKilled?: boolean } }).State?.OOMKilled === true) return true;
    if (!killedUnasked || i >= 10) return false;
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** SIGKILL this long after SIGTERM: a little before the executor's own SIGKILL at the grace. */
export function killAfterMs(graceSeconds: number): number {
  const grace = Math.max(0, graceSeconds * 1000);
  return grace - Math.min(1000, grace / 4);
}

export async function runContainer(spec: ContainerSpec, write: (b: Buffer) => void, onSignals: (forward: (sig: NodeJS.Signals) => void) => void): Promise<number> {
  const problems = bindProblems(spec.binds, spec.allowedRoots, spec.hiddenPaths);
  if (problems.length > 0) throw new ContainerError(`refusing to start the container: ${problems.join('; ')}`);
  const s = spec.socket;
  let id: string | null = null;
  let stopping = false;
  let killTimer: NodeJS.Timeout | undefined;
  const kill = (sig: string): void => {
    if (id !== null) void dockerCall(s, 'POST', `/containers/${id}/kill?signal=${sig}`).catch(() => undefined);
  };
  const beginStop = (): void => {
    kill('SIGTERM');
    killTimer = setTimeout(() => kill('SIGKILL'), killAfterMs(spec.stopGraceSeconds));
  };
  onSignals((sig) => {
    if (sig !== 'SIGTERM') return kill(sig);
    if (stopping) return;
    stopping = true;
    if (id !== null) beginStop();
  });
  await removeOrphans(s);
  id = await create(spec, write);
  try {
    if (stopping) return 143; // stopped before it started
    const started = await dockerCall(s, 'POST', `/containers/${id}/start`);
    if (started.status !== 204 && started.status !== 304) throw startError(spec, replyMessage(started));
    if (stopping) beginStop(); // SIGTERM came while it was starting
    const logs = followLogs(s, id, write);
    const waited = await dockerCall(s, 'POST', `/containers/${id}/wait?condition=not-running`);
    await logs;
    if (waited.status !== 200) throw new ContainerError(`waiting for the container failed: ${replyMessage(waited)}`);
    const code = (JSON.parse(waited.text) as { StatusCode: number }).StatusCode;
    if (await oomKilled(s, id, code === 137 && !stopping)) {
      writeFileSync(`${spec.exitFile}.oom`, '');
      write(Buffer.from(`gantry: the container was killed for using more than its memory limit (${spec.limits?.memoryMiB ?? '?'} MiB)\n`));
      return 137;
    }
    return code;
  } finally {
    clearTimeout(killTimer);
    await dockerCall(s, 'DELETE', `/containers/${id}?force=1`).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: container-runner SPEC.json\n');
    process.exit(2);
  }
  const spec = JSON.parse(readFileSync(file, 'utf8')) as ContainerSpec;
  try {
    const code = await runContainer(
      spec,
      (b) => process.stdout.write(b),
      (forward) => {
        for (const sig of ['SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGHUP'] as const) process.on(sig, () => forward(sig));
      },
    );
    process.exit(code);
  } catch (e) {
    const why = e instanceof ContainerError ? e.message : `container worker failed: ${(e as Error).message}`;
    process.stdout.write(`gantry: ${why}\n`);
    try {
      writeFileSync(`${spec.exitFile}.reason`, why);
    } catch {
      // the log has it
    }
    process.exit(125);
  }
}

if (process.argv[1] && import.meta.url === new URL(process.argv[1], 'file://').href) void main();
