/**
 * What Gantry knows about GPU models: memory, whether MIG is supported, and the MIG profile
 * geometry (memory slices, SM slices, valid start slots), from NVIDIA's MIG user guide
 * (see ../shared/reference/gpu.md, section 1). Models not listed here are still accepted:
 * they are treated as non-MIG GPUs whose memory comes from discovery or the inventory.
 */

export interface MigProfile {
  /** Profile name as nvidia-smi prints it for this model, e.g. "3g.40gb". */
  name: string;
  /** NVML profile id (19, 20, 15, 14, 9, 5, 0). */
  id: number;
  memSlices: number;
  smSlices: number;
  /** Valid start slots (index of the first memory slice). */
  starts: readonly number[];
  maxInstances: number;
  memoryMiB: number;
  /** "+me" profiles carry the media engines; only one may exist per GPU. */
  mediaExtensions: boolean;
}

export interface GpuModelSpec {
  /** Canonical model name used in requests and inventories, e.g. "H100-80GB". */
  name: string;
  memoryMiB: number;
  /** Dense FP16/BF16 TFLOPS, for normalised quota and reports; 0 when unknown. */
  fp16Tflops: number;
  migProfiles: readonly MigProfile[];
  /** Other names that map to this model (nvidia-smi product names, GFD labels). */
  aliases: readonly string[];
}

/** The seven MIG geometries shared by A100 / H100 / H200 / B200 (slots per NVIDIA's -lgipp). */
const GEOMETRY = [
  { id: 19, g: '1g', memSlices: 1, smSlices: 1, starts: [0, 1, 2, 3, 4, 5, 6], maxInstances: 7, me: false },
  { id: 20, g: '1g', memSlices: 1, smSlices: 1, starts: [0, 1, 2, 3, 4, 5, 6], maxInstances: 1, me: true },
  { id: 15, g: '1g', memSlices: 2, smSlices: 1, starts: [0, 2, 4, 6], maxInstances: 4, me: false },
  { id: 14, g: '2g', memSlices: 2, smSlices: 2, starts: [0, 2, 4], maxInstances: 3, me: false },
  { id: 9, g: '3g', memSlices: 4, smSlices: 3, starts: [0, 4], maxInstances: 2, me: false },
  { id: 5, g: '4g', memSlices: 4, smSlices: 4, starts: [0], maxInstances: 1, me: false },
  { id: 0, g: '7g', memSlices: 8, smSlices: 7, starts: [0], maxInstances: 1, me: false },
] as const;

function migProfiles(memNames: readonly [string, string, string, string, string, string, string], totalMiB: number): MigProfile[] {
  return GEOMETRY.map((g, i) => ({
    name: `${g.g}.${memNames[i]}${g.me ? '+me' : ''}`,
    id: g.id,
    memSlices: g.memSlices,
    smSlices: g.smSlices,
    starts: g.starts,
    maxInstances: g.maxInstances,
    memoryMiB: Math.floor((totalMiB * g.memSlices) / 8),
    mediaExtensions: g.me,
  }));
}

export const GPU_MODELS: readonly GpuModelSpec[] = [
  { name: 'A100-40GB', memoryMiB: 40960, fp16Tflops: 312, aliases: ['NVIDIA A100-SXM4-40GB', 'NVIDIA A100-PCIE-40GB', 'A100-SXM4-40GB', 'A100'],
    migProfiles: migProfiles(['5gb', '5gb', '10gb', '10gb', '20gb', '20gb', '40gb'], 40960) },
  { name: 'A100-80GB', memoryMiB: 81920, fp16Tflops: 312, aliases: ['NVIDIA A100-SXM4-80GB', 'NVIDIA A100 80GB PCIe', 'A100-SXM4-80GB'],
    migProfiles: migProfiles(['10gb', '10gb', '20gb', '20gb', '40gb', '40gb', '80gb'], 81920) },
  { name: 'H100-80GB', memoryMiB: 81559, fp16Tflops: 989, aliases: ['NVIDIA H100 80GB HBM3', 'NVIDIA H100-SXM5-80GB', 'NVIDIA H100 PCIe', 'H100', 'H100-SXM5-80GB'],
    migProfiles: migProfiles(['10gb', '10gb', '20gb', '20gb', '40gb', '40gb', '80gb'], 81559) },
  { name: 'H200-141GB', memoryMiB: 143771, fp16Tflops: 989, aliases: ['NVIDIA H200', 'H200', 'NVIDIA H200 141GB HBM3e'],
    migProfiles: migProfiles(['18gb', '18gb', '35gb', '35gb', '71gb', '71gb', '141gb'], 143771) },
  { name: 'B200-180GB', memoryMiB: 183359, fp16Tflops: 2250, aliases: ['NVIDIA B200', 'B200'],
    migProfiles: migProfiles(['23gb', '23gb', '45gb', '45gb', '90gb', '90gb', '180gb'], 183359) },
  { name: 'L40S', memoryMiB: 46068, fp16Tflops: 362, aliases: ['NVIDIA L40S'], migProfiles: [] },
  { name: 'L4', memoryMiB: 23034, fp16Tflops: 121, aliases: ['NVIDIA L4'], migProfiles: [] },
  { name: 'T4', memoryMiB: 15360, fp16Tflops: 65, aliases: ['Tesla T4', 'Tesla-T4'], migProfiles: [] },
  { name: 'A10', memoryMiB: 23028, fp16Tflops: 125, aliases: ['NVIDIA A10'], migProfiles: [] },
  { name: 'A10G', memoryMiB: 23028, fp16Tflops: 70, aliases: ['NVIDIA A10G'], migProfiles: [] },
  { name: 'V100M16', memoryMiB: 16384, fp16Tflops: 125, aliases: ['Tesla V100-SXM2-16GB'], migProfiles: [] },
  { name: 'V100M32', memoryMiB: 32768, fp16Tflops: 125, aliases: ['Tesla V100-SXM2-32GB'], migProfiles: [] },
  { name: 'P100', memoryMiB: 16384, fp16Tflops: 19, aliases: ['Tesla P100-PCIE-16GB'], migProfiles: [] },
];

const BY_NAME = new Map<string, GpuModelSpec>();
for (const m of GPU_MODELS) {
  BY_NAME.set(m.name.toLowerCase(), m);
  for (const a of m.aliases) BY_NAME.set(a.toLowerCase(), m);
}

/** Finds a model by canonical name or alias (case-insensitive); undefined when unknown. */
export function findGpuModel(name: string): GpuModelSpec | undefined {
  return BY_NAME.get(name.trim().toLowerCase());
}

/** The MIG profile named `profile` on `model`, or undefined when the model lacks it. */
export function findMigProfile(model: string, profile: string): MigProfile | undefined {
  const spec = findGpuModel(model);
  if (!spec) return undefined;
  return spec.migProfiles.find((p) => p.name === profile);
}

/** Every model that offers a MIG profile of this name (used to explain MIG requests). */
export function modelsWithMigProfile(profile: string): string[] {
  return GPU_MODELS.filter((m) => m.migProfiles.some((p) => p.name === profile)).map((m) => m.name);
}
