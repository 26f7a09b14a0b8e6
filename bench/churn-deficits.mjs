/**
 * Why a queue stays below its guarantee in the churn workload (issue 17): runs one churn
 * simulation and, at the first cycle of each deficit episode past the bound (the engine's
 * `onDeficit`), classifies the waiting jobs the metric counts, most serviceable first:
 *   awaiting-victims                       victims chosen, still in their grace
 *   fits-once-evicting-gone-or-now         fits in free room once stopping jobs are gone
 *   fits-freeing-borrowers(over-guar ...)  fits if every preemptible job of queues above
 *                                          their guarantees stopped (reclaim's pool)
 *   fits-freeing-all-other-queues-...      only if the other queues' guaranteed work went too
 *   fits-moving-own-checkpointing          only if the queue's own checkpointing work moved
 *   fits-only-moving-own-noncheckpoint     only if its work without checkpoints stopped
 *   blocked-by-nonpreemptible              not even then
 * and, after the slash, the best node for the job's largest member: reclaimable within the
 * quota rule, needs the other team below its guarantee, needs moves, or blocked by work that
 * cannot move (no checkpoint, or not preemptible). Also tallies the GPU time each kind of
 * eviction wasted (W=1), long priority preemptions of jobs without checkpoints (P=1),
 * examples per class (EX=n, V=1 with the nodes' jobs).
 *
 *   npm run build && node bench/churn-deficits.mjs SHAPE LOAD POLICY SEED [HOURS] [DIST]
 *   e.g. EX=3 W=1 node bench/churn-deficits.mjs issue 1.25 gantry-k8s 1 48
 *   MAXLOSS=1800 ...: with SchedulerConfig.maxPreemptLossGpuSeconds = 1800
 */
import { URL, fileURLToPath } from 'node:url';
const [shape = 'issue', load = '1.25', policy = 'gantry-up', seed = '1', hours = '48', distArg] = process.argv.slice(2);
const D = distArg ?? fileURLToPath(new URL('../dist', import.meta.url));
const { GantryDriver } = await import(`${D}/src/sim/jobs/gantry-driver.js`);
const { simulate } = await import(`${D}/src/sim/jobs/engine.js`);
const { prepare, modeConfig } = await import(`${D}/src/sim/jobs/experiment.js`);
const { churnJobsSpec } = await import(`${D}/bench/churn-spec.js`);
const { placeGang } = await import(`${D}/src/core/placement/gang.js`);
const spec = churnJobsSpec({ shape, load: +load, seed: +seed, hours: +hours });
const prep = prepare(spec);
const mode = policy.slice('gantry-'.length);
// MAXLOSS=S: SchedulerConfig.maxPreemptLossGpuSeconds (as the soak's --max-preempt-loss).
const maxLoss = process.env.MAXLOSS ? { maxPreemptLossGpuSeconds: +process.env.MAXLOSS } : {};
const driver = new GantryDriver({ seed: +seed, checkpointIntervalSeconds: 1800, graceSeconds: 30, scheduler: { ...modeConfig(mode), ...maxLoss } }, policy);
const seen = new Map(); // key queue|since -> class
const classes = {};
const examples = {};
const verbose = process.env.V === '1';
function classify(now, queue, since, waiting) {
  const key = `${queue}|${since}`;
  if (seen.has(key)) return;
  const s = driver.s;
  const guar = Object.fromEntries(prep.queues.map((q) => [q.name, (q.guaranteed?.gpu ?? 0) / 1000]));
  const used = {};
  const all = [...s.allJobs()];
  for (const j of all) if (j.state === 'running' || j.state === 'evicting') used[j.queue] = (used[j.queue] ?? 0) + j.requestGpu / 1000;
  const leaves = ['team-a', 'team-b', 'scratch'];
  let borrowed = 0;
  for (const l of leaves) if (l !== queue) borrowed += Math.max(0, (used[l] ?? 0) - guar[l]);
  const room = guar[queue] - (used[queue] ?? 0);
  const lent = Math.min(room, borrowed);
  const cands = waiting.filter((w) => w.gpus <= lent + 1e-9);
  const running = all.filter((j) => j.state === 'running');
  const evicting = all.filter((j) => j.state === 'evicting');
  const fitsAfter = (w, release) => {
    const stmt = s.cluster.begin();
    for (const j of evicting) for (const b of j.bindings) stmt.release(b.podId);
    for (const j of running) if (release(j)) for (const b of j.bindings) stmt.release(b.podId);
    const r = placeGang(s.placer, { id: w.id, members: w.members }, stmt);
    stmt.rollback();
    return r.ok;
  };
  const over = (q) => (used[q] ?? 0) > guar[q];
  let cls = 'none-candidate';
  let detail = '';
  for (const w of cands) {
    const rec = s.job(w.id);
    const res = s.reservations;
    let c;
    if (!rec || rec.state !== 'pending') c = `not-pending:${rec?.state}`;
    else if ((rec.claims?.awaiting.size ?? 0) > 0) c = 'awaiting-victims';
    else if (fitsAfter(w, () => false)) c = 'fits-once-evicting-gone-or-now';
    else if (fitsAfter(w, (j) => j.preemptible && j.queue !== queue && over(j.queue))) c = 'fits-freeing-borrowers(over-guar queues)';
    else if (fitsAfter(w, (j) => j.preemptible && j.queue !== queue)) c = 'fits-freeing-all-other-queues-preemptible';
    else if (fitsAfter(w, (j) => j.preemptible && (j.queue !== queue ? true : j.graceMs > 0))) c = 'fits-moving-own-checkpointing';
    else if (fitsAfter(w, (j) => j.preemptible)) c = 'fits-only-moving-own-noncheckpoint';
    else c = 'blocked-by-nonpreemptible';
    // best class = most serviceable
    const rank = ['awaiting-victims', 'fits-once-evicting-gone-or-now', 'fits-freeing-borrowers(over-guar queues)', 'fits-freeing-all-other-queues-preemptible', 'fits-moving-own-checkpointing', 'fits-only-moving-own-noncheckpoint', 'blocked-by-nonpreemptible'];
    if (cls === 'none-candidate' || rank.indexOf(c) < rank.indexOf(cls)) {
      cls = c;
      detail = `${w.id} ${w.gpus}g members=${w.members.map((m) => m.gpu.count).join(',')} prio=${w.priority} reasons=${JSON.stringify((rec?.pending?.lastReasons ?? []).map((r) => r.kind + ':' + r.message).slice(0, 3))} res=${[...res.values()].map((r) => r.job + '@' + [...r.nodes].join('+')).join(' ')}`;
    }
  }
  // Per node, for the best candidate's largest member: what must go for it to fit there.
  const w0 = cands.find((w) => detail.startsWith(w.id + ' '));
  if (w0) {
    const m = Math.max(...w0.members.map((x) => x.gpu.count));
    const other = leaves.find((l) => l !== queue && l !== 'scratch');
    const excess = Math.max(0, (used[other] ?? 0) - guar[other]);
    let best = 'n/a';
    const order = ['node-reclaimable', 'node-needs-other-team-below-guar', 'node-needs-own-ckpt-moves', 'node-needs-other-ckpt-moves', 'node-needs-both-moves', 'node-blocked-nockpt-or-np'];
    const byNode = new Map();
    for (const j of all) if (j.state === 'running' || j.state === 'evicting') for (const b of j.bindings) { const l = byNode.get(b.node) ?? []; l.push([j, b.gpus.length]); byNode.set(b.node, l); }
    for (const n of s.cluster.nodes()) {
      const jobs = byNode.get(n.name) ?? [];
      let free = n.gpus.length; for (const [, g] of jobs) free -= g;
      let c = free >= m ? 'node-reclaimable' : null;
      const sum = (f) => jobs.filter(([j]) => f(j)).reduce((a, [, g]) => a + g, 0);
      const borrow = (j) => j.state === 'evicting' || (j.preemptible && j.queue === 'scratch');
      const otherJobs = new Set(jobs.filter(([j]) => j.queue === other && j.preemptible && j.state === 'running').map(([j]) => j));
      const otherTotal = [...otherJobs].reduce((a, j) => a + j.requestGpu / 1000, 0);
      const isOther = (j) => otherJobs.has(j);
      if (!c && free + sum(borrow) >= m) c = 'node-reclaimable';
      if (!c && free + sum((j) => borrow(j) || isOther(j)) >= m) c = otherTotal <= excess ? 'node-reclaimable' : 'node-needs-other-team-below-guar';
      const ownCk = (j) => j.queue === queue && j.preemptible && j.graceMs > 0;
      const othCk = (j) => j.queue === other && j.preemptible && j.graceMs > 0;
      if (!c && free + sum((j) => borrow(j) || ownCk(j)) >= m) c = 'node-needs-own-ckpt-moves';
      if (!c && free + sum((j) => borrow(j) || othCk(j)) >= m) c = 'node-needs-other-ckpt-moves';
      if (!c && free + sum((j) => borrow(j) || othCk(j) || ownCk(j)) >= m) c = 'node-needs-both-moves';
      if (!c) c = 'node-blocked-nockpt-or-np';
      if (best === 'n/a' || order.indexOf(c) < order.indexOf(best)) best = c;
    }
    cls = cls + ' / ' + best;
  }
  seen.set(key, cls);
  classes[cls] = (classes[cls] ?? 0) + 1;
  (examples[cls] ??= []).push({ t: Math.round(now / 1000), queue, since: Math.round(since / 1000), room, lent, used: { ...used }, detail, nodes: verbose ? nodeDump(s, all) : undefined });
}
function nodeDump(s, all) {
  const byNode = {};
  for (const j of all) if (j.state === 'running' || j.state === 'evicting') for (const b of j.bindings) (byNode[b.node] ??= []).push(`${j.id}[${j.queue[0] === 't' ? j.queue.slice(5) : 's'}${b.gpus.length}${j.preemptible ? '' : '!NP'}${j.graceMs > 0 ? '' : '!NC'}${j.state === 'evicting' ? '!EV' : ''}]`);
  return byNode;
}
const waste = {};
const origInit = driver.init.bind(driver);
driver.init = (nodes, queues) => {
  origInit(nodes, queues);
  const sch = driver.s;
  const orig = sch.cycle.bind(sch);
  sch.cycle = (now) => {
    const r = orig(now);
    for (const d of r.decisions) {
      if (d.kind !== 'evict') continue;
      const j = sch.job(d.job);
      if (!j) continue;
      const g = j.requestGpu / 1000;
      const ck = j.graceMs > 0;
      const forJ = sch.job(d.for);
      const kind = `${d.reason}${d.moveTo ? '(move)' : ''} victim=${j.queue}${ck ? '' : ' nockpt'} for=${forJ?.queue}${forJ && forJ.priority > 0 ? ' burst' : ''}`;
      const lost = ck ? (d.graceMs + 60000) * g : (now - (j.startedAt ?? now)) * g + 60000 * g;
      if (process.env.P && d.reason === 'preempt' && !ck && lost > 3.6e6) {
        const fj = sch.job(d.for);
        const nd = {};
        for (const x of sch.allJobs()) if (x.state === 'running' || x.state === 'evicting') for (const b of x.bindings) (nd[b.node] ??= []).push(`${x.id}[${x.queue.slice(-1)}${b.gpus.length}${x.preemptible ? '' : '!NP'}${x.graceMs > 0 ? '' : '!NC'}${x.state === 'evicting' ? '!EV' : ''}${x.priority ? '!P' : ''} ${Math.round((now - (x.startedAt ?? now)) / 60000)}m]`);
        console.log("PREEMPT", Math.round(now / 1000), "res=" + [...sch.reservations.values()].map((r) => r.job + "@" + [...r.nodes].join("+")).join(" "), d.job, `${g}g ran ${Math.round((now - j.startedAt) / 60000)}m`, 'for', d.for, fj?.spec.members.map((m) => m.gpu.count).join(','), 'lost GPUh', (lost / 3.6e6).toFixed(1), JSON.stringify(nd));
      }
      const w = (waste[kind] ??= { n: 0, gpuh: 0 });
      w.n++;
      w.gpuh += lost / 3.6e6;
    }
    return r;
  };
};
const res = simulate(driver, prep.nodes, prep.queues, prep.jobs, { cycleMs: 30000, idleCycleMs: 300000, checkpointMs: 1800000, restartMs: 60000, graceMs: 30000, sampleMs: 300000, onDeficit: classify }, () => performance.now());
const work = prep.jobs.reduce((a, j) => a + j.gpus * j.duration, 0) / 3.6e6;
console.log(JSON.stringify({ work: Math.round(work), shape, load, policy, seed, episodes: res.churn.deficitEpisodes, deficitS: Math.round(res.churn.deficitSeconds), wasted: +(res.churn.wastedShare * 100).toFixed(2), classes }));
if (process.env.EX) for (const [c, xs] of Object.entries(examples)) { console.log('==', c); for (const x of xs.slice(0, +process.env.EX)) console.log(JSON.stringify(x)); }
if (process.env.W) for (const [k, v] of Object.entries(waste).sort((a, b) => b[1].gpuh - a[1].gpuh)) console.log(k.padEnd(60), v.n, v.gpuh.toFixed(1), (100 * v.gpuh / work).toFixed(2) + '%');
