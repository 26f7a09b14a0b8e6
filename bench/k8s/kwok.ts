/**
 * kwok (sigs.k8s.io/kwok, built by scripts/k8s/ensure-kwok.sh) as the fake kubelet of every
 * benchmark node: it makes the nodes Ready, the pods bound to them Running, and those with a
 * runtime annotation Succeeded once it has passed (bench/k8s/kwok-stages.yaml).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import { REPO, sleep } from '../../test/k8s/cluster.js';

export const KWOK_ANNOTATION = 'kwok.x-k8s.io/node';
/** A pod with this annotation (a Go duration) finishes that long after it started running. */
export const RUNTIME_ANNOTATION = 'gantry.dev/bench-runtime';

/** The kwok binary (built if missing: a cold build takes minutes). */
export function kwokBinary(): string {
  return execFileSync('bash', [join(REPO, 'scripts/k8s/ensure-kwok.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/** A node kwok manages: the benchmark's fake node without status conditions (kwok makes it Ready). */
export function kwokNode(node: V1Node): V1Node {
  const { conditions: _dropped, ...status } = node.status ?? {};
  return {
    ...node,
    metadata: { ...node.metadata, annotations: { ...node.metadata?.annotations, [KWOK_ANNOTATION]: 'fake' } },
    spec: { ...node.spec, taints: [] },
    status,
  };
}

export function startKwok(kubeconfig: string, logDir: string): ChildProcess {
  const p = spawn(
    kwokBinary(),
    [
      `--kubeconfig=${kubeconfig}`,
      `--config=${join(REPO, 'bench/k8s/kwok-stages.yaml')}`,
      `--manage-nodes-with-annotation-selector=${KWOK_ANNOTATION}=fake`,
      '--node-lease-duration-seconds=0',
      '--cidr=10.128.0.0/9',
      '--node-ip=10.0.0.1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log = createWriteStream(join(logDir, 'kwok.log'));
  p.stdout?.pipe(log);
  p.stderr?.pipe(log);
  return p;
}

/** Waits until `count` nodes report Ready (kwok's node-initialize stage). */
export async function waitNodesReady(kc: KubeConfig, count: number, timeoutMs: number): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  const t0 = performance.now();
  for (;;) {
    let ready = 0;
    let cont: string | undefined;
    do {
      const page = await core.listNode({ limit: 2000, ...(cont ? { _continue: cont } : {}) });
      for (const n of page.items) if (n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ready++;
      cont = page.metadata?._continue;
    } while (cont);
    if (ready >= count) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > timeoutMs) throw new Error(`only ${ready} of ${count} nodes Ready after ${timeoutMs / 1000} s (kwok.log)`);
    await sleep(1000);
  }
}
