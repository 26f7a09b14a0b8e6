/**
 * `gantry k8s scheduler`: the core scheduler driven by a Kubernetes cluster.
 *
 * Watches (list + watch) keep the core's snapshot current event by event: Nodes -> addNode /
 * updateNodeMeta / removeNode, Pods -> submit / adopt / remove, PodGroups -> gangs, Queues ->
 * setQueues. Nothing is rebuilt per cycle. While this replica holds the Lease, cycles run
 * when something changed (and every `cycleIntervalMs`), and their decisions become API calls:
 * a bind is one Binding (whose annotations carry the GPU assignment onto the pod), preceded by
 * the per-pod GPU environment ConfigMap for GPU shares; an evict is an Eviction per pod; a pod
 * that keeps waiting gets a FailedScheduling Event with the core's explanation whenever the
 * explanation changes; PodGroups get their status.
 *
 * Every replica mirrors the apiserver: a bound pod is booked in the core where the apiserver
 * says it is bound, at the GPUs of its assignment annotation (pods bound by others at GPUs
 * chosen on their node), whoever bound it; standbys too, so a new leader starts from the
 * bindings its predecessor made. A gang's binding also carries the gang's plan (where every
 * member goes): a standby books the unbound members there, and a new leader binds them.
 * Failover (docs/kubernetes.md, "Failover"): a new leader re-lists pods and reconciles before
 * its first cycle; every write is fenced by the Lease (fence.ts); a bind answered 409 means
 * "re-read the pod". A gang member that finished keeps its GPUs booked until the whole gang is gone.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesListObject, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { Scheduler } from '../../core/scheduler/scheduler.js';
import type { SchedulerConfig } from '../../core/scheduler/config.js';
import type { Decision, JobSpec, WaitReason } from '../../core/scheduler/types.js';
import type { Binding } from '../../core/model/cluster.js';
import type { PodRequest } from '../../core/model/request.js';
import { createRng } from '../../core/rng.js';
import { isUserError } from '../../core/errors.js';
import { prepareRequest } from '../../core/placement/placer.js';
import { defaultAssign } from '../../core/placement/gpu-assign.js';
import { apiError, KubeClusterWrites, type ApiError, type ClusterWrites, type ObjectRef } from './api.js';
import { LeaderElector } from './leader.js';
import { FencedError, FencedWrites } from './fence.js';
import { capacityKey, nodeInventory } from './inventory.js';
import {
  assignmentOf, boundPodRequest, creationMs, podCheckpoint, datasetNames, encodePlan, gpuEnvironment, grantsOf, isGantryPod, isTerminal, podGroupName, podKey, podPreemptible, podPriority, podQueue,
  podRequest, PodSpecError, readAssignment, readPlan, sameGrants, singlePodJobId, singlePodJobKey, type GangPlan,
} from './pods.js';
import { queueTree, QueueSpecError, type QueueObject } from './queues.js';
import { QueueSpend } from './queue-spend.js';
import { configMapPrices, type PriceSource } from './prices.js';
import { ResourceWatch } from './watch.js';
import { CallLimiter } from './call-limiter.js';
import { PrefetchRequests } from './prefetch-requests.js';
import { CapacityPrefetch } from './capacity-prefetch.js';
import { reuseConnections } from './connections.js';
import { batchedLineLog } from './line-log.js';
import { slimNode, slimPod } from './slim.js';
import { listRaw } from './raw-list.js';
import {
  ANN_ASSIGNMENT, ANN_DATASETS, ANN_ENV_CONFIGMAP, ANN_GANG_PLAN, ANN_GPU_UUIDS, ANN_LEADER_EPOCH, DEFAULT_QUEUE, GANTRY_GROUP, LABEL_INFERENCE_SERVICE, LEASE_NAME, PODGROUP_GROUP, PODGROUP_PLURAL, PODGROUP_VERSION, QUEUE_LABEL,
  QUEUE_PLURAL, QUEUE_VERSION,
} from './names.js';

export interface PodGroupObject {
  metadata?: { name?: string; namespace?: string; uid?: string; labels?: Record<string, string>; creationTimestamp?: Date };
  spec?: { minMember?: number };
  status?: Record<string, unknown>;
}

export interface KubeSchedulerOptions {
  readonly kubeConfig: KubeConfig;
  /** Defaults to the client-node implementation on `kubeConfig`. */
  readonly writes?: ClusterWrites;
  /** Namespace of the leader election Lease. */
  readonly namespace: string;
  readonly identity: string;
  readonly leaderElection?: boolean;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /** A cycle runs at least this often while there are pending pods. */
  readonly cycleIntervalMs?: number;
  /** API calls in flight at most (binds, evictions, ConfigMaps). */
  readonly maxInflight?: number;
  /** Core settings (placement policy, minimum runtime before preemption, ...). */
  readonly core?: Omit<SchedulerConfig, 'rng'>;
  readonly log?: (msg: string) => void;
  /** Told when this replica starts (true) or stops (false) scheduling. */
  readonly onLeading?: (leading: boolean) => void;
  /** Told of each scheduling attempt, bind and eviction (scheduler-metrics.ts). */
  readonly observer?: SchedulingObserver;
  /** Spend and budgets (queue-spend.ts): how often the leader prices GPU time (15 s), its clock, the prices' source. */
  readonly spend?: { readonly intervalMs?: number; readonly clock?: () => number; readonly prices?: PriceSource };
}

/** What a scheduling attempt of one pod came to, in kube-scheduler's words. */
export type AttemptResult = 'scheduled' | 'unschedulable' | 'error';

export interface SchedulingObserver {
  /** One pod's attempt: from the start of the cycle that decided it to its bind's answer. */
  attempt(result: AttemptResult, seconds: number): void;
  /** A pod bound: seconds since it was created. */
  bound(sinceCreatedSeconds: number): void;
  /** A pod evicted to make room (preemption or reclaim). */
  evicted(reason: string): void;
}

interface JobEntry {
  readonly id: string;
  /** Its pods' keys (an array: most jobs have one pod, and an empty Set alone costs ~150 bytes). */
  readonly pods: string[];
  /** Gang key (namespace/name of the PodGroup) for gangs. */
  readonly group: string | undefined;
  /** Bind calls of the current placement: outstanding, succeeded, failed pods; the leader term that sent them. */
  bindOps: { outstanding: number; ok: number; failed: string[]; unknown: number; term: number } | undefined;
  /** The leader term in which this replica last placed the job: its binds may not show in the watch yet. */
  placedInTerm: number | undefined;
  lastWait: string | undefined;
  /** A gang found partly bound without a usable plan: rolled back (its bound members evicted) by the leader. */
  partial: boolean;
}

/** Cycles start at most this often while changes keep arriving (the changes in between share one). */
const BATCH_MS = 5;
const QUEUE_STATUS_EVERY_MS = 2000;

const POD_REF = (pod: V1Pod): ObjectRef => ({
  kind: 'Pod',
  apiVersion: 'v1',
  namespace: pod.metadata?.namespace ?? '',
  name: pod.metadata?.name ?? '',
  ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}),
});

export function formatWait(reasons: readonly WaitReason[]): string {
  return reasons.map((r) => `${r.kind}: ${r.message}`).join('; ');
}

export class KubeScheduler {
  readonly core: Scheduler;
  private readonly writes: ClusterWrites;
  private readonly log: (msg: string) => void;
  private readonly watches: ResourceWatch<never>[] = [];
  private readonly elector: LeaderElector | null;
  private readonly calls: CallLimiter;
  private readonly eventCalls = new CallLimiter(4);
  /** Datasets asked for on the nodes where pending pods are expected (the cache agents fill them). */
  private readonly prefetch: PrefetchRequests;
  private readonly capacityPrefetch = new CapacityPrefetch();

  // What the watches told us.
  private readonly pods = new Map<string, V1Pod>();
  private readonly nodes = new Map<string, string>(); // name -> capacity key
  private readonly preSyncNodes = new Map<string, V1Node>();
  private readonly groups = new Map<string, PodGroupObject>();
  private readonly groupPods = new Map<string, Set<string>>();
  private readonly queueObjs = new Map<string, QueueObject>();
  /** The Queue objects of the tree in force (a refused tree leaves the previous one). */
  private acceptedQueues: readonly QueueObject[] = [];
  /** Spend per queue and budget holds (the leader's). */
  readonly spend: QueueSpend;

  // Jobs handed to the core.
  private readonly jobs = new Map<string, JobEntry>();
  /**
   * The job of each gang member, by pod key. A single pod's job is found by its id
   * (singlePodJobId, see jobOf): no entry per bound pod (~40 bytes each: docs/benchmarks.md,
   * "Scheduler memory").
   */
  private readonly gangMemberJob = new Map<string, string>();
  /** Pods that could not be submitted (bad spec, missing queue / group), with the reason shown. */
  private readonly blocked = new Map<string, string>();
  private readonly groupStatus = new Map<string, string>();

  private synced = false;
  private relisted = false;
  /** resourceVersion of the last pod list this replica applied itself (takeover): older events of pods it lacks are stale. */
  private listedRv = -1;
  /** Bound pods the core could not book as the apiserver records them (their GPUs held by another booking): retried. */
  private readonly unbooked = new Set<string>();
  private leading = false;
  /** Leader term of this replica: changes whenever it starts or stops leading (stale callbacks compare it). */
  private term = 0;
  private stopped = false;
  private dirty = true;
  private cycleTimer: NodeJS.Timeout | null = null;
  private cycling = false;
  /** The leader term in which the last cycle ran (readiness: a new leader has cycled once). */
  private cycledInTerm = -1;
  private cycleStartedAt = 0;
  readonly stats = { cycles: 0, binds: 0, bindFailures: 0, evictions: 0, events: 0, lastCycleMs: 0 };

  constructor(private readonly opts: KubeSchedulerOptions) {
    this.log = opts.log ?? batchedLineLog();
    reuseConnections(opts.kubeConfig);
    const raw = opts.writes ?? new KubeClusterWrites(opts.kubeConfig, opts.identity);
    this.writes = new FencedWrites(raw, () => this.mayWrite());
    this.prefetch = new PrefetchRequests(opts.kubeConfig, this.log);
    // Consolidation moves checkpointing pods (podCheckpoint) to free room for gangs and large pods:
    // a move is an eviction with the checkpoint's grace; the pod's owner makes the new pod, which
    // resumes from the checkpoint and is placed like any other (the freed nodes stay reserved).
    this.core = new Scheduler({ rng: createRng(1), actions: ['allocate', 'backfill', 'consolidate', 'surge', 'reclaim', 'preempt'], ...opts.core }, [{ name: 'default' }]);
    this.calls = new CallLimiter(opts.maxInflight ?? 64);
    this.spend = new QueueSpend({
      core: this.core,
      queues: () => this.acceptedQueues,
      prices: opts.spend?.prices ?? configMapPrices(opts.kubeConfig, opts.namespace),
      namespace: opts.namespace,
      patchStatus: (name, status) => this.calls.run(() => this.writes.patchQueueStatus(name, status)),
      event: (ref, type, reason, message) => void this.event(ref, type, reason, message),
      intervalMs: opts.spend?.intervalMs ?? 15_000,
      clock: opts.spend?.clock ?? Date.now,
      log: this.log,
    });
    this.elector =
      opts.leaderElection === false
        ? null
        : new LeaderElector(
            raw,
            {
              namespace: opts.namespace,
              name: LEASE_NAME,
              identity: opts.identity,
              leaseDurationMs: opts.leaseDurationMs ?? 15_000,
              renewDeadlineMs: opts.renewDeadlineMs ?? 10_000,
              retryPeriodMs: opts.retryPeriodMs ?? 2_000,
              log: this.log,
            },
            () => this.startLeading(),
            () => this.stopLeading(),
          );
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The core's state, read at scrape time by the metrics (never written through this). */
  get coreState(): Pick<Scheduler, 'allJobs' | 'cluster' | 'job' | 'queueStatus'> {
    return this.core;
  }

  /**
   * Ready once the watches synced and, for the leader, its first cycle of this term ran; a
   * standby is ready once it mirrors the apiserver (synced). `reason` says why not.
   */
  readiness(): { ready: boolean; reason: string } {
    if (this.stopped) return { ready: false, reason: 'stopping' };
    if (!this.synced) return { ready: false, reason: 'watches not synced yet' };
    if (this.leading && this.cycledInTerm !== this.term) return { ready: false, reason: 'leader has not run its first cycle yet' };
    return { ready: true, reason: this.leading ? 'leading' : 'standby, mirroring the apiserver' };
  }

  /** May write now (the fence below): the InferenceService controller in the same process follows it. */
  get writable(): boolean {
    return this.mayWrite();
  }

  /** Leading, and (with leader election) within the renew deadline of the last renewal. */
  private mayWrite(): boolean {
    return this.leading && !this.stopped && (this.elector === null || this.elector.mayWrite);
  }

  /** Starts the watches and the election; resolves once the initial state is adopted. */
  async start(): Promise<void> {
    const kc = this.opts.kubeConfig;
    const custom = kc.makeApiClient(CustomObjectsApi);
    const add = <T extends object>(w: ResourceWatch<T & { metadata?: object }>): void => {
      this.watches.push(w as unknown as ResourceWatch<never>);
    };
    add(new ResourceWatch<V1Node>(kc, '/api/v1/nodes', () => listRaw<V1Node>(kc, '/api/v1/nodes'), { upsert: (n) => this.onNode(n), remove: (n) => this.onNodeDeleted(n) }, this.log, undefined, slimNode));
    add(new ResourceWatch<V1Pod>(kc, '/api/v1/pods', () => listRaw<V1Pod>(kc, '/api/v1/pods'), { upsert: (p) => this.onPod(p), remove: (p) => this.onPodDeleted(p) }, this.log, undefined, slimPod));
    add(
      new ResourceWatch<PodGroupObject & { metadata?: object }>(
        kc,
        `/apis/${PODGROUP_GROUP}/${PODGROUP_VERSION}/${PODGROUP_PLURAL}`,
        () => custom.listCustomObjectForAllNamespaces({ group: PODGROUP_GROUP, version: PODGROUP_VERSION, plural: PODGROUP_PLURAL }) as Promise<KubernetesListObject<PodGroupObject & { metadata?: object }>>,
        { upsert: (g) => this.onGroup(g), remove: (g) => this.onGroupDeleted(g) },
        this.log,
      ),
    );
    add(
      new ResourceWatch<QueueObject & { metadata?: object }>(
        kc,
        `/apis/${GANTRY_GROUP}/${QUEUE_VERSION}/${QUEUE_PLURAL}`,
        () => custom.listClusterCustomObject({ group: GANTRY_GROUP, version: QUEUE_VERSION, plural: QUEUE_PLURAL }) as Promise<KubernetesListObject<QueueObject & { metadata?: object }>>,
        { upsert: (q) => this.onQueue(q), remove: (q) => this.onQueueDeleted(q) },
        this.log,
      ),
    );
    for (const w of this.watches) w.start();
    await Promise.all(this.watches.map((w) => w.synced));
    if (this.stopped) return;
    this.initialSync();
    if (this.elector) this.elector.start();
    else this.startLeading();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.leading = false;
    if (this.cycleTimer) clearTimeout(this.cycleTimer);
    this.spend.endTerm();
    await this.spend.settled();
    await this.elector?.stop();
    await Promise.all(this.watches.map((w) => w.stop()));
  }

  // ---- start-up ------------------------------------------------------------------------------

  /** Builds the core's state from the watched objects: queues, nodes, then every bound pod. */
  private initialSync(): void {
    this.synced = true;
    this.applyQueues();
    for (const node of this.preSyncNodes.values()) this.onNode(node);
    this.preSyncNodes.clear();
    // Re-adopt bound pods first (gang members as one job), so nothing is scheduled onto GPUs in use.
    const bound = [...this.pods.values()].filter((p) => p.spec?.nodeName && !isTerminal(p));
    const byGroup = new Set<string>();
    for (const p of bound) {
      const g = this.gangKeyOf(p);
      if (g === undefined) this.adopt(singlePodJobId(podKey(p)), [p]);
      else byGroup.add(g);
    }
    for (const key of byGroup.keys()) this.adoptGang(key);
    for (const p of this.pods.values()) if (!p.spec?.nodeName && !isTerminal(p)) this.considerPending(p);
    this.log(`synced: ${this.core.cluster.nodeCount} nodes, ${bound.length} bound pods adopted, ${this.jobs.size} jobs`);
  }

  // ---- nodes ---------------------------------------------------------------------------------

  private onNode(node: V1Node): void {
    const name = node.metadata?.name ?? '';
    if (!this.synced) {
      this.preSyncNodes.set(name, node);
      return;
    }
    const inv = nodeInventory(node);
    for (const w of inv.warnings) this.log(`node ${name}: ${w}`);
    const key = capacityKey(inv.spec);
    const before = this.nodes.get(name);
    if (before === undefined) {
      this.core.addNode(inv.spec);
    } else if (before !== key) {
      // Capacity changed: re-create the node and put its pods back on it.
      const held = [...this.core.cluster.allBindings()].filter((b) => b.node === name);
      this.core.removeNode(name);
      this.core.addNode(inv.spec);
      for (const b of held) {
        try {
          this.core.cluster.bind(b);
        } catch (e) {
          this.log(`node ${name} changed and pod ${b.podId} no longer fits it: ${(e as Error).message}`);
        }
      }
    } else {
      this.core.updateNodeMeta(name, inv.spec.labels ?? {}, inv.spec.taints ?? [], inv.spec.cachedDatasets ?? [], inv.spec.cachedBytes ?? {});
      this.core.cordon(name, inv.spec.unschedulable === true);
    }
    this.nodes.set(name, key);
    this.markDirty();
  }

  private onNodeDeleted(node: V1Node): void {
    const name = node.metadata?.name ?? '';
    this.nodes.delete(name);
    if (!this.synced) {
      this.preSyncNodes.delete(name);
      return;
    }
    this.core.removeNode(name);
    this.markDirty();
  }

  // ---- queues and groups ---------------------------------------------------------------------

  private onQueue(q: QueueObject): void {
    this.queueObjs.set(q.metadata?.name ?? '', q);
    if (this.synced) this.applyQueues();
  }

  private onQueueDeleted(q: QueueObject): void {
    this.queueObjs.delete(q.metadata?.name ?? '');
    if (this.synced) this.applyQueues();
  }

  private applyQueues(): void {
    const objs = [...this.queueObjs.values()];
    try {
      this.core.setQueues(queueTree(objs));
      this.acceptedQueues = objs;
      this.spend.queuesChanged();
    } catch (e) {
      if (!(e instanceof QueueSpecError) && !isUserError(e)) throw e;
      this.log(`queues not changed: ${(e as Error).message}`);
      const name = [...this.queueObjs.keys()][0] ?? 'default';
      void this.event({ kind: 'Queue', apiVersion: `${GANTRY_GROUP}/${QUEUE_VERSION}`, namespace: 'default', name }, 'Warning', 'InvalidQueue', `queues not changed: ${(e as Error).message}`);
      return;
    }
    // Pending jobs whose queue went away wait again; blocked pods may now be submittable.
    for (const [id, entry] of [...this.jobs]) {
      const j = this.core.job(id);
      if (j && j.state === 'pending' && !this.core.isLeafQueue(j.spec.queue)) this.dropJob(id, entry, true);
    }
    this.retryBlocked();
    this.markDirty();
  }

  private onGroup(g: PodGroupObject): void {
    const key = `${g.metadata?.namespace ?? ''}/${g.metadata?.name ?? ''}`;
    this.groups.set(key, g);
    if (!this.synced) return;
    for (const pk of this.groupPods.get(key) ?? []) {
      const p = this.pods.get(pk);
      if (p && this.jobOf(pk) === undefined) this.considerPending(p);
    }
  }

  private onGroupDeleted(g: PodGroupObject): void {
    this.groups.delete(`${g.metadata?.namespace ?? ''}/${g.metadata?.name ?? ''}`);
  }

  // ---- pods ----------------------------------------------------------------------------------

  private indexGroup(pod: V1Pod, add: boolean): void {
    const g = podGroupName(pod);
    if (g === undefined || !isGantryPod(pod)) return;
    const key = `${pod.metadata?.namespace ?? ''}/${g}`;
    const set = this.groupPods.get(key) ?? new Set<string>();
    if (add) set.add(podKey(pod));
    else set.delete(podKey(pod));
    if (set.size === 0) this.groupPods.delete(key);
    else this.groupPods.set(key, set);
  }

  private onPod(pod: V1Pod): void {
    const key = podKey(pod);
    // Only pods that are ours or hold a node's resources matter.
    if (!isGantryPod(pod) && !pod.spec?.nodeName) return;
    // A watch that lags behind the re-list of a takeover must not bring back an older version,
    // nor a pod that list showed gone.
    const known = this.pods.get(key);
    if (olderThan(pod, known)) return;
    if (!known && Number(pod.metadata?.resourceVersion) <= this.listedRv) return;
    // The same name, another pod: the one we knew was deleted (its event may not have come yet).
    if (known && otherPod(pod, known)) this.onPodDeleted(known);
    if (isTerminal(pod)) {
      this.pods.set(key, pod);
      this.indexGroup(pod, true);
      if (this.synced) this.podGone(key);
      this.updateGroupStatusFor(pod);
      return;
    }
    this.pods.set(key, pod);
    this.indexGroup(pod, true);
    if (!this.synced) return;
    const jobId = this.jobOf(key);
    if (pod.spec?.nodeName) {
      this.mirrorBound(pod);
      this.updateGroupStatusFor(pod);
    } else if (jobId === undefined && !pod.metadata?.deletionTimestamp) {
      this.considerPending(pod);
    }
  }

  private onPodDeleted(pod: V1Pod): void {
    const key = podKey(pod);
    // A late deletion of an earlier pod of the same name does not remove the one that replaced it.
    const known = this.pods.get(key);
    if (known && otherPod(pod, known)) return;
    this.pods.delete(key);
    this.unbooked.delete(key);
    this.indexGroup(pod, false);
    this.blocked.delete(key);
    if (this.synced) this.podGone(key);
  }

  /**
   * A pod ended or was deleted: its job frees its resources once all its pods are gone, or once
   * nothing backs the bookings of those left (a gang's plan whose bound members are all gone).
   */
  private podGone(key: string): void {
    this.blocked.delete(key);
    this.unbooked.delete(key);
    const id = this.jobOf(key);
    if (id === undefined) return;
    const entry = this.jobs.get(id);
    this.gangMemberJob.delete(key);
    if (!entry) return;
    // (A single pod's entry goes below with its last pod: it is no longer found by jobOf.)
    const at = entry.pods.indexOf(key);
    if (at >= 0) entry.pods.splice(at, 1);
    const j = this.core.job(id);
    if (j?.state === 'pending') {
      // A gang that lost a member before it was placed re-forms from the pods that remain.
      this.dropJob(id, entry, true);
    } else if (entry.pods.length === 0) {
      this.spend.settleJob(id);
      this.core.remove(id);
      this.jobs.delete(id);
      // A gang that was rolled back: the members left waiting may form it again.
      if (entry.group) for (const pk of this.groupPods.get(entry.group) ?? []) this.reconsider(pk);
    } else if (!this.backed(entry)) {
      this.log(`releasing ${id}: none of its pods is bound any more, its plan is void`);
      this.releaseUnbacked(id, entry);
    }
    this.retryUnbooked();
    this.markDirty();
  }

  /**
   * The core's bookings of a job are backed by the apiserver's record (one of its pods is bound:
   * the pod itself, and for a gang the plan it carries), by this leader's binds of this term, or
   * by binds still unanswered (sent in a past term, they may land after a re-list showed the pod unbound).
   * Anything else is a phantom: a plan whose bound members are gone, a decision of a past term.
   */
  private backed(entry: JobEntry): boolean {
    if (this.leading && entry.placedInTerm === this.term) return true;
    // A bind sent and not answered yet (of any term) may still land: its GPUs stay booked.
    if ((entry.bindOps?.outstanding ?? 0) > 0) return true;
    for (const pk of entry.pods) {
      const p = this.pods.get(pk);
      if (p?.spec?.nodeName && !isTerminal(p)) return true;
    }
    return false;
  }

  /** A running job that nothing backs waits again: as it was, or re-formed from the pods that remain. */
  private releaseUnbacked(id: string, entry: JobEntry): void {
    entry.bindOps = undefined;
    if (this.core.job(id)?.spec.members.length === entry.pods.length) this.core.bindFailed(id, Date.now());
    else this.dropJob(id, entry, true);
  }

  /** Books again the bound pods whose booking was refused, now that bookings were released. */
  private retryUnbooked(): void {
    if (this.retryingUnbooked) return;
    this.retryingUnbooked = true;
    try {
      for (const key of [...this.unbooked]) {
        const pod = this.pods.get(key);
        if (!pod?.spec?.nodeName || isTerminal(pod)) this.unbooked.delete(key);
        else this.mirrorBound(pod);
      }
    } finally {
      this.retryingUnbooked = false;
    }
  }

  private retryingUnbooked = false;

  /** The id of the job the pod `key` belongs to, if any. */
  private jobOf(key: string): string | undefined {
    return this.gangMemberJob.get(key) ?? this.jobs.get(singlePodJobKey(key))?.id;
  }

  /** A job handed to the core: its entry, and its gang members' links to it. */
  private addEntry(entry: JobEntry): void {
    this.jobs.set(entry.id, entry);
    if (entry.group !== undefined) for (const pk of entry.pods) this.gangMemberJob.set(pk, entry.id);
  }

  private reconsider(pk: string): void {
    const p = this.pods.get(pk);
    if (p && !p.spec?.nodeName && !isTerminal(p) && this.jobOf(pk) === undefined) this.considerPending(p);
  }

  /** Forgets a job; with `reconsider`, its remaining pods are looked at again as pending pods. */
  private dropJob(id: string, entry: JobEntry, reconsider: boolean): void {
    this.spend.settleJob(id);
    this.core.remove(id);
    this.jobs.delete(id);
    for (const pk of entry.pods) this.gangMemberJob.delete(pk);
    if (!reconsider) return;
    for (const pk of entry.pods) {
      const p = this.pods.get(pk);
      if (p && !p.spec?.nodeName && !isTerminal(p) && this.jobOf(pk) === undefined) this.considerPending(p);
    }
  }

  private retryBlocked(): void {
    for (const key of [...this.blocked.keys()]) {
      const p = this.pods.get(key);
      this.blocked.delete(key);
      if (p && !p.spec?.nodeName && this.jobOf(key) === undefined) this.considerPending(p);
    }
  }

  /** Holds a pod back with a reason shown as an Event: FailedScheduling, or the reason of a bad spec. */
  private block(pod: V1Pod, reason: string, invalid: PodSpecError['reason'] | null): void {
    const key = podKey(pod);
    if (this.blocked.get(key) === reason) return;
    this.blocked.set(key, reason);
    void this.event(POD_REF(pod), invalid ? 'Warning' : 'Normal', invalid ?? 'FailedScheduling', `gantry: ${reason}`);
  }

  /** An unbound gantry pod: submit it (or its gang, once enough members exist). */
  private considerPending(pod: V1Pod): void {
    if (!isGantryPod(pod) || pod.metadata?.deletionTimestamp) return;
    const key = podKey(pod);
    // A pod belongs to one job at most: one booked (a gang's planned member) is not pending.
    if (this.jobOf(key) !== undefined || this.core.cluster.binding(key) !== undefined) return;
    let req: PodRequest;
    try {
      req = podRequest(pod);
    } catch (e) {
      if (e instanceof PodSpecError) return this.block(pod, e.message, e.reason);
      throw e;
    }
    const group = podGroupName(pod);
    if (group === undefined) return void this.submit(singlePodJobId(key), [pod], [req]);
    const ns = pod.metadata?.namespace ?? '';
    const gkey = `${ns}/${group}`;
    const pg = this.groups.get(gkey);
    if (!pg) return this.block(pod, `waiting for PodGroup ${group}`, null);
    const gangId = `pg:${gkey}`;
    const existing = this.core.job(gangId);
    if (existing && existing.state !== 'pending') {
      // A gang found partly bound waits for the leader to roll it back; its other pods wait with it.
      if (this.jobs.get(gangId)?.partial) return this.block(pod, `gang: PodGroup ${group} is partly bound; it is rolled back and placed again whole`, null);
      // The gang already runs: a pod beyond it (elastic scale-up, a restarted worker) runs alone.
      return void this.submit(singlePodJobId(key), [pod], [req]);
    }
    if (existing) return; // pending gang, already submitted (this pod is in it or arrives late)
    const members: V1Pod[] = [];
    for (const pk of this.groupPods.get(gkey) ?? []) {
      const p = this.pods.get(pk);
      if (p && !p.spec?.nodeName && !isTerminal(p) && !p.metadata?.deletionTimestamp && this.jobOf(pk) === undefined) members.push(p);
    }
    const min = Math.max(1, pg.spec?.minMember ?? 1);
    if (members.length < min) {
      for (const m of members) this.block(m, `gang: ${members.length} of ${min} pods of PodGroup ${group} exist`, null);
      return;
    }
    const reqs: PodRequest[] = [];
    for (const m of members) {
      try {
        reqs.push(podRequest(m));
      } catch (e) {
        if (e instanceof PodSpecError) return this.block(m, e.message, e.reason);
        throw e;
      }
    }
    for (const m of members) this.blocked.delete(podKey(m));
    this.submit(gangId, members, reqs.slice(), gkey); // exact length: the core keeps it (see adopt)
  }

  private jobSpec(id: string, pods: readonly V1Pod[], reqs: readonly PodRequest[], group?: string): JobSpec {
    const first = pods[0] as V1Pod;
    const pg = group ? this.groups.get(group) : undefined;
    const queue = pg?.metadata?.labels?.[QUEUE_LABEL] ?? podQueue(first);
    const now = Date.now();
    // A job checkpoints only if every pod of it does.
    const checkpoints = pods.map(podCheckpoint).filter((c) => c !== undefined);
    return {
      id,
      queue,
      priority: Math.max(...pods.map(podPriority)),
      preemptible: pods.every(podPreemptible),
      submittedAt: Math.min(...pods.map((p) => creationMs(p, now))),
      members: reqs,
      ...(checkpoints.length === pods.length ? { checkpoint: { graceSeconds: Math.max(...checkpoints.map((c) => c.graceSeconds)) } } : {}),
      // An InferenceService replica that may not be preempted takes GPUs from preemptible training (surge).
      ...(pods.every((p) => p.metadata?.labels?.[LABEL_INFERENCE_SERVICE] !== undefined && !podPreemptible(p)) ? { surge: true } : {}),
    };
  }

  private submit(id: string, pods: readonly V1Pod[], reqs: readonly PodRequest[], group?: string): boolean {
    const taken = pods.filter((p) => this.jobOf(podKey(p)) !== undefined || this.core.cluster.binding(podKey(p)) !== undefined);
    if (taken.length > 0) {
      this.log(`not submitting ${id}: ${taken.map((p) => `${podKey(p)} (job ${this.jobOf(podKey(p)) ?? 'none'})`).join(', ')} already booked`);
      return false;
    }
    const spec = this.jobSpec(id, pods, reqs, group);
    try {
      this.core.submit(spec);
    } catch (e) {
      if (!isUserError(e)) throw e;
      for (const p of pods) this.block(p, e.message, null);
      return false;
    }
    const entry = newEntry(id, pods, group);
    this.addEntry(entry);
    for (const p of pods) this.blocked.delete(podKey(p));
    this.markDirty();
    return true;
  }

  /**
   * Takes bound pods into the core as running, at their annotated GPUs where Gantry bound them;
   * unbound pods of a gang at the GPUs its plan gives them. False when they cannot be booked.
   */
  private adopt(id: string, pods: readonly V1Pod[], group?: string, plan?: GangPlan | null): boolean {
    const bindings: Binding[] = [];
    const reqs: PodRequest[] = [];
    const stmt = this.core.cluster.begin();
    try {
      for (const p of pods) {
        const req = boundPodRequest(p);
        reqs.push(req);
        const planned = p.spec?.nodeName ? undefined : plan?.get(p.metadata?.name ?? '');
        const nodeName = planned?.node ?? p.spec?.nodeName ?? '';
        const node = this.core.cluster.node(nodeName);
        if (!node) continue; // node unknown (deleted): nothing to book
        const a = readAssignment(p);
        const grants = planned ? [...planned.gpus] : a && a.node === nodeName ? grantsOf(a) : defaultAssign(prepareRequest(req), node);
        if (grants === null) {
          this.log(`pod ${podKey(p)} is bound to ${nodeName} but no free GPUs there match its request; not booking its GPUs`);
        }
        const b: Binding = { podId: podKey(p), node: nodeName, cpuMilli: req.cpuMilli, memoryMiB: req.memoryMiB, gpus: grants ?? [] };
        stmt.bind(b); // validates: throws if it would double-book
        bindings.push(b);
      }
    } catch (e) {
      stmt.rollback();
      if (plan) return false; // the caller books the bound members alone
      this.log(`cannot adopt ${id}: ${(e as Error).message}`);
      for (const p of pods) {
        if (isGantryPod(p)) void this.event(POD_REF(p), 'Warning', 'GpuConflict', `gantry: bound pod conflicts with another pod's GPUs: ${(e as Error).message}`);
      }
      return false;
    }
    stmt.rollback(); // adoptRunning books them itself
    // Kept by the core for as long as the job runs: copies of exact length (an array grown by
    // push keeps room for 17 elements, ~130 bytes more: docs/benchmarks.md, "Scheduler memory").
    const base = this.jobSpec(id, pods, reqs.slice(), group);
    // A running pod is booked even when its queue is gone: it holds its GPUs all the same.
    const spec = this.core.isLeafQueue(base.queue) ? base : { ...base, queue: DEFAULT_QUEUE };
    try {
      this.core.adoptRunning(spec, bindings.slice(), Math.min(...pods.map((p) => creationMs(p, Date.now()))));
    } catch (e) {
      if (!isUserError(e)) throw e;
      this.log(`cannot adopt ${id}: ${e.message}`);
      return false;
    }
    this.addEntry(newEntry(id, pods, group));
    this.markDirty();
    return true;
  }

  private gangKeyOf(pod: V1Pod): string | undefined {
    const g = isGantryPod(pod) ? podGroupName(pod) : undefined;
    return g === undefined ? undefined : `${pod.metadata?.namespace ?? ''}/${g}`;
  }

  /** The core books the pod where the apiserver records it: the same node and, where annotated, the same GPUs. */
  private bookedAsRecorded(pod: V1Pod): boolean {
    const key = podKey(pod);
    const b = this.core.cluster.binding(key);
    if (!b || this.jobOf(key) === undefined || b.node !== pod.spec?.nodeName) return false;
    const a = readAssignment(pod);
    return !a || a.node !== b.node || sameGrants(b.gpus, grantsOf(a));
  }

  /**
   * A pod shows up bound. If the core does not book it exactly there (it held the pod as pending
   * while another leader bound it, or booked it elsewhere), the apiserver's record wins: the
   * pod (or its whole gang) is booked again as recorded.
   */
  private mirrorBound(pod: V1Pod): void {
    const key = podKey(pod);
    if (this.bookedAsRecorded(pod)) {
      this.unbooked.delete(key);
      return;
    }
    const gkey = this.gangKeyOf(pod);
    if (gkey !== undefined) this.adoptGang(gkey);
    else {
      const jobId = this.jobOf(key);
      const entry = jobId !== undefined ? this.jobs.get(jobId) : undefined;
      if (jobId !== undefined && entry) this.dropJob(jobId, entry, false);
      this.adopt(singlePodJobId(key), [pod]);
    }
    // Refused (another booking holds its GPUs): tried again whenever bookings are released.
    if (this.bookedAsRecorded(pod)) this.unbooked.delete(key);
    else this.unbooked.add(key);
  }

  /**
   * (Re-)books a gang from the apiserver's record: its bound members where they are, and its
   * unbound members where the plan written on a bound member puts them (a leader is binding the
   * gang right now, or died half-way: the next leader finishes it). Without a usable plan only the
   * bound members are booked and, if members wait unbound, the gang is partial: the leader rolls
   * it back rather than run its leftovers as single pods.
   */
  private adoptGang(gkey: string): void {
    const gangId = `pg:${gkey}`;
    const members = [...(this.groupPods.get(gkey) ?? [])].map((pk) => this.pods.get(pk)).filter((p): p is V1Pod => p !== undefined && !isTerminal(p));
    const bound = members.filter((p) => p.spec?.nodeName);
    if (bound.length === 0) return;
    let plan: GangPlan | null = null;
    for (const p of bound) plan ??= readPlan(p);
    const planned = members.filter((p) => !p.spec?.nodeName && !p.metadata?.deletionTimestamp && plan?.has(p.metadata?.name ?? ''));
    // Forget what the core held for these pods (a pending gang, single-pod jobs), then book the record.
    const old = this.jobs.get(gangId);
    if (old) this.dropJob(gangId, old, false);
    for (const p of [...bound, ...planned]) {
      const id = this.jobOf(podKey(p));
      const e = id !== undefined ? this.jobs.get(id) : undefined;
      if (id !== undefined && e) this.dropJob(id, e, false);
    }
    let booked = planned.length > 0 && this.adopt(gangId, [...bound, ...planned], gkey, plan);
    if (!booked) booked = this.adopt(gangId, bound, gkey);
    const entry = this.jobs.get(gangId);
    const waiting = members.filter((p) => this.jobOf(podKey(p)) === undefined && !p.spec?.nodeName && !p.metadata?.deletionTimestamp);
    if (entry && booked) {
      const min = Math.max(1, this.groups.get(gkey)?.spec?.minMember ?? 1);
      entry.partial = entry.pods.length < min && waiting.length > 0;
      if (entry.partial) this.log(`gang ${gkey} is partly bound (${entry.pods.length} of ${min}) without a usable plan`);
    }
    for (const p of waiting) this.considerPending(p);
  }

  // ---- leading and cycles --------------------------------------------------------------------

  private startLeading(): void {
    this.leading = true;
    this.term++;
    this.dirty = true;
    this.spend.startTerm();
    this.log(`leading (term ${this.term}); re-listing pods before the first cycle`);
    this.opts.onLeading?.(true);
    void this.takeOver(this.term);
  }

  /** Lost the Lease (or stopping): nothing more is sent, and bookings no bind confirmed are released. */
  private stopLeading(): void {
    this.leading = false;
    this.term++;
    this.relisted = false;
    if (this.cycleTimer) clearTimeout(this.cycleTimer);
    this.cycleTimer = null;
    this.calls.flush();
    this.eventCalls.flush();
    this.releaseUnconfirmed();
    this.spend.endTerm();
    this.opts.onLeading?.(false);
  }

  /**
   * Jobs the core books as running that nothing backs (no pod of theirs bound, no bind of this
   * term in flight): binds decided but not (or not yet) carried out, plans whose bound members
   * are gone. They wait again; if a bind still lands, the watch books it where it landed. Then
   * the bound pods whose booking those held up are booked.
   */
  private releaseUnconfirmed(): void {
    for (const [id, entry] of [...this.jobs]) {
      if (this.core.job(id)?.state === 'running' && this.jobs.get(id) === entry && !this.backed(entry)) this.releaseUnbacked(id, entry);
    }
    this.retryUnbooked();
  }

  /**
   * A new leader makes its view equal to the apiserver's before its first cycle: a consistent
   * list of pods (retried until it succeeds or the term ends), then reconcile: bookings without
   * a bind are released, gangs found partly bound are finished to their plan or rolled back.
   */
  private async takeOver(term: number): Promise<void> {
    for (let attempt = 0; term === this.term && !this.stopped; attempt++) {
      try {
        const list = await listRaw<V1Pod>(this.opts.kubeConfig, '/api/v1/pods');
        if (term !== this.term) return;
        this.applyPodList(list.items.map(slimPod), list.metadata?.resourceVersion);
        break;
      } catch (e) {
        if (attempt % 10 === 0) this.log(`re-list before leading failed: ${(e as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    if (term !== this.term || this.stopped) return;
    this.releaseUnconfirmed();
    this.finishGangs();
    this.log(`term ${term}: view reconciled with the apiserver (${[...this.core.cluster.allBindings()].length} pods booked, ${this.unbooked.size} bound pods not bookable)`);
    this.relisted = true;
    this.scheduleCycle(0);
  }

  /**
   * Applies a full pod list: first the deletion of pods it no longer has, then the pods that
   * ended, the waiting ones, and last the bound ones, so that what ended releases its bookings
   * before the bound pods are booked (the list's order is not the order of events).
   */
  private applyPodList(items: readonly V1Pod[], listRv: string | undefined): void {
    const listed = new Set(items.map(podKey));
    const rv = Number(listRv);
    for (const [key, p] of [...this.pods]) {
      // Only pods the list must have seen (not created after it) are gone.
      if (!listed.has(key) && Number.isFinite(rv) && Number(p.metadata?.resourceVersion) <= rv) this.onPodDeleted(p);
    }
    const rank = (p: V1Pod): number => (isTerminal(p) ? 0 : p.spec?.nodeName ? 2 : 1);
    for (const p of [...items].sort((a, b) => rank(a) - rank(b))) this.onPod(p);
    if (Number.isFinite(rv)) this.listedRv = Math.max(this.listedRv, rv);
  }

  /** Gangs partly bound at takeover: bind the rest to the booked plan, or roll back a gang without one. */
  private finishGangs(): void {
    for (const entry of this.jobs.values()) {
      if (!entry.group || this.core.job(entry.id)?.state !== 'running') continue;
      if (entry.partial) {
        this.log(`rolling back gang ${entry.group}: partly bound, no plan for the rest`);
        for (const pk of entry.pods) {
          const pod = this.pods.get(pk);
          const term = this.term;
          if (pod?.spec?.nodeName) void this.calls.run(() => this.evictOne(pod, 0, term));
        }
        continue;
      }
      const rest = [...entry.pods].filter((pk) => !this.pods.get(pk)?.spec?.nodeName && this.core.cluster.binding(pk) !== undefined);
      if (rest.length > 0) {
        this.log(`finishing gang ${entry.group}: binding ${rest.length} member(s) to its plan`);
        this.retryBinds(entry, rest);
      }
    }
  }

  private nextCycleAt = 0;
  /** Wall clock (ms) at which the last cycle started: events within BATCH_MS of it wait for the next. */
  private cycleStartedAtMs = 0;

  private scheduleCycle(delayMs: number): void {
    if (!this.leading || this.stopped) return;
    if (this.cycleTimer) clearTimeout(this.cycleTimer);
    this.nextCycleAt = Date.now() + delayMs;
    this.cycleTimer = setTimeout(() => this.cycleLoop(), delayMs);
  }

  /**
   * Something changed: cycle at once if no cycle started in the last BATCH_MS (a lone arrival
   * waits for nothing), else when that window ends (a burst of events shares one cycle).
   */
  private markDirty(): void {
    this.dirty = true;
    if (!this.leading || this.cycling || !this.relisted) return;
    const now = Date.now();
    const at = Math.max(now, this.cycleStartedAtMs + BATCH_MS);
    if (this.cycleTimer === null || this.nextCycleAt > at) this.scheduleCycle(at - now);
  }

  private cycleLoop(): void {
    this.cycleTimer = null;
    if (!this.leading || this.stopped) return;
    const before = this.stats.cycles;
    if (this.dirty || this.calls.busy === 0) this.runCycle();
    const interval = this.opts.cycleIntervalMs ?? 1000;
    // Changed while cycling: the next cycle once BATCH_MS have passed since this one started
    // (at once after a long cycle); a cycle that could not run is retried BATCH_MS later.
    const ran = this.stats.cycles !== before;
    this.scheduleCycle(!this.dirty ? interval : ran ? Math.max(0, this.cycleStartedAtMs + BATCH_MS - Date.now()) : BATCH_MS);
  }

  /** One scheduling cycle: run the core, carry out its decisions, explain the waits. */
  runCycle(): void {
    // Decisions that could not be carried out would only book GPUs for nothing.
    if (!this.synced || this.cycling || !this.mayWrite()) return;
    this.retryUnbooked();
    this.cycling = true;
    this.dirty = false;
    this.cycleStartedAtMs = Date.now();
    const t0 = performance.now();
    this.cycleStartedAt = t0;
    try {
      this.spend.tick();
      const now = Date.now();
      const r = this.core.cycle(now);
      this.stats.cycles++;
      this.cycledInTerm = this.term;
      for (const d of r.decisions) this.execute(d);
      for (const [id, reasons] of r.pending) this.explainWait(id, reasons);
      const podPending = (pk: string): boolean => {
        const p = this.pods.get(pk);
        return p !== undefined && !p.spec?.nodeName && !isTerminal(p);
      };
      this.capacityPrefetch.plan(this.core, r.pending, podPending, (node, pk) => this.prefetch.expect(node, pk, datasetNames(this.pods.get(pk)?.metadata?.annotations?.[ANN_DATASETS])));
      this.prefetch.flush(podPending, () => this.mayWrite());
      const obs = this.opts.observer;
      if (obs) {
        const s = (performance.now() - t0) / 1000;
        for (const id of r.pending.keys()) for (let i = this.jobs.get(id)?.pods.length ?? 0; i > 0; i--) obs.attempt('unschedulable', s);
      }
      if (now - this.lastQueueStatusAt >= QUEUE_STATUS_EVERY_MS) this.updateQueueStatus(now);
    } finally {
      this.cycling = false;
      this.stats.lastCycleMs = performance.now() - t0;
    }
  }

  private execute(d: Decision): void {
    const entry = this.jobs.get(d.job);
    if (!entry) return;
    if (d.kind === 'bind') {
      entry.bindOps = { outstanding: d.bindings.length, ok: 0, failed: [], unknown: 0, term: this.term };
      entry.placedInTerm = this.term;
      entry.lastWait = undefined;
      const plan = entry.group && d.bindings.length > 1 ? encodePlan(d.bindings) : null;
      for (const b of d.bindings) void this.calls.run(() => this.bindOne(entry, b, plan));
      if (entry.group) {
        this.updateGroupStatus(entry.group);
        // Pods of the group that arrived after the gang was formed now run on their own.
        for (const pk of this.groupPods.get(entry.group) ?? []) {
          const p = this.pods.get(pk);
          if (p && this.jobOf(pk) === undefined && !p.spec?.nodeName && !isTerminal(p)) this.considerPending(p);
        }
      }
    } else {
      for (const pk of entry.pods) {
        const pod = this.pods.get(pk);
        if (!pod) continue;
        // The checkpoint protocol: SIGTERM, then the grace the core gives, or else the pod's own
        // terminationGracePeriodSeconds (the time its container asked for to save), then SIGKILL.
        const grace = d.graceMs > 0 ? Math.ceil(d.graceMs / 1000) : (pod.spec?.terminationGracePeriodSeconds ?? 30);
        const why = d.reason === 'consolidate' ? 'consolidate: it checkpoints; its new pod resumes elsewhere' : d.reason;
        void this.event(POD_REF(pod), 'Normal', 'Preempting', `gantry: evicting (${why}) to make room for ${d.for}`);
        this.expectOn(pod.spec?.nodeName ?? '', d.for);
        this.opts.observer?.evicted(d.reason);
        const term = this.term;
        void this.calls.run(() => this.evictOne(pod, grace, term));
      }
    }
  }

  /** The pending pods of `job` are expected on `node` (it preempts there): prefetch their datasets. */
  private expectOn(node: string, job: string): void {
    for (const pk of this.jobs.get(job)?.pods ?? []) {
      this.prefetch.expect(node, pk, datasetNames(this.pods.get(pk)?.metadata?.annotations?.[ANN_DATASETS]));
    }
  }

  private async bindOne(entry: JobEntry, b: Binding, plan: string | null): Promise<void> {
    const pod = this.pods.get(b.podId);
    const ops = entry.bindOps;
    let ok = false;
    let unknown = false;
    const startedAt = this.cycleStartedAt;
    const term = ops?.term ?? this.term;
    const fenceTerm = (): void => {
      if (term !== this.term) throw new FencedError(`bind of ${b.podId} (decided in a past term)`);
    };
    try {
      if (!pod) throw Object.assign(new Error(`pod ${b.podId} is gone`), { status: 404 });
      fenceTerm();
      const ns = pod.metadata?.namespace ?? '';
      const name = pod.metadata?.name ?? '';
      const a = assignmentOf(b, this.core.cluster.node(b.node));
      const req = podRequest(pod);
      if (req.gpu.kind === 'share') {
        const cm = pod.metadata?.annotations?.[ANN_ENV_CONFIGMAP] ?? envConfigMapName(name);
        await this.writes.upsertConfigMap(ns, cm, gpuEnvironment(a, req.gpu), POD_REF(pod));
        fenceTerm(); // the term may have ended (and another begun) while the ConfigMap was written
      }
      await this.writes.bindPod(ns, name, b.node, {
        [ANN_ASSIGNMENT]: JSON.stringify(a),
        [ANN_GPU_UUIDS]: a.gpus.map((g) => g.uuid).join(','),
        ...(plan !== null ? { [ANN_GANG_PLAN]: plan } : {}),
        ...this.epochAnnotation(),
      });
      ok = true;
      this.stats.binds++;
      this.log(`bound ${b.podId} -> ${b.node} GPUs [${a.gpus.map((g) => g.index).join(',')}] (term ${term})`);
      this.opts.observer?.bound((Date.now() - creationMs(pod, Date.now())) / 1000);
    } catch (e) {
      const status = (e as ApiError).status;
      if (e instanceof FencedError) ok = false;
      else if (status === 409 || status === 0 || status >= 500) {
        // 409: bound already (by whom, where?); no answer or a server error: it may have been
        // bound all the same. The apiserver says; while it cannot, the booking stays.
        // Bound elsewhere (another leader's bind) is no success: the re-read booked it there.
        const bound = await this.reread(b.podId);
        ok = bound === b.node;
        unknown = bound === null && status !== 409;
        if (!ok) this.log(`bind ${b.podId} -> ${b.node} failed: ${(e as Error).message}${unknown ? '; whether it was bound is not known yet' : ''}`);
      } else {
        this.stats.bindFailures++;
        this.log(`bind ${b.podId} -> ${b.node} failed: ${(e as Error).message}`);
      }
    }
    this.opts.observer?.attempt(ok ? 'scheduled' : 'error', (performance.now() - startedAt) / 1000);
    if (!ops || entry.bindOps !== ops) return;
    ops.outstanding--;
    if (ok) ops.ok++;
    else ops.failed.push(b.podId);
    if (unknown) ops.unknown++;
    if (ops.outstanding > 0) return;
    entry.bindOps = undefined;
    if (ops.failed.length === 0 || this.jobs.get(entry.id) !== entry) return;
    if (ops.term !== this.term) {
      // The answers to a past term's binds are all in: what none of them bound is free now.
      if (this.core.job(entry.id)?.state === 'running' && !this.backed(entry) && ops.unknown === 0) {
        this.log(`releasing ${entry.id}: its binds of a past term did not land`);
        this.releaseUnbacked(entry.id, entry);
        this.retryUnbooked();
        this.markDirty();
      }
      return;
    }
    if (ops.ok === 0 && ops.unknown === 0 && ![...entry.pods].some((pk) => this.pods.get(pk)?.spec?.nodeName)) {
      // Nothing of the job got bound: it is pending again, and its GPUs are free.
      this.releaseUnbacked(entry.id, entry);
      this.markDirty();
    } else {
      // Part of a gang is bound, or a bind's outcome is unknown: keep the whole booking (never
      // double-book) and retry the rest (a bind that did land answers 409 and is re-read).
      setTimeout(() => {
        if (ops.term === this.term) this.retryBinds(entry, ops.failed);
      }, 1000);
    }
  }

  /** This replica's term, for the webhook's fence (admission refuses a write from a past term). */
  private epochAnnotation(): Record<string, string> {
    const epoch = this.elector?.epoch;
    return epoch ? { [ANN_LEADER_EPOCH]: `${epoch.transitions}:${epoch.holder}` } : {};
  }

  /**
   * A bind answered 409 (the pod is bound already: a retried call, or another leader bound it),
   * or got no answer. Re-read the pod and book it where the apiserver says; the node it is bound
   * to, '' if it is not bound (or gone), null if the apiserver could not say.
   */
  private async reread(podId: string): Promise<string | null> {
    const [namespace, name] = [podId.slice(0, podId.indexOf('/')), podId.slice(podId.indexOf('/') + 1)];
    try {
      const fresh = await this.opts.kubeConfig.makeApiClient(CoreV1Api).readNamespacedPod({ namespace, name });
      this.onPod(slimPod(fresh));
      return fresh.spec?.nodeName ?? '';
    } catch (e) {
      if (apiError(e).status === 404) return '';
      this.log(`re-reading ${podId} after a failed bind failed: ${(e as Error).message}`);
      return null;
    }
  }

  private retryBinds(entry: JobEntry, podIds: readonly string[]): void {
    if (this.jobs.get(entry.id) !== entry || !this.leading) return;
    // Members deleted meanwhile are not bound again (they would fail for ever).
    const todo = podIds.map((id) => this.core.cluster.binding(id)).filter((b): b is Binding => b !== undefined && this.pods.has(b.podId) && !this.pods.get(b.podId)?.spec?.nodeName);
    if (todo.length === 0) return;
    entry.bindOps = { outstanding: todo.length, ok: 0, failed: [], unknown: 0, term: this.term };
    entry.placedInTerm = this.term;
    const all = this.core.job(entry.id)?.bindings ?? [];
    const plan = entry.group && all.length > 1 ? encodePlan(all) : null;
    for (const b of todo) void this.calls.run(() => this.bindOne(entry, b, plan));
  }

  private async evictOne(pod: V1Pod, graceSeconds: number, term: number): Promise<void> {
    try {
      if (term !== this.term) throw new FencedError(`eviction of ${podKey(pod)} (decided in a past term)`);
      await this.writes.evictPod(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '', graceSeconds, this.epochAnnotation());
      this.stats.evictions++;
      this.log(`evicted ${podKey(pod)} (grace ${graceSeconds} s, term ${term})`);
    } catch (e) {
      const status = (e as ApiError).status;
      if (status === 404) return; // already gone
      // 429: a PodDisruptionBudget says not now; the core keeps the job evicting, retry later.
      this.log(`evict ${podKey(pod)} failed (${status}): ${(e as Error).message}`);
      if (e instanceof FencedError) return;
      setTimeout(() => {
        if (this.leading && term === this.term && this.pods.has(podKey(pod))) void this.calls.run(() => this.evictOne(pod, graceSeconds, term));
      }, 5000);
    }
  }

  /** Tells a waiting pod why (an Event), when the reason changed since the last time. */
  private explainWait(id: string, reasons: readonly WaitReason[]): void {
    const entry = this.jobs.get(id);
    if (!entry || reasons.length === 0) return;
    const text = formatWait(reasons);
    if (entry.lastWait === text) return;
    entry.lastWait = text;
    const explanation = this.core.explain(id, Date.now());
    const when = explanation.estimatedStart !== undefined ? ` (estimated start ${new Date(explanation.estimatedStart).toISOString()})` : '';
    const pos = explanation.queuePosition ? ` [position ${explanation.queuePosition} in queue ${this.core.job(id)?.spec.queue ?? ''}]` : '';
    // A spent budget says all there is (what was spent, until when, how to raise it), under its code.
    const budget = reasons.find((r) => r.kind === 'budget');
    const message = budget ? budget.message : `gantry: ${text}${pos}${when}`;
    for (const pk of entry.pods) {
      const pod = this.pods.get(pk);
      if (pod) void this.event(POD_REF(pod), 'Warning', 'FailedScheduling', message);
    }
    if (entry.group) this.updateGroupStatus(entry.group);
  }

  private async event(ref: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    // Events are best effort and never delay binds: few in flight, dropped when far behind.
    if (this.eventCalls.busy > 500) return;
    try {
      await this.eventCalls.run(() => this.writes.recordEvent(ref, type, reason, message, this.epochAnnotation()));
      this.stats.events++;
    } catch (e) {
      if (!(e instanceof FencedError)) this.log(`event on ${ref.kind} ${ref.namespace}/${ref.name} failed: ${(e as Error).message}`);
    }
  }

  // ---- Queue and PodGroup status -------------------------------------------------------------

  private lastQueueStatusAt = 0;
  private readonly queueStatusText = new Map<string, string>();
  private readonly queueStatusModels = new Map<string, Set<string>>();

  /** Writes each Queue object's usage (GPUs) when it changed; at most every few seconds. */
  private updateQueueStatus(now: number): void {
    this.lastQueueStatusAt = now;
    const gpus = (milli: number): number => Math.round(milli) / 1000;
    for (const q of this.core.queueStatus()) {
      if (!this.queueObjs.has(q.name)) continue; // the implicit default queue has no object
      // Per model in use or under a quota; a model reported before stays, at 0 (a merge patch keeps old keys).
      const byModel: Record<string, number> = Object.fromEntries([...(this.queueStatusModels.get(q.name) ?? [])].map((m) => [m, 0]));
      for (const [m, u] of Object.entries(q.gpuModels)) byModel[m] = gpus(u.usedGpu);
      this.queueStatusModels.set(q.name, new Set(Object.keys(byModel)));
      const status = { usedGpu: gpus(q.usedGpu), deservedGpu: gpus(q.deservedGpu), pendingGpu: gpus(q.pendingGpu), runningJobs: q.running, pendingJobs: q.pending, ...(Object.keys(byModel).length > 0 ? { usedGpuByModel: byModel } : {}) };
      const text = JSON.stringify(status);
      if (this.queueStatusText.get(q.name) === text) continue;
      this.queueStatusText.set(q.name, text);
      void this.calls.run(() => this.writes.patchQueueStatus(q.name, status)).catch((e: unknown) => {
        this.queueStatusText.delete(q.name);
        if (!(e instanceof FencedError)) this.log(`Queue ${q.name} status: ${(e as Error).message}`);
      });
    }
  }


  private updateGroupStatusFor(pod: V1Pod): void {
    const g = podGroupName(pod);
    if (g !== undefined && isGantryPod(pod) && this.synced) this.updateGroupStatus(`${pod.metadata?.namespace ?? ''}/${g}`);
  }

  /** Writes a PodGroup's status when its counts or phase changed (leader only). */
  private updateGroupStatus(gkey: string): void {
    if (!this.leading) return;
    const pg = this.groups.get(gkey);
    if (!pg) return;
    let scheduled = 0;
    let running = 0;
    let succeeded = 0;
    let failed = 0;
    // The group's pods stay indexed until they are deleted, finished ones included.
    for (const pk of this.groupPods.get(gkey) ?? []) {
      const p = this.pods.get(pk);
      if (!p) continue;
      const phase = p.status?.phase;
      if (phase === 'Succeeded') succeeded++;
      else if (phase === 'Failed') failed++;
      else {
        if (p.spec?.nodeName || this.core.cluster.binding(pk) !== undefined) scheduled++;
        if (phase === 'Running') running++;
      }
    }
    const min = Math.max(1, pg.spec?.minMember ?? 1);
    const phase =
      succeeded >= min ? 'Finished' : failed > 0 && running + succeeded < min ? 'Failed' : running >= min ? 'Running' : scheduled >= min ? 'Scheduled' : 'Pending';
    const status: Record<string, unknown> = { phase, scheduled, running, succeeded, failed, occupiedBy: gkey.split('/')[1] };
    const text = JSON.stringify(status);
    if (this.groupStatus.get(gkey) === text) return;
    this.groupStatus.set(gkey, text);
    const [ns, name] = gkey.split('/') as [string, string];
    void this.calls
      .run(() => this.writes.patchPodGroupStatus(ns, name, { ...status, ...(phase === 'Scheduled' || phase === 'Running' ? { scheduleStartTime: new Date().toISOString() } : {}) }))
      .catch((e: unknown) => {
        this.groupStatus.delete(gkey);
        if (!(e instanceof FencedError)) this.log(`PodGroup ${gkey} status: ${(e as Error).message}`);
      });
  }
}

/** Every field set at once: the entry keeps them all in itself (no separate property array). */
function newEntry(id: string, pods: readonly V1Pod[], group: string | undefined): JobEntry {
  return { id, pods: pods.map(podKey), group, bindOps: undefined, placedInTerm: undefined, lastWait: undefined, partial: false };
}

/** Two pods of the same name that are not the same pod (one deleted, the other created after). */
function otherPod(pod: V1Pod, known: V1Pod): boolean {
  const a = pod.metadata?.uid;
  const b = known.metadata?.uid;
  return a !== undefined && b !== undefined && a !== b;
}

/** True when `pod` is an older version than `known` (numeric resourceVersions, as etcd's are). */
function olderThan(pod: V1Pod, known: V1Pod | undefined): boolean {
  const a = Number(pod.metadata?.resourceVersion);
  const b = Number(known?.metadata?.resourceVersion);
  return Number.isFinite(a) && Number.isFinite(b) && a < b;
}

/** The default name of a GPU-share pod's environment ConfigMap (when no webhook chose one). */
export function envConfigMapName(podName: string): string {
  const base = `gantry-gpu-${podName}`;
  return base.length <= 253 ? base : base.slice(0, 253);
}
