/**
 * A node and its GPUs as the scheduler sees them: capacities, what is free, and per-node
 * summaries that filters read in O(1) (count of whole free GPUs, largest free share, models).
 * Every change bumps `generation` so that per-node score caches know to recompute.
 */
import type { Taint } from './request.js';
import { emptyMigState, type MigState } from './mig.js';
import { findGpuModel, type MigProfile } from './gpu-catalog.js';

/** Link cost between two GPUs, lower is closer (NVLink < PIX < PXB < PHB < NODE < SYS). */
export const LINK = { SELF: 0, NVLINK: 5, PIX: 10, PXB: 20, PHB: 30, NODE: 40, SYS: 50 } as const;

/** How a node isolates GPU shares: MPS limits, a software memory limit (HAMi-style), or none. */
export type SharingMode = 'mps' | 'software' | 'timeslice' | 'none';

export interface GpuSpec {
  uuid?: string;
  model: string;
  memoryMiB?: number;
  migEnabled?: boolean;
  /** The GPU instances that exist (real GPUs): only these placements are used. Absent = any. */
  migLayout?: readonly { readonly profile: string; readonly start: number }[];
  healthy?: boolean;
}

export interface NodeSpec {
  name: string;
  cpuMilli: number;
  memoryMiB: number;
  gpus?: readonly GpuSpec[];
  labels?: Readonly<Record<string, string>>;
  taints?: readonly Taint[];
  rack?: string;
  zone?: string;
  /** Multi-node NVLink domain (e.g. an NVL72 clique); nodes sharing it are closest after same-node. */
  nvlinkDomain?: string;
  /** Square matrix of LINK costs between GPU indices; absent = unknown (all pairs equal). */
  gpuLinks?: readonly (readonly number[])[];
  sharingMode?: SharingMode;
  unschedulable?: boolean;
  /** Datasets cached on this node's local disk (complete copies). */
  cachedDatasets?: readonly string[];
  /** Bytes of each dataset the node holds (a partial copy counts what it has); complements cachedDatasets. */
  cachedBytes?: Readonly<Record<string, number>>;
  /** True when the GPUs are declared, not discovered (shown as simulated everywhere). */
  simulated?: boolean;
}

const EMPTY_SET: ReadonlySet<string> = new Set();
const EMPTY_BYTES: ReadonlyMap<string, number> = new Map();

/** A node's bytes per dataset: complete copies named in `names` (size unknown: Infinity), plus `bytes`. */
export function cachedBytesOf(names: readonly string[] | undefined, bytes: Readonly<Record<string, number>> | undefined): ReadonlyMap<string, number> {
  if ((!names || names.length === 0) && (!bytes || Object.keys(bytes).length === 0)) return EMPTY_BYTES;
  const m = new Map<string, number>();
  for (const n of names ?? []) m.set(n, Infinity);
  for (const [k, v] of Object.entries(bytes ?? {})) if (v > 0 && !m.has(k)) m.set(k, v);
  return m;
}
const NO_PROFILES: readonly MigProfile[] = [];
/** Identical link matrices and model lists are shared between nodes (thousands of equal boards). */
const linkIntern = new Map<string, Uint8Array>();
const modelsIntern = new Map<string, readonly string[]>();

export class GpuState {
  readonly index: number;
  private readonly declaredUuid: string | null;
  private readonly nodeName: string;
  readonly model: string;
  readonly memoryMiB: number;
  milliFree = 1000;
  memFree: number;
  healthy: boolean;
  /** Non-null when the GPU is in MIG mode. */
  mig: MigState | null;

  constructor(index: number, spec: GpuSpec, nodeName: string) {
    const known = findGpuModel(spec.model);
    this.index = index;
    this.model = known?.name ?? spec.model;
    this.declaredUuid = spec.uuid ?? null;
    this.nodeName = nodeName;
    this.memoryMiB = spec.memoryMiB ?? known?.memoryMiB ?? 16384;
    this.memFree = this.memoryMiB;
    this.healthy = spec.healthy ?? true;
    this.mig = spec.migEnabled ? emptyMigState(spec.migLayout) : null;
  }

  /** MIG profiles of this model (from the catalog; empty for models without MIG). */
  get migProfiles(): readonly MigProfile[] {
    // Looked up once: scoring reads it for every MIG GPU of every node it rescores.
    return (this.#migProfiles ??= findGpuModel(this.model)?.migProfiles ?? NO_PROFILES);
  }

  #migProfiles: readonly MigProfile[] | undefined = undefined;

  /** The GPU's UUID; simulated GPUs get a stable made-up one (computed, not stored). */
  get uuid(): string {
    return this.declaredUuid ?? `GPU-sim-${this.nodeName}-${this.index}`;
  }

  /** Fully free and usable as a whole GPU. */
  get wholeFree(): boolean {
    return this.healthy && this.mig === null && this.milliFree === 1000 && this.memFree === this.memoryMiB;
  }

  canShare(milli: number, memoryMiB: number): boolean {
    return this.healthy && this.mig === null && this.milliFree >= milli && this.memFree >= memoryMiB;
  }
}

/** Generations are unique across all nodes, so a reused slot never looks unchanged to a cache. */
let nextGeneration = 1;

export class NodeState {
  /** Slot in the cluster's node array (stable for the node's lifetime). */
  slot = -1;
  /** Position in name order, the tie-breaker between equal scores. */
  rank = 0;
  generation = 0;
  /** The cluster's per-slot generation array, mirrored on refresh (scans read it, not the node). */
  generationSink: Float64Array | null = null;
  /** The cluster's change log: every refresh records this node's slot. */
  changeLog: { push(slot: number): void } | null = null;
  readonly name: string;
  readonly cpuMilli: number;
  readonly memoryMiB: number;
  cpuFree: number;
  memFree: number;
  readonly gpus: GpuState[];
  labels: Readonly<Record<string, string>>;
  taints: readonly Taint[];
  readonly rack: string;
  readonly zone: string;
  readonly nvlinkDomain: string;
  readonly gpuLinks: Uint8Array | null;
  readonly sharingMode: SharingMode;
  unschedulable: boolean;
  cachedDatasets: ReadonlySet<string>;
  /** Bytes held per dataset (Infinity = a complete copy of unknown size, from cachedDatasets). */
  cachedBytes: ReadonlyMap<string, number>;
  /** The most bytes of each dataset any node of this rack holds (kept by the Cluster; own bytes when rackless). */
  rackCachedBytes: ReadonlyMap<string, number>;
  readonly simulated: boolean;
  /** Models present on this node (usually one). */
  readonly gpuModels: readonly string[];
  // Summaries kept current by refresh():
  wholeFreeCount = 0;
  maxShareMilli = 0;
  maxShareMem = 0;
  gpuMilliFreeTotal = 0;
  healthyGpus = 0;
  migGpus = 0;
  podCount = 0;

  constructor(spec: NodeSpec) {
    this.name = spec.name;
    this.cpuMilli = spec.cpuMilli;
    this.memoryMiB = spec.memoryMiB;
    this.cpuFree = spec.cpuMilli;
    this.memFree = spec.memoryMiB;
    this.gpus = (spec.gpus ?? []).map((g, i) => new GpuState(i, g, spec.name));
    this.labels = spec.labels ?? {};
    this.taints = spec.taints ?? [];
    this.rack = spec.rack ?? '';
    this.zone = spec.zone ?? '';
    this.nvlinkDomain = spec.nvlinkDomain ?? '';
    this.sharingMode = spec.sharingMode ?? 'none';
    this.unschedulable = spec.unschedulable ?? false;
    this.cachedDatasets = spec.cachedDatasets && spec.cachedDatasets.length > 0 ? new Set(spec.cachedDatasets) : EMPTY_SET;
    this.cachedBytes = cachedBytesOf(spec.cachedDatasets, spec.cachedBytes);
    this.rackCachedBytes = this.cachedBytes;
    this.simulated = spec.simulated ?? false;
    const models = [...new Set(this.gpus.map((g) => g.model))];
    const mkey = models.join('\u0000');
    this.gpuModels = modelsIntern.get(mkey) ?? (modelsIntern.set(mkey, models), models);
    const n = this.gpus.length;
    if (spec.gpuLinks) {
      const links = new Uint8Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) links[i * n + j] = spec.gpuLinks[i]?.[j] ?? LINK.SYS;
      const key = links.join(',');
      const shared = linkIntern.get(key);
      if (shared) this.gpuLinks = shared;
      else {
        if (linkIntern.size < 4096) linkIntern.set(key, links);
        this.gpuLinks = links;
      }
    } else {
      this.gpuLinks = null;
    }
    this.refresh();
  }

  link(a: number, b: number): number {
    if (a === b) return LINK.SELF;
    if (this.gpuLinks === null) return LINK.PHB;
    return this.gpuLinks[a * this.gpus.length + b] ?? LINK.SYS;
  }

  /** Recomputes the summaries and bumps the generation. Call after any change. */
  refresh(): void {
    let whole = 0;
    let maxMilli = 0;
    let maxMem = 0;
    let total = 0;
    let healthy = 0;
    let mig = 0;
    for (const g of this.gpus) {
      if (!g.healthy) continue;
      healthy++;
      if (g.mig !== null) {
        mig++;
        continue;
      }
      total += g.milliFree;
      if (g.wholeFree) whole++;
      if (g.milliFree > maxMilli) maxMilli = g.milliFree;
      if (g.memFree > maxMem) maxMem = g.memFree;
    }
    this.wholeFreeCount = whole;
    this.maxShareMilli = maxMilli;
    this.maxShareMem = maxMem;
    this.gpuMilliFreeTotal = total;
    this.healthyGpus = healthy;
    this.migGpus = mig;
    this.generation = nextGeneration++;
    if (this.generationSink !== null) this.generationSink[this.slot] = this.generation;
    if (this.changeLog !== null) this.changeLog.push(this.slot);
  }
}
