/**
 * Failover chaos on a real apiserver, shared by test/k8s/failover-chaos.test.ts (short) and
 * bench/k8s/failover-chaos.ts (long): three `gantry k8s scheduler` replicas, fake 8-GPU nodes, a
 * stream of pods and gangs at two priorities that run a few seconds each, and faults: kill -9
 * of the leader while it binds, the leader paused (SIGSTOP) past its lease, kube-apiserver
 * restarts; the webhook fence runs as deploy/webhook.yaml installs it (`fence: false` runs without
 * it). Everything is judged from the apiserver's own record, followed by watches:
 *  - safety after every pod event: no GPU (as recorded by Gantry) on two live pods, no node
 *    whose live pods ask for more GPUs than it has;
 *  - stale writes: each bind carries its leader term (gantry.dev/leader-epoch) and each Event
 *    its replica; etcd orders the Lease's changes and these writes (resourceVersion), so a write
 *    made when the Lease in force named another holder or term is stale;
 *  - gangs: one whose members all exist and that a past leader left partly bound, still partly
 *    bound a grace after the current leader took over (while that leader renews), is a partial
 *    gang; so is one the current leader began to bind and left partly bound for `ownGangGraceMs`
 *    (its binds are concurrent, but on a loaded apiserver they land over a second or more).
 */
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, SchedulingV1Api, Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { ControlPlane } from './harness.js';
import { createNamespace, createNode, FakeKubelet, fakeNode, fakePod, sleep } from './cluster.js';
import { alive, holdsGpus, LEASE_DURATION_MS, safetyProblems, startReplica, stopReplica, type Replica } from './replicas.js';
import { createRng } from '../../src/core/rng.js';
import { PodRecord } from './pod-record.js';
import { startFence } from './fence-webhook.js';

export interface ChaosOptions {
  readonly nodes: number;
  readonly kills: number;
  readonly pauses: number;
  readonly apiserverRestarts: number;
  /** Grace for a gang a past leader left partly bound, after the new leader took over (one cycle and its binds). */
  readonly gangGraceMs?: number;
  /** Grace for a gang the current leader began to bind: its binds in flight (10 s by default). */
  readonly ownGangGraceMs?: number;
  readonly seed?: number;
  readonly log?: (line: string) => void;
  /** Runs with the webhook fence as deploy/webhook.yaml installs it (default); false: the scheduler's own check only. */
  readonly fence?: boolean;
}

export interface ChaosReport {
  /** Distinct node/GPU pairs seen recorded on two live pods at once. */
  readonly doubleBookedGpus: string[];
  /** Times a node went over its GPU capacity. */
  readonly overCapacity: string[];
  readonly staleWrites: string[];
  readonly partialGangs: string[];
  /** Fault (kill or pause of the leader) to the next holder of the Lease, ms. */
  readonly takeoversMs: number[];
  readonly binds: number;
  readonly podsCreated: number;
  readonly gangsCreated: number;
  readonly gangsBoundWhole: number;
  readonly faults: { kills: number; pauses: number; restarts: number };
  /** Replicas that exited without being killed. */
  readonly exited: string[];
  /** Binds and evictions the webhook fence refused (made in a term that had ended). */
  readonly refusedByFence: string[];
  readonly bindsAfterLastFault: number;
  /** For each double-booking or node over capacity: the pods involved and their history (wall times, resourceVersions, binding terms). */
  readonly evidence: string[];
}

const NS = 'chaos';
const GPUS = 8;

interface LeaseState {
  readonly rv: number;
  readonly holder: string;
  readonly transitions: number;
  readonly renew: string;
}

/**
 * List-then-watch that resumes after errors (an apiserver restart). A list replaces what the
 * follower knew: `onList` gets all its items at once, so objects deleted while the watch was
 * down (their DELETED event lost) are dropped, and the state is judged only once all are in.
 */
class Follower {
  private stopped = false;
  private abort: AbortController | null = null;
  private rv = '';
  readonly done: Promise<void>;

  constructor(
    private readonly kc: KubeConfig,
    private readonly path: string,
    private readonly query: Record<string, string>,
    private readonly list: () => Promise<{ items: unknown[]; metadata?: { resourceVersion?: string } }>,
    private readonly onEvent: (type: string, obj: Record<string, unknown> & { metadata?: { resourceVersion?: string; name?: string } }) => void,
    private readonly onList: (items: readonly (Record<string, unknown> & { metadata?: { resourceVersion?: string; name?: string } })[]) => void,
    private readonly note: (msg: string) => void = () => undefined,
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    let brokeAt: number | null = null;
    while (!this.stopped) {
      try {
        if (this.rv === '') {
          const l = await this.list();
          this.onList(l.items as never);
          this.rv = l.metadata?.resourceVersion ?? '';
          this.note(`${this.path}: listed ${l.items.length} at rv ${this.rv}${brokeAt !== null ? `, ${Math.round(performance.now() - brokeAt)} ms after the watch broke` : ''}`);
          brokeAt = null;
        }
        await new Promise<void>((resolve) => {
          void new Watch(this.kc)
            .watch(
              this.path,
              { ...this.query, resourceVersion: this.rv, allowWatchBookmarks: true },
              (type, obj: Record<string, unknown> & { metadata?: { resourceVersion?: string } }) => {
                if (type === 'ERROR') {
                  this.rv = ''; // too old: list again
                  return;
                }
                if (obj.metadata?.resourceVersion) this.rv = obj.metadata.resourceVersion;
                if (type !== 'BOOKMARK') this.onEvent(type, obj);
              },
              () => {
                brokeAt ??= performance.now();
                resolve();
              },
            )
            .then(
              (a) => {
                this.abort = a;
                if (this.stopped) a.abort();
              },
              () => resolve(),
            );
        });
      } catch {
        // apiserver away: try again
      }
      if (!this.stopped) await sleep(300);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await Promise.race([this.done, sleep(2000)]);
  }
}

/** Runs the chaos on `cp` (deploy/ manifests and CRDs applied by the caller); resolves with what was seen. */
export async function runChaos(cp: ControlPlane, o: ChaosOptions): Promise<ChaosReport> {
  // Wall-clock stamps, as the replicas' own lines carry, so the two can be read side by side.
  const replicaLog = o.log ?? (() => undefined);
  const log = (line: string): void => replicaLog(`[chaos] ${new Date().toISOString()} ${line}`);
  const kc = cp.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const rng = createRng(o.seed ?? 17);
  const grace = o.gangGraceMs ?? 1500;
  const ownGrace = o.ownGangGraceMs ?? 10_000;
  const now = (): number => performance.now();

  // Without the fence, a write that passed the scheduler's check and was delayed past the Lease
  // (a leader paused before the request left) lands: see test/k8s/failover-paused.test.ts.
  const fence = o.fence === false ? null : await startFence(kc, replicaLog);
  await createNamespace(kc, NS);
  for (const name of ['chaos-low', 'chaos-high']) {
    await kc.makeApiClient(SchedulingV1Api).createPriorityClass({ body: { metadata: { name }, value: name === 'chaos-high' ? 1000 : 0 } });
  }
  const capacity = new Map<string, number>();
  for (let i = 0; i < o.nodes; i++) {
    await createNode(kc, fakeNode(`chaos-${i}`, { gpus: GPUS, labels: { 'gantry.dev/test': NS } }));
    capacity.set(`chaos-${i}`, GPUS);
  }
  const kubelet = new FakeKubelet(kc, NS);

  // ---- what the apiserver records ----------------------------------------------------------
  const leases: LeaseState[] = [];
  let holder = { name: '', since: now(), renewedAt: now() };
  const leaseFollower = new Follower(
    kc,
    '/apis/coordination.k8s.io/v1/namespaces/gantry-system/leases',
    { fieldSelector: 'metadata.name=gantry-scheduler' },
    async () => {
      const l = await kc.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: 'gantry-system', fieldSelector: 'metadata.name=gantry-scheduler' });
      return l as never;
    },
    (_type, obj) => onLease(obj),
    (items) => {
      for (const obj of items) onLease(obj);
    },
  );
  function onLease(obj: Record<string, unknown> & { metadata?: { resourceVersion?: string } }): void {
    const spec = (obj['spec'] ?? {}) as { holderIdentity?: string; leaseTransitions?: number; renewTime?: string };
    const s: LeaseState = { rv: Number(obj.metadata?.resourceVersion), holder: spec.holderIdentity ?? '', transitions: spec.leaseTransitions ?? 0, renew: String(spec.renewTime) };
    const last = leases[leases.length - 1];
    if (last && last.rv >= s.rv) return;
    leases.push(s);
    const t = now();
    if (!last || last.holder !== s.holder || last.transitions !== s.transitions) {
      holder = { name: s.holder, since: t, renewedAt: t };
      log(`lease: ${s.holder} (epoch ${s.transitions})`);
    } else holder.renewedAt = t;
  }
  /** The Lease record in force when etcd was at `rv`. */
  const leaseAt = (rv: number): LeaseState | undefined => {
    let found: LeaseState | undefined;
    for (const l of leases) if (l.rv < rv) found = l;
    return found;
  };

  const boundAt = new Map<string, number>();
  const bindLog: { pod: string; rv: number; epoch: string; at: number }[] = [];
  const doubleBooked = new Set<string>();
  const overCapacity: string[] = [];
  const overNow = new Set<string>();
  const staleWrites: string[] = [];
  const evidence: string[] = [];
  const history = new Map<string, string[]>();
  const recordHistory = (type: string, p: V1Pod): void => {
    const name = p.metadata?.name ?? '';
    const h = history.get(name) ?? [];
    history.set(name, h);
    h.push(`${new Date().toISOString()} ${type} rv ${p.metadata?.resourceVersion ?? '?'}: ${describePod(p)}`);
  };
  /** The pods named in a problem, as recorded now and as they got there; the Lease's holders. */
  const explain = (problem: string, names: readonly string[]): void => {
    const lines = [problem];
    for (const n of names) {
      const p = pods.get(n);
      lines.push(`  pod ${n}: ${p ? describePod(p) : 'gone'}`);
      for (const h of history.get(n) ?? []) lines.push(`    ${h}`);
    }
    lines.push(`  lease holders: ${leases.filter((l, i) => i === 0 || leases[i - 1]?.transitions !== l.transitions || leases[i - 1]?.holder !== l.holder).map((l) => `${l.holder}@${l.transitions} (rv ${l.rv})`).join(', ')}`);
    evidence.push(lines.join('\n'));
    for (const l of lines) log(`EVIDENCE ${l}`);
  };
  const checkSafety = (): void => {
    const { doubleBooked: d, overCapacity: over } = safetyProblems([...pods.values()], capacity);
    for (const x of d) {
      const key = x.slice(0, x.indexOf(':'));
      if (!doubleBooked.has(key)) {
        log(`DOUBLE BOOKED ${x}`);
        explain(`double-booked ${x}`, (x.split(' booked by ')[1] ?? '').split(', '));
      }
      doubleBooked.add(key);
    }
    const nowOver = new Set(over.map((x) => x.slice(0, x.indexOf(':'))));
    for (const x of over) {
      const node = x.slice(0, x.indexOf(':'));
      if (!overNow.has(node)) {
        overCapacity.push(x);
        log(`OVER CAPACITY ${x}`);
        explain(`over capacity ${x}`, [...pods.values()].filter((p) => holdsGpus(p) && p.spec?.nodeName === node).map((p) => p.metadata?.name ?? ''));
      }
    }
    overNow.clear();
    for (const n of nowOver) overNow.add(n);
  };
  // Writes are judged at the end, once the Lease's history is complete (its watch may lag).
  // Stale: the Lease in force names another holder, or another holder had it since the writer's
  // term began. (A leader that missed its renew deadline and took its own Lease again in a new
  // term, with nobody in between, may still see a bind of its previous term land: not stale.)
  const writes: { what: string; rv: number; holder: string; epoch: number | null }[] = [];
  const checkStale = (what: string, rv: number, holderName: string, epoch: number | null): void => void writes.push({ what, rv, holder: holderName, epoch });
  const judgeWrites = (): void => {
    for (const w of writes) {
      const l = leaseAt(w.rv);
      if (!l) continue;
      const between = w.epoch === null ? [] : leases.filter((x) => x.rv < w.rv && x.transitions > (w.epoch ?? 0) && x.holder !== w.holder);
      if (l.holder !== w.holder || between.length > 0) {
        staleWrites.push(`${w.what} by ${w.holder}${w.epoch !== null ? ` (epoch ${w.epoch})` : ''} at rv ${w.rv}, when the Lease named ${l.holder} (epoch ${l.transitions})`);
        log(`STALE WRITE ${staleWrites[staleWrites.length - 1] ?? ''}`);
      }
    }
  };
  const record = new PodRecord({ seen: (type, p, before) => onPodVersion(type, p, before), settled: () => checkSafety() });
  const pods = record.pods;
  const onPodVersion = (type: string, p: V1Pod, before: V1Pod | undefined): void => {
    const name = p.metadata?.name ?? '';
    const fromList = type === 'LIST';
    recordHistory(type, p);
    if (p.spec?.nodeName && !boundAt.has(name)) {
      boundAt.set(name, now());
      const epoch = p.metadata?.annotations?.['gantry.dev/leader-epoch'] ?? '';
      const rv = Number(p.metadata?.resourceVersion);
      bindLog.push({ pod: name, rv, epoch, at: now() });
      // Only a bind seen as it happened (unbound before, in the watch) has its exact resourceVersion.
      if (!fromList && before && !before.spec?.nodeName && epoch) {
        const [t, who] = [Number(epoch.slice(0, epoch.indexOf(':'))), epoch.slice(epoch.indexOf(':') + 1)];
        checkStale(`bind of ${name}`, rv, who, t);
      }
    }
  };
  const podFollower = new Follower(
    kc,
    `/api/v1/namespaces/${NS}/pods`,
    {},
    () => core.listNamespacedPod({ namespace: NS }) as never,
    (type, obj) => record.event(type, obj as V1Pod),
    (items) => record.list(items as unknown as readonly V1Pod[]),
    log,
  );
  const eventFollower = new Follower(kc, `/api/v1/namespaces/${NS}/events`, {}, () => core.listNamespacedEvent({ namespace: NS }) as never, (type, obj) => {
    if (type !== 'ADDED') return;
    const who = (obj as { reportingInstance?: string }).reportingInstance;
    if (who) checkStale(`event ${(obj as { reason?: string }).reason ?? ''}`, Number(obj.metadata?.resourceVersion), who, null);
  }, () => undefined);

  // ---- replicas --------------------------------------------------------------------------
  const kubeconfig = cp.writeKubeconfig();
  const replicas: Replica[] = [];
  const killed = new Set<string>();
  let nextReplica = 0;
  const spawnReplica = (): void => {
    replicas.push(startReplica(kubeconfig, `r${nextReplica++}`, replicaLog));
  };
  for (let i = 0; i < 3; i++) spawnReplica();
  const leader = (): Replica | undefined => replicas.find((r) => r.identity === holder.name && alive(r));
  const waitLeader = async (notThis: string | null, timeoutMs = 30_000): Promise<number> => {
    const t0 = now();
    while (now() - t0 < timeoutMs) {
      if (holder.name !== '' && holder.name !== notThis && leader() && now() - holder.renewedAt < 1000) return now();
      await sleep(20);
    }
    throw new Error(`no new leader within ${timeoutMs} ms (holder ${holder.name})`);
  };
  await waitLeader(null, 90_000); // three node processes start slowly on a loaded machine

  // ---- workload ----------------------------------------------------------------------------
  const gangs = new Map<string, { members: string[]; partialSince: number | null; reported: boolean }>();
  const lifetime = new Map<string, number>();
  let podsCreated = 0;
  let stopLoad = false;
  let seq = 0;
  const priority = (): string => (rng.next() < 0.3 ? 'chaos-high' : 'chaos-low');
  const sel = { 'gantry.dev/test': NS };
  const createOne = async (): Promise<void> => {
    const id = seq++;
    const life = 2000 + rng.int(5000);
    if (rng.next() < 0.35) {
      const name = `g${id}`;
      const size = 2 + rng.int(3);
      const per = rng.next() < 0.5 ? 2 : 4;
      const pc = priority();
      await custom.createNamespacedCustomObject({
        group: 'scheduling.x-k8s.io', version: 'v1alpha1', plural: 'podgroups', namespace: NS,
        body: { apiVersion: 'scheduling.x-k8s.io/v1alpha1', kind: 'PodGroup', metadata: { name, namespace: NS }, spec: { minMember: size } },
      });
      const members = Array.from({ length: size }, (_, i) => `${name}-${i}`);
      gangs.set(name, { members, partialSince: null, reported: false });
      await Promise.all(members.map((m) => core.createNamespacedPod({ namespace: NS, body: fakePod(NS, m, { gpus: per, group: name, priorityClassName: pc, nodeSelector: sel }) })));
      for (const m of members) lifetime.set(m, life);
      podsCreated += size;
    } else {
      const name = `p${id}`;
      const gpus = [1, 1, 2, 2, 4, 8][rng.int(6)] ?? 1;
      await core.createNamespacedPod({ namespace: NS, body: fakePod(NS, name, { gpus, priorityClassName: priority(), nodeSelector: sel }) });
      lifetime.set(name, life);
      podsCreated++;
    }
  };
  const pending = (): number => [...pods.values()].filter((p) => !p.spec?.nodeName && !p.metadata?.deletionTimestamp).length;
  const load = (async () => {
    while (!stopLoad) {
      try {
        if (pending() < 12) await createOne();
      } catch {
        // apiserver restarting
      }
      await sleep(150 + rng.int(200));
    }
  })();

  // Pods run for their lifetime, then succeed; finished pods are deleted (no garbage collector here).
  const partialGangs: string[] = [];
  let stopLife = false;
  const life = (async () => {
    while (!stopLife) {
      const t = now();
      for (const [name, p] of pods) {
        const since = boundAt.get(name);
        if (since !== undefined && p.status?.phase === 'Running' && t - since > (lifetime.get(name) ?? 5000)) kubelet.succeed.add(name);
        if (p.status?.phase === 'Succeeded' && !p.metadata?.deletionTimestamp) {
          await core.deleteNamespacedPod({ name, namespace: NS, gracePeriodSeconds: 0 }).catch(() => undefined);
        }
      }
      // Gangs: partly bound while every member exists, past the grace after the leader took over.
      for (const [name, g] of gangs) {
        const members = g.members.map((m) => pods.get(m));
        const whole = members.every((m) => m && !m.metadata?.deletionTimestamp && m.status?.phase !== 'Succeeded' && m.status?.phase !== 'Failed');
        const nBound = members.filter((m) => m?.spec?.nodeName).length;
        if (!whole || nBound === 0 || nBound === g.members.length) {
          g.partialSince = null;
          continue;
        }
        g.partialSince ??= t;
        const activeLeader = holder.name !== '' && t - holder.renewedAt < 1000;
        const inherited = g.partialSince < holder.since;
        const late = inherited ? t - holder.since > grace : t - g.partialSince > ownGrace;
        if (activeLeader && !g.reported && late) {
          g.reported = true;
          partialGangs.push(`${name}: ${nBound} of ${g.members.length} bound for ${Math.round(t - g.partialSince)} ms (leader ${holder.name} for ${Math.round(t - holder.since)} ms; ${inherited ? 'left by a past leader' : 'its own binds'})`);
          log(`PARTIAL GANG ${partialGangs[partialGangs.length - 1] ?? ''}`);
        }
      }
      await sleep(200);
    }
  })();

  // ---- faults ------------------------------------------------------------------------------
  const takeoversMs: number[] = [];
  const faults: ('kill' | 'pause' | 'restart')[] = [
    ...Array<'kill'>(o.kills).fill('kill'),
    ...Array<'pause'>(o.pauses).fill('pause'),
    ...Array<'restart'>(o.apiserverRestarts).fill('restart'),
  ];
  // Spread pauses and restarts among the kills, in a fixed order.
  for (let i = faults.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [faults[i], faults[j]] = [faults[j] as 'kill', faults[i] as 'kill'];
  }
  await sleep(3000);
  let lastFaultAt = now();
  for (const f of faults) {
    const l = leader();
    if (!l) await waitLeader(null);
    const victim = leader();
    if (!victim) continue;
    if (f === 'kill') {
      // Kill while it binds: right after a burst of new pods and a gang reaches it.
      await Promise.all([createOne(), createOne(), createOne()]).catch(() => undefined);
      await sleep(20 + rng.int(80));
      const t0 = now();
      victim.proc.kill('SIGKILL');
      killed.add(victim.identity);
      log(`fault: kill -9 ${victim.identity}`);
      spawnReplica();
      takeoversMs.push((await waitLeader(victim.identity)) - t0);
    } else if (f === 'pause') {
      const t0 = now();
      victim.proc.kill('SIGSTOP');
      log(`fault: SIGSTOP ${victim.identity}`);
      const took = await waitLeader(victim.identity);
      takeoversMs.push(took - t0);
      await sleep(Math.max(0, LEASE_DURATION_MS + 1500 - (now() - t0)));
      victim.proc.kill('SIGCONT');
      log(`fault: SIGCONT ${victim.identity}`);
    } else {
      log('fault: restarting kube-apiserver');
      await cp.restartApiserver();
      await waitLeader(null, 60_000);
    }
    lastFaultAt = now();
    await sleep(2500 + rng.int(1500));
  }
  await sleep(5000);
  stopLoad = true;
  await load;
  await sleep(3000);
  stopLife = true;
  await life;

  const exited = replicas.filter((r) => !alive(r) && !killed.has(r.identity)).map((r) => `${r.identity} (exit ${r.proc.exitCode ?? r.proc.signalCode})`);
  let gangsBoundWhole = 0;
  for (const name of gangs.keys()) if (bindLog.filter((b) => b.pod.startsWith(`${name}-`)).length === gangs.get(name)?.members.length) gangsBoundWhole++;
  await Promise.all([podFollower.stop(), leaseFollower.stop(), eventFollower.stop()]);
  judgeWrites();
  for (const r of replicas) await stopReplica(r);
  await kubelet.stop();
  fence?.stop();
  return {
    doubleBookedGpus: [...doubleBooked],
    overCapacity,
    staleWrites,
    partialGangs,
    takeoversMs,
    binds: bindLog.length,
    podsCreated,
    gangsCreated: gangs.size,
    gangsBoundWhole,
    faults: { kills: o.kills, pauses: o.pauses, restarts: o.apiserverRestarts },
    exited,
    bindsAfterLastFault: bindLog.filter((b) => b.at > lastFaultAt).length,
    evidence,
    refusedByFence: [...(fence?.refused ?? [])],
  };
}

/** One line: node, GPUs, phase, deletion, the leader term that bound it, priority. */
function describePod(p: V1Pod): string {
  const ann = p.metadata?.annotations ?? {};
  let gpus = '-';
  try {
    const a = JSON.parse(ann['gantry.dev/gpu-assignment'] ?? 'null') as { node: string; gpus: { index: number }[] } | null;
    if (a) gpus = `${a.node}/[${a.gpus.map((g) => g.index).join(',')}]`;
  } catch {
    gpus = 'unreadable';
  }
  const del = p.metadata?.deletionTimestamp ? ` deleting since ${new Date(p.metadata.deletionTimestamp).toISOString()}` : '';
  return `uid ${(p.metadata?.uid ?? '?').slice(0, 8)} node ${p.spec?.nodeName ?? '-'} GPUs ${gpus} phase ${p.status?.phase ?? '-'}${del} bound by ${ann['gantry.dev/leader-epoch'] ?? '-'} priority ${p.spec?.priorityClassName ?? '-'} created ${p.metadata?.creationTimestamp ? new Date(p.metadata.creationTimestamp).toISOString() : '?'}`;
}
