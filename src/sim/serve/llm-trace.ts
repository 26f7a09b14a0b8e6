/**
 * Reads an LLM inference trace in the Azure LLM inference trace format (Splitwise, 2023/2024):
 * a CSV with `TIMESTAMP` (arrival, "YYYY-MM-DD HH:MM:SS.fffffff", UTC), `ContextTokens` (prompt)
 * and `GeneratedTokens` (output), optionally starting with a byte-order mark. Rows may be in any
 * order; arrivals are returned in time order, in seconds from the first.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { UserError } from '../../core/errors.js';

export const AZURE_LLM_SOURCE = 'Azure/AzurePublicDataset (AzureLLMInferenceTrace_conv.csv, CC-BY 4.0)';

export interface LlmTraceRequest {
  /** Seconds after the first arrival. */
  readonly at: number;
  readonly promptTokens: number;
  readonly outputTokens: number;
}

export interface LlmTrace {
  readonly file: string;
  readonly requests: readonly LlmTraceRequest[];
  readonly durationSeconds: number;
}

const STAMP = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?Z?$/;

function parseStamp(s: string): number | null {
  const m = STAMP.exec(s.trim());
  if (!m) return null;
  const whole = Date.parse(`${m[1]}T${m[2]}Z`);
  if (Number.isNaN(whole)) return null;
  return whole / 1000 + (m[3] ? Number(m[3]) : 0);
}

export function loadLlmTrace(file: string): LlmTrace {
  let rows: string[][];
  try {
    rows = parse(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''), { skip_empty_lines: true, relax_column_count: true }) as string[][];
  } catch (e) {
    throw new UserError('TRACE_INVALID', `${file}: not a CSV file (${(e as Error).message})`);
  }
  const header = (rows[0] ?? []).map((h) => h.trim());
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new UserError('TRACE_INVALID', `${file}: line 1: no ${name} column (an LLM inference trace needs TIMESTAMP, ContextTokens, GeneratedTokens; found ${header.join(', ') || 'nothing'})`);
    return i;
  };
  const [ti, ci, gi] = [col('TIMESTAMP'), col('ContextTokens'), col('GeneratedTokens')];
  const raw: Array<{ t: number; p: number; g: number }> = [];
  for (let r = 1; r < rows.length; r++) {
    const row = rows[r]!;
    const t = parseStamp(row[ti] ?? '');
    const p = Number(row[ci]);
    const g = Number(row[gi]);
    const where = `${file}: line ${r + 1}`;
    if (t === null) throw new UserError('TRACE_INVALID', `${where}: TIMESTAMP "${row[ti] ?? ''}" is not YYYY-MM-DD HH:MM:SS[.fraction]`);
    if (!Number.isInteger(p) || p < 0 || p > 10_000_000) throw new UserError('TRACE_INVALID', `${where}: ContextTokens "${row[ci] ?? ''}" is not a whole number of tokens`);
    if (!Number.isInteger(g) || g < 0 || g > 10_000_000) throw new UserError('TRACE_INVALID', `${where}: GeneratedTokens "${row[gi] ?? ''}" is not a whole number of tokens`);
    raw.push({ t, p: Math.max(1, p), g: Math.max(1, g) });
  }
  if (raw.length === 0) throw new UserError('TRACE_INVALID', `${file}: no requests`);
  raw.sort((a, b) => a.t - b.t);
  const t0 = raw[0]!.t;
  const requests = raw.map((x) => ({ at: x.t - t0, promptTokens: x.p, outputTokens: x.g }));
  return { file, requests, durationSeconds: requests.at(-1)!.at };
}
