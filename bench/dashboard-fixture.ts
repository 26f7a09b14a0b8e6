/**
 * A stand-in API for the dashboard benchmark: `gantry up` holds one machine (at most 64
 * GPUs), so a fleet of 1,000 or 10,000 GPUs is served from synthetic answers instead. The
 * page, its bundle and the OpenAPI document are the real ones (dist/src/server), and every
 * answer is checked against the contract's zod schemas before it is served, so the dashboard
 * reads exactly the shapes the real server sends. `push` sends a change event, as the real
 * /v1/events/stream does.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { z } from 'zod';
import { dashboardAsset, dashboardHtml } from '../src/server/dashboard.js';
import { openApiDocument } from '../src/server/openapi.js';
import * as S from '../src/server/contract/schemas.js';

type Top = z.output<typeof S.TopSchema>;
type Nodes = z.output<typeof S.NodeListSchema>;
type JobSummary = z.output<typeof S.JobSummarySchema>;

export interface FleetShape {
  readonly nodes: number;
  readonly gpusPerNode: number;
  readonly jobs: number;
}

const QUEUES = ['vision', 'speech', 'nlp', 'robotics', 'research', 'prod-infer', 'batch', 'eval'];
const iso = (ms: number) => new Date(ms).toISOString();

/** The fleet: about 60% of GPUs hold a whole job, 15% shares (two halves, or one half: fragmented), 5% MIG slices, the rest idle. */
export function synthFleet(shape: FleetShape, version: number): { top: Top; nodes: Nodes } {
  const gpus: Top['gpus'] = [];
  const items: Nodes['items'] = [];
  let job = 0;
  for (let n = 0; n < shape.nodes; n++) {
    const node = `node-${String(n).padStart(5, '0')}`;
    const list: Nodes['items'][number]['gpus'] = [];
    for (let i = 0; i < shape.gpusPerNode; i++) {
      const r = ((n * 7919 + i * 104729 + version * 31) % 100) / 100;
      const mig = r >= 0.75 && r < 0.8;
      let jobs: Top['gpus'][number]['jobs'] = [];
      const q = QUEUES[(n + i + version) % QUEUES.length] ?? 'batch';
      const one = (share: number, m: string | null = null) => ({ job: `job-${++job}`, name: `train-${job}`, team: q, queue: q, share, memoryMiB: 20_000, mig: m, step: 100 });
      if (r < 0.6) jobs = [one(1)];
      else if (r < 0.68) jobs = [one(0.5), one(0.5)];
      else if (r < 0.75) jobs = [one(0.5)];
      else if (mig) jobs = [one(3 / 7, '3g.40gb'), one(2 / 7, '2g.20gb')];
      const used = jobs.reduce((a, j) => a + j.share, 0);
      gpus.push({ node, index: i, uuid: `GPU-${node}-${i}`, model: 'H100-80GB', healthy: (n * 13 + i) % 997 !== 0, simulated: true, utilization: Math.round(used * 90), memoryUsedMiB: Math.round(used * 60_000), memoryMiB: 81_559, powerW: 300, temperatureC: 55, jobs });
      list.push({ index: i, uuid: `GPU-${node}-${i}`, model: 'H100-80GB', memoryMiB: 81_559, healthy: true, health: { admin: true, present: true }, mig, freeMilli: Math.round((1 - used) * 1000), freeMemoryMiB: 40_000, jobs: jobs.length });
    }
    items.push({ name: node, status: n % 211 === 5 ? 'cordoned' : 'ready', simulated: true, sharingMode: 'mps', cpuMilli: 128_000, memoryMiB: 1_000_000, gpus: list });
  }
  return { top: S.TopSchema.parse({ simulated: true, gpus }), nodes: S.NodeListSchema.parse({ items }) };
}

/** Jobs newest first: 10% running, 10% queued (with a reason), the rest finished. */
export function synthJobs(count: number, now: number): JobSummary[] {
  const out: JobSummary[] = [];
  for (let k = count; k >= 1; k--) {
    const q = QUEUES[k % QUEUES.length] ?? 'batch';
    const state = k % 10 === 0 ? 'running' : k % 10 === 1 ? 'queued' : k % 10 === 2 ? 'failed' : 'succeeded';
    out.push({
      id: `job-${k}`,
      name: `train-${q}-${k}`,
      team: q,
      owner: `user-${k % 40}`,
      queue: q,
      state,
      reason: state === 'failed' ? 'exit code 1' : null,
      priority: 0,
      preemptible: true,
      workers: 1 + (k % 4 === 0 ? 3 : 0),
      resources: { gpu: 1 + (k % 8), cpu: '4', memory: '32Gi' },
      submittedAt: iso(now - (count - k) * 60_000),
      startedAt: state === 'queued' ? null : iso(now - (count - k) * 60_000 + 5000),
      finishedAt: state === 'running' || state === 'queued' ? null : iso(now - (count - k) * 60_000 + 50_000),
      attempts: state === 'queued' ? 0 : 1,
      retries: 0,
      preemptions: 0,
      exitCode: state === 'failed' ? 1 : state === 'succeeded' ? 0 : null,
      lastCheckpointAt: null,
      progress: null,
      placement: state === 'running' ? [{ rank: 0, node: `node-${String(k % 100).padStart(5, '0')}`, simulated: true, gpus: [{ index: k % 8, uuid: null, model: 'H100-80GB', milli: 1000, memoryMiB: 81_559 }] }] : [],
      waitingFor: state === 'queued' ? [{ kind: 'quota', message: `queue ${q} uses its guarantee and no GPU is idle to borrow` }] : [],
    });
  }
  return out.map((j) => S.JobSummarySchema.parse(j));
}

export interface Fixture {
  readonly url: string;
  /** Changes the fleet (a new holder pattern) and tells the page, as the server does. */
  push(): void;
  close(): Promise<void>;
}

export async function startFixture(shape: FleetShape): Promise<Fixture> {
  openApiDocument(); // generated before anything is measured (a server builds it at its first request, then keeps it)
  let version = 0;
  let fleet = synthFleet(shape, version);
  const jobs = synthJobs(shape.jobs, Date.now());
  const queues = S.QueueListSchema.parse({ items: QUEUES.map((q) => ({ name: q, team: q, parent: null, guaranteedGpus: 100, limitGpus: null, weight: 1, ordering: 'priority', gpuModels: {}, deservedGpus: 110, usedGpus: 120, pendingGpus: 40, running: 30, pending: 12 })) });
  const streams = new Set<ServerResponse>();
  let seq = 0;
  const json = (res: ServerResponse, body: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname;
    if (p === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(dashboardHtml());
    } else if (p.startsWith('/ui/')) {
      const a = dashboardAsset(p.slice(4));
      res.writeHead(a ? 200 : 404, { 'content-type': a?.type ?? 'text/plain' });
      res.end(a?.body ?? 'not found');
    } else if (p === '/openapi.json') json(res, openApiDocument());
    else if (p === '/v1/whoami') json(res, { name: 'admin', team: 'default', admin: true });
    else if (p === '/v1/top') json(res, fleet.top);
    else if (p === '/v1/nodes') json(res, fleet.nodes);
    else if (p === '/v1/queues') json(res, queues);
    else if (p === '/v1/jobs') {
      const limit = Number(url.searchParams.get('limit') ?? 50);
      const cursor = url.searchParams.get('cursor');
      const start = cursor ? Number(cursor) : 0;
      const page = jobs.slice(start, start + limit);
      json(res, { items: page, nextCursor: start + limit < jobs.length ? String(start + limit) : null });
    } else if (p === '/v1/events/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      res.write(`retry: 2000\n\nid: ${seq}\nevent: hello\ndata: ${JSON.stringify({ type: 'hello', seq })}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: p } }));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    push() {
      fleet = synthFleet(shape, ++version);
      seq++;
      for (const s of streams) s.write(`id: ${seq}\nevent: fleet\ndata: ${JSON.stringify({ type: 'fleet', seq })}\n\n`);
    },
    async close() {
      for (const s of streams) s.end();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
