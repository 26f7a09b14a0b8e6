/**
 * The fleet as tiles: every GPU with what holds it (jobs, shares, MIG slices), from the API's
 * /v1/top (telemetry and holders, other teams' jobs masked) and /v1/nodes (node status, free
 * capacity). Pure: the canvas code draws what this builds.
 */
import type { AnswerOf } from '../../../src/client/contract-types.js';

export interface Segment {
  /** The job id, or '' for another team's job (masked by the API). */
  readonly job: string;
  readonly name: string | null;
  readonly queue: string | null;
  readonly team: string | null;
  /** Of the GPU, 0..1. */
  readonly fraction: number;
  readonly mig: string | null;
}

export interface Tile {
  readonly node: string;
  readonly index: number;
  readonly model: string;
  readonly uuid: string;
  readonly healthy: boolean;
  readonly migEnabled: boolean;
  readonly utilization: number | null;
  readonly memoryUsedMiB: number | null;
  readonly memoryMiB: number;
  readonly temperatureC: number | null;
  readonly powerW: number | null;
  readonly segments: readonly Segment[];
  /** Of the GPU, 0..1: what is not held. */
  readonly free: number;
}

export type TileState = 'idle' | 'full' | 'fragmented' | 'unhealthy';

export interface FleetNode {
  readonly name: string;
  readonly status: string;
  readonly simulated: boolean;
  readonly tiles: readonly Tile[];
}

export interface FleetSummary {
  readonly gpus: number;
  readonly idle: number;
  readonly full: number;
  readonly fragmented: number;
  readonly unhealthy: number;
  /** GPUs' worth of capacity left in partly used GPUs (stranded unless small work fits). */
  readonly fragmentedFree: number;
  /** GPUs held by work that leaves them idle (idleReserved). */
  readonly idleReserved: number;
}

/** A MIG profile's fraction of the GPU: 3g.40gb is 3 of 7 compute slices. */
export function migFraction(profile: string): number {
  const g = /^(\d+)g\./.exec(profile);
  return g ? Math.min(1, Number(g[1]) / 7) : 0;
}

/**
 * Held but unused: the GPU's utilisation is below 5 % of the compute its holders hold (the
 * server's rule for idle reserved GPUs in cost and history; no reading, no verdict).
 */
export function idleReserved(t: Tile): boolean {
  const held = t.segments.reduce((a, s) => a + s.fraction, 0);
  return t.healthy && held > 0 && t.utilization !== null && t.utilization < 5 * held;
}

export function tileState(t: Tile): TileState {
  if (!t.healthy) return 'unhealthy';
  if (t.segments.length === 0) return 'idle';
  return t.free > 0.001 ? 'fragmented' : 'full';
}

export function buildFleet(top: AnswerOf<'top'>, nodes: AnswerOf<'listNodes'>): FleetNode[] {
  const byNode = new Map<string, Tile[]>();
  const free = new Map<string, number>();
  const mig = new Set<string>();
  for (const n of nodes.items) for (const g of n.gpus) {
    free.set(`${n.name}/${g.index}`, g.freeMilli / 1000);
    if (g.mig) mig.add(`${n.name}/${g.index}`);
  }
  for (const g of top.gpus) {
    const key = `${g.node}/${g.index}`;
    const segments = g.jobs.map((j) => {
      const other = j.job === '(another team)';
      const m = j.mig ?? null;
      return { job: other ? '' : j.job, name: other ? null : (j.name ?? null), queue: other ? null : (j.queue ?? null), team: other ? null : (j.team ?? null), fraction: m ? migFraction(m) : Math.min(1, j.share), mig: m };
    });
    const held = segments.reduce((a, s) => a + s.fraction, 0);
    const list = byNode.get(g.node) ?? [];
    byNode.set(g.node, list);
    list.push({
      node: g.node,
      index: g.index,
      model: g.model,
      uuid: g.uuid,
      healthy: g.healthy,
      migEnabled: mig.has(key),
      utilization: g.utilization,
      memoryUsedMiB: g.memoryUsedMiB,
      memoryMiB: g.memoryMiB,
      temperatureC: g.temperatureC,
      powerW: g.powerW,
      segments,
      free: mig.has(key) ? Math.max(0, 1 - held) : (free.get(key) ?? Math.max(0, 1 - held)),
    });
  }
  const status = new Map(nodes.items.map((n) => [n.name, n]));
  return [...byNode.entries()]
    .sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true }))
    .map(([name, tiles]) => ({ name, status: status.get(name)?.status ?? 'ready', simulated: status.get(name)?.simulated ?? false, tiles: tiles.sort((a, b) => a.index - b.index) }));
}

export function summarise(fleet: readonly FleetNode[]): FleetSummary {
  let gpus = 0, idle = 0, full = 0, fragmented = 0, unhealthy = 0, fragmentedFree = 0, reservedIdle = 0;
  for (const n of fleet) for (const t of n.tiles) {
    gpus++;
    if (idleReserved(t)) reservedIdle++;
    const s = tileState(t);
    if (s === 'idle') idle++;
    else if (s === 'full') full++;
    else if (s === 'unhealthy') unhealthy++;
    else {
      fragmented++;
      fragmentedFree += t.free;
    }
  }
  return { gpus, idle, full, fragmented, unhealthy, fragmentedFree, idleReserved: reservedIdle };
}
