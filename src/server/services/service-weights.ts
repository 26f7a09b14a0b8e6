/**
 * A service's model weights as a registered dataset in `gantry up` (`weights: {dataset: NAME}`).
 * - Applying the service pins the newest version (the revision then names the exact weights).
 * - A replica job reads the dataset like any job: the scheduler's locality score counts the
 *   weights' bytes on each node (so a replica goes where they already are), the data gate holds
 *   it until its node has a verified copy, and GANTRY_WEIGHTS points at that read-only copy.
 * - Scale-out from cache: every 2 s, for a service that may still scale out, the node its next
 *   replica would be placed on now (the scheduler's own choice, locality included) gets the
 *   weights staged and pinned. While the nodes that hold them have room that node is one of
 *   them and nothing moves; once they are full, the copy is made before the autoscaler asks.
 * - Each node's expected start-up time for a replica: bytes of the weights not on the node /
 *   the fill rate (the last fill's measured rate, else 200 MiB/s), for `gantry get` / `explain`.
 */
import type { JobRow } from '../../adapters/store/store.js';
import { toCoreJob } from '../../spec/job-spec.js';
import { replicaJob, weightsDataset, type ServiceFile } from '../../spec/service-spec.js';
import type { Controller } from '../controller.js';
import type { DataState, DatasetService } from '../datasets.js';

/** Bytes per second a fill is assumed to copy before one has been measured. */
const DEFAULT_FILL_BYTES_PER_SEC = 200 * 2 ** 20;

export interface WeightsNodeView {
  readonly node: string;
  readonly state: DataState['state'];
  readonly bytesDone: number;
  readonly expectedStartSeconds: number;
}

export interface WeightsView {
  readonly dataset: string;
  readonly totalBytes: number;
  readonly fillBytesPerSecond: number;
  /** Every node, soonest expected start first. */
  readonly nodes: readonly WeightsNodeView[];
  /** Where the next replica would be placed now, and its copy there (null at max replicas, or when it fits nowhere). */
  readonly next: { readonly node: string; readonly state: DataState['state']; readonly message: string } | null;
}

export interface ReplicaWeights {
  readonly node: string;
  readonly state: DataState['state'];
  readonly message: string;
}

export class ServiceWeights {
  private fillRate = DEFAULT_FILL_BYTES_PER_SEC;
  /** The node each service's next replica was predicted on (the last warm round). */
  private readonly next = new Map<string, string | null>();

  constructor(
    private readonly datasets: DatasetService,
    private readonly controller: Controller,
  ) {}

  /** The spec with its weights' dataset version pinned (the newest when it names none); DATASET_NOT_FOUND / DATASET_REMOVED otherwise. */
  pin(spec: ServiceFile): ServiceFile {
    const w = weightsDataset(spec);
    if (!w) return spec;
    const v = this.datasets.version(w.name, w.version ?? undefined);
    return { ...spec, weights: { dataset: `${v.name}@${v.version}` } };
  }

  /** The request a new replica of `spec` would make (with its weights' bytes), as the scheduler sees it. */
  private replicaRequest(spec: ServiceFile): ReturnType<Controller['withDataBytes']> | null {
    const job = replicaJob(spec, 0, 1024);
    const member = toCoreJob('next-replica', job, 0).members[0];
    return member ? this.controller.withDataBytes(member, job) : null;
  }

  /**
   * Stages the weights on the node the service's next replica would be placed on now (pinned
   * until the next round); nothing when the service is at its maximum or being removed.
   */
  warmNext(name: string, spec: ServiceFile, canScaleOut: boolean): void {
    const w = weightsDataset(spec);
    const v = w && w.version !== null ? this.datasets.catalog.get(w.name, w.version) : undefined;
    const req = canScaleOut && v ? this.replicaRequest(spec) : null;
    const node = req ? this.controller.scheduler.previewNode(req) : null;
    this.next.set(name, node);
    if (node === null || !v) {
      this.datasets.unwarm(`service:${name}`);
      return;
    }
    this.noteRate(node, v.name, v.version);
    this.datasets.warm(`service:${name}`, node, v);
  }

  forget(name: string): void {
    this.next.delete(name);
    this.datasets.unwarm(`service:${name}`);
  }

  private noteRate(node: string, name: string, version: number): void {
    const rate = this.datasets.cacheOf(node)?.entry(name, version)?.bytesPerSecond;
    if (rate !== null && rate !== undefined && rate > 0) this.fillRate = rate;
  }

  /** The weights' state on a replica's node (null for a path, none, or a replica not placed yet). */
  replica(spec: ServiceFile, j: JobRow): ReplicaWeights | null {
    const w = weightsDataset(spec);
    const node = j.bindings?.[0]?.node;
    if (!w || w.version === null || node === undefined) return null;
    const st = this.datasets.dataState(w.name, w.version, node);
    return { node, state: st.state, message: st.message };
  }

  view(name: string, spec: ServiceFile): WeightsView | null {
    const w = weightsDataset(spec);
    if (!w || w.version === null) return null;
    const version = w.version;
    const totalBytes = this.datasets.bytesOf(w.name, version);
    for (const n of this.datasets.caches.keys()) this.noteRate(n, w.name, version);
    const req = { datasets: [`${w.name}@${version}`], datasetBytes: [totalBytes] };
    const ranked = this.controller.scheduler.rankNodesByDataTime(req, { rackBytesPerSec: this.fillRate, remoteBytesPerSec: this.fillRate });
    const nodes = ranked.map((r) => {
      const st = this.datasets.dataState(w.name, version, r.node);
      return { node: r.node, state: st.state, bytesDone: st.bytesDone, expectedStartSeconds: Math.round(r.seconds * 10) / 10 };
    });
    const nextNode = this.next.get(name) ?? null;
    const nextState = nextNode !== null ? this.datasets.dataState(w.name, version, nextNode) : null;
    return {
      dataset: `${w.name}@${version}`,
      totalBytes,
      fillBytesPerSecond: Math.round(this.fillRate),
      nodes,
      next: nextNode !== null && nextState ? { node: nextNode, state: nextState.state, message: nextState.message } : null,
    };
  }
}
