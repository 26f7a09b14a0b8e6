/**
 * How the router picks a replica for a request. Pure: the router (real or simulated) passes the
 * replicas' loads, counted at dispatch (a request is in flight from the moment it is routed, not
 * from when the server reports it; llm-d's router #2515 is the flaw this avoids), and an Rng.
 *
 * - `round-robin`: the next ready replica in turn (Knative's activator without load info).
 * - `p2c`: power of two choices on requests in flight (Ray Serve).
 * - `load-prefix`: load first, then prefix affinity (SGLang / llm-d style): among replicas whose
 *   load is within `loadBound` of the least loaded, prefer the one that last served the longest
 *   matching prefix of the prompt; otherwise power of two choices among them. The affinity table
 *   is bounded (least recently used entries go first).
 */
import type { Rng } from '../../core/rng.js';

export interface ReplicaLoad {
  readonly id: string;
  /** Requests routed to it and not finished. */
  readonly inFlight: number;
}

export interface RouteRequest {
  /** Chained hashes of the prompt's leading blocks (see llm-model/prompt-blocks.ts); may be empty. */
  readonly prefixBlocks: readonly number[];
}

export interface RoutePolicy {
  readonly name: RoutePolicyName;
  /** Index into `replicas` (all Ready and not draining; never empty). */
  choose(replicas: readonly ReplicaLoad[], req: RouteRequest): number;
  /** A replica left: forget what pointed at it. */
  forget?(replicaId: string): void;
  /** Choices made by prefix affinity (load-prefix only). */
  readonly prefixHits?: number;
  /**
   * How many of the prompt's leading blocks each replica holds, as far as the policy knows (the
   * replica that last served a block is taken to hold it and every block before it); replicas
   * not named hold none. Only policies that track prefixes answer.
   */
  heldBlocks?(prefixBlocks: readonly number[]): ReadonlyMap<string, number>;
}

export const ROUTE_POLICY_NAMES = ['round-robin', 'p2c', 'load-prefix'] as const;
export type RoutePolicyName = (typeof ROUTE_POLICY_NAMES)[number];

/**
 * How many leading blocks of a prompt the affinity table keys on: 128 blocks of 16 tokens cover
 * a 2,048-token system prompt, so a long shared prefix counts as held (prefill-gate.ts) to its end.
 */
export const AFFINITY_DEPTH = 128;

export interface RoutePolicyOptions {
  /** load-prefix: a replica is a candidate while inFlight <= least + loadBound. */
  readonly loadBound?: number;
  /** load-prefix: how many leading blocks the affinity table keys on (deepest match wins). */
  readonly affinityDepth?: number;
  /** load-prefix: most affinity entries kept. */
  readonly affinityEntries?: number;
}

class RoundRobin implements RoutePolicy {
  readonly name = 'round-robin' as const;
  private next = 0;
  choose(replicas: readonly ReplicaLoad[]): number {
    const i = this.next % replicas.length;
    this.next = (this.next + 1) % 1_000_000_007;
    return i;
  }
}

function powerOfTwo(rng: Rng, candidates: readonly number[], replicas: readonly ReplicaLoad[]): number {
  if (candidates.length === 1) return candidates[0]!;
  const a = rng.int(candidates.length);
  let b = rng.int(candidates.length - 1);
  if (b >= a) b++;
  const ia = candidates[a]!;
  const ib = candidates[b]!;
  return replicas[ib]!.inFlight < replicas[ia]!.inFlight ? ib : ia;
}

class PowerOfTwo implements RoutePolicy {
  readonly name = 'p2c' as const;
  constructor(private readonly rng: Rng) {}
  choose(replicas: readonly ReplicaLoad[]): number {
    // The same draws as powerOfTwo over every index, without building the index list.
    if (replicas.length === 1) return 0;
    const a = this.rng.int(replicas.length);
    let b = this.rng.int(replicas.length - 1);
    if (b >= a) b++;
    return replicas[b]!.inFlight < replicas[a]!.inFlight ? b : a;
  }
}

class LoadThenPrefix implements RoutePolicy {
  readonly name = 'load-prefix' as const;
  /** Block hash -> replica id; Map order is recency (re-set moves an entry to the end). */
  private readonly affinity = new Map<number, string>();
  prefixHits = 0;
  private readonly loadBound: number;
  private readonly depth: number;
  private readonly entries: number;

  constructor(private readonly rng: Rng, opts: RoutePolicyOptions) {
    this.loadBound = opts.loadBound ?? 8;
    this.depth = opts.affinityDepth ?? AFFINITY_DEPTH;
    this.entries = opts.affinityEntries ?? 200_000;
  }

  choose(replicas: readonly ReplicaLoad[], req: RouteRequest): number {
    let least = Infinity;
    for (const r of replicas) least = Math.min(least, r.inFlight);
    const candidates: number[] = [];
    for (let i = 0; i < replicas.length; i++) if (replicas[i]!.inFlight <= least + this.loadBound) candidates.push(i);
    const blocks = req.prefixBlocks;
    const depth = Math.min(this.depth, blocks.length);
    let chosen = -1;
    // Deepest matching block first: the replica that holds the longest shared prefix.
    for (let d = depth - 1; d >= 0 && chosen < 0; d--) {
      const owner = this.affinity.get(blocks[d]!);
      if (owner === undefined) continue;
      for (const i of candidates) if (replicas[i]!.id === owner) { chosen = i; break; }
    }
    if (chosen < 0) chosen = powerOfTwo(this.rng, candidates, replicas);
    else this.prefixHits++;
    const id = replicas[chosen]!.id;
    for (let d = 0; d < depth; d++) {
      const h = blocks[d]!;
      this.affinity.delete(h);
      this.affinity.set(h, id);
    }
    while (this.affinity.size > this.entries) this.affinity.delete(this.affinity.keys().next().value!);
    return chosen;
  }

  forget(replicaId: string): void {
    for (const [h, id] of this.affinity) if (id === replicaId) this.affinity.delete(h);
  }

  heldBlocks(prefixBlocks: readonly number[]): ReadonlyMap<string, number> {
    const held = new Map<string, number>();
    const depth = Math.min(this.depth, prefixBlocks.length);
    for (let d = depth - 1; d >= 0; d--) {
      const owner = this.affinity.get(prefixBlocks[d]!);
      if (owner !== undefined && !held.has(owner)) held.set(owner, d + 1);
    }
    return held;
  }
}

export function createRoutePolicy(name: RoutePolicyName, rng: Rng, opts: RoutePolicyOptions = {}): RoutePolicy {
  switch (name) {
    case 'round-robin': return new RoundRobin();
    case 'p2c': return new PowerOfTwo(rng);
    case 'load-prefix': return new LoadThenPrefix(rng, opts);
  }
}
