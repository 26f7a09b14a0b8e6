/** Options every API command shares (where the server is), and the client they give. */
import type { Command } from 'commander';
import { clientFrom, type Client } from '../client.js';

export function connectionOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'server URL (default: GANTRY_URL, .gantry/server.json, http://127.0.0.1:7480)')
    .option('--data-dir <dir>', 'where a local server keeps its state (for the URL and admin token)')
    .option('--ca <file>', 'PEM certificate to trust for an https server with a self-signed certificate (default: GANTRY_CA)');
}

export function clientOf(opts: Record<string, unknown>): Client {
  return clientFrom({ ...(typeof opts['url'] === 'string' ? { url: opts['url'] } : {}), ...(typeof opts['dataDir'] === 'string' ? { dataDir: opts['dataDir'] } : {}), ...(typeof opts['ca'] === 'string' ? { ca: opts['ca'] } : {}) });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
