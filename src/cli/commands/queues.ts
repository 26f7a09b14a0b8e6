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

/**
 * `--model-quota MODEL=GUARANTEED:LIMIT` (GPUs); either side may be left out: `H100-80GB=8`
 * (guarantee only), `H100-80GB=:16` (limit only), `H100-80GB=8:16`.
 */
export function parseModelQuota(v: string, prev: Record<string, { guaranteedGpus: number | null; limitGpus: number | null }> = {}): Record<string, { guaranteedGpus: number | null; limitGpus: number | null }> {
  const m = /^([^=\s]+)=(\d+(?:\.\d+)?)?(?::(\d+(?:\.\d+)?))?$/.exec(v.trim());
  if (!m || (m[2] === undefined && m[3] === undefined)) throw new UserError('BAD_FLAG', `--model-quota: "${v}" is not MODEL=GUARANTEED:LIMIT (examples: H100-80GB=8:16, H100-80GB=8, H100-80GB=:16)`);
  const model = m[1] as string;
  if (prev[model]) throw new UserError('BAD_FLAG', `--model-quota: ${model} is given twice`);
  return { ...prev, [model]: { guaranteedGpus: m[2] === undefined ? null : Number(m[2]), limitGpus: m[3] === undefined ? null : Number(m[3]) } };
}

interface ModelView {
  guaranteedGpus: number | null;
  limitGpus: number | null;
  usedGpus: number;
}

/** "H100-80GB 2/8/16" per model: used / guaranteed / limit, "-" where none is set. */
function modelCell(models: Record<string, ModelView> | undefined): string {
  const parts = Object.entries(models ?? {}).map(([m, q]) => `${m} ${q.usedGpus}/${q.guaranteedGpus ?? '-'}/${q.limitGpus ?? '-'}`);
  return parts.length > 0 ? parts.join(', ') : '-';
}

export function registerQueues(program: Command): void {
  const queues = program.command('queues').description('queues: quota, fair share, usage');
  connectionOptions(queues);
  addOutputOption(queues).action(async (o: Record<string, unknown>) => {
    const fmt = outputFormat(o['output']);
    const r = await clientOf(o).call('listQueues');
    if (fmt === 'json') return printJson(r);
    printTable(
      ['QUEUE', 'TEAM', 'PARENT', 'GUARANTEED', 'LIMIT', 'WEIGHT', 'USED GPU', 'DESERVED', 'RUNNING', 'PENDING', 'PER MODEL USED/GUAR/LIMIT'],
      r.items.map((q) => [q.name, q.team ?? '(all)', q.parent, String(q.guaranteedGpus ?? 0), q.limitGpus, String(q.weight), String(q.usedGpus), q.deservedGpus.toFixed(2), String(q.running), String(q.pending), modelCell(q.gpuModels)]),
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
    .option('--fifo', 'order by submission only (default: priority, then submission)')
    .option('--model-quota <MODEL=G:L>', 'per GPU model: G GPUs guaranteed, at most L (repeat per model; H100-80GB=8:16, =8, =:16)', parseModelQuota);
  connectionOptions(set).action(async (name: string, o: Record<string, unknown>) => {
    const guaranteed = num(o['guaranteed'], '--guaranteed');
    const limit = num(o['limit'], '--limit');
    const body = {
      team: (o['team'] as string | undefined) ?? null,
      parent: (o['parent'] as string | undefined) ?? null,
      guaranteedGpus: guaranteed ?? null,
      limitGpus: limit ?? null,
      weight: num(o['weight'], '--weight') ?? 1,
      ordering: o['fifo'] ? ('fifo' as const) : ('priority' as const),
      gpuModels: (o['modelQuota'] as ReturnType<typeof parseModelQuota> | undefined) ?? {},
    };
    const saved = await clientOf(o).call('putQueue', { params: { name }, body });
    process.stdout.write(`queue ${name} saved\n`);
    for (const w of saved.warnings ?? []) process.stderr.write(`gantry: warning: ${w.message} [${w.code}]\n`);
  });
}
