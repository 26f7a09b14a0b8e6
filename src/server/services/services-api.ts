/**
 * The services routes (`/v1/services...`): apply, list, get, remove, explain. Any user may
 * manage their team's services; admins see every team's. Requests to a service go to the
 * router's URL, not here.
 */
import { existsSync, statSync } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { UserRow } from '../../adapters/store/store.js';
import { describeIssues } from '../../spec/job-spec.js';
import { validateServiceFile } from '../../spec/service-spec.js';
import { ApiError } from '../errors.js';
import type { OperationId } from '../contract/operations.js';
import { explainServiceQuery, serviceParams } from '../contract/service-schemas.js';
import type { ServiceManager } from './service-manager.js';

export interface ServiceRouteDeps {
  readonly services: ServiceManager;
  readonly auth: (req: FastifyRequest) => UserRow;
  readonly dockerAvailable: boolean;
  readonly route: (id: OperationId, handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => void;
}

function parse<T>(schema: z.ZodType<T>, value: unknown, code: 'BAD_REQUEST' | 'QUERY_INVALID'): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues = describeIssues(r.error.issues);
    throw new ApiError(code, issues.join('; '), { issues });
  }
  return r.data;
}

export function registerServiceRoutes(deps: ServiceRouteDeps): void {
  const { services, auth, route } = deps;

  route('applyService', async (req, reply) => {
    const user = auth(req);
    if (req.body === undefined || req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) throw new ApiError('SERVICE_INVALID', 'the body must be a service object with at least name and command');
    const spec = validateServiceFile(req.body);
    if (spec.image !== undefined && !deps.dockerAvailable) throw new ApiError('DOCKER_UNAVAILABLE', `the service names image "${spec.image}" but no Docker daemon is reachable; remove image to run replicas as processes`);
    if (spec.workingDir !== undefined && !(existsSync(spec.workingDir) && statSync(spec.workingDir).isDirectory())) throw new ApiError('WORKDIR_NOT_FOUND', `workingDir "${spec.workingDir}" is not a directory on the server`);
    const r = services.apply(user, spec, req.ip);
    return reply.code(r.created ? 201 : 200).send(services.view(services.visible(user, r.name), true));
  });

  route('listServices', async (req) => {
    const user = auth(req);
    return { items: services.list(user).map((s) => services.view(s, false)) };
  });

  route('getService', async (req) => {
    const user = auth(req);
    const { name } = parse(serviceParams, req.params, 'BAD_REQUEST');
    return services.view(services.visible(user, name), true);
  });

  route('removeService', async (req) => {
    const user = auth(req);
    const { name } = parse(serviceParams, req.params, 'BAD_REQUEST');
    const r = services.remove(user, name, req.ip);
    return { name, removed: true, replicasStopping: r.replicas };
  });

  route('explainService', async (req) => {
    const user = auth(req);
    const { name } = parse(serviceParams, req.params, 'BAD_REQUEST');
    const q = parse(explainServiceQuery, req.query, 'QUERY_INVALID');
    const s = services.visible(user, name);
    return { service: name, desired: s.desired, autoscaler: s.spec.autoscaler.policy, decisions: services.decisions(name, q.limit).map((d) => ({ ...d, at: new Date(d.at).toISOString() })), weights: services.weightsView(s) };
  });
}
