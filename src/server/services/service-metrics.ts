/**
 * Inference services on `/metrics` (the full view only: series carry service names), read at
 * scrape time from the router's counts and the service manager. Names follow vLLM's for the
 * same quantities, under Gantry's prefix and with a `service` label (and `revision`, as KServe
 * labels a revision's series), so a dashboard for `vllm:time_to_first_token_seconds` works on
 * `gantry_service_time_to_first_token_seconds` with the label changed:
 *
 * - histograms by service and revision: `gantry_service_e2e_request_latency_seconds` (every
 *   answered request, from arrival at the router to its last byte),
 *   `gantry_service_time_to_first_token_seconds` (streamed answers: arrival to first byte),
 *   `gantry_service_inter_token_latency_seconds` (streamed answers: between chunks, one per
 *   token for a server that flushes each);
 * - `gantry_service_requests_total{service,revision,code}` (revision "" when no replica answered);
 * - gauges: `gantry_service_num_requests_running{service,replica}` (in flight, counted at
 *   dispatch), `gantry_service_num_requests_waiting{service}` (held for a Ready replica with room in its prompt queue),
 *   `gantry_service_replicas{service,state}`, `gantry_service_desired_replicas{service}`;
 * - counters: `gantry_service_scale_decisions_total{service,direction}` and
 *   `gantry_service_router_decisions_total{service,decision}` (routed, prefix_affinity, held, retried).
 *
 * Histograms are kept by the router as plain bucket arrays (serve/router/request-histograms.ts)
 * and turned into Prometheus' shape here, so the request path pays one array write.
 */
import type { Registry } from 'prom-client';
import type { BucketHistogram, RequestHistograms } from '../../serve/router/request-histograms.js';
import type { ServiceRoute } from '../../serve/router/service-route.js';
import type { ReplicaState, ServiceManager } from './service-manager.js';

/** What the series read of one service, in `gantry up` (ServiceManager) or behind `gantry k8s router`. */
export interface MeteredService {
  readonly name: string;
  readonly route: ServiceRoute;
  readonly desired: number;
  readonly decisionCounts: { readonly up: number; readonly down: number; readonly hold: number };
  /** Replicas by state, read at scrape. */
  readonly states: () => ReadonlyMap<ReplicaState, number>;
  /** A replica's name as people know it (the router knows replicas by id). */
  readonly replicaName: (id: string) => string;
}

type Labels = Record<string, string | number>;
interface Value {
  readonly value: number;
  readonly labels: Labels;
  readonly metricName?: string;
}
interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram' | 'gauge' | 'counter';
  readonly values: Value[];
  readonly aggregator: 'sum';
}

const REPLICA_STATES: readonly ReplicaState[] = ['queued', 'starting', 'ready', 'draining', 'stopping'];

function histogramValues(name: string, h: BucketHistogram, labels: Labels): Value[] {
  const cum = h.cumulative();
  const out: Value[] = h.bounds.map((le, i) => ({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cum[i] ?? 0 }));
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
  return out;
}

/** Registers one family whose values are computed from the live services at each scrape. */
function family(registry: Registry, name: string, help: string, type: Family['type'], values: (services: readonly MeteredService[]) => Value[], services: () => readonly MeteredService[]): void {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum' as const,
    get: (): Promise<Family> => Promise.resolve({ name, help, type, aggregator: 'sum', values: values(services()) }),
    reset: (): void => undefined,
  };
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
}

/** The series of `gantry up`'s services. */
export function registerServiceMetrics(registry: Registry, manager: ServiceManager): void {
  registerMeteredServices(registry, () =>
    manager.all().map((s) => ({ name: s.record.name, route: s.route, desired: s.desired, decisionCounts: s.decisionCounts, states: () => manager.replicaStates(s), replicaName: (id: string) => manager.replicaName(id) })),
  );
}

export function registerMeteredServices(registry: Registry, services: () => readonly MeteredService[]): void {
  const hist = (name: string, help: string, pick: (h: RequestHistograms) => BucketHistogram): void =>
    family(registry, name, help, 'histogram', (list) => list.flatMap((s) => [...s.route.revisions()].flatMap(([revision, t]) => histogramValues(name, pick(t.histograms), { service: s.name, revision }))), services);
  hist('gantry_service_e2e_request_latency_seconds', 'Request latency through the services router, arrival to last byte (seconds).', (h) => h.latency);
  hist('gantry_service_time_to_first_token_seconds', 'Streamed answers: arrival at the router to the first byte (seconds).', (h) => h.ttft);
  hist('gantry_service_inter_token_latency_seconds', 'Streamed answers: time between chunks, one per token for a server that flushes each (seconds).', (h) => h.itl);
  family(registry, 'gantry_service_requests_total', 'Requests answered through the services router, by revision and status code (revision "" when no replica answered).', 'counter', (list) =>
    list.flatMap((s) => [
      ...[...s.route.revisions()].flatMap(([revision, t]) => [...t.byStatus].map(([code, n]) => ({ labels: { service: s.name, revision, code }, value: n }))),
      ...[...s.route.unrouted].map(([code, n]) => ({ labels: { service: s.name, revision: '', code }, value: n })),
    ]), services);
  family(registry, 'gantry_service_num_requests_running', 'Requests in flight on a replica, counted at dispatch by the router.', 'gauge', (list) =>
    list.flatMap((s) => [...s.route.replicas.values()].map((r) => ({ labels: { service: s.name, replica: s.replicaName(r.id), revision: r.revision }, value: r.inFlight }))), services);
  family(registry, 'gantry_service_num_requests_waiting', 'Requests held by the router until a replica is Ready and has room in its prompt queue.', 'gauge', (list) => list.map((s) => ({ labels: { service: s.name }, value: s.route.held() })), services);
  family(registry, 'gantry_service_replicas', 'Replicas of a service by state.', 'gauge', (list) =>
    list.flatMap((s) => {
      const counts = s.states();
      return REPLICA_STATES.map((state) => ({ labels: { service: s.name, state }, value: counts.get(state) ?? 0 }));
    }), services);
  family(registry, 'gantry_service_desired_replicas', 'Replicas the autoscaler wants.', 'gauge', (list) => list.map((s) => ({ labels: { service: s.name }, value: s.desired })), services);
  family(registry, 'gantry_service_scale_decisions_total', 'Autoscaler decisions, by direction (up, down, hold).', 'counter', (list) =>
    list.flatMap((s) => (['up', 'down', 'hold'] as const).map((direction) => ({ labels: { service: s.name, direction }, value: s.decisionCounts[direction] }))), services);
  family(registry, 'gantry_service_router_decisions_total', 'Router decisions: requests routed, routed by prefix affinity, held for a Ready replica with room, retried on another replica.', 'counter', (list) =>
    list.flatMap((s) => {
      const c = s.route.routingCounts();
      return [
        { labels: { service: s.name, decision: 'routed' }, value: c.routed },
        { labels: { service: s.name, decision: 'prefix_affinity' }, value: c.prefixHits },
        { labels: { service: s.name, decision: 'held' }, value: c.held },
        { labels: { service: s.name, decision: 'retried' }, value: c.retried },
      ];
    }), services);
}
