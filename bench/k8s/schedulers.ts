/**
 * The schedulers the Kubernetes benchmark compares, each started as its own process against the
 * benchmark's apiserver: Gantry (`gantry k8s scheduler`, with heap-probe.ts preloaded so that
 * its heap can be measured) and the real kube-scheduler in the profiles compared.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlane } from '../../test/k8s/harness.js';
import { REPO } from '../../test/k8s/cluster.js';

export interface SchedulerRun {
  readonly name: string;
  readonly schedulerName: string;
  readonly settings: string;
  readonly gantry: boolean;
  start(cp: ControlPlane, kubeconfig: string, identity?: string): ChildProcess;
}

export function kubeSchedulerRun(name: string, qps: number, burst: number, binpack: boolean): SchedulerRun {
  return {
    name,
    schedulerName: 'default-scheduler',
    gantry: false,
    settings: `client QPS ${qps} / burst ${burst}; ${binpack ? 'NodeResourcesFit MostAllocated on nvidia.com/gpu (bin packing)' : 'default profile (LeastAllocated)'}; percentageOfNodesToScore default (adaptive)`,
    start(cp, kubeconfig) {
      const cfg = join(cp.dir, `${name.replace(/[^a-z0-9-]/gi, '_')}.yaml`);
      const lines = [
        'apiVersion: kubescheduler.config.k8s.io/v1',
        'kind: KubeSchedulerConfiguration',
        'clientConnection:',
        `  kubeconfig: ${kubeconfig}`,
        `  qps: ${qps}`,
        `  burst: ${burst}`,
        'leaderElection:',
        '  leaderElect: false',
        'profiles:',
        '- schedulerName: default-scheduler',
      ];
      if (binpack) {
        lines.push(
          '  pluginConfig:',
          '  - name: NodeResourcesFit',
          '    args:',
          '      scoringStrategy:',
          '        type: MostAllocated',
          '        resources:',
          '        - name: nvidia.com/gpu',
          '          weight: 1',
        );
      }
      writeFileSync(cfg, lines.join('\n') + '\n');
      return cp.startKubeScheduler(cfg);
    },
  };
}

export const GANTRY: SchedulerRun = {
  name: 'gantry',
  schedulerName: 'gantry',
  gantry: true,
  settings: 'gantry k8s scheduler, defaults (Lease election on, 64 API calls in flight, no client-side QPS limit; scores every node)',
  start(_cp, kubeconfig, identity = 'bench') {
    // GANTRY_BENCH_NODE_ARGS: extra node flags for the scheduler process (e.g. --cpu-prof);
    // GANTRY_BENCH_SCHEDULER_ARGS: extra flags of `gantry k8s scheduler` (e.g. --max-inflight=256).
    const words = (v: string | undefined): string[] => (v ?? '').split(' ').filter((x) => x !== '');
    const nodeArgs = words(process.env['GANTRY_BENCH_NODE_ARGS']);
    const schedulerArgs = words(process.env['GANTRY_BENCH_SCHEDULER_ARGS']);
    const probe = join(REPO, 'dist/bench/k8s/heap-probe.js');
    const p = spawn(
      process.execPath,
      ['--expose-gc', '--import', probe, ...nodeArgs, join(REPO, 'bin/gantry.js'), 'k8s', 'scheduler', `--kubeconfig=${kubeconfig}`, '--namespace=default', `--identity=${identity}`, '--metrics-port=0', ...schedulerArgs],
      { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
    );
    // GANTRY_BENCH_LOG=<file>: the scheduler's whole log goes there too.
    const logFile = process.env['GANTRY_BENCH_LOG'];
    p.stderr?.on('data', (d: Buffer) => {
      const s = d.toString();
      if (logFile) appendFileSync(logFile, s);
      if (/error|failed/i.test(s)) process.stderr.write(`[gantry] ${s}`);
    });
    return p;
  },
};

export function baselineRuns(): SchedulerRun[] {
  return [
    kubeSchedulerRun('kube-scheduler (binpack, QPS 5000)', 5000, 5000, true),
    kubeSchedulerRun('kube-scheduler (default, QPS 5000)', 5000, 5000, false),
    kubeSchedulerRun('kube-scheduler (default, QPS 50)', 50, 100, false),
  ];
}

export async function stopProc(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill(signal);
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}
