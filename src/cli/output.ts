/** Output helpers: tables for people (cli-table3), JSON for scripts (-o json). */
import Table from 'cli-table3';
import type { Command } from 'commander';
import { UserError } from '../core/errors.js';

export type OutputFormat = 'table' | 'json';

export function addOutputOption(cmd: Command): Command {
  return cmd.option('-o, --output <format>', 'table or json', 'table');
}

export function outputFormat(v: unknown): OutputFormat {
  if (v === 'table' || v === 'json') return v;
  throw new UserError('BAD_FLAG', `-o: "${String(v)}" is not table or json`);
}

export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}

export function printTable(head: string[], rows: (string | number | null | undefined)[][]): void {
  const t = new Table({ head, style: { head: [], border: [] }, chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ' } });
  for (const r of rows) t.push(r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  process.stdout.write(t.toString() + '\n');
}

/** "3m ago" style ages from ISO times. */
export function age(isoTime: unknown, now = Date.now()): string {
  if (typeof isoTime !== 'string') return '-';
  const s = Math.max(0, Math.round((now - Date.parse(isoTime)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function gpuText(r: Record<string, unknown> | undefined): string {
  if (!r) return '-';
  if (typeof r['mig'] === 'string') return `mig ${r['mig']}`;
  const parts: string[] = [];
  if (typeof r['gpu'] === 'number') parts.push(r['gpu'] >= 1 ? `${r['gpu']} gpu` : `${r['gpu']} gpu`);
  if (r['gpuMemory'] !== undefined) parts.push(`${String(r['gpuMemory'])} gpu mem`);
  return parts.join(', ') || '-';
}
