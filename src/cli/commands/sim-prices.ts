/**
 * `--prices` of the simulators: the same price table `gantry prices` keeps, given either as the
 * file `gantry prices ls -o json` writes ({ items: [{ model, pricePerGpuHour }] }) or inline as
 * MODEL=PRICE,... (a price per GPU-hour). Models are named as the GPU catalogue names them
 * (the Philly fleet is P100; the churn workload's fleet is "A100", kept as given).
 */
import { existsSync, readFileSync } from 'node:fs';
import { UserError } from '../../core/errors.js';
import { findGpuModel } from '../../core/model/gpu-catalog.js';

/** Prices per GPU-hour by model, in micro-units (rounded, as the server keeps them). */
export function parsePrices(value: string): Record<string, number> {
  const pairs: [string, unknown][] = [];
  if (existsSync(value)) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(value, 'utf8'));
    } catch (e) {
      throw new UserError('BAD_FLAG', `--prices: ${value} is not JSON (${(e as Error).message}); write it with gantry prices ls -o json`);
    }
    const items = (doc as { items?: unknown }).items;
    if (!Array.isArray(items)) throw new UserError('BAD_FLAG', `--prices: ${value} has no "items" list (the shape gantry prices ls -o json writes)`);
    for (const i of items as Record<string, unknown>[]) pairs.push([String(i?.['model'] ?? ''), i?.['pricePerGpuHour']]);
  } else {
    for (const part of value.split(',').map((x) => x.trim()).filter(Boolean)) {
      const m = /^([^=]+)=(.*)$/.exec(part);
      if (!m) throw new UserError('BAD_FLAG', `--prices: "${part}" is not MODEL=PRICE (e.g. P100=0.9), and no file ${value} exists`);
      pairs.push([(m[1] as string).trim(), /^\d+(\.\d+)?$/.test((m[2] as string).trim()) ? Number(m[2]) : m[2]]);
    }
  }
  if (pairs.length === 0) throw new UserError('BAD_FLAG', '--prices: no price given');
  const out: Record<string, number> = {};
  for (const [given, price] of pairs) {
    // A catalogue model under its catalogue name; another (the churn fleet's "A100") as given.
    const model = findGpuModel(given)?.name ?? given;
    if (!/^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$/.test(model)) throw new UserError('BAD_FLAG', `--prices: "${given}" is not a GPU model name`);
    if (typeof price !== 'number' || !Number.isFinite(price) || price < 0 || price > 1e9) throw new UserError('BAD_FLAG', `--prices: the price of ${model} must be an amount per GPU-hour (e.g. 2.49)`);
    out[model] = Math.round(price * 1e6);
  }
  return out;
}

/** How the settings of a report name the prices used. */
export function pricesSetting(prices: Readonly<Record<string, number>>): string {
  return Object.entries(prices)
    .map(([m, p]) => `${m}=${p / 1e6}`)
    .join(',');
}
