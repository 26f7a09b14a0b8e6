/**
 * `gantry k8s router`: the services router of `gantry up` (serve/router: the same proxy, the
 * same routing policies, the same hold-at-zero and draining) in front of InferenceService
 * replica pods, plus the same autoscaler (server/services/service-scaler.ts), whose decisions
 * go into the InferenceService's status for the controller to act on.
 *
 * - A service is at `http://ROUTER/NAME.NAMESPACE/...` (and `/NAME/...` when the router watches
 *   one namespace); the rest of the path goes to a replica as it came.
 * - Replicas are the service's pods with an IP; a pod takes requests while its Ready condition
 *   is True and it is not being deleted. A pod being deleted drains: no new requests, its open
 *   ones (streams included) finish within its grace (the spec's drainSeconds).
 * - Every 2 s per service: a sample (Ready replicas, replicas wanted and not Ready, requests in
 *   flight and held, tokens that arrived, first-token times, and the replicas' own vLLM
 *   `num_requests_*` where they serve /metrics) goes to the autoscaler the spec names. A change
 *   of the count is written to `status.desiredReplicas` with `status.lastScale` (from, to, the
 *   reason with its figures) and an Event `ScaledUp` / `ScaledDown`. A request held while the
 *   service is at zero asks for one replica at once.
 * - In flight and held requests are on `/metrics` (the series of docs/inference.md) and in the
 *   status (`inFlight`, `queued`, written when they change, at most every 10 s).
 * One router decides for its services: run one replica of it (several would each scale on the
 * share of the traffic they see).
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Autoscaler } from '../../serve/autoscaler/scale-signals.js';
import { HttpRouter } from '../../serve/router/http-router.js';
import { ServiceRoute, type ServiceRouteOptions } from '../../serve/router/service-route.js';
import { promptQueueTokensOf } from '../../serve/router/prefill-gate.js';
import { DEFAULT_LLM_ENGINE_PROFILE } from '../../serve/llm-model/engine-profile.js';
import { scrapeLoad } from '../../server/services/replica-probe.js';
import { createServiceAutoscaler, scaleSample, SCALE_PERIOD_SECONDS } from '../../server/services/service-scaler.js';
import type { MeteredService } from '../../server/services/service-metrics.js';
import type { ReplicaState } from '../../server/services/service-manager.js';
import { InferenceCache, isLivePod, podIsReady } from './inference-cache.js';
import { desiredReplicas, inferenceSpec, type InferenceServiceObject, type InferenceServiceStatus, type InferenceSpec } from './inference-spec.js';
import type { InferenceWrites } from './inference-writes.js';
import { LABEL_INFERENCE_REVISION } from './names.js';

export interface InferenceRouterOptions {
  readonly kubeConfig: KubeConfig;
  readonly writes: InferenceWrites;
  /** Route only this namespace's services (then `/NAME/` works too); default all. */
  readonly namespace?: string;
  /** The router's base URL as clients reach it, for `status.url`. */
  readonly url?: string;
  readonly log?: (msg: string) => void;
  /** Between autoscaler decisions (default 2 s, as in `gantry up`). */
  readonly decideEveryMs?: number;
}

interface RoutedService {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  uid: string | undefined;
  readonly route: ServiceRoute;
  spec: InferenceSpec;
  /** The fields the route and the autoscaler are built from, to see a change. */
  tuning: string;
  scaler: Autoscaler;
  readonly bornAt: number;
  desired: number;
  deciding: boolean;
  readonly decisionCounts: { up: number; down: number; hold: number };
  figures: { inFlight: number; queued: number; at: number };
  urlWritten: boolean;
}

const FIGURES_EVERY_MS = 10_000;

function tuningOf(s: InferenceSpec): string {
  return JSON.stringify([s.routing, s.autoscaler, s.replicas, s.objective, s.port]);
}

function routeOptions(s: InferenceSpec, onHeld: () => void): ServiceRouteOptions {
  return { policy: s.routing.policy, loadBound: s.routing.loadBound, blockTokens: s.autoscaler.profile.blockTokens ?? 16, promptQueueTokens: promptQueueTokensOf(s, DEFAULT_LLM_ENGINE_PROFILE.prefillMsPerToken), onHeld };
}

function originOf(pod: V1Pod, port: number): string | null {
  const ip = pod.status?.podIP;
  if (!ip) return null;
  return ip.includes(':') ? `http://[${ip}]:${port}` : `http://${ip}:${port}`;
}

export class InferenceRouter {
  readonly http: HttpRouter;
  readonly cache: InferenceCache;
  private readonly services = new Map<string, RoutedService>();
  private readonly log: (msg: string) => void;
  private timer: NodeJS.Timeout | null = null;
  private synced = false;
  private stopped = false;

  constructor(private readonly opts: InferenceRouterOptions) {
    this.log = opts.log ?? ((m) => process.stderr.write(`${m}\n`));
    this.cache = new InferenceCache(opts.kubeConfig, (key) => this.sync(key), this.log, opts.namespace);
    this.http = new HttpRouter({ service: (segment) => this.routeFor(segment), notFoundHint: 'the URL is /NAME.NAMESPACE/PATH; kubectl get inferenceservices -A lists them' });
  }

  async start(): Promise<void> {
    await this.cache.start();
    this.synced = true;
    for (const k of this.cache.serviceKeys()) this.sync(k);
    this.timer = setInterval(() => void this.decideAll(), this.opts.decideEveryMs ?? SCALE_PERIOD_SECONDS * 1000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.cache.stop();
    for (const s of this.services.values()) s.route.close();
    await this.http.close();
  }

  readiness(): { ready: boolean; reason: string } {
    if (this.stopped) return { ready: false, reason: 'stopping' };
    return this.synced ? { ready: true, reason: `routing ${this.services.size} services` } : { ready: false, reason: 'watches not synced yet' };
  }

  /** The services' series for /metrics (registerMeteredServices). */
  metered(): MeteredService[] {
    return [...this.services.values()].map((s) => ({
      name: `${s.name}.${s.namespace}`,
      route: s.route,
      desired: s.desired,
      decisionCounts: s.decisionCounts,
      states: () => this.replicaStates(s),
      replicaName: (id: string) => id,
    }));
  }

  /** `NAME.NAMESPACE`, or `NAME` in the one namespace watched. */
  private routeFor(segment: string): ServiceRoute | undefined {
    const dot = segment.indexOf('.');
    const key = dot > 0 ? `${segment.slice(dot + 1)}/${segment.slice(0, dot)}` : this.opts.namespace !== undefined ? `${this.opts.namespace}/${segment}` : '';
    return this.services.get(key)?.route;
  }

  private replicaStates(s: RoutedService): Map<ReplicaState, number> {
    const counts = new Map<ReplicaState, number>();
    const add = (st: ReplicaState): void => void counts.set(st, (counts.get(st) ?? 0) + 1);
    for (const p of this.cache.pods(s.key)) {
      if (p.metadata?.deletionTimestamp) add('draining');
      else if (!isLivePod(p)) continue;
      else if (!p.spec?.nodeName) add('queued');
      else add(podIsReady(p) ? 'ready' : 'starting');
    }
    return counts;
  }

  /** Brings one service's route in line with its object and pods. */
  private sync(key: string): void {
    if (!this.synced || this.stopped) return;
    const obj = this.cache.service(key);
    let spec: InferenceSpec | null = null;
    try {
      if (obj) spec = inferenceSpec(obj);
    } catch {
      spec = null; // the controller reports it (Valid=False)
    }
    let s = this.services.get(key);
    if (!obj || !spec) {
      if (s) {
        s.route.close();
        this.services.delete(key);
      }
      return;
    }
    if (!s) s = this.track(key, obj, spec);
    s.uid = obj.metadata?.uid;
    if (tuningOf(spec) !== s.tuning) {
      s.route.configure(routeOptions(spec, () => this.wake(key)));
      s.scaler = createServiceAutoscaler(spec);
      s.tuning = tuningOf(spec);
      s.desired = Math.max(spec.replicas.min, Math.min(spec.replicas.max, s.desired));
    }
    s.spec = spec;
    this.syncReplicas(s);
    if (!s.urlWritten && this.opts.url !== undefined) this.writeUrl(s, obj.status);
  }

  private track(key: string, obj: InferenceServiceObject, spec: InferenceSpec): RoutedService {
    const [namespace, name] = [obj.metadata?.namespace ?? '', obj.metadata?.name ?? ''];
    const s: RoutedService = {
      key,
      namespace,
      name,
      uid: obj.metadata?.uid,
      route: new ServiceRoute(`${name}.${namespace}`, routeOptions(spec, () => this.wake(key))),
      spec,
      tuning: tuningOf(spec),
      scaler: createServiceAutoscaler(spec),
      bornAt: Date.now(),
      desired: desiredReplicas(spec, obj.status),
      deciding: false,
      decisionCounts: { up: 0, down: 0, hold: 0 },
      figures: { inFlight: 0, queued: 0, at: 0 },
      urlWritten: false,
    };
    this.services.set(key, s);
    return s;
  }

  private syncReplicas(s: RoutedService): void {
    const seen = new Set<string>();
    for (const p of this.cache.pods(s.key)) {
      const id = p.metadata?.name ?? '';
      const origin = originOf(p, s.spec.port);
      if (origin === null || (!isLivePod(p) && !p.metadata?.deletionTimestamp)) continue;
      seen.add(id);
      const known = s.route.replicas.get(id);
      if (known && known.origin !== origin) s.route.removeReplica(id); // a new pod under the old name
      s.route.addReplica(id, origin, p.metadata?.labels?.[LABEL_INFERENCE_REVISION] ?? '');
      if (p.metadata?.deletionTimestamp) {
        if (s.route.replicas.get(id)?.draining !== true) void s.route.drain(id);
      } else s.route.setReady(id, podIsReady(p));
    }
    for (const id of [...s.route.replicas.keys()]) if (!seen.has(id)) s.route.removeReplica(id);
  }

  private writeUrl(s: RoutedService, status: InferenceServiceStatus | undefined): void {
    const url = `${this.opts.url ?? ''}/${s.name}.${s.namespace}/`;
    s.urlWritten = true;
    if (status?.url === url) return;
    this.opts.writes.patchStatus(s.namespace, s.name, { url }).catch((e: unknown) => {
      s.urlWritten = false;
      this.log(`inference service ${s.key}: status.url: ${(e as Error).message}`);
    });
  }

  /** A request is held while the service is at zero: one replica now. */
  private wake(key: string): void {
    const s = this.services.get(key);
    if (!s || s.desired > 0) return;
    this.scaleTo(s, 1, false, 'up: a request arrived while scaled to zero (it is held until a replica is Ready)');
  }

  private scaleTo(s: RoutedService, to: number, panic: boolean, reason: string): void {
    const from = s.desired;
    s.desired = to;
    const status: InferenceServiceStatus = { desiredReplicas: to, lastScale: { time: new Date().toISOString(), from, to, panic, reason }, inFlight: s.figures.inFlight, queued: s.figures.queued };
    this.log(`inference service ${s.key}: ${from} -> ${to} replicas: ${reason}`);
    this.opts.writes.patchStatus(s.namespace, s.name, status).catch((e: unknown) => this.log(`inference service ${s.key}: status: ${(e as Error).message}`));
    this.opts.writes.recordEvent(s.namespace, s.name, s.uid, 'Normal', to > from ? 'ScaledUp' : 'ScaledDown', `${from} -> ${to} replicas: ${reason}`).catch(() => undefined);
  }

  private async decideAll(): Promise<void> {
    await Promise.all([...this.services.values()].filter((s) => !s.deciding).map((s) => this.decide(s)));
  }

  private async decide(s: RoutedService): Promise<void> {
    s.deciding = true;
    try {
      const ready = s.route.takingRequests();
      const loads = await Promise.all(ready.map((r) => scrapeLoad(r.origin, 500)));
      const reported = loads.some((l) => l !== null) ? loads.reduce<number>((a, l) => a + (l ?? 0), 0) : null;
      if (this.services.get(s.key) !== s) return;
      const traffic = s.route.takeSample();
      const now = Date.now();
      const sample = scaleSample((now - s.bornAt) / 1000, ready.length, Math.max(0, s.desired - ready.length), traffic, reported);
      const d = s.scaler.decide(sample);
      s.decisionCounts[d.desired > s.desired ? 'up' : d.desired < s.desired ? 'down' : 'hold']++;
      s.figures = { inFlight: traffic.inFlight, queued: traffic.held, at: s.figures.at };
      if (d.desired !== s.desired) {
        s.figures.at = now;
        const figures = `${sample.ready} ready, ${sample.starting} starting, ${sample.inFlight} in flight${reported !== null ? ` (replicas report ${reported})` : ''}`;
        this.scaleTo(s, d.desired, d.panic, `${d.reason}; ${figures}`);
      } else if (now - s.figures.at >= FIGURES_EVERY_MS && this.figuresChanged(s)) {
        s.figures.at = now;
        await this.opts.writes.patchStatus(s.namespace, s.name, { inFlight: s.figures.inFlight, queued: s.figures.queued }).catch(() => undefined);
      }
    } catch (e) {
      this.log(`inference service ${s.key}: autoscaler failed: ${(e as Error).message}`);
    } finally {
      s.deciding = false;
    }
  }

  private figuresChanged(s: RoutedService): boolean {
    const st = this.cache.service(s.key)?.status;
    return st?.inFlight !== s.figures.inFlight || st.queued !== s.figures.queued;
  }
}
