/**
 * GPU discovery and telemetry from `nvidia-smi` output (no NVML bindings). Parsers are pure
 * functions over the text nvidia-smi prints, tested on captures in test/fixtures/nvidia-smi:
 * `--query-gpu ... --format=csv,noheader,nounits` (with `[N/A]` fields, and drivers such as
 * 470 that refuse `compute_cap`), `topo -m`, `mig -lgi`, `mig -lgip`, `-L` and the MIG devices table.
 */
import { LINK } from '../../core/model/node.js';
import { findGpuModel } from '../../core/model/gpu-catalog.js';
import type { GpuSpec } from '../../core/model/node.js';

export const QUERY_FIELDS = [
  'index', 'uuid', 'name', 'pci.bus_id', 'memory.total', 'memory.used', 'memory.free',
  'utilization.gpu', 'utilization.memory', 'temperature.gpu', 'power.draw', 'mig.mode.current',
  'compute_cap', 'driver_version',
] as const;
/** Drivers before ~510 do not know compute_cap. */
export const QUERY_FIELDS_OLD = QUERY_FIELDS.filter((f) => f !== 'compute_cap');

export interface GpuRecord {
  readonly index: number;
  readonly uuid: string;
  readonly name: string;
  readonly pciBusId: string | null;
  readonly memoryTotalMiB: number | null;
  readonly memoryUsedMiB: number | null;
  readonly utilizationGpu: number | null;
  readonly temperatureC: number | null;
  readonly powerW: number | null;
  readonly migEnabled: boolean;
  readonly computeCap: string | null;
  readonly driverVersion: string | null;
}

const UNAVAILABLE = /^\[(N\/A|Not Supported|Unknown Error|Insufficient Permissions|GPU is lost)\]$|^N\/A$/;

function cell(v: string | undefined): string | null {
  if (v === undefined) return null;
  const t = v.trim();
  return t === '' || UNAVAILABLE.test(t) ? null : t;
}

function num(v: string | undefined): number | null {
  const c = cell(v);
  if (c === null) return null;
  const n = Number(c.replace(/\s*(MiB|W|%|C)$/, ''));
  return Number.isFinite(n) ? n : null;
}

export class NvidiaSmiError extends Error {}

/** True when nvidia-smi said a field is unknown to this driver (e.g. 470 and compute_cap). */
export function isUnknownFieldError(text: string): boolean {
  return /is not a valid field to query/i.test(text);
}

/**
 * Parses `--query-gpu=<fields> --format=csv,noheader,nounits` output. `lenient` (telemetry)
 * skips a line without a readable index or UUID (a GPU that fell off the bus prints
 * `[GPU is lost]` or an error line), so the other GPUs are still seen and that one is absent.
 */
export function parseQueryGpu(text: string, fields: readonly string[] = QUERY_FIELDS, lenient = false): GpuRecord[] {
  if (isUnknownFieldError(text)) throw new NvidiaSmiError(text.trim());
  const out: GpuRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const cells = line.split(',');
    const get = (f: string): string | undefined => {
      const i = fields.indexOf(f);
      return i < 0 ? undefined : cells[i];
    };
    const index = num(get('index'));
    const uuid = cell(get('uuid'));
    const name = cell(get('name'));
    if (index === null || uuid === null || name === null || (lenient && !uuid.startsWith('GPU-'))) {
      if (lenient) continue;
      throw new NvidiaSmiError(`unexpected nvidia-smi line: ${line.trim()}`);
    }
    out.push({
      index,
      uuid,
      name,
      pciBusId: cell(get('pci.bus_id')),
      memoryTotalMiB: num(get('memory.total')),
      memoryUsedMiB: num(get('memory.used')),
      utilizationGpu: num(get('utilization.gpu')),
      temperatureC: num(get('temperature.gpu')),
      powerW: num(get('power.draw')),
      migEnabled: cell(get('mig.mode.current')) === 'Enabled',
      computeCap: cell(get('compute_cap')),
      driverVersion: cell(get('driver_version')),
    });
  }
  return out;
}

/** Link cost of one `topo -m` cell. */
export function linkCost(cellText: string): number {
  const t = cellText.trim();
  if (t === 'X') return LINK.SELF;
  if (/^NV\d+$/.test(t)) return LINK.NVLINK;
  switch (t) {
    case 'PIX':
      return LINK.PIX;
    case 'PXB':
      return LINK.PXB;
    case 'PHB':
      return LINK.PHB;
    case 'NODE':
      return LINK.NODE;
    default:
      return LINK.SYS;
  }
}

/** Parses the GPU-to-GPU part of `nvidia-smi topo -m` into a matrix of LINK costs. */
export function parseTopology(text: string): number[][] {
  const lines = text.split('\n');
  const header = lines.find((l) => /^\s*GPU0\b/.test(l.replace(/^\t/, '')) && l.startsWith('\t'));
  if (!header) return [];
  const cols = header.split('\t').slice(1).map((c) => c.trim());
  const gpuCols = cols.map((c, i) => (/^GPU\d+$/.test(c) ? i : -1)).filter((i) => i >= 0);
  const rows: number[][] = [];
  for (const l of lines) {
    const m = /^GPU(\d+)\t/.exec(l);
    if (!m) continue;
    const cells = l.split('\t').slice(1);
    rows[Number(m[1])] = gpuCols.map((ci) => linkCost(cells[ci] ?? 'SYS'));
  }
  return rows;
}

export interface MigInstance {
  readonly gpu: number;
  readonly profile: string;
  readonly profileId: number;
  readonly instanceId: number;
  readonly start: number;
  readonly size: number;
}

/** Parses `nvidia-smi mig -lgi` (existing GPU instances with their placements). */
export function parseMigInstances(text: string): MigInstance[] {
  const out: MigInstance[] = [];
  for (const l of text.split('\n')) {
    const m = /^\|\s+(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+):(\d+)\s+\|/.exec(l);
    if (m) out.push({ gpu: Number(m[1]), profile: m[2] as string, profileId: Number(m[3]), instanceId: Number(m[4]), start: Number(m[5]), size: Number(m[6]) });
  }
  return out;
}

export interface MigProfileAvailability {
  readonly gpu: number;
  readonly profile: string;
  readonly profileId: number;
  readonly free: number;
  readonly total: number;
  readonly memoryGiB: number;
  readonly sm: number;
}

/** Parses `nvidia-smi mig -lgip` (profiles with free/total instances). */
export function parseMigProfiles(text: string): MigProfileAvailability[] {
  const out: MigProfileAvailability[] = [];
  for (const l of text.split('\n')) {
    const m = /^\|\s+(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)\/(\d+)\s+([\d.]+)\s+\S+\s+(\d+)/.exec(l);
    if (m) out.push({ gpu: Number(m[1]), profile: m[2] as string, profileId: Number(m[3]), free: Number(m[4]), total: Number(m[5]), memoryGiB: Number(m[6]), sm: Number(m[7]) });
  }
  return out;
}

export interface ListedGpu {
  readonly index: number;
  readonly name: string;
  readonly uuid: string;
  readonly mig: { readonly profile: string; readonly device: number; readonly uuid: string }[];
}

/** Parses `nvidia-smi -L` (GPU and MIG device UUIDs). */
export function parseListGpus(text: string): ListedGpu[] {
  const out: { index: number; name: string; uuid: string; mig: ListedGpu['mig'][number][] }[] = [];
  for (const l of text.split('\n')) {
    const g = /^GPU (\d+): (.+) \(UUID: (GPU-[^)]+)\)/.exec(l);
    if (g) {
      out.push({ index: Number(g[1]), name: g[2] as string, uuid: g[3] as string, mig: [] });
      continue;
    }
    const m = /^\s+MIG (\S+)\s+Device\s+(\d+): \(UUID: (MIG-[^)]+)\)/.exec(l);
    if (m && out.length > 0) out[out.length - 1]?.mig.push({ profile: m[1] as string, device: Number(m[2]), uuid: m[3] as string });
  }
  return out;
}

export interface MigDeviceRow {
  readonly gpu: number;
  readonly gpuInstance: number;
  readonly computeInstance: number;
  /** The MIG device's index on its GPU: `Device N` in `nvidia-smi -L`. */
  readonly device: number;
}

/**
 * Parses the "MIG devices" table of plain `nvidia-smi` (columns GPU, GI ID, CI ID, MIG Dev):
 * the only listing that links a MIG device (and so its UUID in `-L`) to its GPU instance.
 */
export function parseMigDeviceTable(text: string): MigDeviceRow[] {
  const out: MigDeviceRow[] = [];
  let inTable = false;
  for (const l of text.split('\n')) {
    if (/^\|\s*MIG devices:/.test(l)) inTable = true;
    else if (/^\|\s*Processes:/.test(l)) inTable = false;
    if (!inTable) continue;
    const m = /^\|\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\|/.exec(l);
    if (m) out.push({ gpu: Number(m[1]), gpuInstance: Number(m[2]), computeInstance: Number(m[3]), device: Number(m[4]) });
  }
  return out;
}

/** GPU specs for the core from discovered records (model names mapped through the catalogue). */
export function gpuSpecsFromRecords(records: readonly GpuRecord[]): GpuSpec[] {
  return [...records]
    .sort((a, b) => a.index - b.index)
    .map((r) => {
      const known = findGpuModel(r.name);
      const memoryMiB = r.memoryTotalMiB ?? known?.memoryMiB;
      return { uuid: r.uuid, model: known?.name ?? r.name, ...(memoryMiB !== undefined ? { memoryMiB } : {}), migEnabled: r.migEnabled, healthy: true };
    });
}

export type Runner = (args: readonly string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

/**
 * Queries GPUs, retrying without compute_cap on drivers that refuse it. Null when there is no
 * nvidia-smi. `lenient` (telemetry): the GPUs nvidia-smi could read, even when it failed on another.
 */
export async function queryGpus(run: Runner, lenient = false): Promise<GpuRecord[] | null> {
  const q = (fields: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> => run([`--query-gpu=${fields.join(',')}`, '--format=csv,noheader,nounits']);
  let r = await q(QUERY_FIELDS);
  if (r.code === 127 || r.code === -2) return null;
  if (r.code !== 0 && isUnknownFieldError(r.stdout + r.stderr)) {
    r = await q(QUERY_FIELDS_OLD);
    if (r.code !== 0) throw new NvidiaSmiError((r.stderr || r.stdout).trim());
    return parseQueryGpu(r.stdout, QUERY_FIELDS_OLD);
  }
  if (r.code !== 0 && !lenient) throw new NvidiaSmiError((r.stderr || r.stdout).trim());
  const records = parseQueryGpu(r.stdout, QUERY_FIELDS, lenient);
  if (r.code !== 0 && records.length === 0) throw new NvidiaSmiError((r.stderr || r.stdout).trim());
  return records;
}
