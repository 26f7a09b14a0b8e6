// Per queue, where a policy's mean JCT comes from on one Philly cell: jobs, sum and mean of
// JCT, GPUs held on average while jobs arrive and how many of them beyond the queue's
// guarantee (read from the policy's own starts, stops and completions; a completion is timed
// at the next event the driver sees, within one 30 s cycle). Used for the diagnosis in
// docs/benchmarks.md ("The Philly generality grid").
//
//   npm run build && GANTRY_TRACES=../shared/traces node bench/philly-queues.mjs gantry 2017-10-09:64:0.5 [week:load:share ...]
//   CFG='{"minRuntimeMs":300000}' node bench/philly-queues.mjs gantry 2017-10-16:64:0.3   # gantry with settings overridden
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { prepare, makeDriver } from '../dist/src/sim/jobs/experiment.js';
import { GantryDriver } from '../dist/src/sim/jobs/gantry-driver.js';
import { simulate } from '../dist/src/sim/jobs/engine.js';
import { loadPhilly } from '../dist/src/sim/jobs/philly.js';
import { PHILLY_FLEET } from '../dist/src/sim/jobs/setup.js';

const [policy, ...cells] = process.argv.slice(2);
if (!policy || cells.length === 0) {
  console.error('usage: node bench/philly-queues.mjs POLICY WEEK:LOAD:SHARE ...');
  process.exit(2);
}
const overrides = JSON.parse(process.env.CFG ?? '{}');
const trace = loadPhilly(join(process.env.GANTRY_TRACES ?? '../shared/traces', 'philly', 'philly.csv'));
for (const cell of cells) {
  const [week, load, share] = cell.split(':');
  const spec = { trace: '', from: Date.parse(`${week}T00:00:00Z`), days: 7, load: Number(load), fleet: PHILLY_FLEET, seed: 1, checkpointMinutes: 30, graceSeconds: 30, cycleSeconds: 30, restartSeconds: 60, guaranteedFraction: Number(share) };
  const p = prepare(spec, trace);
  let inner = makeDriver(policy, spec);
  if (policy === 'gantry') inner = new GantryDriver({ ...inner.o, scheduler: { ...inner.o.scheduler, ...overrides } });
  const guaranteed = new Map(p.queues.map((q) => [q.name, (q.guaranteed?.gpu ?? 0) / 1000]));
  const first = Math.min(...p.jobs.map((j) => j.submit));
  const last = Math.max(...p.jobs.map((j) => j.submit));
  const used = new Map();
  const heldInt = new Map();
  const beyondInt = new Map();
  const jct = new Map();
  const submitted = new Map();
  const running = new Set();
  let now = first;
  let lastT = first;
  const advance = (t) => {
    const to = Math.min(t, last);
    if (to > lastT) {
      for (const [q, u] of used) {
        heldInt.set(q, (heldInt.get(q) ?? 0) + u * (to - lastT));
        beyondInt.set(q, (beyondInt.get(q) ?? 0) + Math.max(0, u - (guaranteed.get(q) ?? 0)) * (to - lastT));
      }
      lastT = to;
    }
    now = Math.max(now, t);
  };
  const hold = (job, sign) => used.set(job.queue, (used.get(job.queue) ?? 0) + sign * job.gpus);
  const driver = {
    name: inner.name,
    oracle: inner.oracle,
    init: (nodes, queues) => inner.init(nodes, queues),
    submit: (job, t) => {
      advance(t);
      submitted.set(job.id, t);
      inner.submit(job, t);
    },
    complete: (job) => {
      if (running.delete(job.id)) hold(job, -1);
      const q = jct.get(job.queue) ?? { n: 0, sum: 0 };
      jct.set(job.queue, { n: q.n + 1, sum: q.sum + now - (submitted.get(job.id) ?? now) });
      inner.complete(job);
    },
    stopped: (job, t) => {
      advance(t);
      if (running.delete(job.id)) hold(job, -1);
      inner.stopped(job, t);
    },
    attained: (job, gpuMs) => inner.attained(job, gpuMs),
    cycle: (t) => {
      advance(t);
      const out = inner.cycle(t);
      for (const s of out.start) {
        running.add(s.job.id);
        hold(s.job, 1);
      }
      return out;
    },
  };
  const r = simulate(driver, p.nodes, p.queues, p.jobs, { cycleMs: 30_000, idleCycleMs: 300_000, checkpointMs: 1_800_000, restartMs: 60_000, graceMs: 30_000, sampleMs: 300_000 }, () => performance.now());
  console.log(`${cell} ${policy}: mean JCT ${r.jctSeconds.mean.toFixed(0)} s, p99 wait ${r.queueingDelaySeconds.p99.toFixed(0)} s, guarantee violated ${r.guaranteeViolationSeconds} s, preemptions ${r.preemptions}`);
  console.log('queue        guaranteed   jobs  mean JCT (h)  sum JCT (h)  GPUs held  beyond guarantee');
  const span = Math.max(1, last - first);
  for (const q of [...guaranteed.keys()].sort()) {
    const j = jct.get(q) ?? { n: 0, sum: 0 };
    console.log(`${q.padEnd(12)} ${String(guaranteed.get(q)).padStart(10)} ${String(j.n).padStart(6)} ${(j.n ? j.sum / j.n / 3.6e6 : 0).toFixed(2).padStart(13)} ${(j.sum / 3.6e6).toFixed(0).padStart(12)} ${((heldInt.get(q) ?? 0) / span).toFixed(0).padStart(10)} ${((beyondInt.get(q) ?? 0) / span).toFixed(0).padStart(17)}`);
  }
}
