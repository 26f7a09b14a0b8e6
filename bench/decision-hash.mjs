// Checks that two builds of the core decide alike: the same deterministic scenarios run through
// both builds' dist, every Scheduler.cycle result (decisions and wait reasons) is fed into a
// sha256 per scenario, and the script prints equal/different per scenario (exit 1 on any
// difference). A refactor of the core's bookkeeping must print "equal" everywhere.
//
// Scenarios: the cycle benchmark (src/bench/cycle) at fixed seeds; a short openb replay (two
// seeds) over ../shared/traces/openb; one day of the Philly trace through the `gantry` policy
// and the three core modes; the churn workload through the three modes; and the scheduler
// scenario tests (test/core/*-scenarios, queue-semantics), run in a child process per build
// with the same hook.
//
//   git worktree add /tmp/base <rev> && (cd /tmp/base && ln -s "$OLDPWD/node_modules" . && npx tsc -p .)
//   npm run build && GANTRY_TRACES=../shared/traces node bench/decision-hash.mjs /tmp/base/dist dist
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const HOOK = fileURLToPath(import.meta.url);
const url = (dir, file) => pathToFileURL(resolve(dir, file)).href;

/** Hooks Scheduler.cycle of the build in `dist`: every result goes into the current hash. */
export async function hookBuild(dist) {
  const { Scheduler } = await import(url(dist, 'src/core/scheduler/scheduler.js'));
  const state = { hash: createHash('sha256'), cycles: 0 };
  const cycle = Scheduler.prototype.cycle;
  Scheduler.prototype.cycle = function hashedCycle(now) {
    const r = cycle.call(this, now);
    state.cycles++;
    state.hash.update(`${now}|${JSON.stringify(r.decisions)}|`);
    const waits = [...r.pending.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [id, reasons] of waits) state.hash.update(`${id}:${reasons.map((w) => `${w.kind}/${w.message}`).join(';')}\n`);
    return r;
  };
  return {
    state,
    reset() {
      state.hash = createHash('sha256');
      state.cycles = 0;
    },
    digest(extra = '') {
      state.hash.update(extra);
      return `${state.hash.digest('hex').slice(0, 16)} (${state.cycles} cycles)`;
    },
  };
}

async function scenarios(dist, traces) {
  const hook = await hookBuild(dist);
  const out = [];
  const run = async (name, fn) => {
    hook.reset();
    const extra = await fn();
    out.push([name, hook.digest(extra === undefined ? '' : JSON.stringify(extra))]);
    process.stderr.write(`  ${dist}: ${name} done\n`);
  };
  const cycleBench = await import(url(dist, 'src/bench/cycle.js'));
  for (const seed of [7, 8]) {
    await run(`cycle bench seed ${seed} (1,000 nodes)`, () => {
      const r = cycleBench.benchCycle({ nodes: 1000, running: 10000, pending: 2000, queues: 8, repeats: 4, seed });
      return [r.bound, r.evicted, r.considered, r.gpuAllocatedPct];
    });
  }
  const exp = await import(url(dist, 'src/sim/jobs/experiment.js'));
  const { CHURN_DEFAULTS } = await import(url(dist, 'src/sim/jobs/churn.js'));
  const { PHILLY_FLEET } = await import(url(dist, 'src/sim/jobs/setup.js'));
  const base = { checkpointMinutes: 30, graceSeconds: 30, cycleSeconds: 30, restartSeconds: 60 };
  const result = (r) => ({ ...r, wallSeconds: undefined });
  for (const seed of [1, 2]) {
    const churn = { ...CHURN_DEFAULTS, seed, hours: 24, load: 1.25 };
    const spec = { ...base, trace: '', from: 0, days: 1, load: 1.25, fleet: { ...PHILLY_FLEET, eightGpuServers: 6, twoGpuServers: 0 }, seed, guaranteedFraction: 0, churn };
    const prepared = exp.prepare(spec);
    for (const policy of exp.CHURN_POLICIES) await run(`churn seed ${seed} ${policy}`, () => stable(result(exp.runPolicy(policy, spec, prepared))));
  }
  const philly = join(traces, 'philly', 'philly.csv');
  if (existsSync(philly)) {
    const spec = { ...base, trace: philly, from: Date.UTC(2017, 9, 9), days: 1, load: 1, fleet: PHILLY_FLEET, seed: 1, guaranteedFraction: 0.5 };
    const prepared = exp.prepare(spec);
    for (const policy of ['gantry', ...exp.CHURN_POLICIES]) await run(`philly 2017-10-09 1 day ${policy}`, () => stable(result(exp.runPolicy(policy, spec, prepared))));
  } else out.push(['philly', `skipped: no ${philly}`]);
  const pods = join(traces, 'openb', 'openb_pod_list_default.csv');
  if (existsSync(pods)) {
    const trace = await import(url(dist, 'src/sim/openb/trace.js'));
    const { replay } = await import(url(dist, 'src/sim/openb/replay.js'));
    const nodes = trace.loadOpenbNodes(join(traces, 'openb', 'openb_node_list_gpu_node.csv'));
    const list = trace.loadOpenbPods(pods).slice(0, 3000);
    for (const seed of [42, 43]) {
      await run(`openb default (3,000 pods) seed ${seed} gantry`, () => {
        const r = replay({ nodes, pods: list, policy: 'gantry', seed, inflate: 1.3, now: () => 0 });
        return stable({ ...r, curve: Array.from(r.curve), seconds: undefined });
      });
    }
  } else out.push(['openb', `skipped: no ${pods}`]);
  return out;
}

/** JSON with NaN and Infinity kept apart from null, and timing fields dropped by the callers. */
function stable(x) {
  return JSON.parse(JSON.stringify(x, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)));
}

/** The scenario tests, in a child process with the hook loaded first. */
function testHashes(dist) {
  const files = ['test/core/churn-scenarios.test.js', 'test/core/scheduler-scenarios.test.js', 'test/core/queue-semantics.test.js', 'test/core/scheduler-queues.test.js'];
  return files.map((f) => {
    const file = resolve(dist, f);
    if (!existsSync(file)) return [f, 'missing'];
    const r = spawnSync(process.execPath, ['--import', pathToFileURL(HOOK).href, file], { env: { ...process.env, DECISION_HASH_CHILD: resolve(dist) }, encoding: 'utf8', maxBuffer: 64 << 20 });
    const m = /DECISION_HASH (\S+ \(\d+ cycles\))/.exec(r.stderr);
    return [f, m ? m[1] : `no hash (exit ${r.status})`];
  });
}

if (process.env.DECISION_HASH_CHILD) {
  // Loaded with --import into a test file's process: hash its cycles, print at exit.
  const hook = await hookBuild(process.env.DECISION_HASH_CHILD);
  process.on('exit', () => process.stderr.write(`DECISION_HASH ${hook.digest()}\n`));
} else if (process.argv[1] === HOOK) {
  const [distA, distB] = process.argv.slice(2);
  if (!distA || !distB) {
    console.error('usage: GANTRY_TRACES=DIR node bench/decision-hash.mjs DIST_A DIST_B');
    process.exit(2);
  }
  const traces = process.env.GANTRY_TRACES ?? resolve('..', 'shared', 'traces');
  const a = [...(await scenarios(distA, traces)), ...testHashes(distA)];
  const b = [...(await scenarios(distB, traces)), ...testHashes(distB)];
  let differ = 0;
  console.log('| scenario | A | B | |\n|---|---|---|---|');
  for (let i = 0; i < a.length; i++) {
    const [name, ha] = a[i];
    const hb = b[i]?.[1];
    const same = ha === hb && !/skipped|missing|no hash/.test(ha);
    if (!same) differ++;
    console.log(`| ${name} | ${ha} | ${hb} | ${same ? 'equal' : 'DIFFERENT'} |`);
  }
  console.log(differ === 0 ? '\nall equal' : `\n${differ} different`);
  process.exit(differ === 0 ? 0 : 1);
}
