/** Fluent builders for tests, after kube-scheduler's testing/wrappers.go. */
import type { NodeSpec, GpuSpec } from '../../src/core/model/node.js';
import type { PodRequest, GpuRequest, Toleration } from '../../src/core/model/request.js';
import type { JobSpec, CheckpointPolicy } from '../../src/core/scheduler/types.js';

export class NodeBuilder {
  private spec: { -readonly [K in keyof NodeSpec]: NodeSpec[K] };
  constructor(name: string) {
    this.spec = { name, cpuMilli: 64_000, memoryMiB: 512 * 1024, gpus: [] };
  }
  cpu(cores: number): this {
    this.spec.cpuMilli = cores * 1000;
    return this;
  }
  mem(gib: number): this {
    this.spec.memoryMiB = gib * 1024;
    return this;
  }
  gpus(n: number, model = 'A100-80GB', extra: Partial<GpuSpec> = {}): this {
    this.spec.gpus = Array.from({ length: n }, () => ({ model, ...extra }));
    return this;
  }
  migGpus(n: number, model = 'A100-80GB'): this {
    return this.gpus(n, model, { migEnabled: true });
  }
  rack(r: string): this {
    this.spec.rack = r;
    return this;
  }
  zone(z: string): this {
    this.spec.zone = z;
    return this;
  }
  nvlinkDomain(d: string): this {
    this.spec.nvlinkDomain = d;
    return this;
  }
  labels(l: Record<string, string>): this {
    this.spec.labels = l;
    return this;
  }
  taint(key: string, value = '', effect: 'NoSchedule' | 'NoExecute' | 'PreferNoSchedule' = 'NoSchedule'): this {
    this.spec.taints = [...(this.spec.taints ?? []), { key, value, effect }];
    return this;
  }
  links(m: number[][]): this {
    this.spec.gpuLinks = m;
    return this;
  }
  cordoned(): this {
    this.spec.unschedulable = true;
    return this;
  }
  datasets(...d: string[]): this {
    this.spec.cachedDatasets = d;
    return this;
  }
  /** Bytes held per dataset (partial copies count what they hold). */
  holds(bytes: Record<string, number>): this {
    this.spec.cachedBytes = bytes;
    return this;
  }
  obj(): NodeSpec {
    return { ...this.spec };
  }
}

export const node = (name: string): NodeBuilder => new NodeBuilder(name);

export class PodBuilder {
  private r: { -readonly [K in keyof PodRequest]: PodRequest[K] };
  constructor(id: string) {
    this.r = { id, cpuMilli: 1000, memoryMiB: 1024, gpu: { kind: 'none' } };
  }
  cpu(milli: number): this {
    this.r.cpuMilli = milli;
    return this;
  }
  mem(mib: number): this {
    this.r.memoryMiB = mib;
    return this;
  }
  gpus(count: number): this {
    this.r.gpu = { kind: 'whole', count };
    return this;
  }
  share(milli: number, memoryMiB = 0): this {
    this.r.gpu = { kind: 'share', milli, memoryMiB };
    return this;
  }
  mig(profile: string): this {
    this.r.gpu = { kind: 'mig', profile };
    return this;
  }
  gpu(g: GpuRequest): this {
    this.r.gpu = g;
    return this;
  }
  models(...m: string[]): this {
    this.r.allowedModels = m;
    return this;
  }
  selector(s: Record<string, string>): this {
    this.r.nodeSelector = s;
    return this;
  }
  tolerate(t: Toleration): this {
    this.r.tolerations = [...(this.r.tolerations ?? []), t];
    return this;
  }
  datasets(...d: string[]): this {
    this.r.datasets = d;
    return this;
  }
  /** Datasets with their sizes in bytes. */
  reads(sizes: Record<string, number>): this {
    this.r.datasets = Object.keys(sizes);
    this.r.datasetBytes = Object.values(sizes);
    return this;
  }
  obj(): PodRequest {
    return { ...this.r };
  }
}

export const pod = (id: string): PodBuilder => new PodBuilder(id);

export class JobBuilder {
  private j: { -readonly [K in keyof JobSpec]: JobSpec[K] };
  constructor(id: string) {
    this.j = { id, queue: 'default', priority: 0, preemptible: true, submittedAt: 0, members: [pod(`${id}-0`).obj()] };
  }
  queue(q: string): this {
    this.j.queue = q;
    return this;
  }
  priority(p: number): this {
    this.j.priority = p;
    return this;
  }
  nonPreemptible(): this {
    this.j.preemptible = false;
    return this;
  }
  at(ms: number): this {
    this.j.submittedAt = ms;
    return this;
  }
  gpus(count: number, workers = 1): this {
    this.j.members = Array.from({ length: workers }, (_, i) => pod(`${this.j.id}-${i}`).gpus(count).obj());
    return this;
  }
  share(milli: number): this {
    this.j.members = [pod(`${this.j.id}-0`).share(milli).obj()];
    return this;
  }
  members(m: PodRequest[]): this {
    this.j.members = m;
    return this;
  }
  checkpoint(c: CheckpointPolicy): this {
    this.j.checkpoint = c;
    return this;
  }
  duration(ms: number): this {
    this.j.expectedDurationMs = ms;
    return this;
  }
  obj(): JobSpec {
    return { ...this.j };
  }
}

export const job = (id: string): JobBuilder => new JobBuilder(id);
