/**
 * `gantry prices set MODEL PRICE | ls`, `gantry cost --by team|queue|user|model|job|service`,
 * `gantry budgets set|ls|rm`: what GPUs cost, who spent what, and spending limits
 * (docs/cost.md).
 */
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { addOutputOption, printJson, printTable } from '../output.js';
import { clientOf, connectionOptions } from './common.js';

const GROUPS = ['team', 'queue', 'user', 'model', 'job', 'service'] as const;
const money = (v: number): string => v.toFixed(2);
const hours = (v: number): string => v.toFixed(2);

function amount(v: string, what: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v.trim()) || !Number.isFinite(n)) throw new UserError('BAD_ARGUMENT', `${what}: "${v}" is not an amount (e.g. 2.49)`);
  return n;
}

/** CSV cells: quoted when they hold a comma, a quote or a line end. */
function csv(rows: readonly (readonly (string | number)[])[]): string {
  const cell = (c: string | number): string => (typeof c === 'string' && /[",\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : String(c));
  return rows.map((r) => r.map(cell).join(',')).join('\n') + '\n';
}

export function registerPrices(program: Command): void {
  const prices = program.command('prices').description('prices per GPU-hour by GPU model');
  addOutputOption(connectionOptions(prices.command('ls').description('list prices'))).action(async (o: Record<string, unknown>) => {
    const r = await clientOf(o).call('listPrices');
    if (o['output'] === 'json') return printJson(r);
    printTable(['MODEL', 'PER GPU-HOUR', 'SET', 'BY'], r.items.map((p) => [p.model, String(p.pricePerGpuHour), p.setAt, p.setBy]));
  });
  connectionOptions(prices.command('set').description('set the price of one GPU-hour of a model (admin); a share or MIG slice pays its fraction').argument('<model>', 'GPU model, e.g. H100-80GB').argument('<price>', 'price per GPU-hour, e.g. 2.49')).action(
    async (model: string, price: string, o: Record<string, unknown>) => {
      const r = await clientOf(o).call('setPrice', { params: { model }, body: { pricePerGpuHour: amount(price, 'price') } });
      process.stdout.write(`${r.model}: ${r.pricePerGpuHour} per GPU-hour from now on\n`);
    },
  );
}

export function registerCost(program: Command): void {
  const cmd = program
    .command('cost')
    .description('GPU-hours and cost over a window, by team, queue, user, GPU model, job or service (replicas; preempted work and idle reserved GPUs shown apart)')
    .option('--by <group>', GROUPS.join('|'), 'team')
    .option('--since <when>', 'start: a duration before now (7d, 12h) or an ISO time', '7d')
    .option('--until <when>', 'end: a duration before now or an ISO time (default now)')
    .option('--limit <n>', 'at most this many rows, the most expensive first', '100');
  connectionOptions(cmd).option('-o, --output <format>', 'table, json or csv', 'table');
  cmd.action(async (o: Record<string, unknown>) => {
    const fmt = String(o['output']);
    if (!['table', 'json', 'csv'].includes(fmt)) throw new UserError('BAD_FLAG', `-o: "${fmt}" is not table, json or csv`);
    const by = String(o['by']);
    if (!(GROUPS as readonly string[]).includes(by)) throw new UserError('BAD_FLAG', `--by: "${by}" is not one of ${GROUPS.join(', ')}`);
    const r = await clientOf(o).call('getCost', { query: { by, since: String(o['since']), until: o['until'] as string | undefined, limit: String(o['limit']) } });
    if (fmt === 'json') return printJson(r);
    const lines = [...r.items, { ...r.total, key: 'TOTAL' }];
    if (fmt === 'csv') {
      process.stdout.write(csv([[by, 'attempts', 'gpu_hours', 'cost', 'preempted_gpu_hours', 'preempted_cost', 'idle_gpu_hours', 'idle_cost', 'running'], ...lines.map((l) => [l.key, l.attempts, l.gpuHours, l.cost, l.preemptedGpuHours, l.preemptedCost, l.idleGpuHours, l.idleCost, l.running])]));
      return;
    }
    process.stdout.write(`cost by ${by}, ${r.since} to ${r.until}${r.scope === 'all' ? '' : ` (team ${r.scope} only)`}\n`);
    printTable([by.toUpperCase(), 'ATTEMPTS', 'GPU-HOURS', 'COST', 'PREEMPTED GPU-H', 'PREEMPTED COST', 'IDLE GPU-H', 'IDLE COST', 'RUNNING'], lines.map((l) => [l.key, l.attempts, hours(l.gpuHours), money(l.cost), hours(l.preemptedGpuHours), money(l.preemptedCost), hours(l.idleGpuHours), money(l.idleCost), l.running]));
    if (r.omitted > 0) process.stdout.write(`(${r.omitted} more ${by}s in the total; --limit shows more)\n`);
  });
}

function scopeOf(o: Record<string, unknown>): { scope: 'team' | 'queue'; name: string } {
  const team = o['team'] as string | undefined;
  const queue = o['queue'] as string | undefined;
  if ((team === undefined) === (queue === undefined)) throw new UserError('BAD_FLAG', 'name one of --team TEAM or --queue QUEUE');
  return team !== undefined ? { scope: 'team', name: team } : { scope: 'queue', name: queue as string };
}

export function registerBudgets(program: Command): void {
  const budgets = program.command('budgets').description('spending limits per team or queue: soft warns, hard makes new work wait');
  addOutputOption(connectionOptions(budgets.command('ls').description('budgets, spent this period, status'))).action(async (o: Record<string, unknown>) => {
    const r = await clientOf(o).call('listBudgets');
    if (o['output'] === 'json') return printJson(r);
    printTable(['SCOPE', 'NAME', 'PERIOD', 'MODE', 'LIMIT', 'SPENT', 'STATUS', 'PERIOD ENDS'], r.items.map((b) => [b.scope, b.name, b.period, b.mode, money(b.limit), money(b.spent), b.status, b.periodEnd]));
  });
  const set = budgets
    .command('set')
    .description('set the budget of a team or a queue (admin)')
    .option('--team <team>', 'the team\'s budget')
    .option('--queue <queue>', 'the queue\'s budget (it covers the queues below it)')
    .requiredOption('--limit <amount>', 'spending limit per period')
    .option('--period <period>', 'day, week (from Monday) or month, in UTC', 'month')
    .option('--hard', 'new work waits once spent (default: soft, a warning only)');
  connectionOptions(set).action(async (o: Record<string, unknown>) => {
    const s = scopeOf(o);
    const period = String(o['period']);
    if (!['day', 'week', 'month'].includes(period)) throw new UserError('BAD_FLAG', `--period: "${period}" is not day, week or month`);
    const r = await clientOf(o).call('putBudget', { params: s, body: { period: period as 'day' | 'week' | 'month', limit: amount(String(o['limit']), '--limit'), mode: o['hard'] ? 'hard' : 'soft' } });
    process.stdout.write(`${r.scope} ${r.name}: ${r.mode} budget of ${money(r.limit)} per ${r.period}; spent ${money(r.spent)} (${r.status})\n`);
  });
  const rm = budgets.command('rm').description('remove a budget (admin)').option('--team <team>').option('--queue <queue>');
  connectionOptions(rm).action(async (o: Record<string, unknown>) => {
    const s = scopeOf(o);
    await clientOf(o).call('deleteBudget', { params: s });
    process.stdout.write(`${s.scope} ${s.name}: budget removed\n`);
  });
}
