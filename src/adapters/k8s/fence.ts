/**
 * Fencing of the scheduler's writes: every write (bind, evict, ConfigMap, Event, status) asks,
 * at the moment it is sent, whether this replica still holds a valid Lease (leader.ts,
 * `mayWrite`), and whether it is still in the term in which the write was decided. A write that
 * fails either check is not sent: it throws FencedError. Writes queued behind the in-flight
 * limit are checked when they leave the queue, so a paused leader that resumes sends nothing.
 * Lease reads and writes are not fenced (they are how a replica gets the right to write).
 */
import type { ClusterWrites, LeaseRecord, ObjectRef } from './api.js';

export class FencedError extends Error {
  constructor(what: string) {
    super(`${what} not sent: this replica no longer holds a valid lease`);
    this.name = 'FencedError';
  }
}

export class FencedWrites implements ClusterWrites {
  constructor(
    private readonly inner: ClusterWrites,
    private readonly mayWrite: () => boolean,
  ) {}

  private check(what: string): void {
    if (!this.mayWrite()) throw new FencedError(what);
  }

  bindPod(namespace: string, name: string, node: string, annotations: Record<string, string>): Promise<void> {
    this.check(`bind of ${namespace}/${name}`);
    return this.inner.bindPod(namespace, name, node, annotations);
  }

  evictPod(namespace: string, name: string, graceSeconds: number, annotations?: Record<string, string>): Promise<void> {
    this.check(`eviction of ${namespace}/${name}`);
    return this.inner.evictPod(namespace, name, graceSeconds, annotations);
  }

  upsertConfigMap(namespace: string, name: string, data: Record<string, string>, owner: ObjectRef): Promise<void> {
    this.check(`ConfigMap ${namespace}/${name}`);
    return this.inner.upsertConfigMap(namespace, name, data, owner);
  }

  recordEvent(ref: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string, annotations?: Record<string, string>): Promise<void> {
    this.check(`event ${reason}`);
    return this.inner.recordEvent(ref, type, reason, message, annotations);
  }

  patchPodGroupStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    this.check(`PodGroup ${namespace}/${name} status`);
    return this.inner.patchPodGroupStatus(namespace, name, status);
  }

  patchQueueStatus(name: string, status: Record<string, unknown>): Promise<void> {
    this.check(`Queue ${name} status`);
    return this.inner.patchQueueStatus(name, status);
  }

  getLease(namespace: string, name: string): Promise<LeaseRecord | null> {
    return this.inner.getLease(namespace, name);
  }

  writeLease(namespace: string, name: string, l: Omit<LeaseRecord, 'resourceVersion'>, resourceVersion: string | null): Promise<void> {
    return this.inner.writeLease(namespace, name, l, resourceVersion);
  }
}
