/**
 * Every route of the API as data: method, path, who may call it, the zod schemas of its
 * parameters, body and answer, and the error codes it can answer with. The server validates
 * with these schemas (api.ts), the OpenAPI document is generated from this table
 * (openapi.ts), and the CLI's typed client calls operations by their id (src/cli/client.ts).
 * A route registered on the server but missing here fails test/server/openapi.e2e.test.ts.
 */
import type { z } from 'zod';
import type { ErrorCode } from '../errors.js';
import * as S from './schemas.js';
import * as D from './dataset-schemas.js';
import * as C from './cost-schemas.js';
import * as P from './policy-schemas.js';
import * as V from './service-schemas.js';
import * as W from './dashboard-schemas.js';
import * as H from './history-schemas.js';

export type Access = 'public' | 'user' | 'admin';

export interface Operation {
  readonly method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI style: /v1/jobs/{id}. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  readonly access: Access;
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly headers?: z.ZodObject;
  readonly body?: { readonly schema: z.ZodType; readonly required: boolean; readonly yaml?: boolean; readonly mergePatch?: boolean };
  readonly ok: {
    readonly status: 200 | 201;
    /** A JSON answer's schema; 'text' / 'html' / 'metrics' / 'asset' (JavaScript or CSS) / 'event-stream' (SSE) for the others. */
    readonly schema: z.ZodType | 'text' | 'html' | 'metrics' | 'asset' | 'event-stream';
    readonly description: string;
    /** Another status with the same body (POST /v1/jobs: 200 for a replayed idempotency key). */
    readonly alsoStatus?: 200;
    readonly headers?: Record<string, { readonly description: string; readonly schema: Record<string, unknown> }>;
    readonly links?: Record<string, { readonly operationId: string; readonly parameters: Record<string, string>; readonly description: string }>;
  };
  /** Codes besides those every route of its kind can answer (see errorsOf). */
  readonly errors: readonly ErrorCode[];
}

const jobLinks = {
  GetJob: { operationId: 'getJob', parameters: { id: '$response.body#/id' }, description: 'the job just submitted' },
  GetJobLogs: { operationId: 'getJobLogs', parameters: { id: '$response.body#/id' }, description: 'its first worker\'s log' },
  ExplainJob: { operationId: 'explainJob', parameters: { id: '$response.body#/id' }, description: 'why it waits' },
  CancelJob: { operationId: 'cancelJob', parameters: { id: '$response.body#/id' }, description: 'cancel it' },
  ReportProgress: { operationId: 'reportJobProgress', parameters: { id: '$response.body#/id' }, description: 'report its progress' },
};

export const OPERATIONS = {
  // ---- public ----
  dashboard: { method: 'get', path: '/', tag: 'meta', access: 'public', summary: 'The dashboard (HTML; it asks for a token and calls this API).', ok: { status: 200, schema: 'html', description: 'the dashboard page' }, errors: [] },
  dashboardAsset: { method: 'get', path: '/ui/{file}', tag: 'meta', access: 'public', summary: 'A file of the dashboard\'s bundle (JavaScript or CSS, built by npm run build; no data in it).', params: W.uiAssetParams, ok: { status: 200, schema: 'asset', description: 'the file' }, errors: ['NOT_FOUND'] },
  healthz: { method: 'get', path: '/healthz', tag: 'meta', access: 'public', summary: 'Liveness.', ok: { status: 200, schema: S.OkSchema, description: 'the server is up' }, errors: [] },
  openapi: { method: 'get', path: '/openapi.json', tag: 'meta', access: 'public', summary: 'This document.', ok: { status: 200, schema: 'text', description: 'the OpenAPI 3.1 document (application/json)' }, errors: [] },
  listErrors: { method: 'get', path: '/v1/errors', tag: 'meta', access: 'public', summary: 'The error catalogue: each stable code with its HTTP status.', ok: { status: 200, schema: S.ErrorCatalogueSchema, description: 'the catalogue' }, errors: [] },
  metrics: { method: 'get', path: '/metrics', tag: 'meta', access: 'user', summary: 'Prometheus metrics in base units (DCGM names for GPU telemetry); admins get per-job series of running jobs, other users aggregates only.', ok: { status: 200, schema: 'metrics', description: 'text exposition format' }, errors: [] },
  streamEvents: {
    method: 'get',
    path: '/v1/events/stream',
    tag: 'meta',
    access: 'user',
    summary: 'Changes as server-sent events (text/event-stream), each data a DashboardEvent: job (to its team and admins), fleet and queues (signals to read those again). With Accept: text/event-stream the stream stays open (a comment every 15 s keeps it alive); otherwise the answer is the hello event alone.',
    ok: { status: 200, schema: 'event-stream', description: 'the event stream' },
    errors: [],
  },
  getStatus: { method: 'get', path: '/v1/status', tag: 'meta', access: 'user', summary: 'Server status: stored rows that did not load (listed for admins), rate limit.', ok: { status: 200, schema: S.StatusSchema, description: 'status' }, errors: [] },

  // ---- jobs ----
  submitJob: {
    method: 'post',
    path: '/v1/jobs',
    tag: 'jobs',
    access: 'user',
    summary: 'Submit a job. The body may also be sent as YAML (Content-Type: application/yaml; the same fields, like a job file); the document lists JSON only, as YAML generators cannot tell a string "1e100" from a number. With an Idempotency-Key header a retry with the same key and body returns the first job (200), a different body 409.',
    headers: S.idempotencyHeaders,
    body: { schema: S.JobSpecSchema, required: true, yaml: true },
    ok: {
      status: 201,
      alsoStatus: 200,
      schema: S.JobSchema,
      description: 'the job (201 created; 200 when replayed for the same idempotency key)',
      headers: { 'Idempotent-Replayed': { description: 'true when this answer replays an earlier submission with the same key', schema: { type: 'string', enum: ['true', 'false'] } } },
      links: jobLinks,
    },
    errors: ['JOB_INVALID', 'FORBIDDEN', 'SINGLE_TENANT', 'QUOTA_EXCEEDED', 'QUEUE_NOT_FOUND', 'QUEUE_NOT_LEAF', 'IDEMPOTENCY_KEY_REUSED', 'WORKDIR_NOT_FOUND', 'DOCKER_UNAVAILABLE', 'UNSATISFIABLE', 'JOB_DATASET_TWICE', 'DATASET_NOT_FOUND', 'DATASET_REMOVED', 'POLICY_DENIED'],
  },
  listJobs: { method: 'get', path: '/v1/jobs', tag: 'jobs', access: 'user', summary: 'Jobs, newest first (own team; admins: all), a page at a time (nextCursor).', query: S.listJobsQuery, ok: { status: 200, schema: S.JobListSchema, description: 'a page of jobs' }, errors: [] },
  getJob: { method: 'get', path: '/v1/jobs/{id}', tag: 'jobs', access: 'user', summary: 'One job, with placement, processes and (when queued) why it waits. Another team\'s job is not found.', params: S.jobIdParams, ok: { status: 200, schema: S.JobSchema, description: 'the job', links: { GetJobLogs: jobLinks.GetJobLogs, CancelJob: jobLinks.CancelJob } }, errors: ['JOB_NOT_FOUND'] },
  cancelJob: { method: 'post', path: '/v1/jobs/{id}/cancel', tag: 'jobs', access: 'user', summary: 'Cancel: SIGTERM to each worker\'s process group, SIGKILL after the grace period.', params: S.jobIdParams, ok: { status: 200, schema: S.JobSchema, description: 'the job, cancelling or cancelled', links: { GetJob: jobLinks.GetJob } }, errors: ['JOB_NOT_FOUND', 'JOB_FINISHED'] },
  explainJob: { method: 'get', path: '/v1/jobs/{id}/explain', tag: 'jobs', access: 'user', summary: 'Why a job is pending, its queue position and estimated start.', params: S.jobIdParams, ok: { status: 200, schema: S.ExplanationSchema, description: 'the explanation' }, errors: ['JOB_NOT_FOUND'] },
  getJobLogs: {
    method: 'get',
    path: '/v1/jobs/{id}/logs',
    tag: 'jobs',
    access: 'user',
    summary: 'A worker\'s log from a byte offset; follow it with X-Next-Offset until X-Job-Finished is true.',
    params: S.jobIdParams,
    query: S.logsQuery,
    ok: {
      status: 200,
      schema: 'text',
      description: 'log bytes',
      headers: {
        'X-Next-Offset': { description: 'offset to read from next', schema: { type: 'string', pattern: '^[0-9]+$' } },
        'X-Job-Finished': { description: 'true once the job finished (no more bytes will come)', schema: { type: 'string', enum: ['true', 'false'] } },
      },
    },
    errors: ['JOB_NOT_FOUND', 'WORKER_NOT_FOUND'],
  },
  reportJobProgress: { method: 'post', path: '/v1/jobs/{id}/progress', tag: 'jobs', access: 'user', summary: 'Report training progress; checkpoint: true acknowledges a preemption signal.', params: S.jobIdParams, body: { schema: S.progressBody, required: true }, ok: { status: 200, schema: S.OkSchema, description: 'recorded' }, errors: ['JOB_NOT_FOUND', 'JOB_FINISHED'] },

  // ---- queues ----
  listQueues: { method: 'get', path: '/v1/queues', tag: 'queues', access: 'user', summary: 'Queues with guaranteed, deserved, used and pending GPUs, also per GPU model; another team\'s queue as aggregates only.', ok: { status: 200, schema: S.QueueListSchema, description: 'the queues' }, errors: [] },
  putQueue: {
    method: 'put',
    path: '/v1/queues/{name}',
    tag: 'queues',
    access: 'admin',
    summary: 'Create or replace a queue (admin). A full replacement: the body is required, and a field it leaves out is reset to its default (PATCH keeps what it does not name).',
    params: S.queueParams,
    body: { schema: S.queuePutBody, required: true },
    ok: { status: 200, schema: S.QueueSavedSchema, description: 'the queue, with warnings (GUARANTEES_OVERCOMMITTED) when top-level guarantees add up to more than the fleet' },
    errors: ['TEAM_NOT_FOUND', 'GUARANTEE_EXCEEDS_FLEET', 'QUEUE_MODEL_QUOTA_INVALID', 'QUEUE_TREE_INVALID'],
  },
  patchQueue: {
    method: 'patch',
    path: '/v1/queues/{name}',
    tag: 'queues',
    access: 'admin',
    summary: 'Change some fields of a queue (admin), as a JSON merge patch (RFC 7396): absent fields are kept, null clears.',
    params: S.queueParams,
    body: { schema: S.queuePatchBody, required: true, mergePatch: true },
    ok: { status: 200, schema: S.QueueSavedSchema, description: 'the queue after the change' },
    errors: ['QUEUE_NOT_FOUND', 'TEAM_NOT_FOUND', 'GUARANTEE_EXCEEDS_FLEET', 'QUEUE_MODEL_QUOTA_INVALID', 'QUEUE_TREE_INVALID'],
  },

  // ---- nodes and GPUs ----
  listNodes: { method: 'get', path: '/v1/nodes', tag: 'nodes', access: 'user', summary: 'Nodes and GPUs (simulated ones say so).', ok: { status: 200, schema: S.NodeListSchema, description: 'the nodes' }, errors: [] },
  cordonNode: { method: 'post', path: '/v1/nodes/{name}/cordon', tag: 'nodes', access: 'admin', summary: 'Stop placing jobs on the node (admin).', params: S.nodeParams, ok: { status: 200, schema: S.NodeStatusSchema, description: 'the node\'s status' }, errors: ['NODE_NOT_FOUND'] },
  uncordonNode: { method: 'post', path: '/v1/nodes/{name}/uncordon', tag: 'nodes', access: 'admin', summary: 'Place jobs on the node again (admin).', params: S.nodeParams, ok: { status: 200, schema: S.NodeStatusSchema, description: 'the node\'s status' }, errors: ['NODE_NOT_FOUND'] },
  drainNode: { method: 'post', path: '/v1/nodes/{name}/drain', tag: 'nodes', access: 'admin', summary: 'Cordon, checkpoint-and-requeue the preemptible jobs, wait for the rest (admin).', params: S.nodeParams, ok: { status: 200, schema: S.NodeStatusSchema, description: 'the node\'s status' }, errors: ['NODE_NOT_FOUND'] },
  setGpuHealth: { method: 'post', path: '/v1/nodes/{name}/gpus/{index}/health', tag: 'nodes', access: 'admin', summary: 'Mark a GPU healthy or not (admin; kept across restarts); a GPU is scheduled when the admin and nvidia-smi both say healthy.', params: S.gpuParams, body: { schema: S.gpuHealthBody, required: true }, ok: { status: 200, schema: S.GpuHealthSchema, description: 'the GPU\'s health' }, errors: ['NODE_NOT_FOUND', 'GPU_NOT_FOUND'] },
  top: { method: 'get', path: '/v1/top', tag: 'nodes', access: 'user', summary: 'GPU telemetry and the jobs on each GPU (other teams\' jobs are masked).', ok: { status: 200, schema: S.TopSchema, description: 'per GPU' }, errors: [] },

  // ---- users, teams, tokens, audit ----
  whoami: { method: 'get', path: '/v1/whoami', tag: 'users', access: 'user', summary: 'The token\'s user.', ok: { status: 200, schema: S.WhoamiSchema, description: 'the user' }, errors: [] },
  createUser: { method: 'post', path: '/v1/users', tag: 'users', access: 'admin', summary: 'Create a user (and its team) and return its token once (admin).', body: { schema: S.userBody, required: true }, ok: { status: 201, schema: S.UserCreatedSchema, description: 'the user, with its token' }, errors: ['ALREADY_EXISTS', 'SINGLE_TENANT'] },
  issueToken: { method: 'post', path: '/v1/users/{name}/tokens', tag: 'users', access: 'admin', summary: 'Issue one more token for a user (admin); shown once.', params: S.userParams, body: { schema: S.tokenBody, required: false }, ok: { status: 201, schema: S.TokenIssuedSchema, description: 'the token' }, errors: ['USER_NOT_FOUND'] },
  listTokens: { method: 'get', path: '/v1/tokens', tag: 'users', access: 'user', summary: 'Tokens (ids, expiry, status): all or ?user= (admin), or the caller\'s own.', query: S.tokensQuery, ok: { status: 200, schema: S.TokenListSchema, description: 'the tokens' }, errors: ['FORBIDDEN', 'USER_NOT_FOUND'] },
  revokeToken: { method: 'post', path: '/v1/tokens/{id}/revoke', tag: 'users', access: 'user', summary: 'Revoke a token (admin, or its owner).', params: S.tokenIdParams, ok: { status: 200, schema: S.TokenSchema, description: 'the token, revoked' }, errors: ['TOKEN_NOT_FOUND'] },
  listTeams: { method: 'get', path: '/v1/teams', tag: 'users', access: 'admin', summary: 'Teams and their users (admin).', ok: { status: 200, schema: S.TeamListSchema, description: 'the teams' }, errors: [] },
  createTeam: { method: 'post', path: '/v1/teams', tag: 'users', access: 'admin', summary: 'Create a team (admin); it may own queues before it has users.', body: { schema: S.teamBody, required: true }, ok: { status: 201, schema: S.TeamSchema, description: 'the team' }, errors: ['ALREADY_EXISTS'] },
  listAudit: { method: 'get', path: '/v1/audit', tag: 'users', access: 'admin', summary: 'The append-only audit log (admin), a page at a time by id.', query: S.auditQuery, ok: { status: 200, schema: S.AuditListSchema, description: 'a page of entries' }, errors: [] },

  // ---- admission policies (docs/policies.md) ----
  getPolicies: { method: 'get', path: '/v1/policies', tag: 'policies', access: 'user', summary: 'The admission policies in force: the file as applied, its revision, and each policy\'s rules.', ok: { status: 200, schema: P.AppliedPoliciesSchema, description: 'the applied policies' }, errors: [] },
  applyPolicies: { method: 'put', path: '/v1/policies', tag: 'policies', access: 'admin', summary: 'Apply a policy file (admin): it replaces the one in force and judges every later submission and start; running jobs keep running. Answers the active jobs it would refuse.', body: { schema: P.PolicyFileBodySchema, required: true }, ok: { status: 200, schema: P.PolicyAppliedSchema, description: 'the policies now applied, and the dry run over active jobs' }, errors: ['POLICY_INVALID'] },
  testPolicies: { method: 'post', path: '/v1/policies/test', tag: 'policies', access: 'admin', summary: 'Dry run (admin): which active jobs a policy file would refuse, and why; nothing changes.', body: { schema: P.PolicyFileBodySchema, required: true }, ok: { status: 200, schema: P.PolicyDryRunSchema, description: 'the jobs it would refuse' }, errors: ['POLICY_INVALID'] },

  // ---- datasets (when gantry up runs with a cache) ----
  listDatasets: { method: 'get', path: '/v1/datasets', tag: 'datasets', access: 'user', summary: 'Datasets with their versions and whether this node caches them.', ok: { status: 200, schema: D.DatasetListSchema, description: 'the datasets' }, errors: [] },
  addDataset: { method: 'post', path: '/v1/datasets', tag: 'datasets', access: 'admin', summary: 'Add a version of a dataset from a local path or an S3 bucket (admin): its files are listed and checksummed; an unchanged source answers the existing version (200).', body: { schema: D.datasetAddBody, required: true }, ok: { status: 201, alsoStatus: 200, schema: D.DatasetCreatedSchema, description: 'the version (created: false when the source matched the latest)' }, errors: ['DATASET_INVALID', 'DATASET_SOURCE_INVALID', 'DATASET_SOURCE_EMPTY', 'DATASET_SOURCE_UNREADABLE', 'DATASET_SOURCE_DENIED'] },
  getDataset: { method: 'get', path: '/v1/datasets/{name}', tag: 'datasets', access: 'user', summary: 'Every version of a dataset (removed ones are kept for provenance) and this node\'s copy of each.', params: D.datasetNameParams, ok: { status: 200, schema: D.DatasetSchema, description: 'the dataset' }, errors: ['DATASET_NOT_FOUND'] },
  getDatasetVersion: { method: 'get', path: '/v1/datasets/{name}/{version}', tag: 'datasets', access: 'user', summary: 'One version with its files and checksums, and this node\'s copy.', params: D.datasetVersionParams, ok: { status: 200, schema: D.DatasetVersionSchema, description: 'the version' }, errors: ['DATASET_NOT_FOUND', 'DATASET_REMOVED'] },
  removeDatasetVersion: { method: 'delete', path: '/v1/datasets/{name}/{version}', tag: 'datasets', access: 'admin', summary: 'Remove a version (admin): its copy is evicted; its record stays for provenance. Refused while a job names it.', params: D.datasetVersionParams, ok: { status: 200, schema: D.DatasetRemovedSchema, description: 'removed' }, errors: ['DATASET_NOT_FOUND', 'DATASET_REMOVED', 'DATASET_IN_USE'] },
  fillDatasetVersion: { method: 'post', path: '/v1/datasets/{name}/{version}/fill', tag: 'datasets', access: 'admin', summary: 'Copy a version into this node\'s cache (admin), or ?node=NAME\'s; ?wait=true answers when the copy is verified.', params: D.datasetVersionParams, query: D.datasetFillQuery, ok: { status: 200, schema: D.DatasetFillSchema, description: 'the copy\'s state' }, errors: ['NODE_NOT_FOUND', 'DATASET_NOT_FOUND', 'DATASET_REMOVED', 'DATASET_CACHE_FULL', 'DATASET_FILL_FAILED', 'DATASET_CHECKSUM_MISMATCH', 'DATASET_SOURCE_CHANGED', 'DATASET_SOURCE_UNREADABLE', 'DATASET_SOURCE_DENIED'] },
  evictDatasetVersion: { method: 'post', path: '/v1/datasets/{name}/{version}/evict', tag: 'datasets', access: 'admin', summary: 'Drop this node\'s copy (admin), or ?node=NAME\'s; refused while a job needs it or it fills.', params: D.datasetVersionParams, query: D.datasetEvictQuery, ok: { status: 200, schema: D.DatasetEvictedSchema, description: 'evicted' }, errors: ['NODE_NOT_FOUND', 'DATASET_NOT_FOUND', 'DATASET_IN_USE'] },
  verifyDatasetVersion: { method: 'post', path: '/v1/datasets/{name}/{version}/verify', tag: 'datasets', access: 'admin', summary: 'Re-check this node\'s copy against its checksums and fetch again what does not match (admin).', params: D.datasetVersionParams, ok: { status: 200, schema: D.DatasetVerifiedSchema, description: 'files checked and repaired' }, errors: ['DATASET_NOT_FOUND', 'DATASET_NOT_CACHED', 'DATASET_CHECKSUM_MISMATCH', 'DATASET_SOURCE_CHANGED', 'DATASET_SOURCE_UNREADABLE'] },
  getDatasetCache: { method: 'get', path: '/v1/dataset-cache', tag: 'datasets', access: 'user', summary: 'This node\'s dataset cache: folder, capacity, use, and each copy with its state.', ok: { status: 200, schema: D.DatasetCacheSchema, description: 'the cache' }, errors: [] },

  // ---- cost and budgets (docs/cost.md) ----
  listPrices: { method: 'get', path: '/v1/prices', tag: 'cost', access: 'user', summary: 'Prices per GPU-hour by GPU model.', ok: { status: 200, schema: C.PriceListSchema, description: 'the prices' }, errors: [] },
  setPrice: { method: 'put', path: '/v1/prices/{model}', tag: 'cost', access: 'admin', summary: 'Set the price of one GPU-hour of a model (admin); attempts that start from now on pay it, a share or MIG slice its fraction.', params: C.priceParams, body: { schema: C.priceBody, required: true }, ok: { status: 200, schema: C.PriceSchema, description: 'the price' }, errors: ['GPU_MODEL_UNKNOWN'] },
  getCost: { method: 'get', path: '/v1/cost', tag: 'cost', access: 'user', summary: 'GPU-hours and cost by team, queue, user, GPU model or job over a window, preempted work apart (a member sees their team only).', query: C.costQuery, ok: { status: 200, schema: C.CostReportSchema, description: 'the report' }, errors: ['WINDOW_INVALID'] },
  listBudgets: { method: 'get', path: '/v1/budgets', tag: 'cost', access: 'user', summary: 'Budgets with what was spent this period and their status (a member sees their team\'s and its queues\').', ok: { status: 200, schema: C.BudgetListSchema, description: 'the budgets' }, errors: [] },
  putBudget: { method: 'put', path: '/v1/budgets/{scope}/{name}', tag: 'cost', access: 'admin', summary: 'Set the budget of a team or queue (admin): soft warns, hard makes new work wait (BUDGET_EXHAUSTED); running work is never stopped.', params: C.budgetParams, body: { schema: C.budgetBody, required: true }, ok: { status: 200, schema: C.BudgetSchema, description: 'the budget and its status' }, errors: ['TEAM_NOT_FOUND', 'QUEUE_NOT_FOUND'] },
  getHistory: {
    method: 'get',
    path: '/v1/history',
    tag: 'history',
    access: 'user',
    summary: 'Use over time, downsampled: the fleet, each GPU (utilisation, memory, share held), each queue (use, guarantee, borrowing, pending, idle GPUs) and each running job (GPUs, utilisation, memory, idle GPUs). Buckets of 10 s kept 6 h, 5 min kept 7 days, 1 h kept 90 days; the finest tier covering since is read. A member sees job series of their team only.',
    query: H.historyQuery,
    ok: { status: 200, schema: H.HistoryReportSchema, description: 'the series, aligned on times' },
    errors: ['WINDOW_INVALID'],
  },
  deleteBudget: { method: 'delete', path: '/v1/budgets/{scope}/{name}', tag: 'cost', access: 'admin', summary: 'Remove a budget (admin); work it held may start.', params: C.budgetParams, ok: { status: 200, schema: C.BudgetRemovedSchema, description: 'removed' }, errors: ['BUDGET_NOT_FOUND'] },
  // ---- inference services (replicas are jobs NAME-rN; requests go to the router's URL) ----
  applyService: { method: 'post', path: '/v1/services', tag: 'services', access: 'user', summary: 'Create or replace a service (its spec as a service file, in JSON). A replaced spec applies to replicas started after; the replica count moves within the new bounds.', body: { schema: V.ServiceSpecSchema, required: true }, ok: { status: 201, alsoStatus: 200, schema: V.ServiceSchema, description: 'the service (201 created; 200 replaced)' }, errors: ['SERVICE_INVALID', 'ALREADY_EXISTS', 'SERVICE_REMOVING', 'QUEUE_NOT_FOUND', 'QUEUE_NOT_LEAF', 'FORBIDDEN', 'SINGLE_TENANT', 'UNSATISFIABLE', 'WORKDIR_NOT_FOUND', 'DOCKER_UNAVAILABLE', 'JOB_INVALID'] },
  listServices: { method: 'get', path: '/v1/services', tag: 'services', access: 'user', summary: 'Services (own team; admins: all) with replicas and traffic.', ok: { status: 200, schema: V.ServiceListSchema, description: 'the services' }, errors: [] },
  getService: { method: 'get', path: '/v1/services/{name}', tag: 'services', access: 'user', summary: 'One service: its URL, replicas and their states, traffic figures, the last autoscaler decision, the spec.', params: V.serviceParams, ok: { status: 200, schema: V.ServiceSchema, description: 'the service' }, errors: ['SERVICE_NOT_FOUND'] },
  removeService: { method: 'delete', path: '/v1/services/{name}', tag: 'services', access: 'user', summary: 'Remove a service: Ready replicas drain (open requests finish), then every replica job stops.', params: V.serviceParams, ok: { status: 200, schema: V.ServiceRemovedSchema, description: 'removed; its replicas are stopping' }, errors: ['SERVICE_NOT_FOUND'] },
  explainService: { method: 'get', path: '/v1/services/{name}/explain', tag: 'services', access: 'user', summary: 'The autoscaler\'s decisions, newest first, each with its reason.', params: V.serviceParams, query: V.explainServiceQuery, ok: { status: 200, schema: V.ServiceExplanationSchema, description: 'the decisions' }, errors: ['SERVICE_NOT_FOUND'] },
} as const satisfies Record<string, Operation>;

export type OperationId = keyof typeof OPERATIONS;

/** Every code a route can answer: its own, and those of its kind (auth, parameters, body). */
export function errorsOf(op: Operation): ErrorCode[] {
  const codes = new Set<ErrorCode>(op.errors);
  if (op.access !== 'public') codes.add('UNAUTHENTICATED').add('RATE_LIMITED');
  if (op.access === 'admin') codes.add('FORBIDDEN');
  if (op.params) codes.add('BAD_REQUEST').add('URI_TOO_LONG');
  if (op.query) codes.add('QUERY_INVALID');
  if (op.headers) codes.add('BAD_REQUEST');
  if (op.body) {
    codes.add(op.body.yaml ? 'JOB_INVALID' : 'BODY_INVALID').add('BAD_REQUEST').add('BODY_TOO_LARGE').add('UNSUPPORTED_MEDIA_TYPE');
  }
  return [...codes];
}

/** /v1/jobs/{id} -> /v1/jobs/:id (fastify's pattern). */
export function fastifyPath(path: string): string {
  return path.replace(/\{([A-Za-z]+)\}/g, ':$1');
}

const PATTERNS = (Object.entries(OPERATIONS) as [OperationId, Operation][]).map(([id, op]) => ({ id, method: op.method.toUpperCase(), pattern: new RegExp(`^${op.path.replace(/\{[A-Za-z]+\}/g, '[^/?]+')}(\\?.*)?$`) }));

/** The operation a method and URL path (with its query) call, if any. */
export function operationAt(method: string, path: string): OperationId | null {
  return PATTERNS.find((p) => p.method === method.toUpperCase() && p.pattern.test(path))?.id ?? null;
}
