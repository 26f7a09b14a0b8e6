/**
 * The CLI's HTTP client. Where the server is and which token to use, in this order:
 * --url / GANTRY_URL / <data dir>/server.json / http://127.0.0.1:7480, and GANTRY_TOKEN /
 * ~/.config/gantry/config.json {"url","token"} / <data dir>/admin-token (the local admin,
 * readable only by its owner). The data dir is GANTRY_DATA_DIR or ./.gantry.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { UserError } from '../core/errors.js';
import { cliName } from './cli-name.js';

export interface ClientConfig {
  readonly url: string;
  readonly token: string | null;
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

export function resolveConfig(opts: { url?: string; dataDir?: string } = {}): ClientConfig {
  const dataDir = opts.dataDir ? resolve(opts.dataDir) : dataDirDefault();
  const user = readJson(join(process.env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config'), 'gantry', 'config.json'));
  const server = readJson(join(dataDir, 'server.json'));
  const url = opts.url ?? process.env['GANTRY_URL'] ?? (typeof user?.['url'] === 'string' ? user['url'] : undefined) ?? (typeof server?.['url'] === 'string' ? server['url'] : undefined) ?? 'http://127.0.0.1:7480';
  let token = process.env['GANTRY_TOKEN'] ?? (typeof user?.['token'] === 'string' ? user['token'] : null);
  if (token === null && existsSync(join(dataDir, 'admin-token'))) token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  return { url: url.replace(/\/+$/, ''), token };
}

export class Client {
  constructor(readonly config: ClientConfig) {}

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string }> {
    const h: Record<string, string> = { ...headers };
    if (this.config.token) h['authorization'] = `Bearer ${this.config.token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(this.config.url + path, { method, headers: h, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch {
      throw new UserError('SERVER_UNREACHABLE', `no Gantry server at ${this.config.url} (start one with "${cliName()} up", or set GANTRY_URL)`);
    }
    const text = await res.text();
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

  async json<T = Record<string, unknown>>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    const r = await this.request(method, path, body, headers);
    return JSON.parse(r.text) as T;
  }
}

export function clientFrom(opts: { url?: string; dataDir?: string }): Client {
  return new Client(resolveConfig(opts));
}
