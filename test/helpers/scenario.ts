/**
 * Scenario tests in the style of KAI's: declare nodes, queues, running and pending jobs; run
 * one cycle; look at the binds and evictions it produced.
 */
import assert from 'node:assert/strict';
import { Scheduler } from '../../src/core/scheduler/scheduler.js';
import { createRng } from '../../src/core/rng.js';
import type { NodeSpec } from '../../src/core/model/node.js';
import type { CycleResult, Decision, JobSpec, QueueSpec } from '../../src/core/scheduler/types.js';
import { pod } from './builders.js';
import type { SchedulerConfig } from '../../src/core/scheduler/config.js';

export const MIN = 60_000;
export const HOUR = 3_600_000;

/** Issue 17's queue tree in small: org guarantees 16 GPUs to two teams; scratch only borrows. */
export const CHURN_TREE: QueueSpec[] = [
  { name: 'org', guaranteed: { gpu: 16_000 } },
  { name: 'team-a', parent: 'org', guaranteed: { gpu: 8_000 } },
  { name: 'team-b', parent: 'org', guaranteed: { gpu: 8_000 } },
  { name: 'scratch', parent: 'org', guaranteed: { gpu: 0 } },
];

/** A pod of `gpus` whole GPUs that only fits nodes labelled `slot` (so a test decides where it lands). */
export const pinnedPod = (id: string, gpus: number, slot: string) => pod(id).gpus(gpus).selector({ slot }).obj();

export interface Scenario {
  nodes: NodeSpec[];
  queues?: QueueSpec[];
  /** Jobs placed at time 0 (they must all fit). */
  running?: JobSpec[];
  config?: Omit<SchedulerConfig, 'rng'>;
}

export function setup(s: Scenario): Scheduler {
  const sched = new Scheduler({ policy: 'bestfit', ...s.config, rng: createRng(1) }, s.queues ?? [{ name: 'default' }]);
  // Every cycle of a scenario ends with the job table's indices checked against its records.
  const cycle = sched.cycle.bind(sched);
  sched.cycle = (now: number) => {
    const r = cycle(now);
    sched.checkInvariants();
    return r;
  };
  for (const n of s.nodes) sched.addNode(n);
  for (const j of s.running ?? []) sched.submit({ ...j, submittedAt: 0 });
  if ((s.running ?? []).length > 0) {
    const r = sched.cycle(0);
    const bound = new Set(r.decisions.filter((d) => d.kind === 'bind').map((d) => d.job));
    for (const j of s.running ?? []) assert.ok(bound.has(j.id), `running job ${j.id} did not fit at time 0: ${JSON.stringify(r.pending.get(j.id))}`);
  }
  return sched;
}

export function binds(r: CycleResult): string[] {
  return r.decisions.filter((d) => d.kind === 'bind').map((d) => d.job).sort();
}

export function evictions(r: CycleResult): Extract<Decision, { kind: 'evict' }>[] {
  return r.decisions.filter((d): d is Extract<Decision, { kind: 'evict' }> => d.kind === 'evict');
}

/** Carries out the evictions: the victims stop and go back to the queue. */
export function stopVictims(s: Scheduler, r: CycleResult, now: number): void {
  for (const e of evictions(r)) s.requeue(e.job, now);
}
