/**
 * The processes of the router benchmark (bench/router-overhead.ts), each its own process so
 * that the load generator, the replicas and the proxy do not share an event loop:
 * - `replicas N`: N plain node HTTP servers answering a small JSON body (an OpenAI-style
 *   completion), one process; prints their ports as a JSON array.
 * - `router [--policy NAME] [--prompt-queue-tokens N] PORT...`: Gantry's services router (serve/router) with one
 *   service, `bench`, whose Ready replicas are those ports (default policy p2c); prints its
 *   port. The shared-prefix benchmark (bench/shared-prefix.ts) runs it too.
 */
import { createServer } from 'node:http';
import { HttpRouter } from '../src/serve/router/http-router.js';
import { ServiceRoute } from '../src/serve/router/service-route.js';
import type { RoutePolicyName } from '../src/serve/router/route-policies.js';

const listen = (s: ReturnType<typeof createServer> | HttpRouter['server']): Promise<number> =>
  new Promise((resolve) =>
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    }),
  );

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'replicas') {
  const body = JSON.stringify({ id: 'cmpl-1', object: 'text_completion', choices: [{ index: 0, text: ' ok', finish_reason: 'length' }] });
  const ports: number[] = [];
  for (let i = 0; i < Number(rest[0] ?? 2); i++) {
    const s = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
    s.keepAliveTimeout = 30_000;
    ports.push(await listen(s));
  }
  console.log(JSON.stringify(ports));
} else if (mode === 'router') {
  const policy = rest[0] === '--policy' ? (rest.splice(0, 2)[1] as RoutePolicyName) : 'p2c';
  const promptQueueTokens = rest[0] === '--prompt-queue-tokens' ? Number(rest.splice(0, 2)[1]) : Infinity;
  const route = new ServiceRoute('bench', { policy, promptQueueTokens });
  rest.forEach((port, i) => {
    route.addReplica(`r${i}`, `http://127.0.0.1:${port}`);
    route.setReady(`r${i}`, true);
  });
  const router = new HttpRouter({ service: (n) => (n === 'bench' ? route : undefined) });
  console.log(JSON.stringify(await router.listen('127.0.0.1', 0)));
  // --cpu-prof writes its profile at a normal exit only.
  process.once('SIGTERM', () => {
    route.close();
    void router.close().then(() => process.exit(0));
  });
} else {
  console.error('usage: router-overhead-parts.js replicas N | router [--policy NAME] [--prompt-queue-tokens N] PORT...');
  process.exit(2);
}
