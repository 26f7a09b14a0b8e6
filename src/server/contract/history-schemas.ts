/**
 * Schemas of the history route (/v1/history): use over time of the fleet, GPUs, queues and
 * jobs, downsampled (docs/api.md, "History"). Times are ms since the epoch, in columns that
 * line up with `times`, ready for a chart.
 */
import { z } from 'zod';
import { HISTORY_KINDS } from '../../adapters/store/history-store.js';
import { DURATION_OR_TIME } from './cost-schemas.js';

const time = z.iso.datetime().openapi({ example: '2026-12-06T03:00:00.000Z' });
const LIST = /^[A-Za-z0-9._/-]{1,253}(,[A-Za-z0-9._/-]{1,253}){0,63}$/;

export const historyQuery = z
  .strictObject({
    kind: z.enum(HISTORY_KINDS).openapi({ description: 'fleet (key "all"), gpu (key NODE/INDEX), queue (key the queue) or job (key the job id)' }),
    key: z.string().max(4096).regex(LIST, 'must be up to 64 comma-separated keys (node/index, queue names, job ids)').optional().openapi({ description: 'only these keys, comma-separated (default: every key of the kind)', example: 'local/0,local/1' }),
    metric: z.string().max(512).regex(/^[A-Za-z]{1,32}(,[A-Za-z]{1,32}){0,15}$/, 'must be comma-separated metric names').optional().openapi({ description: 'only these metrics, comma-separated (default: all of the kind)', example: 'util,memory' }),
    since: z.string().max(32).regex(DURATION_OR_TIME, 'must be a duration before now (7d, 12h, 90m, 3600s) or an ISO time (2026-12-01T00:00:00Z)').default('1h'),
    until: z.string().max(32).regex(DURATION_OR_TIME, 'must be a duration before now or an ISO time').optional(),
    points: z.coerce.number().int().min(2).max(2000).default(300).openapi({ type: 'integer', minimum: 2, maximum: 2000, description: 'at most this many steps (the step is a whole number of the tier\'s buckets)' }),
    limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ type: 'integer', minimum: 1, maximum: 1000, description: 'at most this many series' }),
  })
  .openapi({ description: 'kind, keys and metrics to read; since/until: the window (until defaults to now)' });

const column = z.array(z.number().nullable());
const HistorySeriesSchema = z
  .object({
    key: z.string(),
    metric: z.string().openapi({ description: 'fleet: gpus, allocated, idle, util; gpu: util, memory, allocated; queue: used, guaranteed, borrowed, pending, pendingGpus, idle; job: gpus, util, memory, idle' }),
    unit: z.enum(['%', 'MiB', 'GPUs', 'jobs']),
    avg: column.openapi({ description: 'per step, the mean of the samples in it (null: no sample)' }),
    max: column.openapi({ description: 'per step, the highest sample' }),
  })
  .openapi('HistorySeries');

export const HistoryReportSchema = z
  .object({
    kind: z.enum(HISTORY_KINDS),
    since: time,
    until: time,
    resolutionSeconds: z.number().int().openapi({ description: 'bucket width of the tier read: 10 (kept 6 h), 300 (kept 7 days) or 3600 (kept 90 days)' }),
    stepSeconds: z.number().int().openapi({ description: 'width of each step returned (a whole number of buckets)' }),
    times: z.array(z.number().int()).openapi({ description: 'each step\'s start, ms since the epoch, oldest first' }),
    series: z.array(HistorySeriesSchema),
    omitted: z.number().int().openapi({ description: 'series matched beyond limit' }),
    scope: z.string().openapi({ description: '"all" for an admin, else the caller\'s team (job series of other teams are left out)' }),
  })
  .openapi('HistoryReport');
