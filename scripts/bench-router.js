#!/usr/bin/env node
// Router overhead: the same fixed request rate sent straight to a replica and through the
// services' router (dist/src/serve/router), in one run, alternating; latency p50/p99 and the
// highest throughput each path reaches. The replica is a plain node http server answering a
// small JSON body, so what differs is the router's hop.
// Usage: npm run build && node scripts/bench-router.js [--rate 2000] [--seconds 10] [--rounds 2]
import { createServer } from 'node:http';
import autocannon from 'autocannon';
import { HttpRouter } from '../dist/src/serve/router/http-router.js';
import { ServiceRoute } from '../dist/src/serve/router/service-route.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const rate = arg('rate', 2000);
const seconds = arg('seconds', 10);
const rounds = arg('rounds', 2);

const body = JSON.stringify({ id: 'cmpl-1', object: 'text_completion', choices: [{ index: 0, text: ' ok', finish_reason: 'length' }] });
const replicas = [];
for (let i = 0; i < 2; i++) {
  const s = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  replicas.push(s);
}
const route = new ServiceRoute('bench', { policy: 'p2c' });
replicas.forEach((s, i) => {
  route.addReplica(`r${i}`, `http://127.0.0.1:${s.address().port}`);
  route.setReady(`r${i}`, true);
});
const router = new HttpRouter({ service: (n) => (n === 'bench' ? route : undefined) });
const routerPort = await router.listen('127.0.0.1', 0);

const run = (url, opts) => new Promise((resolve, reject) => autocannon({ url, duration: seconds, connections: 64, ...opts }, (e, r) => (e ? reject(e) : resolve(r))));
const direct = `http://127.0.0.1:${replicas[0].address().port}/v1/models`;
const routed = `http://127.0.0.1:${routerPort}/bench/v1/models`;
const rows = [];
for (let round = 1; round <= rounds; round++) {
  for (const [path, url] of [['direct', direct], ['router', routed]]) {
    const fixed = await run(url, { overallRate: rate, connections: 16 });
    const max = await run(url, {});
    rows.push({ round, path, rate, p50Ms: fixed.latency.p50, p99Ms: fixed.latency.p99, rps: Math.round(fixed.requests.average), non2xx: fixed.non2xx + fixed.errors, maxRps: Math.round(max.requests.average) });
  }
}
console.table(rows);
const mean = (p, k) => rows.filter((r) => r.path === p).reduce((a, r) => a + r[k], 0) / rounds;
console.log(JSON.stringify({ rate, seconds, rounds, addedP50Ms: +(mean('router', 'p50Ms') - mean('direct', 'p50Ms')).toFixed(2), addedP99Ms: +(mean('router', 'p99Ms') - mean('direct', 'p99Ms')).toFixed(2), maxRpsDirect: Math.round(mean('direct', 'maxRps')), maxRpsRouter: Math.round(mean('router', 'maxRps')) }));
route.close();
await router.close();
for (const s of replicas) s.close();
