/**
 * The history route (/v1/history): use over time, downsampled (history-store.ts). Fleet, GPU
 * and queue series are anyone's (the same figures /v1/top and /v1/queues show); a job's series
 * only its team's and the admins'.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { UserRow } from '../../adapters/store/store.js';
import type { HistoryStore } from '../../adapters/store/history-store.js';
import { ApiError } from '../errors.js';
import type { OperationId } from '../contract/operations.js';
import * as H from '../contract/history-schemas.js';
import { instant } from '../cost/cost-api.js';

export interface HistoryRouteDeps {
  readonly history: HistoryStore;
  readonly clock: () => number;
  readonly auth: (req: FastifyRequest) => UserRow;
  readonly parse: <T>(schema: z.ZodType<T>, value: unknown, code: 'BODY_INVALID' | 'QUERY_INVALID' | 'BAD_REQUEST') => T;
  readonly route: (id: OperationId, handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => void;
}

const UNITS: Record<string, '%' | 'MiB' | 'GPUs' | 'jobs'> = { util: '%', memory: 'MiB', pending: 'jobs' };
const iso = (ms: number): string => new Date(ms).toISOString();

export function registerHistoryRoutes(deps: HistoryRouteDeps): void {
  deps.route('getHistory', async (req) => {
    const user = deps.auth(req);
    const q = deps.parse(H.historyQuery, req.query, 'QUERY_INVALID');
    const now = deps.clock();
    const since = instant(q.since, now);
    const until = q.until === undefined ? now : instant(q.until, now);
    if (since >= until) throw new ApiError('WINDOW_INVALID', `since (${iso(since)}) must be before until (${iso(until)})`);
    const split = (v: string | undefined): string[] | undefined => (v === undefined ? undefined : [...new Set(v.split(','))]);
    const keys = split(q.key);
    const metrics = split(q.metric);
    const r = deps.history.query({ kind: q.kind, since, until, points: q.points, limit: q.limit, ...(keys ? { keys } : {}), ...(metrics ? { metrics } : {}), ...(user.admin ? {} : { team: user.team }) }, now);
    return {
      kind: q.kind,
      since: iso(since),
      until: iso(until),
      resolutionSeconds: r.resolutionMs / 1000,
      stepSeconds: r.stepMs / 1000,
      times: r.times,
      series: r.series.map((s) => ({ key: s.key, metric: s.metric, unit: UNITS[s.metric] ?? 'GPUs', avg: s.avg, max: s.max })),
      omitted: r.omitted,
      scope: user.admin ? 'all' : user.team,
    };
  });
}
