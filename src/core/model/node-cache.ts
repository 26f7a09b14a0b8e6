/**
 * What the nodes' dataset caches hold, as the core takes it: per node, bytes per dataset key
 * (a dataset version "name@version", or one of its shards "name@version/shard"; the same keys
 * requests name in `datasets`). One typed input for every source: `gantry up`'s node cache,
 * the simulator's LRU caches, a Kubernetes cache agent. A partial copy counts what it holds.
 */

/** Dataset (or shard) key -> bytes the node holds of it. */
export type NodeCacheHoldings = Readonly<Record<string, number>>;

/** One node's cache as its source reports it; it replaces what the core knew of that node. */
export interface NodeCacheReport {
  readonly node: string;
  readonly held: NodeCacheHoldings;
}

/** Bandwidths that turn missing bytes into an expected start-up delay (bytes per second). */
export interface DataPaths {
  /** Copy from another node of the same rack (the slower of its disk and the NICs). */
  readonly rackBytesPerSec: number;
  /** Copy from the data's source through the rack uplink. */
  readonly remoteBytesPerSec: number;
}
