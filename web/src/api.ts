/**
 * The dashboard's API client, on the contract: operations are called by their operationId,
 * their method and path are read from the server's own OpenAPI document (/openapi.json), and
 * their answers are typed by the zod schemas that document is generated from
 * (src/client/contract-types.ts). An operation the document lacks is an error here, so the
 * dashboard and the server cannot drift apart silently.
 */
import type { AnswerOf, BodyOf, JsonOperationId, OperationId, QueryOf } from '../../src/client/contract-types.js';
import { operationPath } from '../../src/client/operation-path.js';

const TOKEN_KEY = 'gantryToken';

export function getToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}
export function setToken(token: string | null): void {
  if (token === null) localStorage.removeItem(TOKEN_KEY);
  else localStorage.setItem(TOKEN_KEY, token);
}

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

interface Route {
  readonly method: string;
  readonly path: string;
}

let routes: Promise<Map<string, Route>> | null = null;

/** operationId -> method and path template, from the server's OpenAPI document (read once). */
export function documentRoutes(): Promise<Map<string, Route>> {
  routes ??= fetch('/openapi.json')
    .then((r) => {
      if (!r.ok) throw new ApiError('API_DOCUMENT_UNAVAILABLE', `/openapi.json answered ${r.status}`, r.status);
      return r.json() as Promise<{ paths: Record<string, Record<string, { operationId?: string }>> }>;
    })
    .then((doc) => {
      const map = new Map<string, Route>();
      for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) if (op.operationId) map.set(op.operationId, { method: method.toUpperCase(), path });
      return map;
    })
    .catch((e: unknown) => {
      routes = null; // try again next time
      throw e;
    });
  return routes;
}

export interface CallArgs<K extends OperationId> {
  readonly params?: Readonly<Record<string, string | number>>;
  readonly query?: QueryOf<K>;
  readonly body?: BodyOf<K>;
  readonly signal?: AbortSignal;
}

/** Handlers told when the token is refused (the app shows the login again). */
export const onUnauthenticated = new Set<(e: ApiError) => void>();

async function send<K extends OperationId>(id: K, args: CallArgs<K>): Promise<Response> {
  const route = (await documentRoutes()).get(id);
  if (!route) throw new ApiError('API_CONTRACT_MISMATCH', `the server's API document has no operation ${id}; is the server another version?`, 0);
  const headers: Record<string, string> = {};
  const token = getToken();
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (args.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(operationPath(route.path, args.params, (args.query ?? {}) as Record<string, string | number | boolean | undefined>), {
    method: route.method,
    headers,
    ...(args.body !== undefined ? { body: JSON.stringify(args.body) } : {}),
    ...(args.signal ? { signal: args.signal } : {}),
  });
  if (!res.ok) {
    let code = `HTTP_${res.status}`;
    let message = res.statusText;
    try {
      const e = ((await res.json()) as { error?: { code: string; message: string } }).error;
      if (e) ({ code, message } = e);
    } catch {
      // not JSON
    }
    const e = new ApiError(code, message, res.status);
    if (res.status === 401) for (const h of onUnauthenticated) h(e);
    throw e;
  }
  return res;
}

/** Calls a JSON operation; the answer is typed by the operation's schema. */
export async function call<K extends JsonOperationId>(id: K, args: CallArgs<K> = {}): Promise<AnswerOf<K>> {
  return (await (await send(id, args)).json()) as AnswerOf<K>;
}

/** Calls a text operation (a job's log): the text and the answer's headers. */
export async function callText<K extends OperationId>(id: K, args: CallArgs<K> = {}): Promise<{ text: string; headers: Headers }> {
  const res = await send(id, args);
  return { text: await res.text(), headers: res.headers };
}

/** Opens a streaming operation (the change stream) with the token; the caller reads the body. */
export async function openStream<K extends OperationId>(id: K, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  const route = (await documentRoutes()).get(id);
  if (!route) throw new ApiError('API_CONTRACT_MISMATCH', `the server's API document has no operation ${id}`, 0);
  const res = await fetch(route.path, { headers: { authorization: `Bearer ${getToken() ?? ''}`, accept: 'text/event-stream' }, signal });
  if (!res.ok || !res.body) {
    const e = new ApiError(res.status === 401 ? 'UNAUTHENTICATED' : `HTTP_${res.status}`, `the event stream answered ${res.status}`, res.status);
    if (res.status === 401) for (const h of onUnauthenticated) h(e);
    throw e;
  }
  return res.body;
}
