/**
 * Restarts of Gantry under load (bench.ts --restart): pods arrive at a steady rate (--rates, the
 * first) for --latency-pods pods and finish after --runtime (kwok), so GPUs are freed and booked
 * again all along. A third of the way in the scheduler is stopped (SIGTERM: it releases its Lease)
 * and a new process with another identity starts at once (a Deployment rolling its pod); two
 * thirds of the way in that one is killed (SIGKILL, nothing released) and started again with
 * the same identity (a crashed pod restarted). With --standby a second replica runs beside the
 * leader from the start, mirroring the cluster: at each signal it takes over, and the replaced
 * process starts again as the new standby. Afterwards, the binds and ends replayed in the
 * apiserver's order: no GPU booked twice, no node asked for more GPUs than it has; and per
 * restart the catch-up: from the signal until the last pod it delayed (bound more than 1 s after
 * its creation) is bound, and when the next leader logged its milestones (synced, leading,
 * reconciled, first bind).
 */
import type { ChildProcess } from 'node:child_process';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { ControlPlane } from '../../test/k8s/harness.js';
import { fakePod, sleep } from '../../test/k8s/cluster.js';
import { createRng } from '../../src/core/rng.js';
import { BindWatch, GPUS_PER_NODE, overbooking, percentile, type Overbooking } from './measure.js';
import { RUNTIME_ANNOTATION } from './kwok.js';
import { GANTRY, stopProc } from './schedulers.js';
import { drawSize, type Args } from './args.js';

/** A pod that waited longer than this for its bind was delayed by the restart (they take ~5-20 ms otherwise). */
const LATE_MS = 1000;

interface RestartFigures {
  signal: string;
  sameIdentity: boolean;
  /** Pods bound more than LATE_MS after their creation, of those created from 2 s before the signal to 2 s before the next restart. */
  latePods: number;
  /** Seconds from the signal until the last of those late pods is bound: the scheduler has caught up. */
  catchUpS: number;
  /** Pods created from 2 s before the signal to 2 s before the next restart: latency from their creation to their bind. */
  p50ms: number;
  p99ms: number;
  /** Seconds from the signal to the next leader's log lines (undefined: not seen, or before the signal). */
  next: Milestones;
}

/** When a scheduler process logged: its watches synced, it started leading, its view was reconciled, its first bind after that. */
interface Milestones {
  syncedS?: number;
  leadingS?: number;
  reconciledS?: number;
  firstBindS?: number;
}

/** Records, from `t0` (performance.now()), the milestones of `p` seen from now on. */
function milestones(p: ChildProcess, t0: number): Milestones {
  const m: Milestones = {};
  const s = (): number => (performance.now() - t0) / 1000;
  const on = (d: Buffer): void => {
    const text = d.toString();
    if (m.syncedS === undefined && text.includes('synced:')) m.syncedS = s();
    if (m.leadingS === undefined && text.includes('leading (term')) m.leadingS = s();
    if (m.reconciledS === undefined && text.includes('view reconciled')) m.reconciledS = s();
    if (m.reconciledS !== undefined && m.firstBindS === undefined && /Z bound /.test(text)) {
      m.firstBindS = s();
      p.stderr?.off('data', on);
    }
  };
  p.stderr?.on('data', on);
  return m;
}

/** Resolves once the process logged `what` (or after `timeoutMs`). */
function logged(p: ChildProcess, what: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, timeoutMs);
    function done(): void {
      clearTimeout(t);
      p.stderr?.off('data', on);
      resolve();
    }
    const on = (d: Buffer): void => {
      if (d.toString().includes(what)) done();
    };
    p.stderr?.on('data', on);
  });
}

export interface RestartResult {
  rate: number;
  pods: number;
  bound: number;
  running: number;
  finished: number;
  p50ms: number;
  p99ms: number;
  standby: boolean;
  restarts: RestartFigures[];
  overbooking: Overbooking;
  watchReconnects: number;
  timeline: { s: number; created: number; bound: number }[];
}

export async function runRestart(cp: ControlPlane, kc: KubeConfig, kubeconfig: string, a: Args): Promise<RestartResult> {
  const ns = 'bench-restart';
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  const w = new BindWatch(kc);
  await w.start(ns);
  const started: ChildProcess[] = [];
  try {
    return await underLoad(cp, kc, kubeconfig, a, w, started);
  } finally {
    for (const p of started) await stopProc(p);
  }
}

async function underLoad(cp: ControlPlane, kc: KubeConfig, kubeconfig: string, a: Args, w: BindWatch, started: ChildProcess[]): Promise<RestartResult> {
  const core = kc.makeApiClient(CoreV1Api);
  const rng = createRng(7);
  const rate = a.rates[0] ?? 200;
  const ns = 'bench-restart';
  let proc = GANTRY.start(cp, kubeconfig, 'bench-a');
  started.push(proc);
  await logged(proc, 'view reconciled', 60_000);
  // --standby: a second replica that mirrors the cluster (it never gets the Lease while bench-a renews it).
  let standby: ChildProcess | null = null;
  let standbyIdentity = 'bench-b';
  if (a.standby) {
    standby = GANTRY.start(cp, kubeconfig, standbyIdentity);
    started.push(standby);
    await logged(standby, 'synced:', 60_000);
  }
  const createdAt = new Map<string, number>();
  // The process started at each signal: without a standby it is the next leader (bench-b, then
  // bench-b again: a crashed pod restarted); with one it is the next standby (bench-c, bench-d:
  // new pods; a new identity, so that it does not take the Lease it held itself), and the standby leads.
  const plan = [
    { at: Math.floor(a.latencyPods / 3), signal: 'SIGTERM' as const, identity: a.standby ? 'bench-c' : 'bench-b' },
    { at: Math.floor((2 * a.latencyPods) / 3), signal: 'SIGKILL' as const, identity: a.standby ? 'bench-d' : 'bench-b' },
  ];
  const marks: { signalAt: number; startedAt: number; signal: string; sameIdentity: boolean; next: Milestones }[] = [];
  const creates: Promise<void>[] = [];
  const startAt = performance.now();
  const interval = 1000 / rate;
  let identity = 'bench-a';
  // Every second: pods created (answered) and bound so far.
  const timeline: { s: number; created: number; bound: number }[] = [];
  const tick = setInterval(() => {
    const t = { s: Math.round((performance.now() - startAt) / 1000), created: createdAt.size, bound: w.boundAt.size };
    timeline.push(t);
    process.stderr.write(`restart t=${t.s}s created ${t.created} bound ${t.bound}\n`);
  }, 1000);
  for (let i = 0; i < a.latencyPods; i++) {
    const step = plan.find((s) => s.at === i);
    if (step) {
      // The restart happens while arrivals go on: not awaited by the creating loop.
      const old = proc;
      const signalAt = performance.now();
      const sameIdentity = identity === step.identity;
      void stopProc(old, step.signal);
      const fresh = GANTRY.start(cp, kubeconfig, step.identity);
      started.push(fresh);
      if (standby) {
        // The standby leads next; the replaced process comes back as the standby.
        marks.push({ signalAt, startedAt: performance.now(), signal: step.signal, sameIdentity, next: milestones(standby, signalAt) });
        proc = standby;
        identity = standbyIdentity;
        standby = fresh;
        standbyIdentity = step.identity;
      } else {
        marks.push({ signalAt, startedAt: performance.now(), signal: step.signal, sameIdentity, next: milestones(fresh, signalAt) });
        proc = fresh;
        identity = step.identity;
      }
      process.stderr.write(`restart: ${step.signal} at pod ${i}; ${a.standby ? 'the standby takes over, new standby' : 'new process'} ${step.identity}\n`);
    }
    const due = startAt + i * interval;
    const now = performance.now();
    if (due > now) await sleep(due - now);
    const name = `r${i}`;
    const body = fakePod(ns, name, { gpus: drawSize(a, rng), schedulerName: 'gantry', cpu: '1', annotations: { [RUNTIME_ANNOTATION]: a.runtime } });
    creates.push(core.createNamespacedPod({ namespace: ns, body }).then(() => void createdAt.set(name, performance.now())));
  }
  await Promise.all(creates);
  const deadline = Date.now() + 120_000;
  while (w.boundAt.size < a.latencyPods && Date.now() < deadline) await sleep(200);
  clearInterval(tick);
  const finishDeadline = Date.now() + 60_000;
  while ([...w.traces.values()].some((t) => !t.finished) && Date.now() < finishDeadline) await sleep(200);
  w.stop();
  await stopProc(proc);
  if (standby) await stopProc(standby);
  const latencyOf = (names: Iterable<string>): number[] => {
    const xs: number[] = [];
    for (const n of names) {
      const b = w.boundAt.get(n);
      const c = createdAt.get(n);
      if (b !== undefined && c !== undefined) xs.push(Math.max(0, b - c));
    }
    return xs;
  };
  /** A restart's window of pods starts this long before its signal (and ends where the next one's starts). */
  const WINDOW_LEAD_MS = 2000;
  const restarts = marks.map((m, k): RestartFigures => {
    // The pods this restart delayed: created from shortly before its signal until shortly
    // before the next restart (the next one's window starts there: a pod is counted once), and
    // bound more than LATE_MS after their creation.
    const until = (marks[k + 1]?.signalAt ?? Infinity) - WINDOW_LEAD_MS;
    const window = [...createdAt].filter(([, t]) => t >= m.signalAt - WINDOW_LEAD_MS && t < until).map(([n]) => n);
    const late = window.filter((n) => (w.boundAt.get(n) ?? Infinity) - (createdAt.get(n) ?? 0) > LATE_MS);
    const lastLate = Math.max(m.signalAt, ...late.map((n) => w.boundAt.get(n) ?? Infinity));
    const lat = latencyOf(window);
    return {
      signal: m.signal,
      sameIdentity: m.sameIdentity,
      latePods: late.length,
      catchUpS: (lastLate - m.signalAt) / 1000,
      p50ms: percentile(lat, 50),
      p99ms: percentile(lat, 99),
      next: m.next,
    };
  });
  const traces = [...w.traces.values()];
  const all = latencyOf(createdAt.keys());
  const r: RestartResult = {
    rate,
    pods: a.latencyPods,
    standby: a.standby,
    bound: w.boundAt.size,
    running: traces.filter((t) => t.runningAt !== undefined).length,
    finished: traces.filter((t) => t.finished).length,
    p50ms: percentile(all, 50),
    p99ms: percentile(all, 99),
    restarts,
    overbooking: overbooking(w.traces, GPUS_PER_NODE, true),
    watchReconnects: w.reconnects,
    timeline,
  };
  process.stderr.write(`restart: ${JSON.stringify({ ...r, timeline: undefined })}\n`);
  return r;
}
