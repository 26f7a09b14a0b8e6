/**
 * Spend and budgets in Kubernetes mode (src/adapters/k8s/queue-spend.ts) against a real
 * kube-apiserver, on a fake clock (the spend's only: binds and Leases use the real one), so a
 * minute of GPU time takes no minute to pass. Prices come from the ConfigMap gantry-prices
 * (H100-80GB at 3.60 per GPU-hour: 1,000 micro-units per GPU-second).
 *
 * A pod of team-a runs: team-a's status.spend grows at the price, and research (its parent)
 * covers it. team-a's hard budget is spent: a new pod of team-a stays Pending with a
 * FailedScheduling Event starting BUDGET_EXHAUSTED while a pod of team-b binds, and the running
 * pod is not evicted; raising the budget (a patch of the Queue) binds the waiting pod. A soft
 * budget warns once (a BudgetWarning Event, status.budget.status warning) and holds nothing. A
 * second scheduler that takes over starts from status. A new day lifts a spent daily budget.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { ControlPlane, k8sTestOptions } from './harness.js';
import { createNamespace, createNode, createPods, createQueue, events, fakeNode, fakePod, getQueue, installGantryCrds, listPods, sleep, TEST_SCHEDULER_TIMING, waitFor } from './cluster.js';
import { KubeScheduler } from '../../src/adapters/k8s/scheduler.js';
import { createSchedulerMetrics } from '../../src/adapters/k8s/scheduler-metrics.js';

const NS = 'budgets';
const SEL = { 'gantry.dev/test': 'budgets' };
/** Tuesday 15 January 2030, 10:00 UTC: later than any real bind of this run, far from a day's end. */
const BASE = Date.UTC(2030, 0, 15, 10);

interface Spend {
  period: string;
  periodStart: string;
  gpuSeconds: Record<string, number>;
  costMicros: number;
  cost: string;
}

async function spendOf(kc: KubeConfig, queue: string): Promise<Spend | undefined> {
  return (await getQueue(kc, queue)).status?.['spend'] as Spend | undefined;
}

async function budgetStatusOf(kc: KubeConfig, queue: string): Promise<string | undefined> {
  return ((await getQueue(kc, queue)).status?.['budget'] as { status?: string } | undefined)?.status;
}

async function patchBudget(kc: KubeConfig, queue: string, budget: Record<string, unknown>): Promise<void> {
  await kc.makeApiClient(CustomObjectsApi).patchClusterCustomObject(
    { group: 'scheduling.gantry.dev', version: 'v1alpha1', plural: 'queues', name: queue, body: { spec: { budget } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

async function nodeOf(kc: KubeConfig, pod: string): Promise<string | undefined> {
  return (await listPods(kc, NS)).find((p) => p.metadata?.name === pod)?.spec?.nodeName;
}

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('k8s queue spend and budgets (real kube-apiserver)', k8sTestOptions(), () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let now = BASE;
  const clock = (): number => now;
  const metrics = createSchedulerMetrics();
  const schedulers: KubeScheduler[] = [];
  const start = async (identity: string): Promise<KubeScheduler> => {
    // A sample only when the test takes one (spend.sampleOnce): the interval is longer than the run.
    const s = new KubeScheduler({ kubeConfig: kc, namespace: 'gantry-system', identity, ...TEST_SCHEDULER_TIMING, spend: { intervalMs: 1e12, clock }, log: () => undefined });
    schedulers.push(s);
    await s.start();
    await waitFor(`${identity} leads`, async () => s.isLeader && s.readiness().ready);
    return s;
  };

  before(async () => {
    cp = await ControlPlane.start();
    kc = cp.kubeConfig();
    await installGantryCrds(kc);
    await createNamespace(kc, NS);
    await kc.makeApiClient(CoreV1Api).createNamespacedConfigMap({ namespace: 'gantry-system', body: { metadata: { name: 'gantry-prices' }, data: { 'NVIDIA-H100-80GB-HBM3': '3.60', L4: 'free' } } });
    await createNode(kc, fakeNode('budget-0', { gpus: 8, labels: SEL }));
    await createQueue(kc, 'research', {});
    await createQueue(kc, 'team-a', { parent: 'research', budget: { period: 'day', limit: '0.1', mode: 'hard' } });
    await createQueue(kc, 'team-b', { parent: 'research' });
  });

  after(async () => {
    for (const s of schedulers) await s.stop();
    await cp?.stop();
  });

  it('bills, holds, lifts, warns and survives a change of leader', async () => {
    let s = await start('budget-1');
    metrics.attach(s);
    await createPods(kc, [fakePod(NS, 'a1', { gpus: 1, queue: 'team-a', nodeSelector: SEL })]);
    await waitFor('a1 bound', async () => nodeOf(kc, 'a1'));
    await waitFor('a1 held in the core', async () => [...s.coreState.allJobs()].some((j) => j.id === `pod:${NS}/a1` && j.state === 'running'));

    // One GPU for a minute at 3.60 an hour: 0.06.
    now += 60_000;
    await s.spend.sampleOnce();
    const first = await waitFor('team-a status.spend', async () => {
      const sp = await spendOf(kc, 'team-a');
      return sp?.costMicros === 60_000 ? sp : undefined;
    });
    assert.deepEqual(first.gpuSeconds, { 'H100-80GB': 60 });
    assert.equal(first.period, 'day');
    assert.equal(first.periodStart, '2030-01-15T00:00:00.000Z');
    assert.equal(first.cost, '0.06');
    assert.equal(await budgetStatusOf(kc, 'team-a'), 'ok');
    // The parent covers its sub-queues, over the month (it has no budget).
    await waitFor('research covers team-a', async () => (await spendOf(kc, 'research'))?.costMicros === 60_000);
    assert.equal((await spendOf(kc, 'research'))?.period, 'month');
    // The bad price entry is named in an Event on the ConfigMap, and ignored.
    const bad = await waitFor('InvalidPrice Event', async () => (await events(kc, 'gantry-system', 'gantry-prices')).find((e) => e.reason === 'InvalidPrice'));
    assert.match(bad.message, /L4: "free" is not a price/);

    // A second minute: 0.12 of a 0.10 hard budget. New work of team-a waits; team-b's binds.
    now += 60_000;
    await s.spend.sampleOnce();
    await waitFor('team-a exhausted in status', async () => (await budgetStatusOf(kc, 'team-a')) === 'exhausted');
    assert.equal((await spendOf(kc, 'team-a'))?.costMicros, 120_000);
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'gantry_queue_spend_micros', { queue: 'team-a' }), 120_000);
    assert.equal(sample(text, 'gantry_queue_budget_limit_micros', { queue: 'team-a', mode: 'hard' }), 100_000);
    assert.equal(sample(text, 'gantry_queue_budget_exhausted', { queue: 'team-a' }), 1);
    await createPods(kc, [fakePod(NS, 'a2', { gpus: 1, queue: 'team-a', nodeSelector: SEL }), fakePod(NS, 'b1', { gpus: 1, queue: 'team-b', nodeSelector: SEL })]);
    await waitFor('b1 bound', async () => nodeOf(kc, 'b1'));
    const held = await waitFor('a2 told why it waits', async () => (await events(kc, NS, 'a2')).find((e) => e.reason === 'FailedScheduling'));
    assert.match(held.message, /^BUDGET_EXHAUSTED: queue team-a spent 0\.12 of its daily budget of 0\.10 since 2030-01-15T00:00:00\.000Z; new work waits until 2030-01-16T00:00:00\.000Z or until the budget is raised \(raise spec\.budget\.limit of Queue team-a\)/);
    const exhausted = await waitFor('BudgetExhausted Event on the Queue', async () => (await events(kc, 'default', 'team-a')).find((e) => e.reason === 'BudgetExhausted'));
    assert.match(exhausted.message, /^BUDGET_EXHAUSTED/);
    await sleep(1500); // a few cycles
    assert.equal(await nodeOf(kc, 'a2'), undefined, 'a2 waits');
    const a1 = (await listPods(kc, NS)).find((p) => p.metadata?.name === 'a1');
    assert.ok(a1?.spec?.nodeName && !a1.metadata?.deletionTimestamp, 'the running pod is not evicted');

    // Raising the budget binds the waiting pod.
    await patchBudget(kc, 'team-a', { limit: '1' });
    await waitFor('a2 bound after the raise', async () => nodeOf(kc, 'a2'));
    await waitFor('a2 held in the core', async () => [...s.coreState.allJobs()].some((j) => j.id === `pod:${NS}/a2` && j.state === 'running'));

    // A soft budget on team-b: spent after its next minute, it warns once and holds nothing.
    await patchBudget(kc, 'team-b', { period: 'week', limit: '0.05', mode: 'soft' });
    await waitFor('team-b budget seen', async () => s.spend.view().some((v) => v.queue === 'team-b' && v.budget?.budget.mode === 'soft'));
    now += 60_000;
    await s.spend.sampleOnce();
    await waitFor('team-b warning in status', async () => (await budgetStatusOf(kc, 'team-b')) === 'warning');
    now += 60_000;
    await s.spend.sampleOnce();
    await waitFor('team-b at 0.12', async () => (await spendOf(kc, 'team-b'))?.costMicros === 120_000);
    const warnings = (await events(kc, 'default', 'team-b')).filter((e) => e.reason === 'BudgetWarning');
    assert.equal(warnings.length, 1, 'one warning per period');
    assert.match(warnings[0]!.message, /queue team-b spent 0\.06 of its weekly soft budget of 0\.05/);
    await createPods(kc, [fakePod(NS, 'b2', { gpus: 1, queue: 'team-b', nodeSelector: SEL })]);
    await waitFor('b2 binds under a soft budget', async () => nodeOf(kc, 'b2'));
    // team-a: 0.12 + two minutes of a1 and a2 (0.24); research: team-a's and team-b's.
    await waitFor('team-a at 0.36', async () => (await spendOf(kc, 'team-a'))?.costMicros === 360_000);
    await waitFor('research covers both', async () => (await spendOf(kc, 'research'))?.costMicros === 480_000);

    // A change of leader: the second scheduler starts from status and counts on.
    await s.stop();
    s = await start('budget-2');
    metrics.attach(s);
    await waitFor('b2 held in the new leader', async () => [...s.coreState.allJobs()].some((j) => j.id === `pod:${NS}/b2` && j.state === 'running'));
    now += 60_000;
    await s.spend.sampleOnce();
    // a1 and a2 one more minute each; team-b (b1, b2) too; no Warning again for team-b.
    await waitFor('team-a counted on from status', async () => (await spendOf(kc, 'team-a'))?.costMicros === 480_000);
    await waitFor('team-b counted on from status', async () => (await spendOf(kc, 'team-b'))?.costMicros === 240_000);
    assert.deepEqual((await spendOf(kc, 'team-a'))?.gpuSeconds, { 'H100-80GB': 480 });
    assert.equal((await events(kc, 'default', 'team-b')).filter((e) => e.reason === 'BudgetWarning').length, 1, 'the new leader does not warn again');

    // team-a's daily budget spent again; the next day starts from zero and lifts the hold.
    await patchBudget(kc, 'team-a', { limit: '0.2' });
    await waitFor('team-a held again', async () => (await budgetStatusOf(kc, 'team-a')) === 'exhausted' || s.spend.view().some((v) => v.queue === 'team-a' && v.budget?.status === 'exhausted'));
    await createPods(kc, [fakePod(NS, 'a3', { gpus: 1, queue: 'team-a', nodeSelector: SEL })]);
    await waitFor('a3 waits for the budget', async () => (await events(kc, NS, 'a3')).some((e) => e.message.startsWith('BUDGET_EXHAUSTED')));
    assert.equal(await nodeOf(kc, 'a3'), undefined);
    now = Date.UTC(2030, 0, 16, 0, 0, 30);
    await waitFor('a3 bound on the new day', async () => nodeOf(kc, 'a3'));
    await s.spend.sampleOnce();
    const day2 = await waitFor('team-a spend of the new day', async () => {
      const sp = await spendOf(kc, 'team-a');
      return sp?.periodStart === '2030-01-16T00:00:00.000Z' ? sp : undefined;
    });
    // a1, a2 and a3 for the 30 s of the new day (a3's start, the real time of its bind, is long before).
    assert.equal(day2.costMicros, 90_000);
    assert.deepEqual(day2.gpuSeconds, { 'H100-80GB': 90 });
    assert.equal(await budgetStatusOf(kc, 'team-a'), 'ok');
  });
});
