/** `gantry top`: a live view of the GPUs and the jobs on them. */
import type { Command } from 'commander';
import { addOutputOption, outputFormat, printJson, printTable } from '../output.js';
import { clientOf, connectionOptions, sleep } from './common.js';
import { parseNumber } from '../flags.js';

export function registerTop(program: Command): void {
  const cmd = program.command('top').description('live view of GPUs and who uses them').option('--once', 'print once and exit').option('--interval <seconds>', 'refresh period', '2');
  connectionOptions(cmd);
  addOutputOption(cmd).action(async (o: Record<string, unknown>) => {
    const fmt = outputFormat(o['output']);
    const interval = parseNumber('--interval', String(o['interval']), 0.2, 3600);
    const client = clientOf(o);
    const once = Boolean(o['once']) || fmt === 'json' || !process.stdout.isTTY;
    for (;;) {
      const r = await client.json<{ simulated: boolean; gpus: Record<string, unknown>[] }>('GET', '/v1/top');
      if (fmt === 'json') return printJson(r);
      if (!once) process.stdout.write('\x1b[2J\x1b[H');
      process.stdout.write(`Gantry top  ${new Date().toLocaleTimeString()}${r.simulated ? '  [simulated GPUs: telemetry from a stated model]' : ''}\n`);
      printTable(
        ['NODE', 'GPU', 'MODEL', 'UTIL', 'MEMORY', 'POWER', 'TEMP', 'JOBS'],
        r.gpus.map((g) => [
          String(g['node']),
          String(g['index']),
          `${String(g['model'])}${g['healthy'] ? '' : ' UNHEALTHY'}`,
          g['utilization'] === null ? '-' : `${String(g['utilization'])}%`,
          g['memoryUsedMiB'] === null ? '-' : `${String(g['memoryUsedMiB'])}/${String(g['memoryMiB'])} MiB`,
          g['powerW'] === null ? '-' : `${String(g['powerW'])} W`,
          g['temperatureC'] === null ? '-' : `${String(g['temperatureC'])} C`,
          (g['jobs'] as Record<string, unknown>[]).map((j) => `${String(j['job'])}${j['name'] ? ` ${String(j['name'])}` : ''}${Number(j['share']) > 0 && Number(j['share']) < 1 ? ` (${String(j['share'])})` : ''}${j['mig'] ? ` mig ${String(j['mig'])}` : ''}${j['step'] !== null && j['step'] !== undefined ? ` step ${String(j['step'])}` : ''}`).join(', ') || '-',
        ]),
      );
      if (once) return;
      await sleep(interval * 1000);
    }
  });
}
