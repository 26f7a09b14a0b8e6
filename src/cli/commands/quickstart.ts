/**
 * `gantry quickstart` (`npm start`): from a fresh clone to finished jobs with their logs.
 * Starts `gantry up` in this process with a simulated inventory (unless a server already
 * runs on the data dir, which it then uses), submits the examples (a two-worker gang and a
 * checkpointing training script on half a GPU), waits for them and prints their logs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { RunningServer } from '../../server/standalone.js';
import { Client, dataDirDefault, resolveConfig } from '../client.js';
import { banner } from './up.js';
import { sleep } from './common.js';
import { parseNumber } from '../flags.js';
import { cliName } from '../cli-name.js';

export function examplesDir(): string {
  // dist/src/cli/commands -> repository root
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../../examples');
}

export function registerQuickstart(program: Command): void {
  program
    .command('quickstart')
    .description('start a local server with simulated GPUs, run the examples, show their logs')
    .option('--data-dir <dir>', 'state directory', '.gantry')
    .option('--gpus <spec>', 'simulated inventory', '8xH100-80GB')
    .option('--port <port>', 'port', '7480')
    .option('--exit', 'stop the server when the examples are done')
    .action(async (o: { dataDir: string; gpus: string; port: string; exit?: boolean }) => {
      const dataDir = o.dataDir === '.gantry' ? dataDirDefault() : resolve(o.dataDir);
      let server: RunningServer | null = null;
      let cfg = resolveConfig({ dataDir });
      const running = existsSync(join(dataDir, 'server.json')) && (await fetch(`${cfg.url}/healthz`).then((r) => r.ok, () => false));
      if (running) {
        process.stdout.write(`Using the Gantry server already running at ${cfg.url}\n`);
      } else {
        const { startServer } = await import('../../server/standalone.js');
        server = await startServer({ dataDir, gpus: o.gpus, port: parseNumber('--port', o.port, 0, 65535, true), log: () => undefined });
        process.stdout.write(banner(server));
        cfg = resolveConfig({ dataDir, url: server.url });
      }
      const client = new Client(cfg);
      const dir = examplesDir();
      const ids: string[] = [];
      // Ctrl-C while the examples run cancels them (they are this command's jobs), then stops
      // the server it started; a second Ctrl-C exits at once.
      let interrupted = false;
      const onInterrupt = (): void => {
        if (interrupted) process.exit(130);
        interrupted = true;
        process.stdout.write(`\nCtrl-C: cancelling the examples${ids.length > 0 ? ` (${ids.join(', ')})` : ''}; Ctrl-C again to exit at once\n`);
      };
      process.on('SIGINT', onInterrupt);
      const stopExamples = async (): Promise<void> => {
        for (const id of ids) await client.request('POST', `/v1/jobs/${id}/cancel`).catch(() => undefined);
        for (const id of ids) {
          for (let i = 0; i < 150; i++) {
            const j = await client.json('GET', `/v1/jobs/${id}`).catch(() => null);
            if (!j || ['succeeded', 'failed', 'cancelled'].includes(String(j['state']))) break;
            await sleep(100);
          }
        }
        process.stdout.write(`Cancelled ${ids.length} example job(s)${server ? '; stopping the server' : ''}.\n`);
        if (server) await server.close();
        process.removeListener('SIGINT', onInterrupt);
        process.exitCode = 130;
      };
      for (const f of ['gang.yaml', 'train.yaml']) {
        if (interrupted) break;
        const body = { ...(parseYaml(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>), workingDir: dir };
        const job = await client.json('POST', '/v1/jobs', body);
        ids.push(String(job['id']));
        process.stdout.write(`\n$ ${cliName()} submit examples/${f}\nsubmitted ${String(job['id'])} (${String(job['name'])})\n`);
      }
      const last = new Map<string, string>();
      for (;;) {
        if (interrupted) return stopExamples();
        let done = 0;
        for (const id of ids) {
          const j = await client.json('GET', `/v1/jobs/${id}`);
          const state = String(j['state']);
          if (last.get(id) !== state) {
            const where = (j['placement'] as { node: string; gpus: { index: number; milli: number }[] }[]).map((p) => `${p.node}:gpu${p.gpus.map((g) => g.index + (g.milli < 1000 ? `(${g.milli / 1000})` : '')).join(',')}`).join(' ');
            process.stdout.write(`${id} ${state}${where ? ` on ${where}` : ''}${j['reason'] ? ` (${String(j['reason'])})` : ''}\n`);
            last.set(id, state);
          }
          if (['succeeded', 'failed', 'cancelled'].includes(state)) done++;
        }
        if (done === ids.length) break;
        await sleep(200);
      }
      for (const id of ids) {
        const j = await client.json('GET', `/v1/jobs/${id}`);
        for (let w = 0; w < Number(j['workers']); w++) {
          const r = await client.request('GET', `/v1/jobs/${id}/logs?worker=${w}`);
          process.stdout.write(`\n$ ${cliName()} logs ${id}${w > 0 ? ` --worker ${w}` : ''}\n${r.text}`);
        }
      }
      process.removeListener('SIGINT', onInterrupt);
      const failed = [...last.values()].some((s) => s !== 'succeeded');
      process.stdout.write(`\n${failed ? 'Some examples did not succeed (see above).' : 'Both examples finished.'} Try: ${cliName()} ls, ${cliName()} top --once, ${cliName()} get ${ids[1] ?? ''}\n`);
      if (failed) process.exitCode = 1;
      if (server && o.exit) {
        await server.close();
      } else if (server) {
        process.stdout.write(`The server keeps running at ${server.url} (dashboard there); Ctrl-C stops it.\n`);
        const s = server;
        await new Promise<void>((res) => {
          const stop = (): void => void s.close().then(res);
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      }
    });
}
