/**
 * GPU prices in Kubernetes mode: the ConfigMap `gantry-prices` in the scheduler's namespace,
 * one key per GPU model (catalog name, alias or GFD product label) and the price of one whole
 * GPU for one hour as a decimal string ("2.49"), the table `gantry prices set` keeps in
 * `gantry up`. The leader reads it at every spend interval (a GET: RBAC `get` on that one
 * ConfigMap), so a change applies from the next interval. A bad entry is left out and named in
 * `problems` (the caller logs it and posts an Event); a missing ConfigMap means no prices.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { apiError } from './api.js';
import { catalogModel } from './inventory.js';

export const PRICES_CONFIGMAP = 'gantry-prices';

/** An amount such as "2.49" in micro-units, exactly (up to 6 decimals); null when it is not one. */
export function amountMicros(text: unknown): number | null {
  const s = typeof text === 'number' && Number.isFinite(text) ? String(text) : text;
  if (typeof s !== 'string') return null;
  const m = /^\s*(\d{1,9})(?:\.(\d{1,6}))?\s*$/.exec(s);
  if (!m) return null;
  return Number(m[1]) * 1_000_000 + Number((m[2] ?? '').padEnd(6, '0'));
}

export interface PriceTable {
  /** Micro-units per GPU-hour, by catalog model name. */
  readonly pricesMicros: Readonly<Record<string, number>>;
  /** One line per entry left out, naming its key. */
  readonly problems: readonly string[];
}

/** The ConfigMap's data as prices by catalog model; bad entries are left out and named. */
export function parsePriceData(data: Readonly<Record<string, string>>): PriceTable {
  const pricesMicros: Record<string, number> = {};
  const problems: string[] = [];
  const keyOf = new Map<string, string>();
  for (const [key, value] of Object.entries(data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const model = catalogModel(key);
    const micros = amountMicros(value);
    if (!model) problems.push(`${key}: unknown GPU model (examples: H100-80GB, A100-80GB, L4); ignored`);
    else if (micros === null) problems.push(`${key}: "${value}" is not a price per GPU-hour (a decimal such as 2.49, at most 6 decimals); ignored`);
    else if (keyOf.has(model)) problems.push(`${key}: ${model} is priced already by ${keyOf.get(model) ?? ''}; ignored`);
    else {
      keyOf.set(model, key);
      pricesMicros[model] = micros;
    }
  }
  return { pricesMicros, problems };
}

/** Reads the ConfigMap's data; null when there is none (no prices). */
export type PriceSource = () => Promise<Readonly<Record<string, string>> | null>;

export function configMapPrices(kc: KubeConfig, namespace: string, name = PRICES_CONFIGMAP): PriceSource {
  const core = kc.makeApiClient(CoreV1Api);
  return async () => {
    try {
      return (await core.readNamespacedConfigMap({ namespace, name })).data ?? {};
    } catch (e) {
      const err = apiError(e);
      if (err.status === 404) return null;
      throw err;
    }
  };
}
