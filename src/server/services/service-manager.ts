/**
 * Inference services in `gantry up`. A service is a stored spec; its replicas are ordinary jobs
 * (`NAME-rN`, found again after a restart by GANTRY_SERVICE in their environment), so the
 * scheduler places, queues and preempts them with the rest of the fleet. This loop:
 * - every 0.5 s: tells the router which replicas exist and probes the running ones' readiness;
 *   a replica whose job ended without being asked to is replaced, after a backoff that doubles
 *   with each such end (at most 60 s);
 * - every 2 s: asks the service's autoscaler (service-scaler.ts) for a replica count from the
 *   router's traffic and the replicas' own /metrics, records the decision with its reason, and
 *   moves toward it: new replica jobs, or removals, queued and unready replicas first, then the
 *   least loaded Ready ones, which drain (no new requests; open ones finish, at most
 *   `drainSeconds`) before their job is stopped.
 * A request held by the router while the service has no replica scales it up at once.
 * A re-applied spec whose replica template changed (a new revision) is rolled out
 * (service-rollout.ts): a canary, judged, then promoted or rolled back; each step is a decision.
 */
import { createServer } from 'node:net';
import type { JobRow, Store, UserRow } from '../../adapters/store/store.js';
import type { ScaleDecisionRecord, ServiceRecord, ServiceRecords } from '../../adapters/store/service-records.js';
import type { Autoscaler } from '../../serve/autoscaler/scale-signals.js';
import { ServiceRoute } from '../../serve/router/service-route.js';
import { promptQueueTokensOf } from '../../serve/router/prefill-gate.js';
import { DEFAULT_LLM_ENGINE_PROFILE } from '../../serve/llm-model/engine-profile.js';
import type { RolloutStep } from '../../serve/rollout/canary-rollout.js';
import { replicaJob, replicaRevision, validateServiceFile, type ServiceFile } from '../../spec/service-spec.js';
import type { Controller } from '../controller.js';
import type { SubmitWriter } from '../submit-writer.js';
import { ApiError } from '../errors.js';
import { probeReady, scrapeLoad } from './replica-probe.js';
import { createServiceAutoscaler, scaleSample, SCALE_PERIOD_SECONDS } from './service-scaler.js';
import type { ReplicaWeights, ServiceWeights } from './service-weights.js';
import { beginRollout, observe, restoreRollout, revisionOf, revisionTargets, rolloutView, storedRollout, type LiveRollout } from './service-rollout.js';

export interface ServiceManagerDeps {
  readonly records: ServiceRecords;
  readonly store: Store;
  readonly controller: Controller;
  readonly writer: SubmitWriter;
  /** The router's base URL (a service is at `<url>/<name>`). */
  readonly routerUrl: () => string;
  readonly clock?: () => number;
  readonly log?: (line: string) => void;
  /** Weights given as a dataset: pinned at apply, staged for the next replica, shown per node (service-weights.ts). */
  readonly weights?: ServiceWeights;
}

export type ReplicaState = 'queued' | 'starting' | 'ready' | 'draining' | 'stopping';

export interface LiveService {
  record: ServiceRecord;
  spec: ServiceFile;
  /** The revision of `spec`'s replica template (replicaRevision). */
  revision: string;
  /** The newest rollout (kept once done or rolled back, for `gantry get`). */
  rollout: LiveRollout | null;
  readonly route: ServiceRoute;
  scaler: Autoscaler;
  readonly bornAt: number;
  desired: number;
  /** Replica jobs being submitted, by revision. */
  readonly pendingStarts: Map<string, number>;
  readonly draining: Set<string>;
  readonly lastProbe: Map<string, number>;
  readonly recent: ScaleDecisionRecord[];
  /** Replica jobs seen last tick and their revision (to tell an unasked end from a removal). */
  known: Map<string, string>;
  failures: number;
  notBefore: number;
  removing: boolean;
  deciding: boolean;
  /** The autoscaler's decisions since this process started, by direction (for /metrics). */
  readonly decisionCounts: { up: number; down: number; hold: number };
}

const RECENT_KEPT = 200;

const pendingOf = (s: LiveService): number => [...s.pendingStarts.values()].reduce((a, n) => a + n, 0);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

const portOf = (j: JobRow): number => Number(j.spec.env['PORT'] ?? 0);
const originOf = (j: JobRow): string => `http://127.0.0.1:${portOf(j)}`;

export class ServiceManager {
  private readonly live = new Map<string, LiveService>();
  private readonly clock: () => number;
  private readonly log: (line: string) => void;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly deps: ServiceManagerDeps) {
    this.clock = deps.clock ?? Date.now;
    this.log = deps.log ?? (() => undefined);
    for (const r of deps.records.list()) {
      try {
        const spec = validateServiceFile(r.spec);
        this.track(r, spec, null, this.storedRolloutOf(r.name, spec));
      } catch (e) {
        this.log(`service ${r.name}: stored spec does not load (${(e as Error).message}); left untouched`);
      }
    }
  }

  start(): void {
    this.endOrphans();
    this.timers.push(setInterval(() => this.tick(), 500), setInterval(() => void this.decideAll(), SCALE_PERIOD_SECONDS * 1000));
    for (const t of this.timers) t.unref();
    this.tick();
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const s of this.live.values()) s.route.close();
  }

  /**
   * The server is stopping. Replicas outlive it (the next start finds them again by
   * GANTRY_SERVICE), except those of a service being removed: nothing would find those again,
   * so they are stopped now, their drain cut short, and the server waits (at most `waitMs`, the
   * controller escalating to SIGKILL after its stop grace) for their jobs to end.
   */
  async shutdown(waitMs: number): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const ending = new Set<string>();
    for (const s of this.live.values()) {
      if (!s.removing) continue;
      for (const j of this.replicasOf(s.record.name)) {
        this.cancelReplica(j.id, `service ${s.record.name} (removed; the server is stopping)`);
        ending.add(j.id);
      }
    }
    const deadline = this.clock() + waitMs;
    while ([...ending].some((id) => this.deps.controller.activeJob(id)) && this.clock() < deadline) await new Promise((r) => setTimeout(r, 50));
    const left = [...ending].filter((id) => this.deps.controller.activeJob(id));
    if (left.length > 0) this.log(`removed services' replicas still stopping at shutdown: ${left.join(', ')}`);
    this.stop();
  }

  /**
   * Replica jobs whose service is no longer stored: it was removed and the server stopped (a
   * crash) before they ended. They are stopped at start; a service whose stored spec does not
   * load keeps its replicas.
   */
  private endOrphans(): void {
    const stored = new Set(this.deps.records.list().map((r) => r.name));
    for (const j of this.deps.controller.activeJobs()) {
      const svc = j.spec.env['GANTRY_SERVICE'];
      if (svc === undefined || stored.has(svc) || j.state === 'cancelling') continue;
      this.log(`service ${svc} was removed before the server stopped: stopping its replica ${j.name} (${j.id})`);
      this.cancelReplica(j.id, `service ${svc} (removed before the server restarted)`);
    }
  }

  private cancelReplica(id: string, by: string): void {
    const row = this.deps.controller.activeJob(id);
    if (!row || row.state === 'cancelling') return;
    try {
      this.deps.controller.cancel(id, by);
    } catch {
      // Ended meanwhile.
    }
  }

  /** The router's view of a service (its name is the URL's first segment). */
  route(name: string): ServiceRoute | undefined {
    const s = this.live.get(name);
    return s && !s.removing ? s.route : undefined;
  }

  // ---- API ------------------------------------------------------------------------------

  /** Creates or replaces a service; true when created. */
  apply(user: UserRow, given: ServiceFile, source: string): { created: boolean; name: string } {
    const spec = this.deps.weights?.pin(given) ?? given;
    const existing = this.live.get(spec.name);
    if (existing && existing.record.team !== user.team && !user.admin) throw new ApiError('ALREADY_EXISTS', `a service named "${spec.name}" belongs to another team`);
    if (existing?.removing) throw new ApiError('SERVICE_REMOVING', `service "${spec.name}" is being removed; apply it again once gantry serve ls no longer lists it`);
    const team = existing?.record.team ?? user.team;
    const { controller, records, store } = this.deps;
    controller.checkTenant(team);
    controller.admit(replicaJob(spec, 1, 1024));
    const now = this.clock();
    const revision = replicaRevision(spec);
    store.transaction(() => {
      store.appendAudit({ at: now, actor: user.name, action: existing ? 'service.update' : 'service.create', target: spec.name, source, detail: { replicas: spec.replicas, autoscaler: spec.autoscaler.policy, routing: spec.routing.policy, revision } });
      records.put(spec.name, team, user.name, spec, now);
    });
    const record = records.get(spec.name) as ServiceRecord;
    if (existing) {
      this.applyRevision(existing, spec, now);
      existing.record = record;
      existing.spec = spec;
      existing.scaler = createServiceAutoscaler(spec);
      existing.route.configure(this.routeOptions(spec.name, spec));
      existing.desired = Math.max(spec.replicas.min, Math.min(spec.replicas.max, existing.desired));
      this.decided(existing, { at: now, current: existing.desired, desired: existing.desired, panic: false, reason: `applied: replicas ${spec.replicas.min}..${spec.replicas.max}` }, true);
    } else {
      const s = this.track(record, spec, spec.replicas.initial ?? spec.replicas.min);
      this.decided(s, { at: now, current: 0, desired: s.desired, panic: false, reason: `created: ${s.desired} replica(s) to start (replicas ${spec.replicas.min}..${spec.replicas.max})` }, true);
    }
    this.tick();
    return { created: !existing, name: spec.name };
  }

  /** Stops every replica (Ready ones drain first) and forgets the service. */
  remove(user: UserRow, name: string, source: string): { replicas: number } {
    const s = this.visible(user, name);
    const replicas = this.replicasOf(name);
    this.deps.store.transaction(() => {
      this.deps.store.appendAudit({ at: this.clock(), actor: user.name, action: 'service.remove', target: name, source, detail: { replicas: replicas.length } });
      this.deps.records.remove(name);
    });
    s.removing = true;
    s.desired = 0;
    s.rollout = null;
    this.deps.weights?.forget(name);
    this.reconcile(s, replicas);
    return { replicas: replicas.length };
  }

  /** The services a user sees; a removed one is gone at once (its replica jobs drain on, in gantry ls). */
  list(user: UserRow): LiveService[] {
    return [...this.live.values()].filter((s) => !s.removing && (user.admin || s.record.team === user.team)).sort((a, b) => a.record.name.localeCompare(b.record.name));
  }

  /** Every service not being removed (for /metrics). */
  all(): LiveService[] {
    return [...this.live.values()].filter((s) => !s.removing);
  }

  /** A replica's job name (NAME-rN), or its id once the job is gone. */
  replicaName(jobId: string): string {
    return this.deps.controller.activeJob(jobId)?.name ?? jobId;
  }

  /** How many replicas are in each state (submissions on their way count as queued). */
  replicaStates(s: LiveService): Map<ReplicaState, number> {
    const counts = new Map<ReplicaState, number>([['queued', pendingOf(s)]]);
    for (const j of this.replicasOf(s.record.name)) {
      const st = this.replicaState(s, j);
      counts.set(st, (counts.get(st) ?? 0) + 1);
    }
    return counts;
  }

  visible(user: UserRow, name: string): LiveService {
    const s = this.live.get(name);
    if (!s || s.removing || (!user.admin && s.record.team !== user.team)) throw new ApiError('SERVICE_NOT_FOUND', `no service "${name}"`);
    return s;
  }

  /** The newest decisions, newest first (memory, then the stored ones before a restart). */
  decisions(name: string, limit: number): ScaleDecisionRecord[] {
    const s = this.live.get(name);
    const mem = s ? [...s.recent].reverse() : [];
    if (mem.length >= limit) return mem.slice(0, limit);
    const oldest = mem[mem.length - 1]?.at ?? Infinity;
    return [...mem, ...this.deps.records.decisions(name, limit).filter((d) => d.at < oldest)].slice(0, limit);
  }

  view(s: LiveService, full: boolean): Record<string, unknown> {
    const replicas = this.replicasOf(s.record.name).map((j) => {
      const r = s.route.replicas.get(j.id);
      return { name: j.name, job: j.id, revision: revisionOf(j, s.revision), state: this.replicaState(s, j), port: portOf(j), inFlight: r?.inFlight ?? 0, served: r?.served ?? 0, node: j.bindings?.[0]?.node ?? null, weights: this.deps.weights?.replica(s.spec, j) ?? null };
    });
    const count = (st: ReplicaState): number => replicas.filter((r) => r.state === st).length;
    const last = s.recent[s.recent.length - 1] ?? null;
    const iso = (ms: number): string => new Date(ms).toISOString();
    const q = (v: number | null): number | null => (v === null ? null : Math.round(v * 100) / 100);
    return {
      name: s.record.name,
      team: s.record.team,
      owner: s.record.owner,
      url: `${this.deps.routerUrl()}/${s.record.name}`,
      state: s.removing ? 'removing' : count('ready') > 0 ? 'ready' : s.desired === 0 ? 'scaled-to-zero' : 'starting',
      createdAt: iso(s.record.createdAt),
      updatedAt: iso(s.record.updatedAt),
      routing: s.spec.routing.policy,
      autoscaler: s.spec.autoscaler.policy,
      replicas: { min: s.spec.replicas.min, max: s.spec.replicas.max, desired: s.desired, ready: count('ready'), starting: count('queued') + count('starting') + pendingOf(s), draining: count('draining') + count('stopping') },
      traffic: {
        inFlight: replicas.reduce((a, r) => a + r.inFlight, 0),
        held: s.route.held(),
        requests: s.route.requests,
        errors5xx: s.route.errors5xx,
        latencyMs: { p50: q(s.route.latencyMs.quantile(0.5)), p99: q(s.route.latencyMs.quantile(0.99)) },
        ttftMs: { p50: q(s.route.ttftMs.quantile(0.5)), p99: q(s.route.ttftMs.quantile(0.99)) },
      },
      lastDecision: last ? { ...last, at: iso(last.at) } : null,
      revision: s.revision,
      rollout: rolloutView(s.rollout, s.rollout ? s.route.revisionTraffic(s.rollout.machine.to) : null),
      ...(full ? { replicaList: replicas, spec: s.spec, weights: this.weightsView(s) } : {}),
    };
  }

  /** The weights' state on every node and for the next replica (null unless they are a dataset). */
  weightsView(s: LiveService): (NonNullable<ReturnType<ServiceWeights['view']>> & { replicas: Array<{ replica: string } & ReplicaWeights> }) | null {
    const w = this.deps.weights;
    const v = w?.view(s.record.name, s.spec);
    if (!w || !v) return null;
    const replicas = this.replicasOf(s.record.name).flatMap((j) => {
      const r = w.replica(s.spec, j);
      return r ? [{ replica: j.name, ...r }] : [];
    });
    return { ...v, replicas };
  }

  // ---- the loop -------------------------------------------------------------------------

  /**
   * The rollout stored for a service, if it still describes it: one in progress must be
   * rolling out to the stored spec's revision (else the stored spec alone is the service, and
   * replicas of other revisions drain).
   */
  private storedRolloutOf(name: string, spec: ServiceFile): LiveRollout | null {
    const r = restoreRollout(this.deps.records.rollout(name));
    if (!r) return null;
    if (r.machine.active && r.machine.to !== replicaRevision(spec)) {
      this.log(`service ${name}: the stored rollout to ${r.machine.to} does not match the stored spec; not resumed`);
      return null;
    }
    if (r.machine.active) this.log(`service ${name}: rollout ${r.machine.from} -> ${r.machine.to} resumed in phase ${r.machine.phase}`);
    return r;
  }

  /** Replicas to keep after a restart: those running, counted on the revision that sets the count. */
  private restartCount(name: string, spec: ServiceFile, rollout: LiveRollout | null): number {
    const replicas = this.replicasOf(name);
    const m = rollout?.machine;
    const of = (rev: string): number => replicas.filter((j) => revisionOf(j, replicaRevision(spec)) === rev).length;
    const count = !m?.active ? replicas.length : m.phase === 'canary' ? of(m.from) : Math.max(of(m.from), of(m.to));
    return Math.max(spec.replicas.min, Math.min(spec.replicas.max, count));
  }

  private track(record: ServiceRecord, spec: ServiceFile, desired: number | null, rollout: LiveRollout | null = null): LiveService {
    const s: LiveService = {
      record,
      spec,
      revision: replicaRevision(spec),
      rollout,
      route: new ServiceRoute(record.name, this.routeOptions(record.name, spec)),
      scaler: createServiceAutoscaler(spec),
      bornAt: this.clock(),
      desired: desired ?? this.restartCount(record.name, spec, rollout),
      pendingStarts: new Map(),
      draining: new Set(),
      lastProbe: new Map(),
      recent: [],
      known: new Map(),
      failures: 0,
      notBefore: 0,
      removing: false,
      deciding: false,
      decisionCounts: { up: 0, down: 0, hold: 0 },
    };
    this.live.set(record.name, s);
    return s;
  }

  private routeOptions(name: string, spec: ServiceFile): ConstructorParameters<typeof ServiceRoute>[1] {
    return { policy: spec.routing.policy, loadBound: spec.routing.loadBound, blockTokens: spec.autoscaler.profile.blockTokens ?? 16, promptQueueTokens: promptQueueTokensOf(spec, DEFAULT_LLM_ENGINE_PROFILE.prefillMsPerToken), onHeld: () => this.wake(name) };
  }

  private replicasOf(name: string): JobRow[] {
    return this.deps.controller.activeJobs().filter((j) => j.spec.env['GANTRY_SERVICE'] === name);
  }

  private replicaState(s: LiveService, j: JobRow): ReplicaState {
    if (j.state === 'queued') return 'queued';
    if (j.state === 'cancelling' || j.state === 'preempting') return 'stopping';
    if (s.draining.has(j.id)) return 'draining';
    return s.route.replicas.get(j.id)?.ready ? 'ready' : 'starting';
  }

  /** A request waits and nothing runs: start a replica now rather than at the next decision. */
  private wake(name: string): void {
    const s = this.live.get(name);
    if (!s || s.removing || s.desired > 0 || s.spec.replicas.max === 0) return;
    s.desired = 1;
    this.decided(s, { at: this.clock(), current: 0, desired: 1, panic: false, reason: 'up: a request arrived while scaled to zero (it is held until a replica is Ready)' }, true);
    this.reconcile(s, this.replicasOf(name));
  }

  tick(): void {
    const now = this.clock();
    const byService = new Map<string, JobRow[]>();
    for (const j of this.deps.controller.activeJobs()) {
      const svc = j.spec.env['GANTRY_SERVICE'];
      if (svc !== undefined) byService.set(svc, [...(byService.get(svc) ?? []), j]);
    }
    for (const s of [...this.live.values()]) {
      const replicas = byService.get(s.record.name) ?? [];
      const ids = new Set(replicas.map((j) => j.id));
      // Ended without being asked: count it against the service, replace it after a backoff.
      for (const [id, rev] of s.known) {
        if (ids.has(id) || s.draining.has(id)) continue;
        if (s.rollout?.machine.active && rev === s.rollout.machine.to) s.rollout.newEnded++;
        s.failures++;
        s.notBefore = now + Math.min(60_000, 1000 * 2 ** Math.min(6, s.failures - 1));
        this.log(`service ${s.record.name}: replica ${id} ended; a new one starts after ${Math.round((s.notBefore - now) / 1000)} s`);
      }
      for (const id of [...s.draining]) if (!ids.has(id)) s.draining.delete(id);
      s.known = new Map(replicas.map((j) => [j.id, revisionOf(j, s.revision)]));
      for (const id of [...s.route.replicas.keys()]) if (!ids.has(id)) s.route.removeReplica(id);
      for (const j of replicas) {
        s.route.addReplica(j.id, originOf(j), revisionOf(j, s.revision));
        if (j.state !== 'running') {
          s.route.setReady(j.id, false);
          continue;
        }
        const last = s.lastProbe.get(j.id) ?? 0;
        if (now - last < s.spec.readiness.periodSeconds * 1000) continue;
        s.lastProbe.set(j.id, now);
        void probeReady(originOf(j), s.spec.readiness.path, s.spec.readiness.timeoutSeconds * 1000).then((ok) => {
          if (ok && s.route.replicas.get(j.id)?.ready === false) s.failures = 0;
          s.route.setReady(j.id, ok);
        });
      }
      if (s.removing && replicas.length === 0 && pendingOf(s) === 0) {
        s.route.close();
        this.live.delete(s.record.name);
        continue;
      }
      this.advanceRollout(s, replicas, now);
      this.reconcile(s, replicas);
    }
  }

  private async decideAll(): Promise<void> {
    for (const s of this.live.values()) {
      if (s.removing || s.deciding) continue;
      s.deciding = true;
      try {
        await this.decide(s);
      } catch (e) {
        this.log(`service ${s.record.name}: autoscaler failed: ${(e as Error).message}`);
      } finally {
        s.deciding = false;
      }
    }
  }

  private async decide(s: LiveService): Promise<void> {
    const replicas = this.replicasOf(s.record.name);
    const active = replicas.filter((j) => !s.draining.has(j.id) && j.state !== 'cancelling');
    const ready = active.filter((j) => s.route.replicas.get(j.id)?.ready === true);
    const loads = await Promise.all(ready.map((j) => scrapeLoad(originOf(j), 500)));
    const reported = loads.some((l) => l !== null) ? loads.reduce<number>((a, l) => a + (l ?? 0), 0) : null;
    if (s.removing) return;
    const traffic = s.route.takeSample();
    const now = this.clock();
    const sample = scaleSample((now - s.bornAt) / 1000, ready.length, active.length - ready.length + pendingOf(s), traffic, reported);
    const d = s.scaler.decide(sample);
    const current = s.desired;
    s.desired = d.desired;
    s.decisionCounts[d.desired > current ? 'up' : d.desired < current ? 'down' : 'hold']++;
    const figures = `${sample.ready} ready, ${sample.starting} starting, ${sample.inFlight} in flight${reported !== null ? ` (replicas report ${reported})` : ''}`;
    this.decided(s, { at: now, current, desired: d.desired, panic: d.panic, reason: `${d.reason}; ${figures}` }, d.desired !== current);
    this.reconcile(s, replicas);
    this.deps.weights?.warmNext(s.record.name, s.spec, s.desired < s.spec.replicas.max);
  }

  /** Keeps a decision in memory, and in the store when it changes the count (or `persist`). */
  private decided(s: LiveService, d: ScaleDecisionRecord, persist: boolean): void {
    s.recent.push(d);
    if (s.recent.length > RECENT_KEPT) s.recent.shift();
    if (persist && !s.removing) this.deps.records.addDecision(s.record.name, d);
    if (d.desired !== d.current) this.log(`service ${s.record.name}: ${d.current} -> ${d.desired} replicas: ${d.reason}`);
  }

  /** Moves the replicas toward `desired`, per revision (a revision no target names drains away). */
  private reconcile(s: LiveService, replicas: readonly JobRow[]): void {
    const to = s.rollout?.machine.to;
    const newReady = replicas.filter((j) => revisionOf(j, s.revision) === to && !s.draining.has(j.id) && s.route.replicas.get(j.id)?.ready === true).length;
    const targets = revisionTargets(s.spec, s.revision, s.desired, s.rollout, newReady);
    for (const j of replicas) if (!targets.has(revisionOf(j, s.revision)) && j.state !== 'cancelling') this.stopReplica(s, j);
    for (const [rev, t] of targets) this.reconcileRevision(s, rev, t.spec, t.count, replicas.filter((j) => revisionOf(j, s.revision) === rev));
  }

  private reconcileRevision(s: LiveService, revision: string, spec: ServiceFile, desired: number, replicas: readonly JobRow[]): void {
    const active = replicas.filter((j) => !s.draining.has(j.id) && j.state !== 'cancelling');
    const have = active.length + (s.pendingStarts.get(revision) ?? 0);
    if (desired > have && !s.removing && this.clock() >= s.notBefore) {
      for (let i = have; i < desired; i++) void this.startReplica(s, revision, spec);
    } else if (desired < have) {
      const rank = (j: JobRow): number => (j.state === 'queued' ? 0 : s.route.replicas.get(j.id)?.ready ? 2 : 1);
      const victims = [...active].sort((a, b) => rank(a) - rank(b) || (s.route.replicas.get(a.id)?.inFlight ?? 0) - (s.route.replicas.get(b.id)?.inFlight ?? 0) || b.seq - a.seq);
      for (const j of victims.slice(0, have - desired)) this.stopReplica(s, j);
    }
  }

  private async startReplica(s: LiveService, revision: string, spec: ServiceFile): Promise<void> {
    s.pendingStarts.set(revision, (s.pendingStarts.get(revision) ?? 0) + 1);
    try {
      const port = await freePort();
      if (s.removing) return;
      const index = this.deps.records.takeReplicaIndex(s.record.name);
      const job = replicaJob(spec, index, port);
      const now = this.clock();
      const r = await this.deps.writer.write({
        job: { name: job.name, team: s.record.team, owner: s.record.owner, queue: job.queue, spec: job, submittedAt: now, state: 'queued', reason: null, startedAt: null, finishedAt: null, attempts: 0, retries: 0, preemptions: 0, notBefore: 0, bindings: null, workers: [], exitCode: null, lastCheckpointAt: null, progress: null, idempotencyKey: null, requestHash: null },
        audit: { at: now, actor: 'gantry', action: 'job.submit', source: `service ${s.record.name}`, detail: { name: job.name, queue: job.queue, service: s.record.name } },
      });
      if (!r.ok) {
        s.failures++;
        s.notBefore = this.clock() + Math.min(60_000, 1000 * 2 ** Math.min(6, s.failures));
        this.log(`service ${s.record.name}: could not submit a replica: ${r.message}`);
      } else {
        s.known.set(r.job.id, revision);
        this.deps.controller.kick();
      }
    } catch (e) {
      this.log(`service ${s.record.name}: could not start a replica: ${(e as Error).message}`);
    } finally {
      s.pendingStarts.set(revision, (s.pendingStarts.get(revision) ?? 1) - 1);
    }
  }

  // ---- rollouts ---------------------------------------------------------------------------

  /** A re-applied spec: a new revision starts a rollout from the one serving; the same one applies in place. */
  private applyRevision(s: LiveService, spec: ServiceFile, now: number): void {
    const revision = replicaRevision(spec);
    const r = s.rollout?.machine.active ? s.rollout : null;
    if (revision === (r?.machine.to ?? s.revision)) {
      if (r) {
        r.toSpec = spec;
        this.deps.records.putRollout(s.record.name, storedRollout(r), now);
      }
      return;
    }
    // The revision serving: the old one during a canary, the new one once promoting.
    const fromSpec = r?.machine.phase === 'canary' ? r.fromSpec : s.spec;
    if (r) this.rolloutStepped(s, r, r.machine.abandon(`superseded: revision ${revision} applied`), false);
    s.revision = revision;
    if (replicaRevision(fromSpec) === revision) {
      s.rollout = r;
      return;
    }
    s.rollout = beginRollout(fromSpec, spec, now);
    s.route.resetRevision(revision);
    this.rolloutStepped(s, s.rollout, { phase: s.rollout.machine.phase, reason: s.rollout.machine.reason }, false);
  }

  private advanceRollout(s: LiveService, replicas: readonly JobRow[], now: number): void {
    const r = s.rollout;
    if (!r?.machine.active) {
      s.route.setSplit(null);
      return;
    }
    const m = r.machine;
    const mine = replicas.filter((j) => revisionOf(j, s.revision) === m.to);
    const newReady = mine.filter((j) => !s.draining.has(j.id) && s.route.replicas.get(j.id)?.ready === true).length;
    const step = m.step(observe(r, now, s.desired, newReady, replicas.length - mine.length, s.route.revisionTraffic(m.to)));
    if (step) this.rolloutStepped(s, r, step, step.phase === 'rolled-back');
    s.route.setSplit(m.phase === 'canary' ? { revision: m.to, percent: m.weight() } : null);
  }

  /**
   * Records a rollout step as a decision and stores the rollout (it survives a restart); a
   * rollback restores the previous spec (stored and audited, with the rollout, in one transaction).
   */
  private rolloutStepped(s: LiveService, r: LiveRollout, step: RolloutStep, restore: boolean): void {
    const now = this.clock();
    this.decided(s, { at: now, current: s.desired, desired: s.desired, panic: false, reason: `rollout ${r.machine.from} -> ${r.machine.to}: ${step.reason}` }, true);
    const { store, records } = this.deps;
    const spec = r.fromSpec;
    store.transaction(() => {
      records.putRollout(s.record.name, storedRollout(r), now);
      if (!restore) return;
      store.appendAudit({ at: now, actor: 'gantry', action: 'service.rollback', target: s.record.name, source: 'rollout', detail: { from: r.machine.to, to: r.machine.from, reason: step.reason } });
      records.put(s.record.name, s.record.team, s.record.owner, spec, now);
    });
    if (!restore) return;
    s.record = records.get(s.record.name) ?? s.record;
    s.spec = spec;
    s.revision = r.machine.from;
    s.scaler = createServiceAutoscaler(spec);
    s.route.configure(this.routeOptions(s.record.name, spec));
    s.desired = Math.max(spec.replicas.min, Math.min(spec.replicas.max, s.desired));
  }

  private stopReplica(s: LiveService, j: JobRow): void {
    if (s.draining.has(j.id)) return;
    s.draining.add(j.id);
    const stop = (): void => this.cancelReplica(j.id, `service ${s.record.name} (${s.removing ? 'removed' : 'scale-in'})`);
    if (!s.route.replicas.get(j.id)?.ready) {
      stop();
      return;
    }
    const deadline = new Promise<void>((r) => setTimeout(r, s.spec.drainSeconds * 1000).unref());
    void Promise.race([s.route.drain(j.id), deadline]).then(stop);
  }
}
