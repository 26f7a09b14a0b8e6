/**
 * Failover chaos, CI-sized (test/k8s/chaos.ts has the whole scenario): three scheduler replicas,
 * four 8-GPU nodes, pods and gangs at two priorities, three kill -9 of the leader while it
 * binds, one leader paused past its lease, one kube-apiserver restart; the webhook fence runs as
 * deploy/webhook.yaml installs it. Judged from the apiserver's record. The long run with
 * figures is bench/k8s/failover-chaos.ts.
 */
import { describe, it, before, after } from 'node:test';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { k8sTestOptions, type ControlPlane } from './harness.js';
import { runChaos } from './chaos.js';
import { startFailoverCluster } from './replicas.js';

/** Writes the run's log to GANTRY_CHAOS_LOG_DIR (default: the temp dir); returns the file. */
function keepLogs(lines: readonly string[]): string {
  const dir = process.env['GANTRY_CHAOS_LOG_DIR'] ?? tmpdir();
  const file = join(dir, `failover-chaos-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

describe('failover chaos (real kube-apiserver, scheduler processes)', k8sTestOptions(), () => {
  let cp: ControlPlane;
  const logs: string[] = [];

  before(async () => {
    ({ cp } = await startFailoverCluster());
  });

  after(async () => {
    if (process.env['GANTRY_K8S_LOGS'] === '1') process.stderr.write(logs.join('\n') + '\n');
    await cp?.stop();
  });

  // A fresh-clone CI run once saw one GPU on two live pods here (issue 17): a standby kept the
  // booking of a gang plan after the gang's bound member ended, refused to book the pod bound
  // there next, and double-booked it after taking over. failover-repro.test.ts replays it.
  it('never double-books a GPU, writes only under a valid lease, and leaves no gang half bound', async () => {
    const r = await runChaos(cp, { nodes: 4, kills: 3, pauses: 1, apiserverRestarts: 1, log: (l) => void logs.push(l) });
    // A failure keeps the whole run (replicas' logs, faults, Lease changes, pod histories) for diagnosis.
    const failed = r.doubleBookedGpus.length + r.overCapacity.length + r.staleWrites.length + r.partialGangs.length > 0;
    const kept = failed ? keepLogs(logs) : '';
    const why = failed ? `\n${r.evidence.join('\n')}\nfull log: ${kept}` : '';
    assert.deepEqual(r.doubleBookedGpus, [], `no GPU recorded on two live pods${why}`);
    assert.deepEqual(r.overCapacity, [], `no node over capacity${why}`);
    assert.deepEqual(r.staleWrites, [], `no bind or event made under a Lease that named another holder or term${why}`);
    assert.deepEqual(r.partialGangs, [], `no gang partly bound beyond the grace after a takeover${why}`);
    assert.deepEqual(r.exited, [], 'no replica exited (an apiserver restart makes them stand by)');
    assert.equal(r.takeoversMs.length, 4, 'each kill and the pause led to a new leader');
    assert.ok(r.binds > 20 && r.bindsAfterLastFault > 0, `scheduling went on (${r.binds} binds, ${r.bindsAfterLastFault} after the last fault)`);
    assert.ok(r.gangsBoundWhole > 0, 'gangs were bound');
  });
});
