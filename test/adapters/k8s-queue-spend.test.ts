/**
 * The spend accounting of Kubernetes mode (src/adapters/k8s/spend-book.ts), without an
 * apiserver: GPU fractions (whole GPUs, shares, MIG sevenths) priced by the one rule, every
 * queue's record covering the queues below it, the sum over queues equal to the sum over pods
 * to the micro-unit, period rollover, a record taken up from status; and what the scheduler
 * reads of its ConfigMap and Queue objects (prices.ts, queues.ts, queue-spend.ts readSpend).
 * test/k8s/queue-budgets.test.ts does the same against a real kube-apiserver.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gpuHoldersOf, type FleetUseView } from '../../src/core/fleet-use.js';
import { attemptCostMicros } from '../../src/core/cost-tally.js';
import type { GpuGrant } from '../../src/core/model/cluster.js';
import { SpendBook, type SpendQueue } from '../../src/adapters/k8s/spend-book.js';
import { amountMicros, parsePriceData } from '../../src/adapters/k8s/prices.js';
import { queueBudget, queueTree, QueueSpecError } from '../../src/adapters/k8s/queues.js';
import { QueueSpend, readSpend } from '../../src/adapters/k8s/queue-spend.js';
import type { QueueObject } from '../../src/adapters/k8s/queues.js';
import { node, job } from '../helpers/builders.js';
import { binds, setup } from '../helpers/scenario.js';

const H = 3_600_000;
const T0 = Date.UTC(2025, 4, 14, 10, 0, 0); // a Wednesday, mid-month

interface FakeJob {
  readonly id: string;
  readonly queue: string;
  readonly startedAt: number;
  readonly gpus: readonly GpuGrant[];
}

/** A fleet of one node: GPUs 0-3 H100-80GB, GPU 4 an A100-80GB in MIG mode. */
function view(jobs: readonly FakeJob[]): FleetUseView {
  return {
    *gpus() {
      for (let i = 0; i < 5; i++) yield { key: `n0/${i}`, model: i < 4 ? 'H100-80GB' : 'A100-80GB', uuid: null, healthy: true };
    },
    holders: () => gpuHoldersOf(jobs.map((j) => ({ id: j.id, bindings: [{ podId: j.id, node: 'n0', cpuMilli: 0, memoryMiB: 0, gpus: j.gpus }] }))),
    job(id) {
      const j = jobs.find((x) => x.id === id);
      return j && { team: 'ns', queue: j.queue, startedAt: j.startedAt };
    },
    queues: () => [],
  };
}

const whole = (gpu: number): GpuGrant => ({ gpu, milli: 1000, memoryMiB: 81559 });
const share = (gpu: number, milli: number): GpuGrant => ({ gpu, milli, memoryMiB: 1000 });
const mig = (gpu: number, profile: string): GpuGrant => ({ gpu, milli: 0, memoryMiB: 40_000, mig: { profile, start: 0 } });

const JOBS: FakeJob[] = [
  { id: 'pod:a/train', queue: 'team-a', startedAt: T0 - H, gpus: [whole(0), whole(1)] },
  { id: 'pod:a/notebook', queue: 'team-a', startedAt: T0 - H, gpus: [share(2, 500)] },
  { id: 'pod:b/eval', queue: 'team-b', startedAt: T0 - H, gpus: [share(2, 250)] },
  { id: 'pod:b/mig', queue: 'team-b', startedAt: T0 - H, gpus: [mig(4, '3g.40gb')] },
];

function tree(periodB: SpendQueue['period'] = 'month'): Map<string, SpendQueue> {
  const qs: SpendQueue[] = [
    { name: 'research', period: 'month' },
    { name: 'team-a', parent: 'research', period: 'month' },
    { name: 'team-b', parent: 'research', period: periodB },
  ];
  return new Map(qs.map((q) => [q.name, q]));
}

const PRICES: Record<string, number> = { 'H100-80GB': 2_000_000, 'A100-80GB': 1_000_000 };
const price = (m: string): number => PRICES[m] ?? 0;

test('whole GPUs, shares by milli-GPU and MIG slices by compute sevenths, at the price of their model', () => {
  const book = new SpendBook();
  const queues = tree();
  const rows = book.accrue(view(JOBS), T0 + H, H, price, queues);
  const a = book.record(queues.get('team-a')!, T0 + H);
  const b = book.record(queues.get('team-b')!, T0 + H);
  // team-a: 2 whole H100s and half of one for an hour: 2.5 GPU-h at 2.00.
  assert.deepEqual(a.gpuSeconds, { 'H100-80GB': 9000 });
  assert.equal(a.costMicros, 5_000_000);
  // team-b: a quarter of an H100 (0.50) and a 3g.40gb slice, 3/7 of an A100 (0.428571).
  assert.equal(b.gpuSeconds['H100-80GB'], 900);
  assert.ok(Math.abs((b.gpuSeconds['A100-80GB'] ?? 0) - (3 / 7) * 3600) < 1e-9);
  assert.equal(b.costMicros, 500_000 + 428_571);
  assert.equal(rows.find((r) => r.job === 'pod:b/mig')?.costMicros, 428_571);
  // The parent covers both.
  const r = book.record(queues.get('research')!, T0 + H);
  assert.equal(r.costMicros, a.costMicros + b.costMicros);
  assert.equal(r.gpuSeconds['H100-80GB'], 9900);
});

test('the sum over queues equals the sum over pods to the micro-unit, over many uneven intervals', () => {
  const book = new SpendBook();
  const queues = tree();
  const prices: Record<string, number> = { 'H100-80GB': 2_490_000, 'A100-80GB': 1_234_567 };
  let now = T0;
  let podSum = 0;
  const byPod = new Map<string, number>();
  for (let i = 0; i < 500; i++) {
    const dt = 1000 + ((i * 7919) % 29_000) + 0.5 * (i % 3);
    now += dt;
    for (const row of book.accrue(view(JOBS), now, dt, (m) => prices[m] ?? 0, queues)) {
      podSum += row.costMicros;
      byPod.set(row.job, (byPod.get(row.job) ?? 0) + row.costMicros);
      // Each row is the one rule's price of its GPU time.
      assert.equal(row.costMicros, attemptCostMicros(1, row.gpuMs, prices[row.model] ?? 0));
    }
  }
  const a = book.record(queues.get('team-a')!, now).costMicros;
  const b = book.record(queues.get('team-b')!, now).costMicros;
  assert.ok(podSum > 0);
  assert.equal(a + b, podSum);
  assert.equal(book.record(queues.get('research')!, now).costMicros, podSum);
  assert.equal(a, (byPod.get('pod:a/train') ?? 0) + (byPod.get('pod:a/notebook') ?? 0));
  // Rounding per row and interval stays within half a micro-unit per row of the exact amount.
  const hours = (now - T0) / H;
  const exactA = hours * 2.5 * 2_490_000;
  assert.ok(Math.abs(a - exactA) <= 500 * 2 * 0.5, `${a} vs ${exactA}`);
});

test('a pod started within the interval pays from its start only; a queue without pods pays nothing', () => {
  const book = new SpendBook();
  const queues = tree();
  const late: FakeJob[] = [{ id: 'pod:a/late', queue: 'team-a', startedAt: T0 + 45 * 60_000, gpus: [whole(0)] }];
  book.accrue(view(late), T0 + H, H, price, queues);
  assert.equal(book.record(queues.get('team-a')!, T0 + H).costMicros, 500_000); // 15 min at 2.00
  assert.equal(book.record(queues.get('team-b')!, T0 + H).costMicros, 0);
});

test('a new period starts from zero; an interval across its start counts only the part after it', () => {
  const book = new SpendBook();
  const queues = tree('day');
  const midnight = Date.UTC(2025, 4, 15);
  book.accrue(view(JOBS), midnight - 10 * 60_000, H, price, queues);
  const before = book.record(queues.get('team-b')!, midnight - 10 * 60_000);
  assert.equal(before.periodStart, Date.UTC(2025, 4, 14));
  assert.ok(before.costMicros > 0);
  // 30 minutes later: 10 before midnight (the old day), 20 after (the new one).
  book.accrue(view(JOBS), midnight + 20 * 60_000, 30 * 60_000, price, queues);
  const after = book.record(queues.get('team-b')!, midnight + 20 * 60_000);
  assert.equal(after.period, 'day');
  assert.equal(after.periodStart, midnight);
  assert.equal(after.gpuSeconds['H100-80GB'], 0.25 * 20 * 60);
  assert.equal(after.costMicros, attemptCostMicros(1, 0.25 * 20 * 60_000, 2_000_000) + attemptCostMicros(1, ((3 / 7) * 30 * 60_000 * 20) / 30, 1_000_000));
  // The monthly parent did not roll over: it has all 90 minutes of both.
  assert.equal(book.record(queues.get('research')!, midnight + 20 * 60_000).periodStart, Date.UTC(2025, 4, 1));
  // A week starts on Monday, a month on the 1st.
  const weekly = new SpendBook();
  assert.equal(weekly.record({ name: 'w', period: 'week' }, T0).periodStart, Date.UTC(2025, 4, 12));
});

test('a record taken up from status counts on; one of a past period starts from zero', () => {
  const book = new SpendBook();
  const queues = tree();
  book.seed('team-a', { period: 'month', periodStart: Date.UTC(2025, 4, 1), gpuSeconds: { 'H100-80GB': 100 }, costMicros: 7_000_000 });
  book.seed('team-b', { period: 'month', periodStart: Date.UTC(2025, 3, 1), gpuSeconds: { 'H100-80GB': 100 }, costMicros: 9_000_000 });
  book.accrue(view(JOBS), T0 + H, H, price, queues);
  assert.equal(book.record(queues.get('team-a')!, T0 + H).costMicros, 12_000_000);
  assert.equal(book.record(queues.get('team-a')!, T0 + H).gpuSeconds['H100-80GB'], 9100);
  assert.equal(book.record(queues.get('team-b')!, T0 + H).costMicros, 928_571);
});

test('status.spend is read back only in the shape it is written', () => {
  assert.deepEqual(readSpend({ period: 'week', periodStart: '2025-05-12T00:00:00.000Z', gpuSeconds: { L4: 3.5, bad: -1 }, costMicros: 12, cost: '0.000012' }), {
    period: 'week',
    periodStart: Date.UTC(2025, 4, 12),
    gpuSeconds: { L4: 3.5 },
    costMicros: 12,
  });
  assert.equal(readSpend({ period: 'year', periodStart: '2025-05-12T00:00:00.000Z', costMicros: 1 }), undefined);
  assert.equal(readSpend({ period: 'day', periodStart: 'yesterday', costMicros: 1 }), undefined);
  assert.equal(readSpend({ period: 'day', periodStart: '2025-05-12T00:00:00.000Z', costMicros: 1.5 }), undefined);
  assert.equal(readSpend(undefined), undefined);
});

test('prices: catalog names, aliases and GFD labels; a bad entry is left out and named', () => {
  assert.equal(amountMicros('2.49'), 2_490_000);
  assert.equal(amountMicros('0.000001'), 1);
  assert.equal(amountMicros('10'), 10_000_000);
  assert.equal(amountMicros(3), 3_000_000);
  for (const bad of ['', '-1', '1e3', '2.4999999', 'abc', '1.']) assert.equal(amountMicros(bad), null, bad);
  const t = parsePriceData({ 'H100-80GB': '2.49', 'NVIDIA-A100-SXM4-80GB': '1.6', L4: 'cheap', 'Z9000': '1', h100: '3' });
  assert.deepEqual(t.pricesMicros, { 'H100-80GB': 2_490_000, 'A100-80GB': 1_600_000 });
  assert.equal(t.problems.length, 3);
  assert.match(t.problems.find((p) => p.startsWith('L4:')) ?? '', /"cheap" is not a price/);
  assert.match(t.problems.find((p) => p.startsWith('Z9000:')) ?? '', /unknown GPU model/);
  assert.match(t.problems.find((p) => p.startsWith('h100:')) ?? '', /priced already by H100-80GB/);
});

test('spec.budget: checked, and a bad one refuses the tree (the InvalidQueue path)', () => {
  const q = (budget: unknown) => ({ metadata: { name: 'team-a' }, spec: { budget } }) as Parameters<typeof queueBudget>[0];
  assert.deepEqual(queueBudget(q({ period: 'week', limit: '123.45', mode: 'hard' })), { scope: 'queue', name: 'team-a', period: 'week', limitMicros: 123_450_000, mode: 'hard' });
  assert.equal(queueBudget(q({ period: 'month', limit: 100 }))?.mode, 'soft');
  assert.equal(queueBudget(q(undefined)), undefined);
  assert.throws(() => queueBudget(q({ period: 'year', limit: '1' })), /spec\.budget\.period/);
  assert.throws(() => queueBudget(q({ period: 'day', limit: 'lots' })), /spec\.budget\.limit/);
  assert.throws(() => queueBudget(q({ period: 'day', limit: '1', mode: 'strict' })), /spec\.budget\.mode/);
  assert.throws(() => queueTree([q({ period: 'day' })]), (e: unknown) => e instanceof QueueSpecError);
});

/** QueueSpend's loop over a real core, with the apiserver's part faked: what it writes, tells and holds. */
function spendLoop(queues: QueueObject[], prices: Record<string, string> | null = { 'A100-80GB': '3.6' }) {
  const core = setup({ nodes: [node('n1').gpus(4).obj()], queues: [{ name: 'research' }, { name: 'team-a', parent: 'research' }, { name: 'team-b', parent: 'research' }] });
  const t = { now: T0 };
  const patches: { queue: string; status: Record<string, unknown> }[] = [];
  const told: { reason: string; name: string; message: string }[] = [];
  const spend = new QueueSpend({
    core,
    queues: () => queues,
    prices: async () => prices,
    namespace: 'gantry-system',
    patchStatus: async (queue, status) => void patches.push({ queue, status }),
    event: (ref, _type, reason, message) => void told.push({ reason, name: ref.name, message }),
    intervalMs: 15_000,
    clock: () => t.now,
    log: () => undefined,
  });
  return { core, t, patches, told, spend };
}

const queueObj = (name: string, spec: NonNullable<QueueObject['spec']>, status?: QueueObject['status']): QueueObject => ({ metadata: { name }, spec, ...(status ? { status } : {}) });

test('the leader samples every interval from its cycles, writes status.spend, holds a spent hard budget and forgets at the end of its term', async () => {
  const queues = [queueObj('research', {}), queueObj('team-a', { parent: 'research', budget: { period: 'day', limit: '0.1', mode: 'hard' } }), queueObj('team-b', { parent: 'research' })];
  const { core, t, patches, told, spend } = spendLoop(queues);
  core.submit(job('pod:ns/a1').gpus(1).queue('team-a').at(0).obj());
  assert.deepEqual(binds(core.cycle(T0 - H)), ['pod:ns/a1']);
  spend.tick(); // not leading: nothing
  spend.startTerm();
  t.now += 10_000;
  spend.tick(); // less than an interval since the term began
  await spend.settled();
  assert.equal(patches.length, 0);
  t.now += 50_000;
  spend.tick();
  await spend.settled();
  // 60 GPU-seconds at 3.60 an hour: 60,000 micro-units, in team-a and research.
  const a = patches.find((p) => p.queue === 'team-a')?.status['spend'] as Record<string, unknown>;
  assert.equal(a['costMicros'], 60_000);
  assert.deepEqual(a['gpuSeconds'], { 'A100-80GB': 60 });
  assert.equal((patches.find((p) => p.queue === 'research')?.status['spend'] as Record<string, unknown>)['costMicros'], 60_000);
  assert.deepEqual(patches.find((p) => p.queue === 'team-a')?.status['budget'], { status: 'ok', limit: '0.1', mode: 'hard', periodEnd: '2025-05-15T00:00:00.000Z' });
  // Nothing changed for team-b: written once, not again.
  const before = patches.filter((p) => p.queue === 'team-b').length;
  t.now += 60_000;
  spend.tick();
  await spend.settled();
  assert.equal(patches.filter((p) => p.queue === 'team-b').length, before);
  // 0.12 of 0.10: held, once told; the new pod waits with the hold's message, the running one stays.
  assert.equal(told.filter((e) => e.reason === 'BudgetExhausted').length, 1);
  core.submit(job('pod:ns/a2').gpus(1).queue('team-a').at(T0).obj());
  const r = core.cycle(t.now);
  assert.deepEqual(binds(r), []);
  assert.match(r.pending.get('pod:ns/a2')?.[0]?.message ?? '', /^BUDGET_EXHAUSTED: queue team-a spent 0\.12 of its daily budget of 0\.10/);
  assert.equal(core.job('pod:ns/a1')?.state, 'running');
  assert.equal(spend.view().find((v) => v.queue === 'team-a')?.budget?.status, 'exhausted');
  // The term ends: the hold goes with it (a standby holds nothing; the next leader judges again).
  spend.endTerm();
  assert.deepEqual(spend.view(), []);
  assert.deepEqual(binds(core.cycle(t.now)), ['pod:ns/a2']);
});

test('a new leader starts from status.spend and does not announce again what status says was announced', () => {
  const status = { spend: { period: 'day', periodStart: '2025-05-14T00:00:00.000Z', gpuSeconds: { 'A100-80GB': 600 }, costMicros: 600_000 }, budget: { status: 'warning', limit: '0.5' } };
  const queues = [queueObj('research', {}), queueObj('team-a', { parent: 'research', budget: { period: 'day', limit: '0.5' } }, status), queueObj('team-b', { parent: 'research' })];
  const { told, spend } = spendLoop(queues);
  spend.startTerm();
  assert.equal(spend.view().find((v) => v.queue === 'team-a')?.costMicros, 600_000);
  assert.equal(told.length, 0);
  // Another limit is another crossing: told.
  queues[1] = queueObj('team-a', { parent: 'research', budget: { period: 'day', limit: '0.4' } }, status);
  spend.queuesChanged();
  assert.deepEqual(told.map((e) => [e.reason, e.name]), [['BudgetWarning', 'team-a']]);
});

test('a pod that ends between two samples pays for its time up to its end, even one shorter than an interval', async () => {
  const queues = [queueObj('team-a', {}), queueObj('team-b', {})];
  const { core, t, patches, spend } = spendLoop(queues);
  spend.startTerm();
  // A pod of team-a binds 5 s into the interval and ends 10 s later, before the next sample.
  t.now += 5_000;
  core.submit(job('pod:ns/short').gpus(1).queue('team-a').at(t.now).obj());
  assert.deepEqual(binds(core.cycle(t.now)), ['pod:ns/short']);
  t.now += 10_000;
  spend.settleJob('pod:ns/short');
  core.remove('pod:ns/short', true);
  // A pending job settles nothing.
  core.submit(job('pod:ns/waiting').gpus(99).queue('team-b').at(t.now).obj());
  spend.settleJob('pod:ns/waiting');
  t.now += 50_000;
  spend.tick();
  await spend.settled();
  // 10 GPU-seconds at 3.60 an hour: 10,000 micro-units; nothing for team-b.
  const a = patches.find((p) => p.queue === 'team-a')?.status['spend'] as Record<string, unknown>;
  assert.equal(a['costMicros'], 10_000);
  assert.deepEqual(a['gpuSeconds'], { 'A100-80GB': 10 });
  const b = patches.find((p) => p.queue === 'team-b')?.status['spend'] as Record<string, unknown> | undefined;
  assert.equal(b?.['costMicros'] ?? 0, 0);
});
