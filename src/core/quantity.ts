/**
 * Resource quantities. Gantry keeps every resource as an integer: milli-CPU, MiB of memory,
 * milli-GPU (compute share), MiB of GPU memory. These parsers accept the notations users
 * write (Kubernetes-style "500m", "2", "16Gi", "20G", "512Mi") and reject anything else.
 */

export class QuantityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuantityError';
  }
}

const MEMORY_UNITS: Record<string, number> = {
  '': 1 / (1024 * 1024), // plain bytes
  Ki: 1 / 1024,
  Mi: 1,
  Gi: 1024,
  Ti: 1024 * 1024,
  k: 1000 / (1024 * 1024),
  K: 1000 / (1024 * 1024),
  M: 1e6 / (1024 * 1024),
  G: 1e9 / (1024 * 1024),
  T: 1e12 / (1024 * 1024),
};

/** Parses a memory quantity into MiB (rounded up). Numbers without a unit are bytes. */
export function parseMemoryMiB(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new QuantityError(`memory must be a non-negative number of bytes, got ${value}`);
    return Math.ceil(value / (1024 * 1024));
  }
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?|k)?\s*$/.exec(value);
  if (!m) throw new QuantityError(`"${value}" is not a memory quantity (examples: 512Mi, 16Gi, 20G)`);
  const unit = MEMORY_UNITS[m[2] ?? ''];
  if (unit === undefined) throw new QuantityError(`"${value}" has an unknown unit`);
  return Math.ceil(Number(m[1]) * unit - 1e-9);
}

/** Parses a CPU quantity ("500m", "2", 1.5) into milli-CPU. */
export function parseMilliCpu(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new QuantityError(`cpu must be a non-negative number, got ${value}`);
    return Math.round(value * 1000);
  }
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)(m?)\s*$/.exec(value);
  if (!m) throw new QuantityError(`"${value}" is not a CPU quantity (examples: 500m, 2, 1.5)`);
  const n = Number(m[1]);
  return m[2] === 'm' ? Math.round(n) : Math.round(n * 1000);
}

export function formatMiB(mib: number): string {
  if (mib >= 1024 && mib % 1024 === 0) return `${mib / 1024}Gi`;
  if (mib >= 1024) return `${(mib / 1024).toFixed(1)}Gi`;
  return `${mib}Mi`;
}

export function formatMilliCpu(milli: number): string {
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}
