/**
 * GET /v1/events/stream: the change feed (change-feed.ts) as server-sent events. A member gets
 * their own team's job events only; fleet and queue events carry no data, only the news that
 * the client should read those (already filtered) routes again.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { UserRow, Store } from '../../adapters/store/store.js';
import type { Controller } from '../controller.js';
import type { OperationId } from '../contract/operations.js';
import { ChangeFeed, type FeedEvent } from './change-feed.js';

export interface EventRouteDeps {
  readonly app: FastifyInstance;
  readonly controller: Controller;
  readonly store: Store;
  readonly auth: (req: FastifyRequest) => UserRow;
  readonly route: (id: OperationId, handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => void;
  /** How often the feed compares the state (ms). */
  readonly intervalMs?: number;
}

const KEEPALIVE_MS = 15_000;

function frame(e: { type: string; seq: number }): string {
  return `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

export function feedFor(controller: Controller, store: Store, intervalMs?: number): ChangeFeed {
  return new ChangeFeed(
    {
      activeJobs: () => controller.activeJobs(),
      finishedJob: (id) => store.getJob(id),
      fleetDigest: () => {
        const parts: string[] = [];
        for (const [gpu, holders] of controller.gpuHolders()) parts.push(`${gpu}:${holders.map((h) => `${h.job}/${h.milli}/${h.mig ?? ''}`).join(',')}`);
        for (const n of controller.scheduler.cluster.nodesByName()) {
          parts.push(`${n.name}=${controller.nodeStatus(n.name)}`);
          for (const g of n.gpus) parts.push(g.healthy ? '' : `${n.name}/${g.index}!`);
        }
        return parts.sort().join(';');
      },
      queueDigest: () => controller.queueStatus().map((q) => `${q.name}:${q.usedGpu}/${q.pendingGpu}/${q.running}/${q.pending}/${q.deservedGpu}`).join(';'),
    },
    intervalMs,
  );
}

export function registerEventRoutes(deps: EventRouteDeps): void {
  const feed = feedFor(deps.controller, deps.store, deps.intervalMs);
  const open = new Set<FastifyReply>();
  deps.app.addHook('preClose', (done) => {
    for (const r of open) r.raw.end();
    feed.stop();
    done();
  });
  deps.route('streamEvents', async (req, reply) => {
    const user = deps.auth(req);
    const visible = (e: FeedEvent): boolean => e.type !== 'job' || user.admin || e.team === user.team;
    const streaming = /text\/event-stream/.test(req.headers.accept ?? '');
    const hello = frame({ type: 'hello', seq: feed.seq });
    if (!streaming) return reply.type('text/event-stream; charset=utf-8').header('cache-control', 'no-store').send(`retry: 2000\n\n${hello}`);
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    reply.raw.write(`retry: 2000\n\n${hello}`);
    open.add(reply);
    const unsubscribe = feed.subscribe((e) => {
      if (visible(e)) reply.raw.write(frame(e));
    });
    const keepalive = setInterval(() => reply.raw.write(': keepalive\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    req.raw.on('close', () => {
      clearInterval(keepalive);
      unsubscribe();
      open.delete(reply);
    });
    return reply;
  });
}
