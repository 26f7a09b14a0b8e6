/**
 * The simulated fleet a service shares with training: nodes of GPUs, every GPU not serving runs
 * preemptible training (a backlog that never runs out). A replica that needs a GPU takes an idle
 * one, or asks a training job to yield through the checkpoint protocol: the job saves and stops
 * within `yieldSeconds`; when the GPU goes back to training the job restarts from its checkpoint
 * in `restartSeconds`. Saving and restarting are training GPU time lost. A node keeps the model's
 * weights on its disk once a replica has loaded them there: a later replica on that node starts
 * in `cachedStartSeconds` instead of `coldStartSeconds`.
 */
import type { Rng } from '../../core/rng.js';

export interface ServeFleetSpec {
  readonly nodes: number;
  readonly gpusPerNode: number;
  readonly yieldSeconds: number;
  readonly restartSeconds: number;
  readonly coldStartSeconds: number;
  readonly cachedStartSeconds: number;
  /** The GPU model of every GPU (catalogue name): what a replica's GPU time is priced as. */
  readonly gpuModel: string;
}

export const DEFAULT_SERVE_FLEET: ServeFleetSpec = Object.freeze({
  nodes: 8,
  gpusPerNode: 8,
  yieldSeconds: 20,
  restartSeconds: 30,
  coldStartSeconds: 90,
  cachedStartSeconds: 20,
  gpuModel: 'H100-80GB',
});

/** Where a replica's GPU comes from: any (first idle, else a random training GPU) or weights first. */
export type ReplicaPlacement = 'any' | 'weights-first';

type GpuState = 'training' | 'serving';

export interface GpuLease {
  readonly gpu: number;
  readonly node: number;
  /** Seconds until the replica is Ready: the training job's yield (if any) plus the load. */
  readonly startSeconds: number;
  readonly cachedWeights: boolean;
}

export class ServeFleet {
  private readonly state: GpuState[];
  private readonly weights: boolean[];
  private lostSeconds = 0;
  private yields = 0;

  constructor(readonly spec: ServeFleetSpec, private readonly rng: Rng) {
    this.state = new Array<GpuState>(spec.nodes * spec.gpusPerNode).fill('training');
    this.weights = new Array<boolean>(spec.nodes).fill(false);
  }

  get gpus(): number {
    return this.state.length;
  }

  /** A GPU for a replica, or null when every GPU already serves. */
  acquire(placement: ReplicaPlacement, initial = false): GpuLease | null {
    const free: number[] = [];
    for (let g = 0; g < this.state.length; g++) if (this.state[g] === 'training') free.push(g);
    if (free.length === 0) return null;
    let gpu: number;
    if (placement === 'weights-first') {
      const cached = free.filter((g) => this.weights[this.nodeOf(g)]);
      // Weights already on disk first; else the node with the fewest serving GPUs (spread risk).
      const pool = cached.length > 0 ? cached : free;
      gpu = pool[this.rng.int(pool.length)]!;
    } else {
      gpu = free[this.rng.int(free.length)]!;
    }
    const node = this.nodeOf(gpu);
    const cachedWeights = this.weights[node]!;
    this.state[gpu] = 'serving';
    this.weights[node] = true;
    // At time zero the fleet is laid out before training starts: no yield, no loss.
    if (!initial) {
      this.yields++;
      this.lostSeconds += this.spec.yieldSeconds;
    }
    const load = cachedWeights ? this.spec.cachedStartSeconds : this.spec.coldStartSeconds;
    return { gpu, node, cachedWeights, startSeconds: initial ? 0 : this.spec.yieldSeconds + load };
  }

  /** The replica is gone: its GPU goes back to training, which restarts from its checkpoint (not counted when the run ends). */
  release(gpu: number, runEnds = false): void {
    this.state[gpu] = 'training';
    if (!runEnds) this.lostSeconds += this.spec.restartSeconds;
  }

  /** Training GPU time lost to yields and restarts so far. */
  trainingGpuSecondsLost(): number {
    return this.lostSeconds;
  }

  trainingYields(): number {
    return this.yields;
  }

  private nodeOf(gpu: number): number {
    return Math.floor(gpu / this.spec.gpusPerNode);
  }
}
