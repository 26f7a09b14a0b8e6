/**
 * The environment a worker sees (DESIGN.md, "What a workload sees"): its GPUs by UUID (MIG
 * devices by their real UUID, `MIG-SIM-...` on a simulated inventory), MPS limits and its
 * GPU's MPS daemon, or software limits, for a share, the torch.distributed rank variables, and Gantry's own
 * (job, checkpoint dir, progress file, datasets). Gantry's variables win over the job's env.
 */
import { WEIGHTS_DATASET_ENV } from '../spec/service-spec.js';
import type { Binding } from '../core/model/cluster.js';
import type { NodeState } from '../core/model/node.js';
import { datasetEnvName } from '../core/model/dataset-env.js';
import type { JobRow } from '../adapters/store/store.js';
import { simulatedMigUuid } from '../adapters/gpu/mig-devices.js';

export interface WorkerPaths {
  /** The job's own folder: its default cwd and HOME. */
  readonly workDir: string;
  readonly checkpointDir: string;
  readonly ackFile: string;
  readonly progressFile: string;
}

/** Server variables a job inherits: locale, time zone, terminal and PATH, nothing else. */
const INHERITED = new Set(['PATH', 'LANG', 'LANGUAGE', 'TZ', 'TERM']);

/**
 * Base environment inherited from the server, by allowlist: PATH, LANG, LC_*, TZ, TERM. The
 * server's own variables (tokens, cloud credentials, its data dir) never reach a job.
 */
export function baseEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && (INHERITED.has(k) || k.startsWith('LC_'))) out[k] = v;
  return out;
}

export function masterPort(seq: number): number {
  return 20000 + (seq % 20000);
}

/**
 * The GPU devices behind a placement on real hardware: MIG device UUIDs and MPS daemons.
 * Both throw when the device or daemon is not there (the start then fails with that reason).
 */
export interface GpuDevices {
  migUuid(node: string, gpu: { index: number; uuid: string }, profile: string, start: number): string;
  /** The MPS daemon's folders for a GPU holding shares; null where no daemons are run. */
  mps(node: string, gpuUuid: string): { pipe: string; log: string } | null;
}

export function workerEnv(job: JobRow, bindings: readonly Binding[], rank: number, node: NodeState | undefined, paths: WorkerPaths, base: Record<string, string>, devices?: GpuDevices, dataDirs?: Readonly<Record<string, string>>): Record<string, string> {
  const b = bindings[rank];
  const env: Record<string, string> = { ...base, HOME: paths.workDir, ...job.spec.env };
  const sameNode = bindings.filter((x) => x.node === b?.node);
  const localRank = sameNode.findIndex((x) => x === b);
  Object.assign(env, {
    GANTRY_JOB: job.id,
    GANTRY_JOB_NAME: job.name,
    GANTRY_QUEUE: job.queue,
    GANTRY_ATTEMPT: String(job.attempts),
    GANTRY_NODE: b?.node ?? '',
    GANTRY_SIMULATED: node?.simulated ? '1' : '0',
    GANTRY_CHECKPOINT_DIR: paths.checkpointDir,
    GANTRY_CHECKPOINT_ACK_FILE: paths.ackFile,
    GANTRY_PROGRESS_FILE: paths.progressFile,
    RANK: String(rank),
    WORLD_SIZE: String(bindings.length),
    LOCAL_RANK: String(Math.max(0, localRank)),
    LOCAL_WORLD_SIZE: String(sameNode.length),
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: String(masterPort(job.seq)),
  });
  // A registered dataset points at the node's read-only complete copy; a plain `path` as given.
  for (const d of job.spec.datasets) {
    const dir = d.path ?? dataDirs?.[d.name];
    if (dir !== undefined) env[datasetEnvName(d.name)] = dir;
  }
  // A service replica whose weights are a dataset reads them from the node's copy.
  const weights = job.spec.env[WEIGHTS_DATASET_ENV];
  const weightsDir = weights !== undefined ? dataDirs?.[weights] : undefined;
  if (weightsDir !== undefined) env['GANTRY_WEIGHTS'] = weightsDir;
  const grants = b?.gpus ?? [];
  if (grants.length === 0 || !node) {
    env['CUDA_VISIBLE_DEVICES'] = '';
    env['NVIDIA_VISIBLE_DEVICES'] = 'void';
    return env;
  }
  const uuids = grants.map((g) => {
    const gpu = node.gpus[g.gpu];
    if (!gpu) throw new Error(`node ${node.name} has no GPU ${g.gpu}`);
    if (!g.mig) return gpu.uuid;
    // A simulated GPU has no MIG devices: the name says it is simulated. Real hardware: the
    // device's own UUID, or no start at all.
    if (node.simulated) return simulatedMigUuid(gpu.uuid, g.mig.profile, g.mig.start);
    if (!devices) throw new Error(`MIG device UUIDs are not known on node ${node.name}`);
    return devices.migUuid(node.name, gpu, g.mig.profile, g.mig.start);
  });
  env['CUDA_VISIBLE_DEVICES'] = uuids.join(',');
  env['NVIDIA_VISIBLE_DEVICES'] = uuids.join(',');
  const g0 = grants[0];
  const gpu0 = g0 ? node.gpus[g0.gpu] : undefined;
  const isShare = grants.length === 1 && g0 !== undefined && !g0.mig && gpu0 !== undefined && (g0.milli < 1000 || g0.memoryMiB < gpu0.memoryMiB);
  if (isShare && g0) {
    const pct = Math.max(1, Math.ceil(g0.milli / 10));
    env['GANTRY_GPU_SHARE'] = String(g0.milli / 1000);
    env['GANTRY_GPU_MEMORY_MIB'] = String(g0.memoryMiB);
    if (node.sharingMode === 'mps') {
      if (g0.milli > 0) env['CUDA_MPS_ACTIVE_THREAD_PERCENTAGE'] = String(pct);
      // The worker sees one device (its UUID), so its ordinal is 0.
      if (g0.memoryMiB > 0) env['CUDA_MPS_PINNED_DEVICE_MEM_LIMIT'] = `0=${g0.memoryMiB}M`;
      const daemon = devices?.mps(node.name, gpu0.uuid) ?? null;
      if (daemon) {
        env['CUDA_MPS_PIPE_DIRECTORY'] = daemon.pipe;
        env['CUDA_MPS_LOG_DIRECTORY'] = daemon.log;
      }
    } else if (node.sharingMode === 'software') {
      if (g0.memoryMiB > 0) env['CUDA_DEVICE_MEMORY_LIMIT'] = `${g0.memoryMiB}m`;
      if (g0.milli > 0) env['CUDA_DEVICE_SM_LIMIT'] = String(pct);
    }
  }
  return env;
}
