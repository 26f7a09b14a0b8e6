/**
 * Schemas of the dashboard's routes: its bundled assets (/ui/{file}) and the change stream it
 * listens to (/v1/events/stream, server-sent events). Each event's `data` is one JSON object
 * of DashboardEvent; a job event reaches only the job's team and the admins.
 */
import { z } from 'zod';

export const uiAssetParams = z.strictObject({
  file: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-z0-9-]+\.(js|css)$/, 'an asset of the dashboard bundle, such as app.js')
    .openapi({ param: { description: 'a file of the dashboard bundle (app.js, app.css)', example: 'app.js' } }),
});

export const DashboardEventSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('hello'), seq: z.number().int().openapi({ description: 'the stream position when the client connected' }) }),
    z.object({ type: z.literal('job'), seq: z.number().int(), id: z.string(), team: z.string(), queue: z.string(), name: z.string(), state: z.string(), reason: z.string().nullable() }),
    z.object({ type: z.literal('fleet'), seq: z.number().int().openapi({ description: 'GPU holders, node status or GPU health changed: read /v1/top and /v1/nodes again' }) }),
    z.object({ type: z.literal('queues'), seq: z.number().int().openapi({ description: 'queue usage or pending work changed: read /v1/queues again' }) }),
  ])
  .openapi('DashboardEvent', { description: 'One server-sent event\'s data (its SSE event name is the type).' });
