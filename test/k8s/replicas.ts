/**
 * Failover helpers on a real apiserver: `gantry k8s scheduler` replicas as child processes (with
 * the e2e lease settings), the Lease holder, and the safety checks read from the apiserver's
 * state (GPUs on two live pods, nodes over capacity).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { CoordinationV1Api, SchedulingV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { applyObjects, gpuUses, manifest, overbooked, REPO, waitEstablished } from './cluster.js';
import { ControlPlane } from './harness.js';

export const LEASE_FLAGS = ['--lease-duration=3s', '--renew-deadline=2s', '--retry-period=500ms'];
export const LEASE_DURATION_MS = 3000;

/**
 * A control plane with what the failover tests start from: Gantry's namespace, CRDs and RBAC
 * from deploy/ (CRDs established), and the PriorityClasses given (name -> value).
 */
export async function startFailoverCluster(priorityClasses: Record<string, number> = {}): Promise<{ cp: ControlPlane; kc: KubeConfig }> {
  const cp = await ControlPlane.start();
  const kc = cp.kubeConfig();
  await applyObjects(kc, [...manifest('namespace.yaml'), ...manifest('crds/queues.scheduling.gantry.dev.yaml'), ...manifest('crds/podgroups.scheduling.x-k8s.io.yaml'), ...manifest('rbac.yaml')]);
  await waitEstablished(kc, ['queues.scheduling.gantry.dev', 'podgroups.scheduling.x-k8s.io']);
  const scheduling = kc.makeApiClient(SchedulingV1Api);
  for (const [name, value] of Object.entries(priorityClasses)) await scheduling.createPriorityClass({ body: { metadata: { name }, value } });
  return { cp, kc };
}

export interface Replica {
  readonly identity: string;
  readonly proc: ChildProcess;
}

/** Starts `node bin/gantry.js k8s scheduler` as `identity`; its stderr lines go to `log`. */
export function startReplica(kubeconfig: string, identity: string, log: (line: string) => void, namespace = 'gantry-system'): Replica {
  const proc = spawn(
    process.execPath,
    [join(REPO, 'bin/gantry.js'), 'k8s', 'scheduler', `--kubeconfig=${kubeconfig}`, `--namespace=${namespace}`, `--identity=${identity}`, ...LEASE_FLAGS, '--min-runtime=0s', '--metrics-port=0'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let partial = '';
  proc.stderr?.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) log(`[${identity}] ${l}`);
  });
  return { identity, proc };
}

export function alive(r: Replica): boolean {
  return r.proc.exitCode === null && r.proc.signalCode === null;
}

export async function stopReplica(r: Replica): Promise<void> {
  if (!alive(r)) return;
  const done = new Promise<void>((res) => r.proc.once('exit', () => res()));
  r.proc.kill('SIGCONT');
  r.proc.kill('SIGKILL');
  await done;
}

export async function leaseHolder(kc: KubeConfig, namespace = 'gantry-system'): Promise<string> {
  const l = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace, name: 'gantry-scheduler' });
  return l.spec?.holderIdentity ?? '';
}

/** A pod that holds its node's resources: bound and not finished (terminating pods still run). */
export function holdsGpus(p: V1Pod): boolean {
  const phase = p.status?.phase;
  return Boolean(p.spec?.nodeName) && phase !== 'Succeeded' && phase !== 'Failed';
}

function gpusAsked(p: V1Pod): number {
  let n = 0;
  for (const c of p.spec?.containers ?? []) n += Number(c.resources?.limits?.['nvidia.com/gpu'] ?? 0);
  return n;
}

/**
 * What is wrong with the apiserver's state right now: GPUs recorded by Gantry on two live pods,
 * and nodes whose live pods ask for more GPUs than the node has (`capacity`: node -> GPUs).
 */
export function safetyProblems(pods: readonly V1Pod[], capacity: ReadonlyMap<string, number>): { doubleBooked: string[]; overCapacity: string[] } {
  const live = pods.filter(holdsGpus);
  const doubleBooked = overbooked(gpuUses(live));
  const perNode = new Map<string, number>();
  for (const p of live) perNode.set(p.spec?.nodeName ?? '', (perNode.get(p.spec?.nodeName ?? '') ?? 0) + gpusAsked(p));
  const overCapacity: string[] = [];
  for (const [node, used] of perNode) {
    const cap = capacity.get(node);
    if (cap !== undefined && used > cap) overCapacity.push(`${node}: ${used} GPUs asked by live pods, ${cap} exist`);
  }
  return { doubleBooked, overCapacity };
}
