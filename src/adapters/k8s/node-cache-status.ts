/**
 * The JSON the node cache agent and the scheduler exchange through Node annotations
 * (docs/datasets.md, "Kubernetes"):
 *
 * `gantry.dev/cached-datasets` (the agent writes it):
 *   {"capacityBytes": 214748364800, "usedBytes": 1073741824, "updatedAt": "2026-12-06T20:00:00.000Z",
 *    "datasets": [{"name": "imagenet", "version": 2, "state": "ready", "bytes": 1073741824,
 *                  "bytesDone": 1073741824, "pinned": true}],
 *    "errors": [{"name": "coco", "code": "DATASET_SOURCE_UNREADABLE", "message": "...",
 *                "failures": 3, "retryAt": "2026-12-06T20:00:04.000Z"}]}
 *   state is ready or filling (bytesDone counts the verified bytes so far); a failed scan or
 *   fill says how many failed in a row and when the agent tries again.
 *
 * `gantry.dev/cache-prefetch` (the scheduler writes it, for pending pods it expects there):
 *   {"datasets": ["imagenet"], "pods": ["team-a/train-0"], "at": "2026-12-06T20:00:00.000Z"}
 *
 * `gantry.dev/cache-evict` (people write it): ["old-dataset", ...]
 */

export interface CachedDatasetStatus {
  readonly name: string;
  readonly version: number;
  readonly state: 'ready' | 'filling';
  readonly bytes: number;
  readonly bytesDone: number;
  readonly pinned: boolean;
}

export interface NodeCacheStatus {
  readonly capacityBytes: number;
  readonly usedBytes: number;
  readonly updatedAt: string;
  readonly datasets: readonly CachedDatasetStatus[];
  readonly errors: readonly NodeCacheError[];
}

export interface NodeCacheError {
  readonly name: string;
  readonly code: string;
  readonly message: string;
  /** A scan or fill that failed: failures in a row, and when the next try starts (ISO time). */
  readonly failures?: number;
  readonly retryAt?: string;
}

export interface PrefetchRequest {
  readonly datasets: readonly string[];
  readonly pods: readonly string[];
  readonly at: string;
}

/**
 * What a node holds, for placement: complete copies by name, and bytes per name (a fill in
 * progress counts its verified bytes). Reads the JSON form and the older comma-separated list.
 */
export function parseCachedDatasets(raw: string | undefined): { names: string[]; bytes: Record<string, number>; warning?: string } {
  const text = (raw ?? '').trim();
  if (text === '') return { names: [], bytes: {} };
  if (!text.startsWith('{')) return { names: text.split(',').map((d) => d.trim()).filter((d) => d !== ''), bytes: {} };
  let status: Partial<NodeCacheStatus>;
  try {
    status = JSON.parse(text) as Partial<NodeCacheStatus>;
  } catch {
    return { names: [], bytes: {}, warning: 'gantry.dev/cached-datasets is not valid JSON' };
  }
  const names: string[] = [];
  const bytes: Record<string, number> = {};
  for (const d of Array.isArray(status.datasets) ? status.datasets : []) {
    if (typeof d?.name !== 'string' || d.name === '') continue;
    const held = d.state === 'ready' ? Number(d.bytes) : Number(d.bytesDone);
    if (d.state === 'ready') names.push(d.name);
    // Two versions of one name: the larger holding counts.
    if (Number.isFinite(held) && held > 0) bytes[d.name] = Math.max(bytes[d.name] ?? 0, held);
  }
  return { names, bytes };
}

/** The datasets a prefetch request names (an unreadable request names none). */
export function parsePrefetchRequest(raw: string | undefined): string[] {
  try {
    const r = JSON.parse(raw ?? '') as Partial<PrefetchRequest>;
    return Array.isArray(r.datasets) ? r.datasets.filter((d): d is string => typeof d === 'string' && d !== '') : [];
  } catch {
    return [];
  }
}

/** The names an eviction request lists (a JSON list, or comma-separated). */
export function parseEvictRequest(raw: string | undefined): string[] {
  const text = (raw ?? '').trim();
  if (text === '') return [];
  try {
    const r = JSON.parse(text) as unknown;
    return Array.isArray(r) ? r.filter((d): d is string => typeof d === 'string' && d !== '') : [];
  } catch {
    return text.split(',').map((d) => d.trim()).filter((d) => d !== '');
  }
}
