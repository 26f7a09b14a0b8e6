/** `gantry nodes` and `gantry nodes cordon|uncordon|drain NODE`. */
import type { Command } from 'commander';
import { addOutputOption, outputFormat, printJson, printTable } from '../output.js';
import { clientOf, connectionOptions } from './common.js';

export function registerNodes(program: Command): void {
  const nodes = program.command('nodes').description('nodes and their GPUs');
  connectionOptions(nodes);
  addOutputOption(nodes).action(async (o: Record<string, unknown>) => {
    const fmt = outputFormat(o['output']);
    const r = await clientOf(o).json<{ items: Record<string, unknown>[] }>('GET', '/v1/nodes');
    if (fmt === 'json') return printJson(r);
    printTable(
      ['NODE', 'STATUS', 'GPUS', 'FREE GPU', 'UNHEALTHY', 'CPU', 'MEMORY'],
      r.items.map((n) => {
        const gpus = n['gpus'] as Record<string, unknown>[];
        const models = [...new Set(gpus.map((g) => String(g['model'])))].join(',');
        return [
          `${String(n['name'])}${n['simulated'] ? ' (simulated)' : ''}`,
          String(n['status']),
          `${gpus.length}x ${models || '-'}`,
          (gpus.reduce((s, g) => s + (g['healthy'] ? Number(g['freeMilli']) : 0), 0) / 1000).toFixed(2),
          String(gpus.filter((g) => !g['healthy']).length),
          String(Number(n['cpuMilli']) / 1000),
          `${Math.round(Number(n['memoryMiB']) / 1024)}Gi`,
        ];
      }),
    );
  });
  for (const [action, help] of [
    ['cordon', 'stop placing new jobs on the node'],
    ['uncordon', 'place jobs on the node again'],
    ['drain', 'cordon, checkpoint-and-requeue the preemptible jobs, wait for the rest'],
  ] as const) {
    const c = nodes.command(action).description(`${help} (admin)`).argument('<node>', 'node name');
    connectionOptions(c).action(async (name: string, o: Record<string, unknown>) => {
      const r = await clientOf(o).json('POST', `/v1/nodes/${encodeURIComponent(name)}/${action}`);
      process.stdout.write(`${name}: ${String(r['status'])}\n`);
    });
  }
}
