/**
 * The scheduler loop of the standalone control plane. It turns store state into core events
 * (submit, adoptRunning, requeue, remove, cordon), runs `cycle(now)`, and carries out the
 * decisions with the executor: bind = start the workers, evict = the checkpoint protocol
 * (SIGUSR1, grace for the job to save and acknowledge, SIGTERM, SIGKILL), then requeue.
 * Every state change is written to the store before it is acted on where that order matters,
 * so a crash at any point leaves a state a restart can finish (see `recover`).
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { Scheduler, type QueueStatus } from '../core/scheduler/scheduler.js';
import type { JobSpec, QueueSpec, WaitReason, Explanation } from '../core/scheduler/types.js';
import type { Binding } from '../core/model/cluster.js';
import { createRng } from '../core/rng.js';
import { unsatisfiableReason } from '../core/scheduler/admission.js';
import { requestMilliGpu, type PodRequest } from '../core/model/request.js';
import type { NodeCacheReport } from '../core/model/node-cache.js';
import { predictDataNode } from '../core/placement/predict-data-node.js';
import type { Executor } from '../adapters/executor/executor.js';
import type { JobRow, Store, WorkerRecord, QueueRow, Progress } from '../adapters/store/store.js';
import { inventoryNodes, type Inventory } from '../adapters/gpu/inventory.js';
import { toCoreJob, gpuRequestOf, type JobFile } from '../spec/job-spec.js';
import { containerSettings, workingDirProblems } from './container-settings.js';
import { baseEnv, workerEnv, type GpuDevices } from './worker-env.js';
import { ApiError } from './errors.js';
import type { JobIdentities } from '../adapters/executor/job-identity.js';
import { isPlainFile, jobPaths, prepareJobDirs, readJobFile, removeJobFile, type JobPaths } from './job-files.js';
import { parseMemoryMiB, parseMilliCpu } from '../core/quantity.js';
import { SchedulingWindow, type QueueOrder } from './queue-window.js';
import { failpoint } from './failpoints.js';
import type { AttemptOutcome } from '../adapters/store/cost-ledger.js';
import type { BudgetHolds } from '../core/scheduler/types.js';
import { describeDenial } from '../core/admission-policy/evaluate.js';
import type { PolicyVerdict } from '../core/admission-policy/types.js';
import { gpuHoldersOf, type UseHolder } from '../core/fleet-use.js';

export interface ControllerOptions {
  readonly store: Store;
  readonly executor: Executor;
  readonly inventory: Inventory;
  readonly dataDir: string;
  /** The team workspace root (job folders); default `<dataDir>-work`. */
  readonly workspace?: string;
  /** Per-job uids and per-team gids (the server is root); absent = every job runs as the server. */
  readonly identities?: JobIdentities;
  /** Single-tenant mode (not root): the one team this server serves. */
  readonly onlyTeam?: string;
  readonly clock?: () => number;
  /** A job that started less than this ago is not preempted (default 60 s). */
  readonly minRuntimeMs?: number;
  /** Between SIGTERM and SIGKILL when stopping a job (default 10 s). */
  readonly stopGraceMs?: number;
  /** The Docker daemon's socket, when one answered at start-up (jobs that name an image run there). */
  readonly dockerSocket?: string;
  readonly log?: (line: string) => void;
  readonly onCycle?: (seconds: number) => void;
  readonly onStart?: (job: JobRow, waitedSeconds: number) => void;
  /** An attempt began on these bindings (cost accounting, src/server/cost/). */
  readonly onAttemptStart?: (job: JobRow, bindings: readonly Binding[], at: number) => void;
  /** The job's current attempt ended (called more than once per attempt: the first call counts). */
  readonly onAttemptEnd?: (job: JobRow, at: number, outcome: AttemptOutcome) => void;
  /** Queued jobs of each queue handed to the scheduler at a time (see queue-window.ts; default 1,000). */
  readonly windowPerQueue?: number;
  /** MIG device UUIDs and MPS daemons of real GPUs (worker-env.ts). */
  readonly gpuDevices?: GpuDevices;
  /**
   * Before a placed job starts: are its datasets complete on the node? Ready: the local
   * folder of each (for the job's environment) and a release for the pins taken while it
   * starts. Not ready: why (the gate has started the fill); the job goes back to pending.
   */
  readonly dataGate?: (row: JobRow, bindings: readonly Binding[]) => DataGateResult;
  /** Bytes of a registered dataset version: requests then count their data in bytes (data-locality.ts). */
  readonly datasetBytes?: (name: string, version: number) => number;
  /**
   * Before every start: the admission policies' verdict (admission-policies.ts), given the
   * milli-GPU the job's user holds with other running jobs. A refusal that depends on that
   * work holds the job queued; any other (the policies changed since it was submitted) fails it.
   */
  readonly admissionGate?: (row: JobRow, userGpuMilli: number) => PolicyVerdict;
}

export type DataGateResult = { readonly ready: true; readonly dirs: Readonly<Record<string, string>>; readonly release: () => void } | { readonly ready: false; readonly reason: string };

interface StopPlan {
  /** 'checkpoint' = waiting for the job to save; 'term' = SIGTERM sent, SIGKILL at `at`. */
  phase: 'checkpoint' | 'term';
  at: number;
  signalledAt: number;
}

/** A row's per-model quotas in milli-GPU, one side (guarantee or limit); undefined when none. */
function modelMilli(q: QueueRow, side: 'guaranteedGpus' | 'limitGpus'): Record<string, number> | undefined {
  const out: Record<string, number> = {};
  for (const [m, v] of Object.entries(q.gpuModels ?? {})) if (v[side] !== null) out[m] = Math.round(v[side] * 1000);
  return Object.keys(out).length > 0 ? out : undefined;
}

export function queueSpecs(rows: readonly QueueRow[]): QueueSpec[] {
  return rows.map((q) => {
    const gm = modelMilli(q, 'guaranteedGpus');
    const lm = modelMilli(q, 'limitGpus');
    const guaranteed = { ...(q.guaranteedGpus !== null ? { gpu: Math.round(q.guaranteedGpus * 1000) } : {}), ...(gm ? { gpuByModel: gm } : {}) };
    const limit = { ...(q.limitGpus !== null ? { gpu: Math.round(q.limitGpus * 1000) } : {}), ...(lm ? { gpuByModel: lm } : {}) };
    return {
      name: q.name,
      ...(q.parent ? { parent: q.parent } : {}),
      ...(Object.keys(guaranteed).length > 0 ? { guaranteed } : {}),
      ...(Object.keys(limit).length > 0 ? { limit } : {}),
      overQuotaWeight: q.weight,
      ordering: q.priorityOrdering ? 'priority' : 'fifo',
    };
  });
}

export class Controller {
  readonly scheduler: Scheduler;
  private readonly store: Store;
  private readonly executor: Executor;
  readonly inventory: Inventory;
  private readonly dataDir: string;
  readonly workspace: string;
  /** Jobs whose workers all ended but some process of the job's uid still runs. */
  private readonly lingering = new Set<string>();
  private readonly clock: () => number;
  private readonly stopGraceMs: number;
  private readonly log: (line: string) => void;
  /** Jobs not finished, by id (the store is the truth; this is its cache). */
  private readonly active = new Map<string, JobRow>();
  /** Queued jobs waiting for their retry backoff. */
  private readonly delayed = new Map<string, number>();
  /** Queued jobs placed but held back until their datasets are complete on the node: why. */
  private readonly dataWaits = new Map<string, string>();
  /** Queued jobs placed but held back by an admission policy's per-user limit: why. */
  private readonly policyHolds = new Map<string, string>();
  private readonly stops = new Map<string, StopPlan>();
  private readonly queuedAt = new Map<string, number>();
  private readonly progressOffsets = new Map<string, number>();
  private readonly draining = new Set<string>();
  /** GPUs (`node/index`) an admin marked unhealthy, and GPUs telemetry no longer sees. */
  private readonly adminUnhealthy = new Set<string>();
  private readonly absent = new Set<string>();
  /** Ids of active jobs that were started (running, preempting, cancelling). */
  private readonly started = new Set<string>();
  /** The worker whose failure ended a gang (the others then end by our SIGTERM). */
  private readonly firstFailure = new Map<string, WorkerRecord>();
  private lastPending: ReadonlyMap<string, readonly WaitReason[]> = new Map();
  private dirty = true;
  /** The last caches' reports given to the scheduler (a repeat changes nothing). */
  private cachesSeen = '';
  private lastCycleAt = 0;
  /** Milliseconds a cycle took per active job (smoothed): predicts the next cycle's cost. */
  private cycleMsPerJob = 0;
  private readonly minCycleGapMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly base = baseEnv();
  /** Each queue's order (for the scheduling window). */
  private readonly queueOrders = new Map<string, QueueOrder>();
  private readonly window: SchedulingWindow;

  constructor(private readonly opts: ControllerOptions) {
    this.store = opts.store;
    this.executor = opts.executor;
    this.inventory = opts.inventory;
    this.dataDir = opts.dataDir;
    this.workspace = opts.workspace ?? `${opts.dataDir}-work`;
    this.clock = opts.clock ?? Date.now;
    this.stopGraceMs = opts.stopGraceMs ?? 10_000;
    this.log = opts.log ?? (() => undefined);
    const specs = queueSpecs(this.store.listQueues());
    this.scheduler = new Scheduler({ rng: createRng(1), minRuntimeMs: opts.minRuntimeMs ?? 60_000 }, specs);
    this.noteQueueOrders(specs);
    this.window = new SchedulingWindow(opts.windowPerQueue ?? 1000, (q) => this.queueOrders.get(q) ?? 'priority');
    for (const n of inventoryNodes(opts.inventory)) this.scheduler.addNode(n);
    for (const s of this.store.nodeStates()) {
      if (!this.scheduler.cluster.node(s.name)) continue;
      if (s.cordoned) this.scheduler.cordon(s.name, true);
      if (s.draining) this.draining.add(s.name);
    }
    for (const h of this.store.gpuHealth()) {
      const gpu = this.scheduler.cluster.node(h.node)?.gpus.find((g) => g.uuid === h.uuid);
      if (!gpu || h.healthy) continue;
      this.adminUnhealthy.add(`${h.node}/${gpu.index}`);
      this.applyGpuHealth(h.node, gpu.index);
    }
    this.executor.onExit(() => this.kick());
  }

  // ---- lifecycle ----------------------------------------------------------------------

  /** Loads the active jobs and finds their processes again (crash recovery). */
  recover(): { requeued: number; adopted: number; queued: number } {
    const now = this.clock();
    let requeued = 0;
    let adopted = 0;
    let queued = 0;
    for (const row of this.store.activeJobs()) {
      this.active.set(row.id, row);
      if (row.state !== 'queued') this.started.add(row.id);
      if (row.state === 'queued') {
        this.enqueue(row, now);
        queued++;
        continue;
      }
      if (row.workers.length < row.spec.workers) {
        // The control plane died while starting the job: the job did nothing wrong, so it
        // goes back to its queue without spending a retry (the started workers are killed).
        this.killStarted(row);
        this.requeueInterrupted(row, now);
        requeued++;
        continue;
      }
      const lost = row.workers.map((w) => ({ w, s: this.executor.status(w) })).find((x) => x.s === 'lost');
      if (lost !== undefined) {
        this.killStarted(row);
        this.afterStop(row, now, `lost after a control-plane restart: worker ${lost.w.rank} (pid ${lost.w.pid}) was not found`, true);
        requeued++;
        continue;
      }
      try {
        this.scheduler.adoptRunning(this.coreJob(row), row.bindings ?? [], row.startedAt ?? now);
      } catch (e) {
        for (const w of row.workers) this.executor.signal(w, 'SIGKILL');
        this.afterStop(row, now, `could not be re-adopted after a restart: ${(e as Error).message}`, true);
        requeued++;
        continue;
      }
      if (row.lastCheckpointAt !== null) this.scheduler.reportCheckpoint(row.id, row.lastCheckpointAt);
      adopted++;
      if (row.state === 'cancelling') this.terminate(row, now);
      if (row.state === 'preempting') this.stops.set(row.id, { phase: 'checkpoint', at: now + (row.spec.checkpoint?.graceSeconds ?? 0) * 1000, signalledAt: now });
    }
    this.dirty = true;
    return { requeued, adopted, queued };
  }

  /** Kills a job's recorded workers and those known only by their pid files (started just before a crash). */
  private killStarted(row: JobRow): void {
    for (const w of row.workers) this.executor.signal(w, 'SIGKILL');
    this.executor.reapOrphans(row.id, Array.from({ length: row.spec.workers }, (_, rank) => this.pidFile(row.id, row.attempts, rank)));
  }

  /** Back to the queue, no retry counted: a start the control plane itself interrupted. */
  private requeueInterrupted(row: JobRow, now: number): void {
    this.opts.onAttemptEnd?.(row, now, 'interrupted');
    row.state = 'queued';
    row.reason = `requeued: the control plane stopped while starting attempt ${row.attempts}; no retry used`;
    row.bindings = null;
    row.startedAt = null;
    row.workers = [];
    this.store.updateJob(row);
    this.enqueue(row, now);
  }

  start(tickMs = 100): void {
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Something changed: schedule soon. */
  kick(): void {
    this.dirty = true;
  }

  tick(): void {
    const now = this.clock();
    try {
      this.pollWorkers(now);
      this.runStops(now);
      this.releaseDelayed(now);
      this.releasePolicyHolds(now);
      this.runDrains(now);
      // A cycle runs on the API's event loop and takes a while with many pending jobs: keep it
      // to ~0.4 % of the loop's time, so that fewer than 1 request in 200 ever waits behind one
      // (the API's p99 stays the HTTP floor's) while scheduling still follows within seconds.
      // Its cost grows with the jobs it considers, so the next one is predicted from the cost
      // per active job (smoothed) and the jobs active now: a queue that grows between cycles
      // spaces them out at once, and one slow cycle (a GC pause) does not.
      const gap = Math.min(10_000, Math.max(this.minCycleGapMs, this.cycleMsPerJob * Math.max(1, this.active.size) * 250));
      if ((this.dirty && now - this.lastCycleAt >= gap) || now - this.lastCycleAt >= Math.max(1000, gap)) this.runCycle(now);
    } catch (e) {
      this.log(`scheduler loop error: ${(e as Error).stack ?? String(e)}`);
    }
  }

  // ---- jobs ---------------------------------------------------------------------------

  /** The job's folders in its team's workspace (what the job may see). */
  paths(id: string, team: string): JobPaths {
    return jobPaths(this.workspace, team, id);
  }

  /** Where the server keeps a job's exit and pid files: its private state directory. */
  private stateDir(id: string): string {
    return join(this.dataDir, 'workers', id);
  }

  private pidFile(id: string, attempt: number, rank: number): string {
    return join(this.stateDir(id), `pid-${attempt}-${rank}`);
  }

  /** Refuses a team other than the one a single-tenant (non-root) server serves. */
  checkTenant(team: string): void {
    const only = this.opts.onlyTeam;
    if (only !== undefined && team !== only) throw new ApiError('SINGLE_TENANT', `this server is not root, so it cannot isolate teams from each other and serves team "${only}" only (team "${team}" refused); run it as root for many teams (docs/security.md)`);
  }

  /** Checks a job against the queues and the inventory before it is stored. */
  admit(spec: JobFile): void {
    const folders = spec.image !== undefined ? workingDirProblems(spec, this.dataDir) : [];
    if (folders.length > 0) throw new ApiError('JOB_INVALID', `invalid job: workingDir: ${folders.join('; ')}`, { issues: folders.map((f) => `workingDir: ${f}`) });
    if (!this.scheduler.queueNames().includes(spec.queue)) throw new ApiError('QUEUE_NOT_FOUND', `queue "${spec.queue}" does not exist`);
    if (!this.scheduler.isLeafQueue(spec.queue)) throw new ApiError('QUEUE_NOT_LEAF', `queue "${spec.queue}" has child queues; submit to one of them`);
    const gpu = gpuRequestOf(spec);
    if (!spec.preemptible && gpu.kind !== 'none') {
      const guaranteed = this.scheduler.queueStatus().find((q) => q.name === spec.queue)?.guaranteedGpu ?? 0;
      const need = requestMilliGpu(gpu) * spec.workers;
      if (need > guaranteed) throw new ApiError('UNSATISFIABLE', `non-preemptible jobs run only within their queue's guaranteed GPUs: queue "${spec.queue}" guarantees ${guaranteed / 1000}, the job needs ${need / 1000}; set preemptible: true or raise the guarantee`);
    }
    const why = unsatisfiableReason(this.scheduler.cluster.nodes(), toCoreJob('admission', spec, 0).members);
    if (why !== null) throw new ApiError('UNSATISFIABLE', `${why}; the job could never start`);
  }

  /** After the store commit: the jobs become schedulable. */
  accepted(rows: readonly JobRow[]): void {
    const now = this.clock();
    for (const row of rows) {
      this.active.set(row.id, row);
      this.enqueue(row, now);
    }
    this.dirty = true;
  }

  private enqueue(row: JobRow, now: number): void {
    if (row.notBefore > now) {
      this.delayed.set(row.id, row.notBefore);
      return;
    }
    this.toWindow(row);
    this.queuedAt.set(row.id, now);
  }

  /** A queued job goes to the scheduler, or to its queue's backlog when the window is full. */
  private toWindow(row: JobRow): void {
    const gpuMilli = requestMilliGpu(gpuRequestOf(row.spec)) * row.spec.workers;
    if (this.window.offer({ id: row.id, queue: row.spec.queue, priority: row.spec.priority, submittedAt: row.submittedAt, gpuMilli })) this.scheduler.submit(this.coreJob(row));
    this.refillWindow();
  }

  /** Backlogged jobs move up into the window as it empties. */
  private refillWindow(): void {
    for (const e of this.window.refill()) {
      const row = this.active.get(e.id);
      if (row?.state !== 'queued') {
        this.window.leave(e.id);
        continue;
      }
      this.scheduler.submit(this.coreJob(row));
      this.dirty = true;
    }
  }

  /** Each queue's status, with its backlogged jobs counted as pending (and in its ancestors). */
  queueStatus(): QueueStatus[] {
    const status = this.scheduler.queueStatus().map((q) => ({ ...q }));
    const byName = new Map(status.map((q) => [q.name, q]));
    for (const [queue, c] of this.window.backlogCounts()) {
      for (let q = byName.get(queue); q; q = q.parent === null ? undefined : byName.get(q.parent)) {
        q.pending += c.jobs;
        q.pendingGpu += c.gpuMilli;
      }
    }
    return status;
  }

  private backlogReason(b: { queue: string; ahead: number }): WaitReason[] {
    return [{ kind: 'order', message: `${b.ahead} queued job(s) of queue ${b.queue} go first; the scheduler considers the first ${this.window.size} of each queue at a time` }];
  }

  private coreJob(row: JobRow): JobSpec {
    // A service's replica (only the service manager writes GANTRY_SERVICE: the jobs API refuses
    // it) that outranks preemptible work may take its GPUs for a burst (core actions/surge.ts).
    const surge = row.spec.env['GANTRY_SERVICE'] !== undefined && !row.spec.preemptible;
    const job = toCoreJob(row.id, row.spec, row.submittedAt);
    return { ...job, members: job.members.map((m) => this.withDataBytes(m, row.spec)), team: row.team, ...(surge ? { surge } : {}) };
  }

  /** A request's dataset sizes, so its locality counts bytes (every dataset a registered version). */
  withDataBytes(m: PodRequest, spec: JobFile): PodRequest {
    const sizeOf = this.opts.datasetBytes;
    if (!sizeOf || !m.datasets || !spec.datasets.every((d) => d.path === undefined && d.version !== undefined)) return m;
    return { ...m, datasetBytes: spec.datasets.map((d) => sizeOf(d.name, d.version as number)) };
  }

  /** What the nodes' dataset caches hold now (placement scores follow; see data-locality.ts). */
  updateNodeCaches(reports: readonly NodeCacheReport[]): void {
    const seen = JSON.stringify(reports);
    if (seen === this.cachesSeen) return;
    this.cachesSeen = seen;
    this.scheduler.updateNodeCaches(reports);
    this.dirty = true;
  }

  /**
   * Where a queued job's data should be staged before it starts: with one node, that node;
   * with several, the core's prediction for a job blocked by capacity (predict-data-node.ts),
   * or null when a node it could run on already holds its data.
   */
  dataNodeFor(id: string): string | null {
    const nodes = this.scheduler.cluster.nodesByName();
    if (nodes.length === 1) return nodes[0]?.name ?? null;
    const row = this.active.get(id);
    const member = row ? this.coreJob(row).members[0] : undefined;
    return member ? predictDataNode(this.scheduler.cluster, member) : null;
  }

  /** Teams and queues whose new work waits for a spent budget (budget-watch.ts). */
  setBudgetHolds(holds: BudgetHolds): void {
    this.scheduler.setBudgetHolds(holds);
    this.dirty = true;
  }

  activeJobs(): JobRow[] {
    return [...this.active.values()];
  }

  activeJob(id: string): JobRow | undefined {
    return this.active.get(id);
  }

  pendingReasons(id: string): readonly WaitReason[] | undefined {
    const held = this.policyHold(id);
    if (held) return held;
    const data = this.dataWaits.get(id);
    if (data !== undefined && this.active.get(id)?.state === 'queued') return [{ kind: 'data', message: data }];
    const b = this.window.backlogged(id);
    return b ? this.backlogReason(b) : this.lastPending.get(id);
  }

  /** A queued job's policy hold as a wait reason. */
  private policyHold(id: string): WaitReason[] | null {
    const why = this.policyHolds.get(id);
    return why !== undefined && this.active.get(id)?.state === 'queued' ? [{ kind: 'quota', message: why }] : null;
  }

  explain(id: string): Explanation & { delayedUntil?: number } {
    const held = this.policyHold(id);
    if (held) return { job: id, state: 'pending', reasons: held };
    const data = this.dataWaits.get(id);
    if (data !== undefined && this.active.get(id)?.state === 'queued') return { job: id, state: 'pending', reasons: [{ kind: 'data', message: data }] };
    const until = this.delayed.get(id);
    if (until !== undefined) return { job: id, state: 'pending', reasons: [{ kind: 'order', message: `waiting for its retry backoff until ${new Date(until).toISOString()}` }], estimatedStart: until, delayedUntil: until };
    const b = this.window.backlogged(id);
    if (b) return { job: id, state: 'pending', reasons: this.backlogReason(b), queuePosition: b.ahead + 1 };
    return this.scheduler.explain(id, this.clock());
  }

  cancel(id: string, by: string): JobRow {
    const row = this.active.get(id);
    if (!row) throw new ApiError('JOB_FINISHED', `job ${id} already finished`);
    const now = this.clock();
    if (row.state === 'queued') {
      this.scheduler.remove(id);
      this.window.leave(id);
      this.refillWindow();
      this.delayed.delete(id);
      this.finish(row, 'cancelled', now, `cancelled by ${by} while queued`, null);
      return row;
    }
    if (row.state === 'cancelling') return row;
    row.state = 'cancelling';
    row.reason = `cancelled by ${by}`;
    this.store.updateJob(row);
    this.terminate(row, now);
    return row;
  }

  /** Training progress reported through the API. */
  reportProgress(id: string, p: Omit<Progress, 'at'> & { checkpoint?: boolean }): void {
    const row = this.active.get(id);
    if (!row) throw new ApiError('JOB_FINISHED', `job ${id} is not running`);
    this.applyProgress(row, p, this.clock());
    this.store.updateJob(row);
  }

  // ---- nodes --------------------------------------------------------------------------

  setCordon(node: string, on: boolean): void {
    if (!this.scheduler.cluster.node(node)) throw new ApiError('NODE_NOT_FOUND', `node "${node}" does not exist`);
    this.scheduler.cordon(node, on);
    if (!on) this.draining.delete(node);
    this.store.setNodeState({ name: node, cordoned: on, draining: this.draining.has(node) });
    this.dirty = true;
  }

  drain(node: string): void {
    if (!this.scheduler.cluster.node(node)) throw new ApiError('NODE_NOT_FOUND', `node "${node}" does not exist`);
    this.scheduler.cordon(node, true);
    this.draining.add(node);
    this.store.setNodeState({ name: node, cordoned: true, draining: true });
    this.runDrains(this.clock());
  }

  nodeStatus(node: string): 'ready' | 'cordoned' | 'draining' | 'drained' {
    const n = this.scheduler.cluster.node(node);
    if (!n?.unschedulable) return 'ready';
    if (!this.draining.has(node)) return 'cordoned';
    const busy = this.inFlight().some((j) => j.bindings?.some((b) => b.node === node) && j.state !== 'queued');
    return busy ? 'draining' : 'drained';
  }

  /**
   * An admin's word on a GPU, kept in the store (a restart keeps it; telemetry never
   * overwrites it). The GPU is schedulable when the admin and telemetry both say healthy.
   */
  setGpuHealth(node: string, gpu: number, healthy: boolean, by = 'admin'): void {
    const g = this.gpuOf(node, gpu);
    this.store.setGpuHealth({ node, uuid: g.uuid, healthy, at: this.clock(), by });
    if (healthy) this.adminUnhealthy.delete(`${node}/${gpu}`);
    else this.adminUnhealthy.add(`${node}/${gpu}`);
    this.applyGpuHealth(node, gpu);
  }

  /**
   * Telemetry's word on a GPU: present in nvidia-smi or not. A GPU that disappears is out of
   * scheduling, and the jobs on it are stopped through the checkpoint protocol and requeued
   * (a preemption: no retry is spent, the job did nothing wrong).
   */
  setGpuPresent(node: string, gpu: number, present: boolean): void {
    this.gpuOf(node, gpu);
    const key = `${node}/${gpu}`;
    if (present === !this.absent.has(key)) return;
    if (present) this.absent.delete(key);
    else this.absent.add(key);
    this.applyGpuHealth(node, gpu);
    this.log(`GPU ${gpu} on ${node} ${present ? 'is back in nvidia-smi' : 'disappeared from nvidia-smi; its jobs are stopped and requeued'}`);
    if (present) return;
    const now = this.clock();
    for (const row of this.inFlight()) {
      if (row.state !== 'running' || !row.bindings?.some((b) => b.node === node && b.gpus.some((x) => x.gpu === gpu))) continue;
      this.preempt(row, now, `GPU ${gpu} on ${node} disappeared from nvidia-smi`, row.spec.checkpoint ? row.spec.checkpoint.graceSeconds * 1000 : 0);
    }
  }

  /** The two facts behind a GPU's health, for the API. */
  gpuHealth(node: string, gpu: number): { admin: boolean; present: boolean } {
    return { admin: !this.adminUnhealthy.has(`${node}/${gpu}`), present: !this.absent.has(`${node}/${gpu}`) };
  }

  private gpuOf(node: string, gpu: number): { uuid: string } {
    const n = this.scheduler.cluster.node(node);
    if (!n) throw new ApiError('NODE_NOT_FOUND', `node "${node}" does not exist`);
    const g = n.gpus[gpu];
    if (!g) throw new ApiError('GPU_NOT_FOUND', `node "${node}" has no GPU ${gpu}`);
    return g;
  }

  private applyGpuHealth(node: string, gpu: number): void {
    const h = this.gpuHealth(node, gpu);
    this.scheduler.setGpuHealth(node, gpu, h.admin && h.present);
    this.dirty = true;
  }

  setQueues(rows: readonly QueueRow[]): void {
    const specs = queueSpecs(rows);
    this.scheduler.setQueues(specs);
    this.noteQueueOrders(specs);
    this.window.resort();
    this.dirty = true;
  }

  /** Each queue's order, as the scheduler has it, for the scheduling window. */
  private noteQueueOrders(specs: readonly QueueSpec[]): void {
    this.queueOrders.clear();
    for (const q of specs) this.queueOrders.set(q.name, q.ordering === 'fifo' ? 'fifo' : 'priority');
  }

  /** GPU index -> the jobs holding it (for telemetry attribution and `gantry top`). */
  gpuHolders(): Map<string, UseHolder[]> {
    return gpuHoldersOf(this.scheduler.allJobs());
  }

  // ---- the loop -------------------------------------------------------------------------

  private runCycle(now: number): void {
    this.dirty = false;
    this.lastCycleAt = now;
    const t0 = performance.now();
    const result = this.scheduler.cycle(now);
    const took = performance.now() - t0;
    const perJob = took / Math.max(1, this.active.size);
    this.cycleMsPerJob = this.cycleMsPerJob === 0 ? perJob : this.cycleMsPerJob * 0.7 + perJob * 0.3;
    this.opts.onCycle?.(took / 1000);
    this.lastPending = result.pending;
    for (const d of result.decisions) {
      const row = this.active.get(d.job);
      if (!row) continue;
      if (d.kind === 'bind') {
        if (!this.passesPolicies(row, now)) continue;
        const data = this.opts.dataGate?.(row, d.bindings);
        if (data && !data.ready) {
          this.scheduler.bindFailed(row.id, now);
          this.dataWaits.set(row.id, data.reason);
          row.reason = data.reason;
          continue;
        }
        this.dataWaits.delete(row.id);
        try {
          this.startJob(row, d.bindings, now, data?.dirs);
        } finally {
          data?.release();
        }
      }
      else if (row.state === 'running') this.preempt(row, now, `${d.reason === 'preempt' ? 'preempted' : d.reason === 'reclaim' ? 'reclaimed' : 'moved'} for ${d.for}`, d.graceMs);
    }
    this.refillWindow();
  }

  /** milli-GPU the user holds with started jobs other than `except`. */
  private userGpuMilli(owner: string, except: string): number {
    let held = 0;
    for (const j of this.active.values()) if (j.owner === owner && j.id !== except && j.state !== 'queued') held += requestMilliGpu(gpuRequestOf(j.spec)) * j.spec.workers;
    return held;
  }

  /**
   * The admission policies before a start: true to go on. A refusal that depends on the
   * user's other running work takes the job out of the scheduler (so it blocks no one's
   * GPUs) until that work shrinks (releasePolicyHolds); any other fails it.
   */
  private passesPolicies(row: JobRow, now: number): boolean {
    const gate = this.opts.admissionGate;
    if (!gate) return true;
    const v = gate(row, this.userGpuMilli(row.owner, row.id));
    if (v.allowed) return true;
    const why = v.denials.map(describeDenial).join('; ');
    this.scheduler.remove(row.id);
    this.window.leave(row.id);
    this.refillWindow();
    if (v.denials.every((d) => d.usage)) {
      this.policyHolds.set(row.id, why);
      row.reason = why;
      return false;
    }
    this.finish(row, 'failed', now, `refused before its start: ${why}`, null);
    return false;
  }

  /** Held jobs whose user's running work now leaves room go back to the scheduler. */
  private releasePolicyHolds(now: number): void {
    const gate = this.opts.admissionGate;
    for (const id of this.policyHolds.keys()) {
      const row = this.active.get(id);
      if (!gate || row?.state !== 'queued') {
        this.policyHolds.delete(id);
        continue;
      }
      const v = gate(row, this.userGpuMilli(row.owner, row.id));
      if (!v.allowed && v.denials.every((d) => d.usage)) continue;
      // Allowed, or refused for good: the start check decides again when it is placed.
      this.policyHolds.delete(id);
      row.reason = null;
      this.toWindow(row);
      this.queuedAt.set(id, now);
      this.dirty = true;
    }
  }

  private startJob(row: JobRow, bindings: readonly Binding[], now: number, dataDirs?: Readonly<Record<string, string>>): void {
    this.window.leave(row.id);
    const p = this.paths(row.id, row.team);
    row.state = 'running';
    this.started.add(row.id);
    row.attempts++;
    row.startedAt = now;
    row.bindings = [...bindings];
    row.workers = [];
    row.exitCode = null;
    row.reason = row.attempts > 1 ? `attempt ${row.attempts}` : null;
    this.store.updateJob(row); // intent first: a crash from here on is seen as "not all workers had started"
    this.opts.onAttemptStart?.(row, bindings, now);
    const waited = (now - (this.queuedAt.get(row.id) ?? row.submittedAt)) / 1000;
    this.queuedAt.delete(row.id);
    removeJobFile(p.ackFile);
    try {
      const identity = this.opts.identities?.forJob(row.id, row.team);
      prepareJobDirs(this.workspace, row.team, p, identity);
      const state = this.stateDir(row.id);
      mkdirSync(state, { recursive: true, mode: 0o700 });
      chmodSync(state, 0o700);
      const limits = jobLimits(row);
      for (let rank = 0; rank < bindings.length; rank++) {
        const b = bindings[rank] as Binding;
        const logPath = join(p.logs, `worker-${rank}.log`);
        const exitFile = join(state, `exit-${row.attempts}-${rank}`);
        const pidFile = this.pidFile(row.id, row.attempts, rank);
        rmSync(exitFile, { force: true });
        rmSync(`${exitFile}.oom`, { force: true });
        rmSync(pidFile, { force: true });
        appendFileSync(logPath, `--- gantry: ${row.id} attempt ${row.attempts}, worker ${rank}/${bindings.length} on ${b.node}, started ${new Date(now).toISOString()}\n`);
        const env = workerEnv(row, bindings, rank, this.scheduler.cluster.node(b.node), p, this.base, this.opts.gpuDevices, dataDirs);
        const cwd = row.spec.workingDir ?? p.workDir;
        const node = this.scheduler.cluster.node(b.node);
        const image = row.spec.image;
        const container =
          image !== undefined && this.opts.dockerSocket !== undefined
            ? containerSettings(row.spec, { socket: this.opts.dockerSocket, jobDir: p.dir, cwd, dataDir: this.dataDir, env, simulated: node?.simulated === true, stopGraceMs: this.stopGraceMs })
            : undefined;
        row.workers.push(
          this.executor.start({ jobId: row.id, rank, node: b.node, command: row.spec.command, env, cwd, logPath, exitFile, pidFile, ...(identity ? { identity } : {}), ...(limits ? { limits } : {}), ...(image !== undefined ? { image } : {}), ...(container ? { container } : {}) }),
        );
        if (rank === 0 && bindings.length > 1) failpoint('gang-start');
      }
    } catch (e) {
      for (const w of row.workers) this.executor.signal(w, 'SIGKILL');
      this.scheduler.remove(row.id);
      this.finish(row, 'failed', now, `could not start: ${(e as Error).message}`, null);
      return;
    }
    this.store.updateJob(row);
    this.opts.onStart?.(row, waited);
    this.log(`started ${row.id} (${row.name}) on ${[...new Set(bindings.map((b) => b.node))].join(',')}`);
  }

  /** Starts the checkpoint protocol (or a plain stop when the job does not checkpoint). */
  private preempt(row: JobRow, now: number, reason: string, graceMs: number): void {
    row.state = 'preempting';
    row.reason = reason;
    this.store.updateJob(row);
    const saving = graceMs > 0 && row.spec.checkpoint !== undefined;
    // Said in the job's own log, before the signal: otherwise the log ends in a shell's
    // "User defined signal 1" or "Terminated", which reads like a crash.
    this.noteInLogs(row, `preempted (${reason}) at ${new Date(now).toISOString()}: ${saving ? `SIGUSR1 to save a checkpoint within ${Math.round(graceMs / 1000)}s, then SIGTERM` : `SIGTERM, SIGKILL after ${Math.round(this.stopGraceMs / 1000)}s`}; the job is requeued`);
    if (saving) {
      removeJobFile(this.paths(row.id, row.team).ackFile);
      for (const w of this.liveWorkers(row)) this.executor.signal(w, 'SIGUSR1');
      this.stops.set(row.id, { phase: 'checkpoint', at: now + graceMs, signalledAt: now });
    } else {
      this.terminate(row, now);
    }
    this.log(`${row.id}: ${reason}`);
  }

  /** Appends a `--- gantry:` line to each worker's log (the running ones unless `all`). */
  private noteInLogs(row: JobRow, line: string, all = false): void {
    for (const w of all ? row.workers : this.liveWorkers(row)) {
      try {
        appendFileSync(join(this.paths(row.id, row.team).logs, `worker-${w.rank}.log`), `--- gantry: ${line}\n`);
      } catch {
        // The log is the job's: a missing folder must not stop the preemption.
      }
    }
  }

  private terminate(row: JobRow, now: number): void {
    for (const w of this.liveWorkers(row)) this.executor.signal(w, 'SIGTERM');
    this.stops.set(row.id, { phase: 'term', at: now + this.stopGraceMs, signalledAt: now });
  }

  private liveWorkers(row: JobRow): WorkerRecord[] {
    return row.workers.filter((w) => w.exitCode === null && !w.signal);
  }

  private runStops(now: number): void {
    for (const [id, plan] of this.stops) {
      const row = this.active.get(id);
      if (!row) {
        this.stops.delete(id);
        continue;
      }
      if (plan.phase === 'checkpoint') {
        const acked = isPlainFile(this.paths(id, row.team).ackFile) || (row.lastCheckpointAt !== null && row.lastCheckpointAt >= plan.signalledAt);
        if (acked || now >= plan.at) {
          if (!acked) row.reason = `${row.reason ?? 'preempted'}; no checkpoint acknowledged within the grace period`;
          this.terminate(row, now);
        }
      } else if (now >= plan.at) {
        for (const w of this.liveWorkers(row)) this.executor.signal(w, 'SIGKILL');
        plan.at = now + this.stopGraceMs;
      }
    }
  }

  private releaseDelayed(now: number): void {
    for (const [id, until] of this.delayed) {
      if (until > now) continue;
      this.delayed.delete(id);
      const row = this.active.get(id);
      if (row && row.state === 'queued') {
        this.toWindow(row);
        this.queuedAt.set(id, now);
        this.dirty = true;
      }
    }
  }

  private runDrains(now: number): void {
    for (const node of this.draining) {
      for (const row of this.inFlight()) {
        if (row.state !== 'running' || !row.spec.preemptible || !row.bindings?.some((b) => b.node === node)) continue;
        const grace = row.spec.checkpoint ? row.spec.checkpoint.graceSeconds * 1000 : 0;
        this.preempt(row, now, `node ${node} is draining`, grace);
      }
    }
  }

  /** Active jobs that have (or had) processes: what the monitor looks at, not the whole queue. */
  private inFlight(): JobRow[] {
    const out: JobRow[] = [];
    for (const id of this.started) {
      const row = this.active.get(id);
      if (row && row.state !== 'queued') out.push(row);
      else this.started.delete(id);
    }
    return out;
  }

  private pollWorkers(now: number): void {
    for (const row of this.inFlight()) {
      let changed = this.readProgress(row, now) || this.lingering.has(row.id);
      for (const w of row.workers) {
        if (w.exitCode !== null || w.signal) continue;
        const s = this.executor.status(w);
        if (s === 'running') continue;
        changed = true;
        if (s === 'lost') {
          w.signal = 'lost';
        } else {
          w.exitCode = s.code;
          w.signal = s.code === null ? (s.signal ?? 'killed') : null;
          if (s.oomKilled) w.oomKilled = true;
        }
      }
      if (!changed) continue;
      const live = this.liveWorkers(row);
      const failed = row.workers.some((w) => (w.exitCode !== null && w.exitCode !== 0) || w.signal);
      if (live.length === 0 && row.workers.length > 0) {
        // Not ended while any process of the job's uid runs (one that left its worker's group).
        if (this.strays(row) > 0) {
          this.lingering.add(row.id);
          continue;
        }
        this.lingering.delete(row.id);
        this.workersDone(row, now);
      } else {
        if (failed && row.state === 'running' && !this.firstFailure.has(row.id)) {
          // A gang lives and dies together: stop the other workers.
          const bad = row.workers.find((w) => (w.exitCode !== null && w.exitCode !== 0) || w.signal);
          if (bad && !this.firstFailure.has(row.id)) this.firstFailure.set(row.id, bad);
          row.reason = `${bad ? endReason(row, bad) : 'a worker failed'}; stopping the others`;
          this.terminate(row, now);
        }
        this.store.updateJob(row);
      }
    }
  }

  /** Reads new lines of the job's progress file (a file the job controls: see job-files.ts). */
  private readProgress(row: JobRow, now: number): boolean {
    let offset = this.progressOffsets.get(row.id) ?? 0;
    const file = this.paths(row.id, row.team).progressFile;
    let got = readJobFile(file, offset, 1 << 20);
    if (got && got.size < offset) {
      // Replaced or truncated: a new file, read from its start.
      offset = 0;
      got = readJobFile(file, 0, 1 << 20);
    }
    if (!got || got.data.length === 0) return false;
    const text = got.data.toString('utf8');
    const end = text.lastIndexOf('\n');
    if (end < 0) {
      // A full chunk without a line end is no progress line: skip it rather than reread it forever.
      if (got.data.length === 1 << 20) this.progressOffsets.set(row.id, offset + got.data.length);
      return false;
    }
    this.progressOffsets.set(row.id, offset + Buffer.byteLength(text.slice(0, end + 1)));
    for (const line of text.slice(0, end).split('\n')) {
      try {
        const v = JSON.parse(line) as Record<string, unknown>;
        this.applyProgress(row, { ...(typeof v['step'] === 'number' ? { step: v['step'] } : {}), ...(typeof v['loss'] === 'number' ? { loss: v['loss'] } : {}), ...(typeof v['samplesPerSec'] === 'number' ? { samplesPerSec: v['samplesPerSec'] } : {}), checkpoint: v['checkpoint'] === true }, now);
      } catch {
        // A malformed line is ignored; progress is advisory.
      }
    }
    return true;
  }

  /** Kills processes of the job's uid still running; how many there were. */
  private strays(row: JobRow): number {
    const uid = this.opts.identities?.uidOf(row.id);
    if (uid === undefined || !this.executor.stragglers) return 0;
    return this.executor.stragglers(uid);
  }

  private applyProgress(row: JobRow, p: Omit<Progress, 'at'> & { checkpoint?: boolean }, now: number): void {
    const { checkpoint, ...rest } = p;
    if (Object.keys(rest).length > 0) row.progress = { ...(row.progress ?? {}), ...rest, at: now };
    if (checkpoint) {
      row.lastCheckpointAt = now;
      this.scheduler.reportCheckpoint(row.id, now);
    }
  }

  /** Every worker of the job has ended: decide its fate. */
  private workersDone(row: JobRow, now: number): void {
    this.stops.delete(row.id);
    const bad = this.firstFailure.get(row.id) ?? row.workers.find((w) => (w.exitCode !== null && w.exitCode !== 0) || w.signal);
    this.firstFailure.delete(row.id);
    const ok = bad === undefined;
    this.opts.onAttemptEnd?.(row, now, row.state === 'cancelling' ? 'cancelled' : row.state === 'preempting' ? 'preempted' : ok ? 'succeeded' : 'failed');
    if (row.state === 'cancelling') {
      this.scheduler.remove(row.id);
      this.finish(row, 'cancelled', now, row.reason ?? 'cancelled', bad?.exitCode ?? 0);
    } else if (row.state === 'preempting') {
      this.noteInLogs(row, `stopped after the preemption (${describeExit(bad)}${signalOfShellCode(bad?.exitCode ?? null)}), as asked; requeued${row.spec.checkpoint ? ' to resume from its checkpoint' : ''}`, true);
      row.preemptions++;
      row.state = 'queued';
      row.reason = `${row.reason ?? 'preempted'}; requeued${row.spec.checkpoint ? ', resumes from its checkpoint' : ''}`;
      row.bindings = null;
      row.startedAt = null;
      this.store.updateJob(row);
      this.scheduler.requeue(row.id, now);
      this.queuedAt.set(row.id, now);
      this.dirty = true;
    } else if (ok) {
      this.scheduler.remove(row.id);
      this.finish(row, 'succeeded', now, null, 0);
    } else {
      this.scheduler.remove(row.id);
      this.afterStop(row, now, endReason(row, bad), false);
    }
  }

  /** A failed or lost job: retry by its policy, or fail it. The scheduler no longer holds it. */
  private afterStop(row: JobRow, now: number, why: string, fromRecovery: boolean): void {
    this.stops.delete(row.id);
    this.opts.onAttemptEnd?.(row, now, row.state === 'cancelling' ? 'cancelled' : row.state === 'preempting' ? 'preempted' : 'failed');
    if (row.state === 'cancelling') {
      this.finish(row, 'cancelled', now, row.reason ?? 'cancelled', null);
      return;
    }
    const wasPreempting = row.state === 'preempting';
    const limit = row.spec.retries.limit;
    const bad = row.workers.find((w) => (w.exitCode !== null && w.exitCode !== 0) || w.signal);
    if (wasPreempting || row.retries < limit) {
      if (!wasPreempting) row.retries++;
      const backoff = wasPreempting ? 0 : row.spec.retries.backoffSeconds * 1000 * 2 ** (row.retries - 1);
      row.state = 'queued';
      row.notBefore = now + backoff;
      row.bindings = null;
      row.startedAt = null;
      row.exitCode = bad?.exitCode ?? null;
      row.reason = wasPreempting ? `${why}; requeued` : `${why}; retry ${row.retries}/${limit}${backoff > 0 ? ` in ${Math.round(backoff / 1000)}s` : ''}`;
      this.store.updateJob(row);
      if (fromRecovery || backoff > 0) this.delayed.set(row.id, row.notBefore);
      else this.enqueue(row, now);
      this.dirty = true;
    } else {
      this.finish(row, 'failed', now, limit > 0 ? `${why} (after ${limit} retries)` : why, bad?.exitCode ?? null);
    }
  }

  private finish(row: JobRow, state: 'succeeded' | 'failed' | 'cancelled', now: number, reason: string | null, exitCode: number | null): void {
    this.dataWaits.delete(row.id);
    if (row.startedAt !== null) this.opts.onAttemptEnd?.(row, now, state);
    this.policyHolds.delete(row.id);
    row.state = state;
    row.reason = reason;
    row.finishedAt = now;
    row.exitCode = exitCode;
    this.store.updateJob(row);
    this.active.delete(row.id);
    this.stops.delete(row.id);
    this.queuedAt.delete(row.id);
    this.progressOffsets.delete(row.id);
    this.lingering.delete(row.id);
    // Its uid goes back to the pool only with nothing left running as it.
    if (this.opts.identities?.uidOf(row.id) !== undefined) {
      this.strays(row);
      this.opts.identities.release(row.id);
    }
    this.dirty = true;
    this.log(`${row.id} ${state}${reason ? `: ${reason}` : ''}`);
  }
}

/** Why a worker's end failed the job; an OOM kill reads `OOM_KILLED: ...` (the stable prefix). */
export function endReason(row: JobRow, w: WorkerRecord): string {
  if (w.oomKilled) return `OOM_KILLED: worker ${w.rank} went over its memory limit (${row.spec.resources.memory ?? '?'}) and was killed`;
  return `worker ${w.rank} ended with ${describeExit(w)}`;
}

/** The job's cgroup limits: what it requested (0 = no limit for what it did not request). */
export function jobLimits(row: JobRow): { milliCpu: number; memoryMiB: number } | undefined {
  const r = row.spec.resources;
  if (r.cpu === undefined && r.memory === undefined) return undefined;
  return { milliCpu: r.cpu !== undefined ? parseMilliCpu(r.cpu) : 0, memoryMiB: r.memory !== undefined ? parseMemoryMiB(r.memory) : 0 };
}

export function describeExit(w: WorkerRecord | undefined): string {
  if (!w) return 'no status';
  if (w.signal === 'lost') return 'no exit status (process gone)';
  if (w.signal) return `signal ${w.signal}`;
  return `exit code ${w.exitCode ?? '?'}${exitReason(w)}`;
}

/** The executor's own account of why a worker could not run (the container runner's `.reason` file). */
function exitReason(w: WorkerRecord): string {
  try {
    const text = readFileSync(`${w.exitFile}.reason`, 'utf8').trim();
    return text === '' ? '' : ` (${text.slice(0, 500)})`;
  } catch {
    return '';
  }
}

/** A shell reports a child killed by signal N as exit code 128+N: name the signal. */
function signalOfShellCode(code: number | null): string {
  if (code === null || code <= 128) return '';
  const name = Object.entries(osConstants.signals).find(([, n]) => n === code - 128)?.[0];
  return name ? `, i.e. ${name}` : '';
}
