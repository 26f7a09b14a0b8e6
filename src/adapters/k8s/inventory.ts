/**
 * GPU inventory from a Node object: the device plugin's capacity (`nvidia.com/gpu`,
 * `nvidia.com/mig-<profile>`), GPU feature discovery's labels (product, memory, count, clique),
 * and, where present, Gantry's per-GPU annotation (UUIDs, models, MIG mode, links). Pure.
 *
 * Without the annotation, MIG GPUs are counted as `gpu.count - nvidia.com/gpu` when GFD gives
 * the count, else from the slices the device plugin advertises (8 memory slices per GPU).
 */
import { parseCachedDatasets } from './node-cache-status.js';
import type { V1Node, V1Taint } from '@kubernetes/client-node';
import type { GpuSpec, NodeSpec, SharingMode } from '../../core/model/node.js';
import type { Taint, TaintEffect } from '../../core/model/request.js';
import { findGpuModel } from '../../core/model/gpu-catalog.js';
import { parseMemoryMiB, parseMilliCpu, QuantityError } from '../../core/quantity.js';
import {
  ANN_NODE_CACHED_DATASETS, ANN_NODE_GPUS, ANN_NODE_GPU_LINKS, GFD_CLIQUE, GFD_COUNT, GFD_MEMORY, GFD_PRODUCT, LABEL_RACK, LABEL_SHARING, LABEL_ZONE,
  RES_GPU, RES_MIG_PREFIX,
} from './names.js';

export interface NodeInventory {
  readonly spec: NodeSpec;
  /** Problems with the node's Gantry metadata; the inventory fell back to capacity and labels. */
  readonly warnings: readonly string[];
}

/** Canonical model for a GFD product label ("NVIDIA-A100-SXM4-80GB", "...-MIG-1g.10gb", "...-SHARED"). */
export function modelFromProduct(product: string): string {
  const base = product.replace(/-MIG-.*$/, '').replace(/-SHARED$/, '');
  for (const candidate of [base, base.replace(/-/g, ' '), base.replace(/^NVIDIA-/, ''), base.replace(/^NVIDIA-/, '').replace(/-/g, ' ')]) {
    const m = findGpuModel(candidate);
    if (m) return m.name;
  }
  return base;
}

/** The catalog's name for a model given by catalog name, alias or GFD product label; undefined if unknown. */
export function catalogModel(given: string): string | undefined {
  return findGpuModel(given)?.name ?? findGpuModel(modelFromProduct(given))?.name;
}

function intQuantity(v: string | undefined): number {
  if (v === undefined) return 0;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

/** The MIG profile a device-plugin resource name stands for: mig-1g.10gb -> 1g.10gb, mig-1g.5gb.me -> 1g.5gb+me. */
export function migProfileFromResource(resource: string): string | null {
  if (!resource.startsWith(RES_MIG_PREFIX)) return null;
  const p = resource.slice(RES_MIG_PREFIX.length);
  return p.endsWith('.me') ? `${p.slice(0, -3)}+me` : p;
}

/** A label only the scheduler's snapshot carries: the node's device plugin serves this MIG profile. */
export function migProfileLabel(profile: string): string {
  return `gantry.dev/serves-mig-${profile.replace('+', '.')}`;
}

export function toTaints(taints: readonly V1Taint[] | undefined): Taint[] {
  const out: Taint[] = [];
  for (const t of taints ?? []) {
    const effect = t.effect as TaintEffect;
    if (effect !== 'NoSchedule' && effect !== 'PreferNoSchedule' && effect !== 'NoExecute') continue;
    out.push(t.value !== undefined ? { key: t.key, value: t.value, effect } : { key: t.key, effect });
  }
  return out;
}

function parseGpuAnnotation(raw: string): GpuSpec[] {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    throw new Error(`${ANN_NODE_GPUS} is not valid JSON`);
  }
  if (!Array.isArray(data)) throw new Error(`${ANN_NODE_GPUS} must be a JSON list of GPUs`);
  return data.map((g: unknown, i) => {
    if (typeof g !== 'object' || g === null) throw new Error(`${ANN_NODE_GPUS}[${i}] must be an object`);
    const o = g as Record<string, unknown>;
    if (typeof o['model'] !== 'string' || o['model'] === '') throw new Error(`${ANN_NODE_GPUS}[${i}].model must be a non-empty string`);
    const spec: GpuSpec = { model: findGpuModel(o['model'])?.name ?? o['model'] };
    if (o['uuid'] !== undefined) {
      if (typeof o['uuid'] !== 'string') throw new Error(`${ANN_NODE_GPUS}[${i}].uuid must be a string`);
      spec.uuid = o['uuid'];
    }
    if (o['memoryMiB'] !== undefined) {
      if (typeof o['memoryMiB'] !== 'number' || !Number.isInteger(o['memoryMiB']) || o['memoryMiB'] <= 0) {
        throw new Error(`${ANN_NODE_GPUS}[${i}].memoryMiB must be a positive integer`);
      }
      spec.memoryMiB = o['memoryMiB'];
    }
    if (o['mig'] !== undefined) {
      if (typeof o['mig'] !== 'boolean') throw new Error(`${ANN_NODE_GPUS}[${i}].mig must be true or false`);
      spec.migEnabled = o['mig'];
    }
    if (o['healthy'] !== undefined) {
      if (typeof o['healthy'] !== 'boolean') throw new Error(`${ANN_NODE_GPUS}[${i}].healthy must be true or false`);
      spec.healthy = o['healthy'];
    }
    return spec;
  });
}

function parseLinks(raw: string, n: number): number[][] {
  const data: unknown = JSON.parse(raw);
  if (!Array.isArray(data) || data.length !== n || data.some((r) => !Array.isArray(r) || r.length !== n || r.some((x: unknown) => typeof x !== 'number'))) {
    throw new Error(`${ANN_NODE_GPU_LINKS} must be a ${n}x${n} JSON matrix of numbers`);
  }
  return data as number[][];
}

export function nodeInventory(node: V1Node): NodeInventory {
  const name = node.metadata?.name ?? '';
  const labels = node.metadata?.labels ?? {};
  const annotations = node.metadata?.annotations ?? {};
  const alloc = node.status?.allocatable ?? node.status?.capacity ?? {};
  const warnings: string[] = [];
  let cpuMilli = 0;
  let memoryMiB = 0;
  try {
    cpuMilli = alloc['cpu'] !== undefined ? parseMilliCpu(alloc['cpu']) : 0;
    memoryMiB = alloc['memory'] !== undefined ? parseMemoryMiB(alloc['memory']) : 0;
  } catch (e) {
    if (!(e instanceof QuantityError)) throw e;
    warnings.push(`allocatable cpu/memory unreadable: ${e.message}`);
  }

  const product = labels[GFD_PRODUCT];
  const model = product ? modelFromProduct(product) : 'unknown-gpu';
  const labelMemory = intQuantity(labels[GFD_MEMORY]);
  const gpuMemory = labelMemory > 0 ? labelMemory : undefined;

  let gpus: GpuSpec[] | null = null;
  const rawGpus = annotations[ANN_NODE_GPUS];
  if (rawGpus !== undefined) {
    try {
      gpus = parseGpuAnnotation(rawGpus);
    } catch (e) {
      warnings.push(`${(e as Error).message}; using the device plugin's capacity instead`);
    }
  }
  if (gpus === null) {
    const whole = intQuantity(alloc[RES_GPU]);
    let migSlices = 0;
    for (const [res, qty] of Object.entries(alloc)) {
      const profile = migProfileFromResource(res);
      if (profile === null) continue;
      const p = findGpuModel(model)?.migProfiles.find((x) => x.name === profile);
      migSlices += intQuantity(qty) * (p?.memSlices ?? 1);
    }
    let migCount = 0;
    if (migSlices > 0) {
      const counted = intQuantity(labels[GFD_COUNT]);
      migCount = counted > whole ? counted - whole : Math.ceil(migSlices / 8);
    }
    const gpu = (mig: boolean): GpuSpec => ({ model, ...(gpuMemory !== undefined ? { memoryMiB: gpuMemory } : {}), ...(mig ? { migEnabled: true } : {}) });
    gpus = [...Array.from({ length: whole }, () => gpu(false)), ...Array.from({ length: migCount }, () => gpu(true))];
  }

  let gpuLinks: number[][] | undefined;
  const rawLinks = annotations[ANN_NODE_GPU_LINKS];
  if (rawLinks !== undefined) {
    try {
      gpuLinks = parseLinks(rawLinks, gpus.length);
    } catch (e) {
      warnings.push(e instanceof SyntaxError ? `${ANN_NODE_GPU_LINKS} is not valid JSON` : (e as Error).message);
    }
  }

  const sharing = labels[LABEL_SHARING];
  let sharingMode: SharingMode | undefined;
  if (sharing === 'mps' || sharing === 'software' || sharing === 'timeslice' || sharing === 'none') sharingMode = sharing;
  else if (sharing !== undefined) warnings.push(`${LABEL_SHARING}=${sharing} is not one of mps, software, timeslice, none`);

  const cached = parseCachedDatasets(annotations[ANN_NODE_CACHED_DATASETS]);
  if (cached.warning) warnings.push(cached.warning);
  const cachedDatasets = cached.names;
  const notReady = (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'False');
  // The device plugin serves only the MIG profiles it advertises: mark them, so that a MIG pod
  // goes only where its profile exists (see migProfileSelector in pods.ts).
  const migLabels: Record<string, string> = {};
  for (const [res, qty] of Object.entries(alloc)) {
    const profile = migProfileFromResource(res);
    if (profile !== null && intQuantity(qty) > 0) migLabels[migProfileLabel(profile)] = 'true';
  }
  const spec: NodeSpec = {
    name,
    cpuMilli,
    memoryMiB,
    gpus,
    labels: Object.keys(migLabels).length > 0 ? { ...labels, ...migLabels } : labels,
    taints: toTaints(node.spec?.taints),
    unschedulable: node.spec?.unschedulable === true || notReady,
    ...(labels[LABEL_RACK] !== undefined ? { rack: labels[LABEL_RACK] } : {}),
    ...(labels[LABEL_ZONE] !== undefined ? { zone: labels[LABEL_ZONE] } : {}),
    ...(labels[GFD_CLIQUE] !== undefined ? { nvlinkDomain: labels[GFD_CLIQUE] } : {}),
    ...(gpuLinks !== undefined ? { gpuLinks } : {}),
    ...(sharingMode !== undefined ? { sharingMode } : {}),
    ...(cachedDatasets.length > 0 ? { cachedDatasets } : {}),
    ...(Object.keys(cached.bytes).length > 0 ? { cachedBytes: cached.bytes } : {}),
  };
  return { spec, warnings };
}

/**
 * A key of everything in a NodeSpec that requires re-creating the node in the snapshot
 * (capacity, GPUs, topology). Labels, taints and cordon are updated in place.
 */
export function capacityKey(spec: NodeSpec): string {
  return JSON.stringify([spec.cpuMilli, spec.memoryMiB, spec.gpus, spec.rack, spec.zone, spec.nvlinkDomain, spec.gpuLinks, spec.sharingMode]);
}
