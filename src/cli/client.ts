/**
 * The CLI's HTTP client. Where the server is and which token to use, in this order:
 * --url / GANTRY_URL / <data dir>/server.json / http://127.0.0.1:7480, and GANTRY_TOKEN /
 * ~/.config/gantry/config.json {"url","token"} / <data dir>/admin-token (the local admin,
 * readable only by its owner). The data dir is GANTRY_DATA_DIR or ./.gantry.
 * An https server with a certificate the system does not trust (self-signed): --ca FILE or
 * GANTRY_CA names the PEM certificate to trust.
 */
import { existsSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { UserError } from '../core/errors.js';
import { cliName } from './cli-name.js';
import { OPERATIONS, operationAt, type OperationId } from '../server/contract/operations.js';
import type { AnswerOf, BodyOf } from '../client/contract-types.js';
import { operationPath } from '../client/operation-path.js';

export type { AnswerOf, BodyOf };

export interface ClientConfig {
  readonly url: string;
  readonly token: string | null;
  /** PEM certificate(s) to trust for an https URL, besides the system's. */
  readonly ca?: string;
}

function readJson(path: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

export function dataDirDefault(): string {
  return resolve(process.env['GANTRY_DATA_DIR'] ?? '.gantry');
}

export function resolveConfig(opts: { url?: string; dataDir?: string; ca?: string } = {}): ClientConfig {
  const dataDir = opts.dataDir ? resolve(opts.dataDir) : dataDirDefault();
  const user = readJson(join(process.env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config'), 'gantry', 'config.json'));
  const server = readJson(join(dataDir, 'server.json'));
  const url = opts.url ?? process.env['GANTRY_URL'] ?? (typeof user?.['url'] === 'string' ? user['url'] : undefined) ?? (typeof server?.['url'] === 'string' ? server['url'] : undefined) ?? 'http://127.0.0.1:7480';
  let token = process.env['GANTRY_TOKEN'] ?? (typeof user?.['token'] === 'string' ? user['token'] : null);
  if (token === null && existsSync(join(dataDir, 'admin-token'))) token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const caFile = opts.ca ?? process.env['GANTRY_CA'];
  let ca: string | undefined;
  if (caFile !== undefined && caFile !== '') {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch {
      throw new UserError('BAD_CA_FILE', `--ca/GANTRY_CA: cannot read ${caFile}`);
    }
  }
  return { url: url.replace(/\/+$/, ''), token, ...(ca !== undefined ? { ca } : {}) };
}

/** One https request trusting `ca` (fetch cannot be given a CA without a separate HTTP library). */
function requestWithCa(url: string, ca: string, method: string, headers: Record<string, string>, body: string | undefined): Promise<{ status: number; headers: Headers; text: string }> {
  return new Promise((resolveReq, reject) => {
    const req = httpsRequest(url, { method, headers, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
        resolveReq({ status: res.statusCode ?? 0, headers: h, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export class Client {
  constructor(readonly config: ClientConfig) {}

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string }> {
    const h: Record<string, string> = { ...headers };
    if (this.config.token) h['authorization'] = `Bearer ${this.config.token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    let res: { status: number; headers: Headers; text: string };
    try {
      const payload = body !== undefined ? JSON.stringify(body) : undefined;
      if (this.config.ca !== undefined && this.config.url.startsWith('https:')) res = await requestWithCa(this.config.url + path, this.config.ca, method, h, payload);
      else {
        const r = await fetch(this.config.url + path, { method, headers: h, ...(payload !== undefined ? { body: payload } : {}) });
        res = { status: r.status, headers: r.headers, text: await r.text() };
      }
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as { code?: string }).code ?? '';
      if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(cause)) throw new UserError('TLS_UNTRUSTED', `the server at ${this.config.url} has a certificate this machine does not trust (${cause}); pass its CA with --ca FILE or GANTRY_CA`);
      throw new UserError('SERVER_UNREACHABLE', `no Gantry server at ${this.config.url} (start one with "${cliName()} up", or set GANTRY_URL)`);
    }
    const text = res.text;
    if (res.status >= 400) {
      let code = `HTTP_${res.status}`;
      let message = text.slice(0, 500);
      try {
        const e = (JSON.parse(text) as { error?: { code: string; message: string } }).error;
        if (e) {
          code = e.code;
          message = e.message;
        }
      } catch {
        // not JSON
      }
      if (code === 'UNAUTHENTICATED' && !this.config.token) message += '; set GANTRY_TOKEN or run in the folder holding .gantry/';
      throw new UserError(code, `${code}: ${message}`);
    }
    return { status: res.status, headers: res.headers, text };
  }

  /**
   * A JSON call, checked against the contract (src/server/contract): an answer that does not
   * match the operation's schema is an error here, so the CLI and the server cannot drift apart.
   */
  async json<T = Record<string, unknown>>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    const r = await this.request(method, path, body, headers);
    const answer = JSON.parse(r.text) as unknown;
    const id = operationAt(method, path);
    const schema = id ? OPERATIONS[id].ok.schema : null;
    if (schema === null) throw new UserError('API_CONTRACT_MISMATCH', `${method} ${path.split('?')[0] ?? ''} is not an operation of the API contract`);
    if (typeof schema !== 'string') {
      const checked = schema.safeParse(answer);
      if (!checked.success) throw new UserError('API_CONTRACT_MISMATCH', `the server's answer to ${id} does not match the API contract (${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).slice(0, 3).join('; ')}); is the server another version?`);
    }
    return answer as T;
  }

  /** Calls an operation by its id, with its path parameters filled in; typed by the contract. */
  async call<K extends OperationId>(id: K, args: { params?: Record<string, string | number>; query?: Record<string, string | number | undefined>; body?: BodyOf<K>; headers?: Record<string, string> } = {}): Promise<AnswerOf<K>> {
    const op = OPERATIONS[id];
    const path = operationPath(op.path, args.params, args.query);
    return this.json<AnswerOf<K>>(op.method.toUpperCase(), path, args.body, args.headers);
  }
}

export function clientFrom(opts: { url?: string; dataDir?: string; ca?: string }): Client {
  return new Client(resolveConfig(opts));
}
