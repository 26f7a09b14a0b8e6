/**
 * Long failover chaos run (the scenario of test/k8s/chaos.ts, scaled up):
 *
 *   npm run build && node dist/bench/k8s/failover-chaos.js [--nodes 6] [--kills 30] [--pauses 6] [--restarts 3] [--seed 17] [--log FILE]
 *
 * The webhook fence runs as deploy/webhook.yaml installs it; --no-fence runs without it (the
 * scheduler's own check only). --log FILE appends every line (replicas' logs, the checker's faults, Lease changes and evidence) to FILE.
 *
 * Three `gantry k8s scheduler` replicas (lease 3 s, renew deadline 2 s, retry 0.5 s) on a real
 * apiserver, 8-GPU fake nodes, a stream of pods and gangs at two priorities; kill -9 of the
 * leader while it binds, leaders paused (SIGSTOP) past their lease, kube-apiserver restarts.
 * Prints what the apiserver's record shows: double-booked GPUs, nodes over capacity, stale
 * writes, gangs partly bound past the grace after a takeover, and takeover times (fault to the
 * next Lease holder; target: p50 within the lease duration + 1 s).
 */
import { appendFileSync } from 'node:fs';
import { runChaos } from '../../test/k8s/chaos.js';
import { LEASE_DURATION_MS, startFailoverCluster } from '../../test/k8s/replicas.js';

function flags(): { nodes: number; kills: number; pauses: number; restarts: number; seed: number; verbose: boolean; log: string | null; fence: boolean } {
  const a = { nodes: 6, kills: 30, pauses: 6, restarts: 3, seed: 17, verbose: false, log: null as string | null, fence: true };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i++) {
    const k = v[i];
    if (k === '--verbose') {
      a.verbose = true;
      continue;
    }
    if (k === '--no-fence') {
      a.fence = false;
      continue;
    }
    if (k === '--log') {
      a.log = v[++i] ?? null;
      if (!a.log) throw new Error('--log: expected a file name');
      continue;
    }
    const x = Number(v[++i]);
    if (!Number.isInteger(x) || x < 0) throw new Error(`${k}: expected a whole number, got "${v[i] ?? ''}"`);
    if (k === '--nodes') a.nodes = x;
    else if (k === '--kills') a.kills = x;
    else if (k === '--pauses') a.pauses = x;
    else if (k === '--restarts') a.restarts = x;
    else if (k === '--seed') a.seed = x;
    else throw new Error(`unknown flag ${k ?? ''} (--nodes, --kills, --pauses, --restarts, --seed, --verbose, --no-fence, --log FILE)`);
  }
  return a;
}

function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

async function main(): Promise<void> {
  const f = flags();
  const { cp } = await startFailoverCluster();
  const t0 = Date.now();
  try {
    const r = await runChaos(cp, {
      nodes: f.nodes,
      kills: f.kills,
      pauses: f.pauses,
      apiserverRestarts: f.restarts,
      seed: f.seed,
      fence: f.fence,
      log: (l) => {
        if (f.log) appendFileSync(f.log, `${l}\n`);
        if (f.verbose || /^\[chaos\] \S+ (fault|DOUBLE|OVER|STALE|PARTIAL|EVIDENCE)/.test(l) || /finishing gang|rolling back gang|releasing pg:|cannot adopt|not known yet/.test(l)) process.stderr.write(`${l}\n`);
      },
    });
    const rows: [string, string][] = [
      ['faults', `${r.faults.kills} kill -9 of the leader, ${r.faults.pauses} pauses past the lease, ${r.faults.restarts} apiserver restarts`],
      ['pods created (gangs)', `${r.podsCreated} (${r.gangsCreated} gangs, ${r.gangsBoundWhole} bound whole)`],
      ['binds', String(r.binds)],
      ['double-booked GPUs', String(r.doubleBookedGpus.length)],
      ['nodes over capacity', String(r.overCapacity.length)],
      ['stale writes', String(r.staleWrites.length)],
      ['late writes refused by the fence', f.fence ? String(r.refusedByFence.length) : 'no fence (--no-fence)'],
      ['partial gangs past one cycle', String(r.partialGangs.length)],
      ['replicas that exited', String(r.exited.length)],
      ['takeover p50 / max (ms)', `${Math.round(quantile(r.takeoversMs, 0.5))} / ${Math.round(Math.max(...r.takeoversMs))} (target p50 <= ${LEASE_DURATION_MS + 1000})`],
      ['wall time', `${Math.round((Date.now() - t0) / 1000)} s`],
    ];
    const w = Math.max(...rows.map(([k]) => k.length));
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
    for (const x of [...r.doubleBookedGpus, ...r.overCapacity, ...r.staleWrites, ...r.partialGangs, ...r.exited, ...r.refusedByFence]) process.stdout.write(`  ${x}\n`);
  } finally {
    await cp.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
