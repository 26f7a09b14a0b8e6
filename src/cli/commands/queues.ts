/** `gantry queues` and `gantry queues set NAME`. */
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { addOutputOption, outputFormat, printJson, printTable } from '../output.js';
import { clientOf, connectionOptions } from './common.js';

function num(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UserError('BAD_FLAG', `${flag}: "${String(v)}" is not a number`);
  return n;
}

export function registerQueues(program: Command): void {
  const queues = program.command('queues').description('queues: quota, fair share, usage');
  connectionOptions(queues);
  addOutputOption(queues).action(async (o: Record<string, unknown>) => {
    const fmt = outputFormat(o['output']);
    const r = await clientOf(o).json<{ items: Record<string, unknown>[] }>('GET', '/v1/queues');
    if (fmt === 'json') return printJson(r);
    printTable(
      ['QUEUE', 'TEAM', 'PARENT', 'GUARANTEED', 'LIMIT', 'WEIGHT', 'USED GPU', 'DESERVED', 'RUNNING', 'PENDING'],
      r.items.map((q) => [String(q['name']), (q['team'] as string | null) ?? '(all)', q['parent'] as string | null, String(q['guaranteedGpu']), q['limitGpu'] as number | null, String(q['weight']), String(q['usedGpu']), Number(q['deservedGpu']).toFixed(2), String(q['running']), String(q['pending'])]),
    );
  });
  const set = queues
    .command('set')
    .description('create or change a queue (admin)')
    .argument('<name>', 'queue name')
    .option('--team <team>', 'team that owns the queue (default: open to every team)')
    .option('--parent <queue>', 'parent queue')
    .option('--guaranteed <gpus>', 'guaranteed GPUs')
    .option('--limit <gpus>', 'at most this many GPUs')
    .option('--weight <w>', 'share of spare capacity relative to siblings', '1')
    .option('--fifo', 'order by submission only (default: priority, then submission)');
  connectionOptions(set).action(async (name: string, o: Record<string, unknown>) => {
    const guaranteed = num(o['guaranteed'], '--guaranteed');
    const limit = num(o['limit'], '--limit');
    const body = {
      team: (o['team'] as string | undefined) ?? null,
      parent: (o['parent'] as string | undefined) ?? null,
      guaranteedGpus: guaranteed ?? null,
      limitGpus: limit ?? null,
      weight: num(o['weight'], '--weight') ?? 1,
      ordering: o['fifo'] ? 'fifo' : 'priority',
    };
    const saved = await clientOf(o).json<{ warnings?: { code: string; message: string }[] }>('PUT', `/v1/queues/${encodeURIComponent(name)}`, body);
    process.stdout.write(`queue ${name} saved\n`);
    for (const w of saved.warnings ?? []) process.stderr.write(`gantry: warning: ${w.message} [${w.code}]\n`);
  });
}
