// Compares the scheduling cycle of two builds in one process: both builds' bench/cycle modules
// are loaded side by side and their scenarios alternate (A B, B A, ...) with the same seeds, so
// a shared machine's slow and fast moments fall on both alike. Reports each side's first and
// steady cycles and the B/A ratio per pair.
//
//   git worktree add /tmp/base <rev> && (cd /tmp/base && ln -s "$OLDPWD/node_modules" . && npx tsc -p .)
//   npm run build && node bench/cycle-ab.mjs /tmp/base/dist dist [pairs]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [distA, distB, pairsArg] = process.argv.slice(2);
if (!distA || !distB) {
  console.error('usage: node bench/cycle-ab.mjs DIST_A DIST_B [pairs]');
  process.exit(2);
}
const load = (dir) => import(pathToFileURL(resolve(dir, 'src/bench/cycle.js')).href);
const sides = { A: await load(distA), B: await load(distB) };
const pairs = Number(pairsArg ?? 6);
const o = { nodes: 5000, running: 50000, pending: 10000, queues: 20, repeats: 6 };
for (const m of Object.values(sides)) m.benchCycle({ ...o, seed: 11 }); // warm-up, untimed
const res = { A: [], B: [] };
for (let k = 0; k < pairs; k++) {
  const seed = 7 + (k % 5);
  for (const name of k % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
    const r = sides[name].benchCycle({ ...o, seed });
    res[name].push({ first: r.firstCycleMs, steady: r.steadyMedianMs, actions: r.actionMs });
    process.stderr.write(`pair ${k + 1}/${pairs} ${name}: first ${r.firstCycleMs.toFixed(0)} ms\n`);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = ['A', 'B'].map((name) => {
  const xs = res[name];
  const actions = Object.keys(xs[0].actions).map((a) => `${a} ${median(xs.map((x) => x.actions[a])).toFixed(0)}`).join(', ');
  return `| ${name} | ${xs.map((x) => x.first.toFixed(0)).join(', ')} | ${median(xs.map((x) => x.first)).toFixed(0)} | ${median(xs.map((x) => x.steady)).toFixed(0)} | ${actions} |`;
});
const ratio = (key) => median(res.A.map((a, i) => res.B[i][key] / a[key])).toFixed(2);
console.log(`| build | first cycles (ms) | median | steady median | action medians (first cycle) |\n|---|---|---:|---:|---|\n${rows.join('\n')}`);
console.log(`\nB/A per pair, median: first cycle ${ratio('first')}, steady ${ratio('steady')}`);
