/**
 * The target workload of the fragmentation scores (gantry.ts, fgd.ts), learned online: a
 * decayed histogram of the request shapes seen so far, the same code in `gantry up`,
 * `gantry k8s` and the simulators. Nothing is read from the future: the workload at a decision
 * is what was submitted before it (the request being placed included, as it has arrived).
 *
 * Decay is per observation, not per second (the core has no clock): an observation weighs
 * 2^(-age / halfLife) with age counted in later observations (half-life 2,000 by default). An
 * observation costs O(1): weights grow instead of shrinking (the k-th observation adds
 * r^-k) and are rescaled now and then. The compiled workload (the classes covering `coverage`
 * of the weight, as `targetWorkload` chooses them) is rebuilt only when the histogram has moved
 * by more than `drift` in total variation since the last build, checked every `checkEvery`
 * observations (and at 1, 2, 4, ... before that): each rebuild invalidates every cached score,
 * so rebuilding on every submission would make each placement a full rescan.
 */
import type { PodRequest } from '../../model/request.js';
import { CompiledWorkload, classOf, shapeKeyOf, type WorkloadClass, type WorkloadShape } from './fragmentation.js';

/** What a fragmentation score reads: the current compiled workload and its version. */
export interface WorkloadSource {
  readonly compiled: CompiledWorkload;
  /** Changes whenever `compiled` does (scores computed under another version are stale). */
  readonly version: number;
}

/** A fixed workload (the paper's whole-trace setting, or none). */
export function fixedWorkload(classes: readonly WorkloadClass[]): WorkloadSource {
  return { compiled: new CompiledWorkload(classes), version: 0 };
}

export interface OnlineWorkloadOptions {
  /** Observations after which an observation's weight has halved (default 2,000). */
  readonly halfLife?: number;
  /** Share of the weight the compiled classes cover (default 0.95, as targetWorkload). */
  readonly coverage?: number;
  /** Total-variation distance that triggers a rebuild (default 0.03). */
  readonly drift?: number;
  /** Observations between drift checks once warmed up (default 32). */
  readonly checkEvery?: number;
  /**
   * Share of GPU pods asking for several GPUs from which multi-GPU classes weigh by their GPU
   * count (default 0.05; openb default has 0.011, so it stays in the plain regime).
   */
  readonly multiGpuShare?: number;
}

interface Group {
  readonly shape: WorkloadShape;
  readonly key: string;
  weight: number;
  memWeighted: number;
  /** Share of the total weight at the last rebuild. */
  builtShare: number;
}

export class OnlineWorkload implements WorkloadSource {
  compiled = new CompiledWorkload([]);
  version = 0;
  /** Observations so far, and rebuilds (for tests and benchmarks). */
  observed = 0;
  rebuilds = 0;
  /** Whether the last rebuild weighed multi-GPU classes by their GPU count. */
  multiGpuRegime = false;
  private readonly groups = new Map<string, Group>();
  private readonly growth: number;
  private readonly coverage: number;
  private readonly drift: number;
  private readonly checkEvery: number;
  private readonly multiGpuShare: number;
  private increment = 1;
  private total = 0;
  private nextCheck = 1;

  constructor(opts: OnlineWorkloadOptions = {}) {
    const halfLife = opts.halfLife ?? 2000;
    this.growth = Math.pow(2, 1 / halfLife);
    this.coverage = opts.coverage ?? 0.95;
    this.drift = opts.drift ?? 0.03;
    this.checkEvery = Math.max(1, Math.floor(opts.checkEvery ?? 32));
    this.multiGpuShare = opts.multiGpuShare ?? 0.05;
  }

  /** Records one submitted (or running) request. Returns true when the compiled workload changed. */
  observe(req: PodRequest): boolean {
    const shape = classOf(req);
    if (shape !== null) {
      const key = shapeKeyOf(shape);
      let g = this.groups.get(key);
      if (!g) {
        g = { shape, key, weight: 0, memWeighted: 0, builtShare: 0 };
        this.groups.set(key, g);
      }
      g.weight += this.increment;
      g.memWeighted += this.increment * req.memoryMiB;
      this.total += this.increment;
      this.increment *= this.growth;
      if (this.increment > 1e100) this.rescale();
    }
    this.observed++;
    if (this.observed < this.nextCheck) return false;
    this.nextCheck = this.observed < this.checkEvery ? this.observed * 2 : this.observed + this.checkEvery;
    if (this.distanceFromBuilt() <= this.drift && this.version > 0) return false;
    this.rebuild();
    return true;
  }

  /** The classes as a plain list (popularity normalised over the chosen classes). */
  classes(): WorkloadClass[] {
    return [...this.compiled.classes];
  }

  private rescale(): void {
    const k = 1 / this.increment;
    for (const g of this.groups.values()) {
      g.weight *= k;
      g.memWeighted *= k;
    }
    this.total *= k;
    this.increment = 1;
  }

  /** Total variation between the histogram now and at the last rebuild. */
  private distanceFromBuilt(): number {
    if (this.total === 0) return 0;
    let d = 0;
    for (const g of this.groups.values()) d += Math.abs(g.weight / this.total - g.builtShare);
    return d / 2;
  }

  private rebuild(): void {
    const sorted = [...this.groups.values()].sort(
      (a, b) =>
        b.weight - a.weight ||
        b.shape.cpuMilli - a.shape.cpuMilli ||
        b.shape.gpuMilli - a.shape.gpuMilli ||
        b.shape.gpuCount - a.shape.gpuCount ||
        (a.key < b.key ? 1 : a.key > b.key ? -1 : 0),
    );
    const chosen: Group[] = [];
    let covered = 0;
    for (const g of sorted) {
      // Past the coverage, only multi-GPU shapes are kept: rare, but each needs a whole set
      // of free GPUs that the common small shapes would otherwise break up everywhere.
      if (covered >= this.coverage * this.total && g.shape.gpuCount < 2) continue;
      chosen.push(g);
      covered += g.weight;
    }
    // Shapes whose weight has decayed to nothing are forgotten (the map stays small).
    for (const g of sorted) {
      g.builtShare = this.total > 0 ? g.weight / this.total : 0;
      if (g.builtShare < 1e-9) this.groups.delete(g.key);
    }
    // Regime switch: where multi-GPU pods are common, a class weighs by the GPUs its pods ask
    // for, not by its pod count (docs/placement.md, "Multi-GPU regime").
    let gpuPods = 0;
    let multiPods = 0;
    for (const g of this.groups.values()) {
      if (g.shape.gpuCount > 0) gpuPods += g.weight;
      if (g.shape.gpuCount > 1) multiPods += g.weight;
    }
    this.multiGpuRegime = gpuPods > 0 && multiPods / gpuPods >= this.multiGpuShare;
    const wt = (g: Group): number => (this.multiGpuRegime && g.shape.gpuCount > 1 ? g.weight * g.shape.gpuCount : g.weight);
    const sum = chosen.reduce((a, g) => a + wt(g), 0);
    this.compiled = new CompiledWorkload(
      chosen.map((g) => ({ ...g.shape, memoryMiB: Math.round(g.memWeighted / g.weight), popularity: wt(g) / sum, count: Math.round(g.weight / this.increment) })),
    );
    this.version++;
    this.rebuilds++;
  }
}
