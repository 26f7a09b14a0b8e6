/**
 * MIG device UUIDs for the placements the scheduler chooses. The scheduler places a GPU
 * instance by (GPU, profile, start slot); a worker needs the UUID of the MIG device there
 * (`MIG-<uuid>`, R470+). No single nvidia-smi listing says both, so three are joined:
 * `mig -lgi` (GPU instance id -> profile, placement start), plain `nvidia-smi` (GPU instance
 * id -> MIG device index) and `-L` (MIG device index -> UUID). A placement with no device
 * has no UUID: the start fails with that reason, a worker is never given a made-up UUID.
 * A simulated inventory has no devices; its names say so (`MIG-SIM-...`).
 */
import { parseListGpus, parseMigDeviceTable, parseMigInstances, type Runner } from './nvidia-smi.js';

export interface MigDevice {
  readonly gpu: number;
  readonly gpuUuid: string;
  readonly profile: string;
  readonly start: number;
  readonly size: number;
  readonly gpuInstance: number;
  readonly computeInstance: number;
  readonly uuid: string;
}

/** Joins the three listings; a device whose GPU instance or UUID is missing is left out. */
export function joinMigDevices(listText: string, lgiText: string, smiText: string): MigDevice[] {
  const listed = parseListGpus(listText);
  const instances = parseMigInstances(lgiText);
  const out: MigDevice[] = [];
  for (const row of parseMigDeviceTable(smiText)) {
    const gpu = listed.find((g) => g.index === row.gpu);
    const dev = gpu?.mig.find((d) => d.device === row.device);
    const gi = instances.find((i) => i.gpu === row.gpu && i.instanceId === row.gpuInstance);
    if (!gpu || !dev || !gi) continue;
    out.push({ gpu: row.gpu, gpuUuid: gpu.uuid, profile: gi.profile, start: gi.start, size: gi.size, gpuInstance: gi.instanceId, computeInstance: row.computeInstance, uuid: dev.uuid });
  }
  // One device per GPU instance: its first compute instance (Gantry hands out whole instances).
  return out.sort((a, b) => a.gpu - b.gpu || a.start - b.start || a.computeInstance - b.computeInstance);
}

/** Lists the MIG devices; empty when there are none or nvidia-smi cannot tell. */
export async function discoverMigDevices(run: Runner): Promise<MigDevice[]> {
  const [list, lgi, smi] = await Promise.all([run(['-L']), run(['mig', '-lgi']), run([])]);
  if (list.code !== 0 || smi.code !== 0) return [];
  // `mig -lgi` fails ("No GPU instances found") when no GPU has one.
  return joinMigDevices(list.stdout, lgi.code === 0 ? lgi.stdout : '', smi.stdout);
}

export function simulatedMigUuid(gpuUuid: string, profile: string, start: number): string {
  return `MIG-SIM-${gpuUuid.replace(/^GPU-/, '')}-${profile}-${start}`;
}

export class MigDeviceError extends Error {}

/** The UUID of the MIG device at a placement, or an error that says what is missing and where. */
export function migDeviceUuid(devices: readonly MigDevice[], gpuUuid: string, gpuIndex: number, profile: string, start: number): string {
  const found = devices.find((d) => d.gpuUuid === gpuUuid && d.profile === profile && d.start === start);
  if (found) return found.uuid;
  const here = devices.filter((d) => d.gpuUuid === gpuUuid).map((d) => `${d.profile}@${d.start}`);
  throw new MigDeviceError(
    `no MIG device ${profile} at memory slice ${start} on GPU ${gpuIndex} (${gpuUuid}); ` +
      `nvidia-smi lists ${here.length > 0 ? here.join(', ') : 'none'} there. Create that GPU instance (with its compute instance) or change the GPU's MIG layout`,
  );
}
