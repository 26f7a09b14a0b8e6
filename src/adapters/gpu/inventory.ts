/**
 * The local node's inventory: real GPUs from nvidia-smi, or a declared simulated inventory
 * (`--gpus 8xH100-80GB`, `2xA100-80GB:mig,1xL4`), marked `simulated` everywhere it shows.
 * Also the telemetry sampler: nvidia-smi for real GPUs, a stated model for simulated ones.
 */
import { execFile } from 'node:child_process';
import { cpus, hostname, totalmem } from 'node:os';
import { UserError } from '../../core/errors.js';
import { findGpuModel, GPU_MODELS } from '../../core/model/gpu-catalog.js';
import { LINK, type GpuSpec, type NodeSpec } from '../../core/model/node.js';
import { gpuSpecsFromRecords, parseTopology, queryGpus, type GpuRecord, type Runner } from './nvidia-smi.js';
import { discoverMigDevices, type MigDevice } from './mig-devices.js';

export const nvidiaSmi: Runner = (args) =>
  new Promise((resolve) => {
    execFile('nvidia-smi', [...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'string' ? 127 : ((err as { code?: number }).code ?? 1)) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });

/** Parses `8xH100-80GB`, `H100-80GB` (one), `2xA100-80GB:mig,1xL4`. */
export function parseGpuFlag(flag: string, node: string): GpuSpec[] {
  const gpus: GpuSpec[] = [];
  for (const part of flag.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(?:(\d{1,3})x)?([A-Za-z0-9][A-Za-z0-9._-]*)(:mig)?$/.exec(part);
    if (!m) throw new UserError('BAD_GPUS_FLAG', `--gpus: "${part}" is not COUNTxMODEL (example: 8xH100-80GB)`);
    const count = m[1] === undefined ? 1 : Number(m[1]);
    const model = findGpuModel(m[2] as string);
    if (!model) throw new UserError('BAD_GPUS_FLAG', `--gpus: unknown GPU model "${m[2]}" (known: ${GPU_MODELS.map((g) => g.name).join(', ')})`);
    if (m[3] && model.migProfiles.length === 0) throw new UserError('BAD_GPUS_FLAG', `--gpus: ${model.name} does not support MIG`);
    if (count < 1 || gpus.length + count > 64) throw new UserError('BAD_GPUS_FLAG', '--gpus: between 1 and 64 GPUs');
    for (let i = 0; i < count; i++) {
      const index = gpus.length;
      gpus.push({ uuid: `GPU-sim-${node}-${index}`, model: model.name, memoryMiB: model.memoryMiB, migEnabled: m[3] !== undefined, healthy: true });
    }
  }
  if (gpus.length === 0) throw new UserError('BAD_GPUS_FLAG', '--gpus: no GPUs declared');
  return gpus;
}

export interface Inventory {
  readonly node: NodeSpec;
  readonly simulated: boolean;
  /** What was found, for the startup banner. */
  readonly summary: string;
  /** MIG devices of real GPUs, with their UUIDs (mig-devices.ts). */
  readonly migDevices?: readonly MigDevice[];
  /**
   * Simulated nodes beyond `node` (`--sim-nodes N`): the same GPUs on each, their jobs run as
   * processes of this machine too. They let one machine exercise placement across nodes (data
   * locality, a service's replicas where its weights are).
   */
  readonly extraNodes?: readonly NodeSpec[];
}

/** Every node of the inventory, the local one first. */
export function inventoryNodes(inv: Inventory): NodeSpec[] {
  return [inv.node, ...(inv.extraNodes ?? [])];
}

function nodeResources(): { cpuMilli: number; memoryMiB: number } {
  return { cpuMilli: cpus().length * 1000, memoryMiB: Math.floor(totalmem() / (1024 * 1024)) };
}

function simulatedNode(flag: string, name: string): NodeSpec {
  const gpus = parseGpuFlag(flag, name);
  const links = gpus.map((a, i) => gpus.map((b, j) => (i === j ? LINK.SELF : a.model === b.model ? LINK.NVLINK : LINK.SYS)));
  return { name, ...nodeResources(), gpus, gpuLinks: links, sharingMode: 'mps', simulated: true, labels: { 'gantry.dev/simulated': 'true' } };
}

/** The name of simulated node `i` (1-based) of `--sim-nodes`: the host name, then HOST-n2, HOST-n3, ... */
export function simulatedNodeName(host: string, i: number): string {
  return i === 1 ? host : `${host}-n${i}`;
}

/**
 * Simulated inventory: same model GPUs are joined by NVLink (an HGX-style board). `nodes` > 1
 * declares that many such nodes (named by simulatedNodeName).
 */
export function simulatedInventory(flag: string, nodeName = hostname(), nodes = 1): Inventory {
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 64) throw new UserError('BAD_GPUS_FLAG', '--sim-nodes: between 1 and 64 nodes');
  const node = simulatedNode(flag, nodeName);
  const extraNodes = Array.from({ length: nodes - 1 }, (_, i) => simulatedNode(flag, simulatedNodeName(nodeName, i + 2)));
  return {
    node,
    simulated: true,
    summary: `${summarise(node.gpus ?? [])}${nodes > 1 ? ` on each of ${nodes} nodes` : ''} (simulated)`,
    ...(extraNodes.length > 0 ? { extraNodes } : {}),
  };
}

function summarise(gpus: readonly GpuSpec[]): string {
  const counts = new Map<string, number>();
  for (const g of gpus) counts.set(g.model + (g.migEnabled ? ' MIG' : ''), (counts.get(g.model + (g.migEnabled ? ' MIG' : '')) ?? 0) + 1);
  return [...counts].map(([m, n]) => `${n}x ${m}`).join(', ') || 'no GPUs';
}

/** Real inventory from nvidia-smi; a node without GPUs when nvidia-smi is absent. */
export async function discoverInventory(run: Runner = nvidiaSmi, nodeName = hostname()): Promise<Inventory> {
  const records = await queryGpus(run);
  if (records === null || records.length === 0) {
    return { node: { name: nodeName, ...nodeResources(), gpus: [] }, simulated: false, summary: 'no GPUs found (nvidia-smi not available); use --gpus 8xH100-80GB for a simulated inventory' };
  }
  // MIG GPUs: the scheduler uses only the GPU instances that exist (an admin made them; a
  // change of layout is seen at the next start).
  const migDevices = records.some((r) => r.migEnabled) ? await discoverMigDevices(run) : [];
  const gpus = gpuSpecsFromRecords(records).map((g) => (g.migEnabled ? { ...g, migLayout: migDevices.filter((d) => d.gpuUuid === g.uuid).map((d) => ({ profile: d.profile, start: d.start })) } : g));
  const topo = await run(['topo', '-m']);
  const links = topo.code === 0 ? parseTopology(topo.stdout) : [];
  const instances = migDevices.length > 0 ? `; MIG instances ${migDevices.map((d) => `GPU ${d.gpu} ${d.profile}@${d.start}`).join(', ')}` : '';
  return {
    node: { name: nodeName, ...nodeResources(), gpus, ...(links.length === gpus.length ? { gpuLinks: links } : {}), sharingMode: 'mps' },
    simulated: false,
    summary: `${summarise(gpus)} (driver ${records[0]?.driverVersion ?? 'unknown'}${instances})`,
    migDevices,
  };
}

export interface GpuSample {
  readonly index: number;
  readonly uuid: string;
  readonly model: string;
  readonly pciBusId: string;
  readonly utilization: number | null;
  readonly memoryUsedMiB: number | null;
  readonly memoryFreeMiB: number | null;
  readonly powerW: number | null;
  readonly temperatureC: number | null;
  readonly simulated: boolean;
}

const TDP_W: Record<string, number> = { 'H100-80GB': 700, 'H200-141GB': 700, 'B200-180GB': 1000, 'A100-80GB': 400, 'A100-40GB': 400, L40S: 350, L4: 72, T4: 70 };

/**
 * The stated model for simulated GPUs: utilisation follows the allocated compute share
 * (with a slow deterministic wobble), memory used = allocated GPU memory x 0.9, power =
 * idle (10% of TDP) + utilisation x the rest, temperature = 30 C + 0.45 C per % utilisation.
 */
export function simulatedSample(gpu: { index: number; uuid: string; model: string; memoryMiB: number }, allocatedMilli: number, allocatedMemMiB: number, now: number): GpuSample {
  const wobble = allocatedMilli > 0 ? 0.9 + 0.1 * Math.sin(now / 7000 + gpu.index) : 0;
  const util = Math.round(Math.min(100, (allocatedMilli / 10) * wobble));
  const tdp = TDP_W[gpu.model] ?? 300;
  const used = Math.round(allocatedMemMiB * 0.9);
  return {
    index: gpu.index,
    uuid: gpu.uuid,
    model: gpu.model,
    pciBusId: `00000000:${(0x18 + gpu.index).toString(16).toUpperCase().padStart(2, '0')}:00.0`,
    utilization: util,
    memoryUsedMiB: used,
    memoryFreeMiB: gpu.memoryMiB - used,
    powerW: Math.round((tdp * 0.1 + tdp * 0.9 * (util / 100)) * 100) / 100,
    temperatureC: Math.round(30 + 0.45 * util),
    simulated: true,
  };
}

export function sampleFromRecord(r: GpuRecord, model: string): GpuSample {
  return {
    index: r.index,
    uuid: r.uuid,
    model,
    pciBusId: r.pciBusId ?? '',
    utilization: r.utilizationGpu,
    memoryUsedMiB: r.memoryUsedMiB,
    memoryFreeMiB: r.memoryTotalMiB !== null && r.memoryUsedMiB !== null ? r.memoryTotalMiB - r.memoryUsedMiB : null,
    powerW: r.powerW,
    temperatureC: r.temperatureC,
    simulated: false,
  };
}
