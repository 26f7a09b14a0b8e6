/** The OpenAPI 3.1 document served at /openapi.json. The job schema comes from the zod schema itself. */
import { z } from 'zod';
import { jobFileSchema } from '../spec/job-spec.js';
import { ERRORS } from './errors.js';

let cached: Record<string, unknown> | null = null;

export function openApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const err = (codes: string[]): Record<string, unknown> =>
    Object.fromEntries(
      [...new Set(codes.map((c) => ERRORS[c as keyof typeof ERRORS].status))].map((status) => [
        String(status),
        { description: codes.filter((c) => ERRORS[c as keyof typeof ERRORS].status === status).join(', '), content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      ]),
    );
  const auth = ['UNAUTHENTICATED'];
  const ok = (description: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ '200': { description, content: { 'application/json': { schema: { type: 'object' } } } }, ...extra });
  const jobId = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^job-[0-9]+$' } };
  cached = {
    openapi: '3.1.0',
    info: { title: 'Gantry standalone API', version: '1', description: 'Bearer token auth (Authorization: Bearer gty_...). Errors: {"error":{"code","message","details"}} with the stable codes under components.schemas.ErrorCode.' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Job: z.toJSONSchema(jobFileSchema, { io: 'input', unrepresentable: 'any' }),
        ErrorCode: { type: 'string', enum: Object.keys(ERRORS), description: Object.entries(ERRORS).map(([c, e]) => `${c} (${e.status}): ${e.description}`).join('\n') },
        Error: { type: 'object', properties: { error: { type: 'object', properties: { code: { $ref: '#/components/schemas/ErrorCode' }, message: { type: 'string' }, details: { type: 'object' } }, required: ['code', 'message'] } } },
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/jobs': {
        post: {
          summary: 'Submit a job (JSON or application/yaml). Idempotency-Key header: a retry with the same key and body returns the first job (200), a different body 409.',
          parameters: [{ name: 'Idempotency-Key', in: 'header', schema: { type: 'string', maxLength: 200 } }],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Job' } }, 'application/yaml': { schema: { $ref: '#/components/schemas/Job' } } } },
          responses: { '201': { description: 'created' }, ...ok('replayed (same idempotency key)'), ...err([...auth, 'JOB_INVALID', 'BAD_REQUEST', 'FORBIDDEN', 'QUEUE_NOT_FOUND', 'IDEMPOTENCY_KEY_REUSED', 'WORKDIR_NOT_FOUND', 'DOCKER_UNAVAILABLE', 'UNSATISFIABLE', 'BODY_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE']) },
        },
        get: {
          summary: 'List jobs, newest first (own team; admins: all). Paginated with limit and cursor (nextCursor).',
          parameters: [
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
            { name: 'state', in: 'query', schema: { type: 'string' }, description: 'comma-separated states, or active / finished' },
            { name: 'queue', in: 'query', schema: { type: 'string' } },
          ],
          responses: { ...ok('{items, nextCursor}'), ...err([...auth, 'QUERY_INVALID']) },
        },
      },
      '/v1/jobs/{id}': { get: { summary: 'One job, with placement, processes and (when queued) why it waits.', parameters: [jobId], responses: { ...ok('the job'), ...err([...auth, 'JOB_NOT_FOUND']) } } },
      '/v1/jobs/{id}/cancel': { post: { summary: 'Cancel: SIGTERM to each worker\'s process group, then SIGKILL after the grace period.', parameters: [jobId], responses: { ...ok('the job'), ...err([...auth, 'JOB_NOT_FOUND', 'JOB_FINISHED']) } } },
      '/v1/jobs/{id}/explain': { get: { summary: 'Why a job is pending, its queue position and estimated start.', parameters: [jobId], responses: { ...ok('explanation'), ...err([...auth, 'JOB_NOT_FOUND']) } } },
      '/v1/jobs/{id}/logs': {
        get: {
          summary: 'A worker\'s log from an offset (text/plain; X-Next-Offset and X-Job-Finished headers for following).',
          parameters: [jobId, { name: 'worker', in: 'query', schema: { type: 'integer', default: 0 } }, { name: 'offset', in: 'query', schema: { type: 'integer', default: 0 } }],
          responses: { '200': { description: 'log bytes', content: { 'text/plain': {} } }, ...err([...auth, 'JOB_NOT_FOUND', 'QUERY_INVALID']) },
        },
      },
      '/v1/jobs/{id}/progress': { post: { summary: 'Report training progress {step, loss, samplesPerSec, checkpoint}.', parameters: [jobId], responses: { ...ok('ok'), ...err([...auth, 'JOB_NOT_FOUND', 'BODY_INVALID', 'JOB_FINISHED']) } } },
      '/v1/queues': { get: { summary: 'Queues with guaranteed, deserved, used and pending GPUs, and per GPU model (gpuModels) guaranteed, limit and used.', responses: ok('{items}') } },
      '/v1/queues/{name}': { put: { summary: 'Create or replace a queue (admin).', responses: { ...ok('the queue, with warnings (GUARANTEES_OVERCOMMITTED) when top-level guarantees add up to more than the fleet'), ...err([...auth, 'FORBIDDEN', 'BODY_INVALID', 'TEAM_NOT_FOUND', 'GUARANTEE_EXCEEDS_FLEET', 'QUEUE_MODEL_QUOTA_INVALID', 'QUEUE_TREE_INVALID']) } } },
      '/v1/nodes': { get: { summary: 'Nodes and GPUs (simulated ones say so).', responses: ok('{items}') } },
      '/v1/nodes/{name}/cordon': { post: { summary: 'Stop placing jobs on the node (admin).', responses: { ...ok('status'), ...err([...auth, 'FORBIDDEN', 'NODE_NOT_FOUND']) } } },
      '/v1/nodes/{name}/uncordon': { post: { summary: 'Place jobs on the node again (admin).', responses: { ...ok('status'), ...err([...auth, 'FORBIDDEN', 'NODE_NOT_FOUND']) } } },
      '/v1/nodes/{name}/drain': { post: { summary: 'Cordon, checkpoint-and-requeue the preemptible jobs, wait for the rest (admin).', responses: { ...ok('status'), ...err([...auth, 'FORBIDDEN', 'NODE_NOT_FOUND']) } } },
      '/v1/nodes/{name}/gpus/{index}/health': { post: { summary: 'Mark a GPU healthy or not (admin; kept across restarts, never overwritten by telemetry); a GPU is scheduled when the admin and nvidia-smi both say healthy.', responses: { ...ok('status'), ...err([...auth, 'FORBIDDEN', 'NODE_NOT_FOUND', 'GPU_NOT_FOUND']) } } },
      '/v1/top': { get: { summary: 'GPU telemetry and the jobs on each GPU (other teams\' jobs are masked).', responses: ok('{gpus}') } },
      '/v1/whoami': { get: { summary: 'The token\'s user.', responses: ok('user') } },
      '/v1/users': { post: { summary: 'Create a user (and team) and return its token once (admin).', responses: { '201': { description: 'user with token' }, ...err([...auth, 'FORBIDDEN', 'BODY_INVALID', 'ALREADY_EXISTS']) } } },
      '/v1/teams': { get: { summary: 'Teams and their users (admin).', responses: ok('{items}') }, post: { summary: 'Create a team {name} (admin); it may own queues before it has users.', responses: { '201': { description: 'the team' }, ...err([...auth, 'FORBIDDEN', 'BODY_INVALID', 'ALREADY_EXISTS']) } } },
      '/v1/users/{name}/tokens': { post: { summary: 'Issue one more token for a user {expires?: "30d"} (admin); shown once.', responses: { '201': { description: 'token' }, ...err([...auth, 'FORBIDDEN', 'BODY_INVALID', 'USER_NOT_FOUND']) } } },
      '/v1/tokens': { get: { summary: 'Tokens (ids, expiry, status): all or ?user= (admin), or the caller\'s own.', responses: { ...ok('{items}'), ...err([...auth, 'FORBIDDEN', 'USER_NOT_FOUND']) } } },
      '/v1/tokens/{id}/revoke': { post: { summary: 'Revoke a token (admin, or its owner).', responses: { ...ok('the token'), ...err([...auth, 'TOKEN_NOT_FOUND']) } } },
      '/v1/status': { get: { summary: 'Server status: stored rows that did not load (listed for admins), rate limit.', responses: ok('status') } },
      '/v1/audit': { get: { summary: 'The append-only audit log (admin), paginated by id.', responses: ok('{items, nextAfter}') } },
      '/v1/errors': { get: { summary: 'The error catalogue.', security: [], responses: ok('{items}') } },
      '/metrics': { get: { summary: 'Prometheus metrics (DCGM names for GPU telemetry); admins get per-job series of running jobs, other users aggregates only.', responses: { '200': { description: 'text exposition format' }, ...err(auth) } } },
      '/healthz': { get: { summary: 'Liveness.', security: [], responses: ok('{ok:true}') } },
    },
  };
  return cached;
}
