/**
 * The API's error catalogue: each stable code with its HTTP status. Responses are
 * `{ "error": { "code", "message", "details"? } }`; user mistakes never carry a stack trace.
 */
import type { UserError } from '../core/errors.js';

export const ERRORS = {
  BAD_REQUEST: { status: 400, description: 'The request is malformed (not JSON, wrong content type, bad parameter).' },
  JOB_DATASET_TWICE: { status: 422, description: 'The job names one dataset twice (which copy would it read?).' },
  JOB_INVALID: { status: 400, description: 'The job spec fails validation; details.issues names each field path and reason.' },
  WINDOW_INVALID: { status: 422, description: 'The report\'s window is not one: since or until is not a real time (2026-13-01), or since is not before until.' },
  QUERY_INVALID: { status: 400, description: 'A query parameter is invalid (limit, cursor, state).' },
  BODY_INVALID: { status: 400, description: 'The request body fails validation.' },
  BODY_TOO_LARGE: { status: 413, description: 'The request body exceeds the limit (1 MiB).' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'Send application/json.' },
  UNAUTHENTICATED: { status: 401, description: 'No token, an unknown token, or an expired or revoked one (the message says which).' },
  FORBIDDEN: { status: 403, description: 'The token is valid but may not do this (admin only, or another team\'s queue).' },
  SINGLE_TENANT: { status: 403, description: 'The server is not root, cannot isolate teams and serves one team only (docs/security.md).' },
  QUOTA_EXCEEDED: { status: 403, description: 'The team already has the most queued jobs the server allows (gantry up --max-queued-per-team); nothing was stored.' },
  POLICY_DENIED: { status: 403, description: 'An admission policy refuses the job; the message names the policy and the rule, details.denials lists every refusal (docs/policies.md).' },
  POLICY_INVALID: { status: 422, description: 'The admission policy file fails validation (a schema violation, or a contradiction such as a name given twice or a policy without rules); details.issues gives each problem\'s where (path in the file) and why.' },
  JOB_NOT_FOUND: { status: 404, description: 'No such job visible to this user.' },
  QUEUE_NOT_FOUND: { status: 404, description: 'No such queue.' },
  QUEUE_NOT_LEAF: { status: 409, description: 'The queue has child queues; submit to one of them.' },
  QUEUE_MODEL_QUOTA_INVALID: { status: 422, description: 'A per-GPU-model quota is invalid: an unknown model, a guarantee above its limit or above the queue\'s GPU limit, or children guaranteed more of a model than their parent.' },
  QUEUE_TREE_INVALID: { status: 409, description: 'The queue change would leave the queue tree unloadable (a missing parent, a cycle, or child queues under a queue that holds jobs).' },
  WORKER_NOT_FOUND: { status: 404, description: 'The job has no worker of that rank (ranks run from 0 to workers - 1).' },
  NODE_NOT_FOUND: { status: 404, description: 'No such node.' },
  GPU_NOT_FOUND: { status: 404, description: 'No such GPU on that node.' },
  TEAM_NOT_FOUND: { status: 404, description: 'No such team.' },
  USER_NOT_FOUND: { status: 404, description: 'No such user.' },
  TOKEN_NOT_FOUND: { status: 404, description: 'No such token (or, for a member, not one of theirs).' },
  NOT_FOUND: { status: 404, description: 'No such route.' },
  METHOD_NOT_ALLOWED: { status: 405, description: 'The route exists but not with this method; the Allow header lists those it has.' },
  URI_TOO_LONG: { status: 414, description: 'A path parameter is longer than 300 characters.' },
  JOB_FINISHED: { status: 409, description: 'The job already finished.' },
  IDEMPOTENCY_KEY_REUSED: { status: 409, description: 'The idempotency key was used before with a different body.' },
  ALREADY_EXISTS: { status: 409, description: 'A user, team or queue with that name exists.' },
  WORKDIR_NOT_FOUND: { status: 422, description: 'workingDir does not exist on the server.' },
  DOCKER_UNAVAILABLE: { status: 422, description: 'The job names an image but no Docker daemon is reachable.' },
  UNSATISFIABLE: { status: 422, description: 'No node could ever run the job (e.g. more GPUs than exist).' },
  GUARANTEE_EXCEEDS_FLEET: { status: 422, description: 'A queue is guaranteed more GPUs than the whole fleet has.' },
  RATE_LIMITED: { status: 429, description: 'Too many requests from this user (gantry up --rate-limit); the Retry-After header says when to try again.' },
  DATASET_INVALID: { status: 400, description: 'The dataset body fails validation (name, source).' },
  DATASET_SOURCE_INVALID: { status: 400, description: 'The source holds a file that cannot be a path in the cache, or too many files.' },
  DATASET_SOURCE_EMPTY: { status: 422, description: 'The source holds no files.' },
  DATASET_SOURCE_UNREADABLE: { status: 422, description: 'The server cannot read the source (no such folder or bucket, or a transport error; the message says which).' },
  DATASET_SOURCE_DENIED: { status: 422, description: 'The object store refused the server\'s credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY where gantry up runs).' },
  DATASET_SOURCE_CHANGED: { status: 409, description: 'The source no longer holds the bytes the version recorded (versions are immutable: add a new one).' },
  DATASET_CHECKSUM_MISMATCH: { status: 409, description: 'A file fetched twice did not match its recorded SHA-256.' },
  DATASET_NOT_FOUND: { status: 404, description: 'No such dataset or version.' },
  DATASET_REMOVED: { status: 410, description: 'The version was removed (it is kept only for provenance).' },
  DATASET_NOT_CACHED: { status: 404, description: 'The version has no complete copy in the node\'s cache.' },
  DATASET_IN_USE: { status: 409, description: 'A queued or running job needs the version, or it is filling.' },
  DATASET_CACHE_FULL: { status: 507, description: 'The cache cannot make room: what it holds is in use or filling (details give the bytes).' },
  DATASET_FILL_FAILED: { status: 502, description: 'A fill failed for another reason (the message says which).' },
  GPU_MODEL_UNKNOWN: { status: 422, description: 'No GPU model of that name in the catalog (GET /v1/nodes shows the fleet\'s models).' },
  BUDGET_NOT_FOUND: { status: 404, description: 'No budget for that team or queue.' },
  SERVICE_INVALID: { status: 422, description: 'The service spec fails validation (a field, or a rule between fields such as replicas.initial within min..max); details.issues names each field path and reason.' },
  SERVICE_NOT_FOUND: { status: 404, description: 'No such service visible to this user.' },
  SERVICE_REMOVING: { status: 409, description: 'The service is being removed (its replicas drain); apply it again once it is gone.' },
  INTERNAL: { status: 500, description: 'A bug in Gantry; the log has details.' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
}

/** Maps a core UserError to the API catalogue (unknown codes become 400 BAD_REQUEST with the code kept in details). */
export function fromUserError(e: UserError): ApiError {
  if (e.code in ERRORS) return new ApiError(e.code as ErrorCode, e.message, e.details);
  return new ApiError('BAD_REQUEST', e.message, { ...(e.details ?? {}), cause: e.code });
}
