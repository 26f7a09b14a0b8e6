/**
 * `gantry history fleet|gpu|queue|job [KEYS] [--metric a,b] [--since 6h] [--points 40]`: use over
 * time from /v1/history, one row per series with its last value, mean, peak and a sparkline;
 * `-o json` prints the answer, `-o csv` one row per step and series (docs/api.md, "History").
 */
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { printJson, printTable } from '../output.js';
import { clientOf, connectionOptions } from './common.js';

const KINDS = ['fleet', 'gpu', 'queue', 'job'] as const;
const BARS = '▁▂▃▄▅▆▇█';

/** A line of block characters, one per step, scaled to the series' own peak (a gap where no sample). */
export function sparkline(values: readonly (number | null)[]): string {
  const peak = Math.max(0, ...values.filter((v): v is number => v !== null));
  return values.map((v) => (v === null ? ' ' : BARS[peak > 0 ? Math.min(7, Math.floor((v / peak) * 7.999)) : 0])).join('');
}

const fmt = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(2));

export function registerHistory(program: Command): void {
  const cmd = program
    .command('history')
    .description('use over time, downsampled: the fleet, GPUs (NODE/INDEX), queues or running jobs')
    .argument('<kind>', KINDS.join('|'))
    .argument('[keys]', 'comma-separated keys (default: all of the kind)')
    .option('--metric <list>', 'comma-separated metrics (default: all of the kind)')
    .option('--since <when>', 'start: a duration before now (6h, 7d) or an ISO time', '1h')
    .option('--until <when>', 'end: a duration before now or an ISO time (default now)')
    .option('--points <n>', 'at most this many steps', '40');
  connectionOptions(cmd).option('-o, --output <format>', 'table, json or csv', 'table');
  cmd.action(async (kind: string, keys: string | undefined, o: Record<string, unknown>) => {
    const fmtOut = String(o['output']);
    if (!['table', 'json', 'csv'].includes(fmtOut)) throw new UserError('BAD_FLAG', `-o: "${fmtOut}" is not table, json or csv`);
    if (!(KINDS as readonly string[]).includes(kind)) throw new UserError('BAD_ARGUMENT', `"${kind}" is not one of ${KINDS.join(', ')}`);
    const r = await clientOf(o).call('getHistory', { query: { kind, key: keys, metric: o['metric'] as string | undefined, since: String(o['since']), until: o['until'] as string | undefined, points: String(o['points']) } });
    if (fmtOut === 'json') return printJson(r);
    if (fmtOut === 'csv') {
      const lines = ['time,key,metric,unit,avg,max'];
      for (const s of r.series) r.times.forEach((t, i) => lines.push([new Date(t).toISOString(), s.key, s.metric, s.unit, s.avg[i] ?? '', s.max[i] ?? ''].join(',')));
      process.stdout.write(lines.join('\n') + '\n');
      return;
    }
    process.stdout.write(`${kind} history, ${r.since} to ${r.until}, ${r.stepSeconds} s steps (${r.resolutionSeconds} s buckets)${r.scope === 'all' ? '' : ` (team ${r.scope} only)`}\n`);
    printTable(
      ['KEY', 'METRIC', 'UNIT', 'LAST', 'MEAN', 'PEAK', 'OVER TIME'],
      r.series.map((s) => {
        const known = s.avg.filter((v): v is number => v !== null);
        const peaks = s.max.filter((v): v is number => v !== null);
        return [s.key, s.metric, s.unit, fmt(known[known.length - 1]), fmt(known.length ? known.reduce((a, b) => a + b, 0) / known.length : null), fmt(peaks.length ? Math.max(...peaks) : null), sparkline(s.avg)];
      }),
    );
    if (r.omitted > 0) process.stdout.write(`(${r.omitted} more series)\n`);
  });
}
