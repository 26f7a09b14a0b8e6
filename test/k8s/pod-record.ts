/**
 * The chaos checker's record of the pods of its namespace (test/k8s/chaos.ts), fed by a watch:
 * one event at a time, or a whole list after the watch broke (an apiserver restart). `settled`
 * is called when the record is a state the apiserver really had: after each event, and after a
 * whole list, never half-way through one. A list applied item by item mixes the new versions of
 * the pods already applied with the old versions of the rest: a pod that ended while the watch
 * was down still shows Running beside the pod bound to its GPUs since, a double-booking that
 * never was.
 */
import type { V1Pod } from '@kubernetes/client-node';

export interface PodRecordHooks {
  /** A pod's new version (type ADDED, MODIFIED, DELETED, or LIST), with the one it replaces. */
  seen(type: string, pod: V1Pod, before: V1Pod | undefined): void;
  /** The record is consistent: judge it. `afterList` when a whole list was just applied. */
  settled(afterList: boolean): void;
}

export class PodRecord {
  readonly pods = new Map<string, V1Pod>();

  constructor(private readonly hooks: PodRecordHooks) {}

  event(type: string, pod: V1Pod): void {
    this.apply(type, pod);
    this.hooks.settled(false);
  }

  /** A list replaces the record: pods it lacks were deleted while the watch was down. */
  list(items: readonly V1Pod[]): void {
    const listed = new Set(items.map((p) => p.metadata?.name ?? ''));
    for (const name of [...this.pods.keys()]) if (!listed.has(name)) this.pods.delete(name);
    for (const p of items) this.apply('LIST', p);
    this.hooks.settled(true);
  }

  private apply(type: string, pod: V1Pod): void {
    const name = pod.metadata?.name ?? '';
    const before = this.pods.get(name);
    if (type === 'DELETED') this.pods.delete(name);
    else this.pods.set(name, pod);
    this.hooks.seen(type, pod, before);
  }
}
