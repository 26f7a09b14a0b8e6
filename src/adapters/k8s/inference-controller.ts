/**
 * The InferenceService controller: runs in `gantry k8s scheduler` and writes only while that
 * replica leads (`mayWrite`). For each InferenceService it keeps as many replica pods as
 * wanted (`desiredReplicas`: the router's autoscaler writes it in the status; before that the
 * spec's initial or min count), and the scheduler places them like any Gantry pod, ahead of
 * preemptible training (replicas are not preemptible and may surge, see scheduler.ts).
 *
 * - Too few: new pods `NAME-rN` at the lowest free indices (stable names, so a second
 *   controller's create of the same replica is a harmless 409).
 * - Too many: unbound pods go first, then those not Ready, then the highest index; a Ready
 *   replica that goes is deleted with its drainSeconds as the grace (the router stops sending
 *   it requests as soon as the deletion shows, its open streams finish).
 * - A new template (another revision): new replicas are made at the wanted count, and the old
 *   ones go one by one as new ones are Ready.
 * - Replicas that ended (Failed, Succeeded) are deleted and made again.
 * - A spec Gantry cannot run: `Valid=False` with the reason and one Warning Event per change of
 *   reason; its pods are left alone.
 * The status gets replicas, readyReplicas, revision and the conditions Valid and Ready.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { replicaIndexOf } from '../../spec/service-spec.js';
import { InferenceCache, isLivePod, podIsReady } from './inference-cache.js';
import { desiredReplicas, inferenceSpec, InferenceSpecError, replicaPod, templateRevision, type InferenceServiceObject, type InferenceServiceStatus, type InferenceSpec } from './inference-spec.js';
import type { InferenceWrites } from './inference-writes.js';
import { LABEL_INFERENCE_REVISION } from './names.js';
import type { KubeConfig } from '@kubernetes/client-node';

export interface InferenceControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly writes: InferenceWrites;
  /** True while this process may write (it holds the scheduler's Lease, within the renew deadline). */
  readonly mayWrite: () => boolean;
  readonly log?: (msg: string) => void;
  /** Every service is reconciled at least this often (default 2 s). */
  readonly resyncMs?: number;
}

type Condition = NonNullable<InferenceServiceStatus['conditions']>[number];

/** Removal order: unbound first, then not Ready, then the highest index. */
function removalOrder(service: string): (a: V1Pod, b: V1Pod) => number {
  const rank = (p: V1Pod): number => (!p.spec?.nodeName ? 0 : !podIsReady(p) ? 1 : 2);
  const index = (p: V1Pod): number => replicaIndexOf(service, p.metadata?.name ?? '') ?? 0;
  return (a, b) => rank(a) - rank(b) || index(b) - index(a);
}

function condition(type: string, ok: boolean, reason: string, message: string, before: readonly Condition[] | undefined): Condition {
  const status = ok ? 'True' : 'False';
  const prev = before?.find((c) => c.type === type);
  return { type, status, reason, message, lastTransitionTime: prev?.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : new Date().toISOString() };
}

class NotLeadingError extends Error {
  constructor() {
    super('not leading: write dropped');
  }
}

function fenced(w: InferenceWrites, mayWrite: () => boolean): InferenceWrites {
  const check = (): void => {
    if (!mayWrite()) throw new NotLeadingError();
  };
  return {
    createPod: async (pod) => (check(), w.createPod(pod)),
    deletePod: async (ns, name) => (check(), w.deletePod(ns, name)),
    patchStatus: async (ns, name, status) => (check(), w.patchStatus(ns, name, status)),
    recordEvent: async (ns, name, uid, type, reason, message) => (check(), w.recordEvent(ns, name, uid, type, reason, message)),
  };
}

export class InferenceController {
  readonly cache: InferenceCache;
  private readonly log: (msg: string) => void;
  private readonly dirty = new Set<string>();
  private readonly busy = new Set<string>();
  /** Pods asked for or asked to go, not yet seen so in the watch. */
  private readonly creating = new Set<string>();
  private readonly deleting = new Set<string>();
  private readonly lastInvalid = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private flushing = false;
  private stopped = false;

  /** Every write checks `mayWrite` as it leaves, so a replica that lost the Lease mid-reconcile sends nothing more. */
  private readonly writes: InferenceWrites;

  constructor(private readonly opts: InferenceControllerOptions) {
    this.log = opts.log ?? ((m) => process.stderr.write(`${m}\n`));
    this.writes = fenced(opts.writes, opts.mayWrite);
    this.cache = new InferenceCache(opts.kubeConfig, (key) => this.touch(key), this.log);
  }

  async start(): Promise<void> {
    await this.cache.start();
    if (this.stopped) return;
    this.timer = setInterval(() => {
      for (const k of this.cache.serviceKeys()) this.touch(k);
    }, this.opts.resyncMs ?? 2000);
    this.timer.unref();
    for (const k of this.cache.serviceKeys()) this.touch(k);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.cache.stop();
  }

  private touch(key: string): void {
    this.dirty.add(key);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flush());
    }
  }

  private async flush(): Promise<void> {
    this.flushing = false;
    if (this.stopped || !this.opts.mayWrite()) {
      this.dirty.clear();
      return;
    }
    const keys = [...this.dirty].filter((k) => !this.busy.has(k));
    for (const k of keys) this.dirty.delete(k);
    await Promise.all(keys.map((k) => this.reconcileOne(k)));
  }

  private async reconcileOne(key: string): Promise<void> {
    this.busy.add(key);
    try {
      await this.reconcile(key);
    } catch (e) {
      this.log(`inference service ${key}: ${(e as Error).message}`);
    } finally {
      this.busy.delete(key);
      if (this.dirty.has(key)) this.touch(key);
    }
  }

  private async reconcile(key: string): Promise<void> {
    const obj = this.cache.service(key);
    const pods = this.cache.pods(key);
    for (const p of pods) {
      const n = p.metadata?.name ?? '';
      this.creating.delete(`${key}/${n}`);
      if (p.metadata?.deletionTimestamp) this.deleting.delete(`${key}/${n}/${p.metadata.uid ?? ''}`);
    }
    if (!obj) {
      // Its owner is gone (the garbage collector would also remove them): remove the replicas.
      await Promise.all(pods.filter((p) => !p.metadata?.deletionTimestamp).map((p) => this.remove(key, p)));
      return;
    }
    let spec: InferenceSpec;
    try {
      spec = inferenceSpec(obj);
    } catch (e) {
      if (!(e instanceof InferenceSpecError)) throw e;
      await this.invalid(key, obj, e.message);
      return;
    }
    this.lastInvalid.delete(key);
    const revision = templateRevision(spec);
    const desired = desiredReplicas(spec, obj.status);
    const live = pods.filter(isLivePod);
    for (const p of pods.filter((x) => !x.metadata?.deletionTimestamp && !isLivePod(x))) await this.remove(key, p);
    const current = live.filter((p) => p.metadata?.labels?.[LABEL_INFERENCE_REVISION] === revision);
    const old = live.filter((p) => p.metadata?.labels?.[LABEL_INFERENCE_REVISION] !== revision);
    const name = obj.metadata?.name ?? '';
    const order = removalOrder(name);
    const writes: Promise<void>[] = [];
    // Too few of the current revision: new replicas at the lowest free indices (a name still held by a pod being deleted is not free).
    const taken = new Set(pods.map((p) => replicaIndexOf(name, p.metadata?.name ?? '')));
    for (let missing = desired - current.length, i = 1; missing > 0; i++) {
      if (taken.has(i)) continue;
      const pod = replicaPod(obj, spec, i);
      const id = `${key}/${pod.metadata?.name ?? ''}`;
      missing--;
      if (this.creating.has(id)) continue;
      this.creating.add(id);
      writes.push(this.writes.createPod(pod).catch((e: unknown) => {
        this.creating.delete(id);
        this.log(`inference service ${key}: cannot create ${pod.metadata?.name ?? ''}: ${(e as Error).message}`);
      }));
    }
    for (const p of [...current].sort(order).slice(0, Math.max(0, current.length - desired))) writes.push(this.remove(key, p));
    // The old revision keeps what the new one cannot serve yet.
    const keepOld = Math.max(0, desired - current.filter(podIsReady).length);
    for (const p of [...old].sort(order).slice(0, Math.max(0, old.length - keepOld))) writes.push(this.remove(key, p));
    await Promise.all(writes);
    await this.writeStatus(key, obj, spec, revision, live, desired);
  }

  private async remove(key: string, p: V1Pod): Promise<void> {
    const id = `${key}/${p.metadata?.name ?? ''}/${p.metadata?.uid ?? ''}`;
    if (this.deleting.has(id)) return;
    this.deleting.add(id);
    try {
      await this.writes.deletePod(p.metadata?.namespace ?? '', p.metadata?.name ?? '');
    } catch (e) {
      this.deleting.delete(id);
      this.log(`inference service ${key}: cannot delete ${p.metadata?.name ?? ''}: ${(e as Error).message}`);
    }
  }

  private async invalid(key: string, obj: InferenceServiceObject, message: string): Promise<void> {
    if (this.lastInvalid.get(key) === message) return;
    this.lastInvalid.set(key, message);
    const [ns, name] = [obj.metadata?.namespace ?? '', obj.metadata?.name ?? ''];
    const conditions = [condition('Valid', false, 'InvalidSpec', message, obj.status?.conditions)];
    await this.writes.patchStatus(ns, name, { observedGeneration: obj.metadata?.generation ?? 0, conditions }).catch((e: unknown) => this.log(`inference service ${key}: status: ${(e as Error).message}`));
    await this.writes.recordEvent(ns, name, obj.metadata?.uid, 'Warning', 'InvalidSpec', message).catch(() => undefined);
  }

  private async writeStatus(key: string, obj: InferenceServiceObject, spec: InferenceSpec, revision: string, live: readonly V1Pod[], desired: number): Promise<void> {
    const before = obj.status ?? {};
    const ready = live.filter(podIsReady).length;
    const bound = live.filter((p) => p.spec?.nodeName).length;
    const readyOk = ready > 0 || desired === 0;
    const status: InferenceServiceStatus = {
      observedGeneration: obj.metadata?.generation ?? 0,
      revision,
      replicas: live.length,
      readyReplicas: ready,
      ...(before.desiredReplicas === undefined ? { desiredReplicas: desired } : {}),
      conditions: [
        condition('Valid', true, 'SpecAccepted', `replicas ${spec.replicas.min}..${spec.replicas.max}, autoscaler ${spec.autoscaler.policy}, routing ${spec.routing.policy}`, before.conditions),
        condition('Ready', readyOk, readyOk ? (desired === 0 ? 'ScaledToZero' : 'ReplicasReady') : 'NoReplicaReady', `${ready} of ${desired} replicas Ready, ${bound} bound`, before.conditions),
      ],
    };
    const same =
      before.observedGeneration === status.observedGeneration && before.revision === revision && before.replicas === status.replicas && before.readyReplicas === ready && status.desiredReplicas === undefined &&
      JSON.stringify(before.conditions?.map((c) => [c.type, c.status, c.message])) === JSON.stringify(status.conditions?.map((c) => [c.type, c.status, c.message]));
    if (same) return;
    const [ns, name] = [obj.metadata?.namespace ?? '', obj.metadata?.name ?? ''];
    await this.writes.patchStatus(ns, name, status).catch((e: unknown) => this.log(`inference service ${key}: status: ${(e as Error).message}`));
  }
}
