/**
 * Traces the ping-pong pairs of one churn simulation (issue 17): every eviction with its
 * reason and the job it was for, and for each pair (A stopped for B, later B stopped for A)
 * both decisions, with the queues, sizes and whether the victim checkpoints.
 *
 *   npm run build && node bench/churn-pingpong.mjs SHAPE LOAD POLICY SEED [HOURS] [DIST]
 *   e.g. node bench/churn-pingpong.mjs bursty 1.25 gantry-up 3 48
 */
import { URL, fileURLToPath } from 'node:url';
const [shape = 'bursty', load = '1.25', policy = 'gantry-up', seed = '1', hours = '48', distArg] = process.argv.slice(2);
const D = distArg ?? fileURLToPath(new URL('../dist', import.meta.url));
const { GantryDriver } = await import(`${D}/src/sim/jobs/gantry-driver.js`);
const { simulate } = await import(`${D}/src/sim/jobs/engine.js`);
const { prepare, modeConfig } = await import(`${D}/src/sim/jobs/experiment.js`);
const { churnJobsSpec } = await import(`${D}/bench/churn-spec.js`);
const spec = churnJobsSpec({ shape, load: +load, seed: +seed, hours: +hours });
const prep = prepare(spec);
const driver = new GantryDriver({ seed: +seed, checkpointIntervalSeconds: 1800, graceSeconds: 30, scheduler: modeConfig(policy.slice('gantry-'.length)) }, policy);
const stops = []; // { t, victim, for, reason, move, vq, fq, vg, fg, ck, prio }
const origInit = driver.init.bind(driver);
driver.init = (nodes, queues) => {
  origInit(nodes, queues);
  const sch = driver.s;
  const orig = sch.cycle.bind(sch);
  sch.cycle = (now) => {
    const r = orig(now);
    for (const d of r.decisions) {
      if (d.kind !== 'evict') continue;
      const v = sch.job(d.job);
      const f = sch.job(d.for);
      stops.push({ t: Math.round(now / 1000), victim: d.job, for: d.for, reason: d.reason + (d.moveTo ? '(move)' : ''), vq: v?.queue, fq: f?.queue, vg: (v?.requestGpu ?? 0) / 1000, fg: (f?.requestGpu ?? 0) / 1000, ck: (v?.graceMs ?? 0) > 0, prio: [v?.priority, f?.priority] });
    }
    return r;
  };
};
const res = simulate(driver, prep.nodes, prep.queues, prep.jobs, { cycleMs: 30000, idleCycleMs: 300000, checkpointMs: 1800000, restartMs: 60000, graceMs: 30000, sampleMs: 300000 }, () => performance.now());
console.log(JSON.stringify({ shape, load, policy, seed, pingPongPairs: res.churn.pingPongPairs, stops: stops.length }));
const byPair = new Map();
for (const s of stops) {
  const back = stops.find((x) => x.victim === s.for && x.for === s.victim && x.t <= s.t && x !== s);
  if (back) byPair.set([s.victim, s.for].sort().join(' '), [back, s]);
}
for (const [pair, [first, second]] of byPair) {
  console.log(`== ${pair}`);
  console.log(JSON.stringify(first));
  console.log(JSON.stringify(second));
}
