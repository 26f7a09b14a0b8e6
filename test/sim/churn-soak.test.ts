/**
 * The churn soak in short (the long one: bench/churn-soak.ts, docs/benchmarks.md): the core as
 * `gantry up`, `gantry k8s` and up with preemption across queues configure it, over generated
 * churn workloads, keeps the promises of docs/preemption.md. And the engine's churn metrics
 * see a broken promise when there is one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHURN_DEFAULTS, churnJobs } from '../../src/sim/jobs/churn.js';
import { CHURN_POLICIES, prepare, runPolicy, type JobsSpec } from '../../src/sim/jobs/experiment.js';
import { PHILLY_FLEET } from '../../src/sim/jobs/setup.js';
import { simulate } from '../../src/sim/jobs/engine.js';
import type { CycleOutcome, SimDriver, SimJob } from '../../src/sim/jobs/driver.js';
import type { Binding } from '../../src/core/model/cluster.js';
import { loadQueuesFile } from '../../src/sim/jobs/queues-file.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HOURS = 6;

function spec(seed: number): JobsSpec {
  const churn = { ...CHURN_DEFAULTS, seed, hours: HOURS, load: 1.25 };
  return { trace: '', from: 0, days: HOURS / 24, load: 1.25, fleet: { ...PHILLY_FLEET, eightGpuServers: churn.servers, twoGpuServers: 0 }, seed, checkpointMinutes: 30, graceSeconds: 30, cycleSeconds: 30, restartSeconds: 60, guaranteedFraction: 0, churn };
}

test('churn workload: the issue\'s shape (gangs of 2-8 GPUs, ~70 % checkpointing, ~10 % non-preemptible, bursts)', () => {
  const jobs = churnJobs({ ...CHURN_DEFAULTS, seed: 1, hours: 48, load: 1.25 });
  const share = (f: (j: SimJob) => boolean): number => jobs.filter(f).length / jobs.length;
  assert.ok(jobs.length > 1500 && jobs.length < 2600, `${jobs.length} jobs in 48 h`);
  assert.ok(jobs.every((j) => j.gpus >= 2 && j.gpus <= 8 && j.members.reduce((a, m) => a + (m.gpu.kind === 'whole' ? m.gpu.count : 0), 0) === j.gpus));
  assert.ok(Math.abs(share((j) => j.checkpoint !== null) - 0.7) < 0.05);
  assert.ok(Math.abs(share((j) => j.preemptible === false) - 0.1 * 0.8) < 0.03, 'non-preemptible only in queues with a guarantee (80 % of the work)');
  assert.ok(jobs.every((j) => j.preemptible !== false || j.queue !== 'scratch'));
  const bursts = jobs.filter((j) => (j.priority ?? 0) > 0);
  assert.ok(bursts.length >= 16 && bursts.length <= 200, `${bursts.length} burst jobs`);
  assert.deepEqual(churnJobs({ ...CHURN_DEFAULTS, seed: 1, hours: 48, load: 1.25 }), jobs, 'deterministic per seed');
});

/**
 * Deficits are not yet at the target of 0 (docs/benchmarks.md, churn soak): a queue below its
 * guarantee whose job needs a whole node, while the borrowed GPUs are spread over nodes that
 * also run guaranteed work, waits until work ends (reclaim takes only borrowed work and does
 * not move guaranteed work aside). Before issue 17's fixes the same runs had episodes of
 * 1.5 h and more; this keeps them short: at most 5 per run, none beyond 6x the bound.
 */
test('churn soak (3 seeds x 6 h x the three configurations): no ping-pong, whole gangs, no double-booking, short deficits', () => {
  // Deficits and lost work vary from run to run with where the first gangs land (measured
  // over seeds 1-7 with best-fit placement and with the learned target workload: 0 to 5
  // episodes, the longest up to 1,230 s (5.9x the bound), 1 % to 5.7 % of the work lost per
  // run, means alike): a run is held to the worst seen, the nine runs together to the means.
  let wasted = 0;
  let episodes = 0;
  for (const seed of [1, 2, 3]) {
    const s = spec(seed);
    const prepared = prepare(s);
    for (const policy of CHURN_POLICIES) {
      const c = runPolicy(policy, s, prepared).churn;
      const where = `${policy}, seed ${seed}: ${JSON.stringify(c)}`;
      assert.equal(c.pingPongPairs, 0, where);
      assert.equal(c.partialGangs, 0, where);
      assert.equal(c.doubleBookings, 0, where);
      assert.ok(c.deficitEpisodes <= 5 && c.longestDeficitSeconds <= 6 * c.deficitBoundSeconds, where);
      assert.ok(c.wastedShare <= 0.06, where);
      wasted += c.wastedShare;
      episodes += c.deficitEpisodes;
    }
  }
  assert.ok(wasted / 9 <= 0.03, `mean lost work ${wasted / 9}`);
  assert.ok(episodes <= 12, `${episodes} deficit episodes in nine runs`);
});

/** Scripted: A runs, is stopped for B, B runs, is stopped for A (a ping-pong), on one GPU. */
class PingPong implements SimDriver {
  readonly name = 'ping-pong';
  readonly oracle = false;
  private readonly jobs = new Map<string, SimJob>();
  private step = 0;
  init(): void {}
  submit(j: SimJob): void {
    this.jobs.set(j.id, j);
  }
  complete(): void {}
  stopped(): void {}
  attained(): void {}
  cycle(): CycleOutcome {
    const a = this.jobs.get('a') as SimJob;
    const b = this.jobs.get('b') as SimJob;
    const on = (j: SimJob): Binding[] => [{ podId: `${j.id}-0`, node: 'n1', cpuMilli: 1000, memoryMiB: 1024, gpus: [{ gpu: 0, milli: 1000, memoryMiB: 0 }] }];
    const script: CycleOutcome[] = [
      { start: [{ job: a, bindings: on(a) }], stop: [] },
      { start: [], stop: [{ job: a, graceMs: 0, forJob: 'b' }] },
      { start: [{ job: b, bindings: on(b) }], stop: [] },
      { start: [], stop: [{ job: b, graceMs: 0, forJob: 'a' }] },
      { start: [{ job: a, bindings: on(a) }, { job: b, bindings: on(b) }], stop: [] },
    ];
    return script[this.step++] ?? { start: [], stop: [] };
  }
}

test('churn metrics: a ping-pong pair, a double-booking and lost work are counted', () => {
  const mk = (id: string): SimJob => ({ id, queue: 'q', submit: 0, duration: 600_000, gpus: 1, members: [{ id: `${id}-0`, cpuMilli: 1000, memoryMiB: 1024, gpu: { kind: 'whole', count: 1 } }], checkpoint: null });
  const r = simulate(new PingPong(), [{ name: 'n1', cpuMilli: 8000, memoryMiB: 8192, gpus: [{ model: 'X' }] }], [{ name: 'q', guaranteed: { gpu: 1000 } }], [mk('a'), mk('b')], { cycleMs: 1000, idleCycleMs: 1000, checkpointMs: 60_000, restartMs: 0, graceMs: 0, sampleMs: 60_000 }, () => 0);
  assert.equal(r.churn.pingPongPairs, 1);
  assert.equal(r.churn.fastestPingPongSeconds, 2);
  assert.equal(r.churn.doubleBookings, 1, 'a and b were both started on GPU 0');
  assert.equal(r.churn.preemptionsMax, 1);
  assert.ok(r.churn.wastedGpuSeconds > 0, 'jobs without checkpoints lose their work when stopped');
});

test('--queues FILE: a YAML queue tree in GPUs, validated as the scheduler reads it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-queues-'));
  try {
    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'queues:\n  - { name: org }\n  - { name: team, parent: org, guaranteedGpus: 16 }\n  - { name: scratch, parent: org, weight: 2 }\n');
    assert.deepEqual(loadQueuesFile(good), [{ name: 'org' }, { name: 'team', parent: 'org', guaranteed: { gpu: 16_000 } }, { name: 'scratch', parent: 'org', overQuotaWeight: 2 }]);
    const limit = join(dir, 'limit.yaml');
    writeFileSync(limit, 'queues:\n  - { name: org, limitGpus: 8 }\n  - { name: team, parent: org, guaranteedGpus: 16 }\n');
    assert.throws(() => loadQueuesFile(limit), (e: Error & { code?: string }) => e.code === 'QUEUE_INVALID' && e.message.startsWith(`${limit}: queue org:`));
    const typo = join(dir, 'typo.yaml');
    writeFileSync(typo, 'queues:\n  - { name: org, guaranteed: 8 }\n');
    assert.throws(() => loadQueuesFile(typo), (e: Error & { code?: string }) => e.code === 'QUEUES_FILE_INVALID' && /guaranteed/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
