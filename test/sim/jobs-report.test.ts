/**
 * `gantry sim jobs --out` reports people can read: the utilisation chart spans the busy period
 * (not the hundreds of hours of tail), the queue chart fits 1,200 px, every time column has one
 * unit named in its header, and no "published" legend where nothing is published; openb
 * tables say what their percentages are of.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobsResult } from '../../src/sim/jobs/engine.js';
import { utilizationChartSpec, writeReport } from '../../src/sim/jobs/report.js';
import { terminalReport as openbTerminalReport } from '../../src/sim/openb/report.js';
import type { PolicySummary } from '../../src/sim/openb/experiment.js';

const HOUR = 3600;

/** A run that is busy for 3 h (arrivals for 2 h), then a 500 h tail of one long job. */
function result(policy: string, waitSeconds: number): JobsResult {
  const sample = 300;
  const series = Array.from({ length: (500 * HOUR) / sample }, (_, i) => (i * sample < 3 * HOUR ? 0.95 : 0.01));
  const queue = (name: string, guaranteedGpus: number, share: number) => ({ name, guaranteedGpus, leaf: true, meanUsedGpus: 1, meanDeservedGpus: 1, shareOfGuarantee: share / 50, shareOfGuaranteeArriving: share, violationSeconds: name === 'vc-a' ? 90 : 2 * HOUR, queueViolationSeconds: 30, deficitSeconds: 0, deficitEpisodes: 0 });
  return {
    policy,
    oracle: false,
    jobs: 100,
    completed: 100,
    jctSeconds: { mean: 2 * HOUR, p50: waitSeconds, p99: 30 * HOUR },
    queueingDelaySeconds: { mean: waitSeconds, p99: 5 * HOUR },
    makespanSeconds: 500 * HOUR,
    arrivalSeconds: 2 * HOUR,
    busySeconds: 3 * HOUR,
    gpuUtilization: 0.9,
    fairnessIndex: 0.99,
    guaranteeViolationSeconds: 12,
    guaranteeViolationQueueSeconds: 40,
    preemptions: 3,
    gpuHoursLostToPreemption: 1.5,
    cycles: 10,
    wallSeconds: 1,
    utilizationSeries: series,
    sampleSeconds: sample,
    queues: Array.from({ length: 15 }, (_, i) => queue(`vc-${String.fromCharCode(97 + i)}`, 10 + i, i === 3 ? 18 : 0.5 + i / 10)),
    churn: { preemptionsMax: 1, preemptionsP99: 1, preemptedAtLeast3: 0, pingPongPairs: 0, fastestPingPongSeconds: null, deficitBoundSeconds: 60, deficitSeconds: 0, deficitEpisodes: 0, longestDeficitSeconds: 0, wastedGpuSeconds: 0, wastedShare: 0, partialGangs: 0, doubleBookings: 0 },
    cost: { byQueue: [], byModel: [], total: { key: 'total', attempts: 0, gpuSeconds: 0, costMicros: 0, preemptedGpuSeconds: 0, preemptedCostMicros: 0 } },
  } as JobsResult;
}

const RESULTS = ['fifo', 'sjf', 'tiresias', 'drf', 'gantry'].map((p, i) => result(p, 1487 + i * 3000));

test('the utilisation chart spans the busy period, not the tail', () => {
  const spec = utilizationChartSpec(RESULTS) as unknown as { layer: { encoding?: { x?: { scale?: { domain?: number[] } } } }[] };
  const domain = spec.layer[0]?.encoding?.x?.scale?.domain ?? [];
  assert.equal(domain[0], 0);
  assert.ok((domain[1] as number) >= 3 && (domain[1] as number) <= 4.5, `x axis ends at ${String(domain[1])} h, busy period 3 h`);
});

test('report files: units in headers, one unit per column, legible charts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-jobs-report-'));
  try {
    await writeReport(dir, { trace: 'philly.csv', window: { from: '2017-10-09', days: 7, load: 64, jobs: 100 }, gpus: 2490, settings: {} }, RESULTS, 'gantry sim jobs');
    const util = readFileSync(join(dir, 'utilization.svg'), 'utf8');
    assert.match(util, /hours since the first arrival/);
    assert.match(util, /GPUs allocated \(%\)/);
    assert.match(util, /last arrival/);
    assert.match(util, /busy period only: the last 496 h of the run/);
    assert.doesNotMatch(util, /published|measured/, 'no measured/published legend when nothing is published');
    const xLabels = [...util.matchAll(/<text[^>]*>(\d+\.\d)<\/text>/g)].map((m) => Number(m[1]));
    assert.ok(xLabels.length >= 4 && Math.max(...xLabels) <= 4.5, `x tick labels ${xLabels.join(', ')}`);

    const queues = readFileSync(join(dir, 'queues.svg'), 'utf8');
    const width = Number(/<svg[^>]*\bwidth="(\d+(?:\.\d+)?)"/.exec(queues)?.[1]);
    assert.ok(width > 0 && width <= 1200, `queue chart is ${width} px wide`);
    assert.match(queues, /GPUs used \/ GPUs guaranteed/);
    assert.match(queues, /queue \(virtual cluster\)/);

    const md = readFileSync(join(dir, 'summary.md'), 'utf8');
    const table = md.split('\n').filter((l) => l.startsWith('| '));
    const header = (table[0] ?? '').split('|').map((c) => c.trim());
    for (const name of ['mean JCT (h)', 'p50 JCT (h)', 'mean wait (h)', 'makespan (h)', 'GPU util (%)', 'guarantee violated (s)', 'vs fifo (%)']) assert.ok(header.includes(name), `header has "${name}": ${header.join(' | ')}`);
    // One unit per column: cells are bare numbers, the unit is in the header only.
    const first = (table[1] ?? '').split('|').map((c) => c.trim());
    assert.equal(first[header.indexOf('mean wait (h)')], '0.41');
    assert.equal(first[header.indexOf('guarantee violated (s)')], '12');
    assert.doesNotMatch(md, /\| [\d.]+ (s|h) \|/, 'no value carries its own unit');
    const csv = readFileSync(join(dir, 'queues.csv'), 'utf8');
    assert.match(csv.split('\n')[0] ?? '', /guarantee violated \(h\)/, 'queue columns: hours once any queue reaches an hour');
    assert.match(csv, /,0\.03,/, '90 s in the hours column');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('openb tables name their units', () => {
  const level = { mean: 5.17, sd: 0.1 };
  const summary = { policy: 'fgd', seeds: [42], unallocatedPct: { '100': level, '110': level, '120': level, '130': level }, curve: [], placementsPerSecond: 5000, wallSeconds: 2, secondsPerSeed: 2, runs: [] } as unknown as PolicySummary;
  const out = openbTerminalReport([summary], null);
  const header = out.split('\n').find((l) => l.includes('policy')) ?? '';
  for (const h of ['unalloc. GPU % @100%', 'diff @100% (points)', 'placements/s', 'wall s/seed']) assert.ok(header.includes(h), `header has "${h}": ${header}`);
  assert.match(out, /in % of the cluster's GPU capacity \(mean ± sd over seeds\), when the arrived workload reaches N% of that capacity/);
});
