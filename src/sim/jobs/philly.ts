/**
 * Loads the Microsoft Philly job trace as processed for the Pollux artifact
 * (`timestamp,duration,num_gpus,gpu_time,cluster`; public at
 * https://github.com/msr-fiddle/philly-traces). Malformed rows are reported with file, line
 * and field. Timestamps are UTC.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { UserError } from '../../core/errors.js';

export const PHILLY_SOURCE = 'https://github.com/msr-fiddle/philly-traces';

export interface TraceJob {
  readonly id: string;
  /** Submission, ms since the epoch (UTC). */
  readonly submit: number;
  /** Run time in ms. */
  readonly duration: number;
  readonly gpus: number;
  /** Virtual cluster (a team), used as the queue. */
  readonly vc: string;
}

function parseTime(file: string, line: number, raw: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/.exec(raw);
  if (!m) throw new UserError('TRACE_BAD_FIELD', `${file}:${line}: field "timestamp": expected YYYY-MM-DD HH:MM:SS, got "${raw}"`);
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  if (!Number.isFinite(t)) throw new UserError('TRACE_BAD_FIELD', `${file}:${line}: field "timestamp": "${raw}" is not a date`);
  return t;
}

export function loadPhilly(file: string): TraceJob[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError('FILE_UNREADABLE', `${file}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let rows: string[][];
  try {
    rows = parse(text, { skip_empty_lines: true, trim: true }) as string[][];
  } catch (e) {
    throw new UserError('CSV_MALFORMED', `${file}: not valid CSV (${(e as Error).message})`);
  }
  const header = rows[0] ?? [];
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new UserError('CSV_MISSING_COLUMN', `${file}:1: missing column "${name}" (expected timestamp,duration,num_gpus,gpu_time,cluster)`);
    return i;
  };
  const [ts, dur, gpus, vc] = [col('timestamp'), col('duration'), col('num_gpus'), col('cluster')];
  const out: TraceJob[] = [];
  for (let i = 1; i < rows.length; i++) {
    const r = rows[i] as string[];
    const line = i + 1;
    const d = Number(r[dur]);
    if (!(r[dur] ?? '').length || !Number.isFinite(d) || d < 0) throw new UserError('TRACE_BAD_FIELD', `${file}:${line}: field "duration": expected seconds >= 0, got "${r[dur] ?? ''}"`);
    const g = Number(r[gpus]);
    if (!Number.isInteger(g) || g < 1 || g > 4096) throw new UserError('TRACE_BAD_FIELD', `${file}:${line}: field "num_gpus": expected an integer 1..4096, got "${r[gpus] ?? ''}"`);
    const v = r[vc] ?? '';
    if (!v) throw new UserError('TRACE_BAD_FIELD', `${file}:${line}: field "cluster": empty`);
    out.push({ id: `job-${String(i).padStart(6, '0')}`, submit: parseTime(file, line, r[ts] ?? ''), duration: Math.max(1000, Math.round(d * 1000)), gpus: g, vc: v });
  }
  out.sort((a, b) => a.submit - b.submit || (a.id < b.id ? -1 : 1));
  return out;
}

/** Jobs submitted in [from, from + days), with arrivals compressed by `load` (2 = twice the rate). */
export function selectWindow(jobs: readonly TraceJob[], from: number, days: number, load: number): TraceJob[] {
  const to = from + days * 86_400_000;
  return jobs
    .filter((j) => j.submit >= from && j.submit < to)
    .map((j) => ({ ...j, submit: from + Math.round((j.submit - from) / load) }));
}
