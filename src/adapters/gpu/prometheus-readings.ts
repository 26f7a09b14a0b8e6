/**
 * GPU readings from a Prometheus server that scrapes NVIDIA's DCGM exporter (what a
 * Kubernetes GPU cluster runs): one instant query per field over the HTTP API
 * (`/api/v1/query`), keyed by the exporter's `UUID` label. Utilisation is
 * `DCGM_FI_DEV_GPU_UTIL` (%), memory `DCGM_FI_DEV_FB_USED` (MiB). A GPU missing from the answer
 * has no reading (never called idle).
 */
import type { GpuReading } from '../../core/fleet-use.js';

export interface GpuReadingSource {
  read(): Promise<Map<string, GpuReading>>;
}

export const DCGM_UTIL = 'DCGM_FI_DEV_GPU_UTIL';
export const DCGM_MEMORY_USED = 'DCGM_FI_DEV_FB_USED';

interface VectorAnswer {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: { metric?: Record<string, string>; value?: [number, string] }[] };
}

export class PrometheusGpuReadings implements GpuReadingSource {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 5000,
  ) {}

  private async query(expr: string): Promise<Map<string, number>> {
    const url = `${this.baseUrl.replace(/\/$/, '')}/api/v1/query?query=${encodeURIComponent(expr)}`;
    const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    const body = (await res.json().catch(() => ({}))) as VectorAnswer;
    if (!res.ok || body.status !== 'success') throw new Error(`${url} answered ${res.status}${body.error ? `: ${body.error}` : ''}`);
    const out = new Map<string, number>();
    for (const r of body.data?.result ?? []) {
      const uuid = r.metric?.['UUID'];
      const v = Number(r.value?.[1]);
      if (uuid && Number.isFinite(v)) out.set(uuid, v);
    }
    return out;
  }

  async read(): Promise<Map<string, GpuReading>> {
    const [util, mem] = await Promise.all([this.query(DCGM_UTIL), this.query(DCGM_MEMORY_USED)]);
    const out = new Map<string, GpuReading>();
    for (const uuid of new Set([...util.keys(), ...mem.keys()])) out.set(uuid, { utilization: util.get(uuid) ?? null, memoryUsedMiB: mem.get(uuid) ?? null });
    return out;
  }
}
