/**
 * The OpenAPI 3.1 document served at /openapi.json, generated from the route table
 * (contract/operations.ts) and its zod schemas by @asteasolutions/zod-to-openapi: what the
 * server validates with is what the document says. Errors are all one shape (Error) with a
 * stable code; each response lists the codes it can carry.
 */
import { OpenApiGeneratorV31, OpenAPIRegistry, type ResponseConfig } from '@asteasolutions/zod-to-openapi';
import { ERRORS, type ErrorCode } from './errors.js';
import { errorsOf, OPERATIONS, type Operation } from './contract/operations.js';
import { z } from 'zod';
import { jobFileSchema } from '../spec/job-spec.js';
import { ErrorSchema, JobSpecSchema } from './contract/schemas.js';
import { withJobRules } from './contract/job-rules.js';
import { DashboardEventSchema } from './contract/dashboard-schemas.js';

let cached: Record<string, unknown> | null = null;

function errorResponses(codes: readonly ErrorCode[]): Record<string, ResponseConfig> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of codes) byStatus.set(ERRORS[c].status, [...(byStatus.get(ERRORS[c].status) ?? []), c]);
  return Object.fromEntries(
    [...byStatus.entries()]
      .sort(([a], [b]) => a - b)
      .map(([status, cs]) => [
        String(status),
        {
          description: cs.map((c) => `${c}: ${ERRORS[c].description}`).join(' '),
          content: { 'application/json': { schema: ErrorSchema, example: { error: { code: cs[0], message: ERRORS[cs[0] as ErrorCode].description } } } },
          ...(status === 429 ? { headers: { 'Retry-After': { description: 'seconds to wait', schema: { type: 'string' } } } } : {}),
        },
      ]),
  );
}

/**
 * One server-sent event, as OpenAPI 3.2's itemSchema describes it (and as 3.1 tools such as
 * Schemathesis read a text/event-stream `schema`): its `event` name, its `id`, and its `data`,
 * a DashboardEvent as JSON.
 */
const SSE_EVENT = {
  type: 'object' as const,
  required: ['event', 'data'],
  properties: {
    event: { type: 'string' as const, enum: ['hello', 'job', 'fleet', 'queues'] },
    id: { type: 'string' as const, pattern: '^[0-9]+$' },
    retry: { type: 'integer' as const },
    data: { type: 'string' as const, contentMediaType: 'application/json', contentSchema: { $ref: '#/components/schemas/DashboardEvent' } },
  },
};

function okResponse(op: Operation): ResponseConfig {
  const { schema } = op.ok;
  const content =
    schema === 'html'
      ? { 'text/html': { schema: { type: 'string' as const } } }
      : schema === 'text'
        ? { [op.path === '/openapi.json' ? 'application/json' : 'text/plain']: { schema: op.path === '/openapi.json' ? { type: 'object' as const } : { type: 'string' as const } } }
        : schema === 'metrics'
          ? { 'text/plain': { schema: { type: 'string' as const } } }
          : schema === 'asset'
            ? { 'text/javascript': { schema: { type: 'string' as const } }, 'text/css': { schema: { type: 'string' as const } } }
            : schema === 'event-stream'
              ? { 'text/event-stream': { schema: SSE_EVENT } }
              : { 'application/json': { schema } };
  return {
    description: op.ok.description,
    content,
    ...(op.ok.headers ? { headers: op.ok.headers } : {}),
    ...(op.ok.links ? { links: op.ok.links } : {}),
  };
}

export function openApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'A token from gantry up (the admin token file) or POST /v1/users: Authorization: Bearer gty_...' });
  // The job is described by zod's own JSON Schema output (it keeps the env names' pattern,
  // which zod-to-openapi drops), from the very schema validateJobFile checks.
  registry.registerComponent('schemas', 'JobSpec', { ...withJobRules(z.toJSONSchema(jobFileSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>), $schema: undefined, description: 'A job: the same format as a job file (gantry submit FILE). workingDir is an absolute path on the server.', example: { name: 'train-resnet', queue: 'default', command: 'python train.py --epochs 3', resources: { gpu: 1, cpu: 1, memory: '1Gi' } } } as never);
  const jobRef = { $ref: '#/components/schemas/JobSpec' };
  registry.register('DashboardEvent', DashboardEventSchema);
  for (const [operationId, op] of Object.entries(OPERATIONS) as [string, Operation][]) {
    const ok = okResponse(op);
    const mediaTypes = op.body ? (op.body.mergePatch ? ['application/merge-patch+json', 'application/json'] : ['application/json']) : [];
    registry.registerPath({
      method: op.method,
      path: op.path,
      operationId,
      summary: op.summary,
      tags: [op.tag],
      ...(op.access === 'public' ? { security: [] } : {}),
      request: {
        ...(op.params ? { params: op.params } : {}),
        ...(op.query ? { query: op.query } : {}),
        ...(op.headers ? { headers: op.headers } : {}),
        ...(op.body ? { body: { required: op.body.required, content: Object.fromEntries(mediaTypes.map((m) => [m, { schema: op.body!.schema === JobSpecSchema ? jobRef : op.body!.schema }])) } } : {}),
      },
      responses: {
        [String(op.ok.status)]: ok,
        ...(op.ok.alsoStatus ? { [String(op.ok.alsoStatus)]: ok } : {}),
        ...errorResponses(errorsOf(op)),
      },
    });
  }
  const generator = new OpenApiGeneratorV31(registry.definitions);
  cached = generator.generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Gantry standalone API',
      version: '1',
      description: [
        'Authenticate with a bearer token (Authorization: Bearer gty_...).',
        'Every error, the router\'s included (404 NOT_FOUND, 405 METHOD_NOT_ALLOWED with an Allow header, 413 BODY_TOO_LARGE, 414 URI_TOO_LONG, 415 UNSUPPORTED_MEDIA_TYPE), is {"error":{"code","message","details"?}} with a stable code from components.schemas.ErrorCode; GET /v1/errors lists them.',
        'A member sees and changes only their own team\'s jobs: another team\'s job is answered 404 JOB_NOT_FOUND.',
        'PUT replaces a whole resource and needs every field; PATCH takes a JSON merge patch (RFC 7396).',
      ].join('\n\n'),
    },
    security: [{ bearer: [] }],
  }) as unknown as Record<string, unknown>;
  return cached;
}
