/**
 * Loads the openb trace (Alibaba cluster-trace-gpu-v2023, the FGD paper's workload):
 * node lists `sn,cpu_milli,memory_mib,gpu[,model]` and pod lists
 * `name,cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec,...]` (columns in brackets are optional:
 * a pod without gpu_spec may run on any GPU model). Every malformed row is
 * reported with its file, line and field. The trace is published at
 * https://github.com/alibaba/clusterdata/tree/master/cluster-trace-gpu-v2023 .
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { UserError } from '../../core/errors.js';
import type { NodeSpec } from '../../core/model/node.js';
import type { PodRequest } from '../../core/model/request.js';

export const OPENB_SOURCE = 'https://github.com/alibaba/clusterdata/tree/master/cluster-trace-gpu-v2023';

type Row = Record<string, string>;

/**
 * Reads a CSV with a header. `required` columns must be present; `optional` ones take the empty
 * string when the file lacks them (the dataset publishes pod lists with and without gpu_spec, qos
 * and the time columns).
 */
function readCsv(file: string, required: readonly string[], optional: readonly string[] = []): { rows: Row[]; lines: number[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError('FILE_UNREADABLE', `${file}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let records: string[][];
  try {
    records = parse(text, { relax_column_count: false, skip_empty_lines: true, trim: true }) as string[][];
  } catch (e) {
    const err = e as { lines?: number; message: string };
    throw new UserError('CSV_MALFORMED', `${file}${err.lines ? `:${err.lines}` : ''}: not valid CSV (${err.message})`);
  }
  const header = records[0];
  if (!header) throw new UserError('CSV_EMPTY', `${file}: the file is empty (expected a header line with ${required.join(',')})`);
  for (const col of required) {
    if (!header.includes(col)) throw new UserError('CSV_MISSING_COLUMN', `${file}:1: missing column "${col}" (the header must contain ${required.join(',')})`);
  }
  const rows: Row[] = [];
  const lines: number[] = [];
  for (let i = 1; i < records.length; i++) {
    const rec = records[i] as string[];
    const row: Row = {};
    for (const col of optional) row[col] = '';
    header.forEach((h, j) => {
      row[h] = rec[j] ?? '';
    });
    rows.push(row);
    lines.push(i + 1);
  }
  return { rows, lines };
}

function int(file: string, line: number, row: Row, field: string, min: number, max: number): number {
  const raw = row[field] ?? '';
  if (!/^-?\d+$/.test(raw)) throw new UserError('TRACE_BAD_FIELD', `${file}:${line}: field "${field}": expected an integer, got "${raw}"`);
  const v = Number(raw);
  if (v < min || v > max) throw new UserError('TRACE_BAD_FIELD', `${file}:${line}: field "${field}": ${v} is outside ${min}..${max}`);
  return v;
}

export interface OpenbNode extends NodeSpec {
  readonly gpuCount: number;
  readonly model: string;
}

export function loadOpenbNodes(file: string): OpenbNode[] {
  const { rows, lines } = readCsv(file, ['sn', 'cpu_milli', 'memory_mib', 'gpu'], ['model']);
  const seen = new Set<string>();
  return rows.map((row, i) => {
    const line = lines[i] as number;
    const name = row.sn ?? '';
    if (!name) throw new UserError('TRACE_BAD_FIELD', `${file}:${line}: field "sn": the node name is empty`);
    if (seen.has(name)) throw new UserError('TRACE_BAD_FIELD', `${file}:${line}: field "sn": node "${name}" appears twice`);
    seen.add(name);
    const cpu = int(file, line, row, 'cpu_milli', 0, 1e9);
    const mem = int(file, line, row, 'memory_mib', 0, 1e12);
    const gpus = int(file, line, row, 'gpu', 0, 64);
    const model = row.model ?? '';
    if (gpus > 0 && !model) throw new UserError('TRACE_BAD_FIELD', `${file}:${line}: field "model": a node with GPUs needs a model`);
    return {
      name,
      cpuMilli: cpu,
      memoryMiB: mem,
      gpuCount: gpus,
      model,
      gpus: Array.from({ length: gpus }, () => ({ model })),
    };
  });
}

export interface OpenbPod extends PodRequest {
  /** milli-GPU requested in total (num_gpu x gpu_milli). */
  readonly totalMilliGpu: number;
}

export function loadOpenbPods(file: string): OpenbPod[] {
  const { rows, lines } = readCsv(file, ['name', 'cpu_milli', 'memory_mib', 'num_gpu', 'gpu_milli'], ['gpu_spec']);
  return rows.map((row, i) => {
    const line = lines[i] as number;
    const name = row.name ?? '';
    if (!name) throw new UserError('TRACE_BAD_FIELD', `${file}:${line}: field "name": the pod name is empty`);
    const cpu = int(file, line, row, 'cpu_milli', 0, 1e9);
    const mem = int(file, line, row, 'memory_mib', 0, 1e12);
    const num = int(file, line, row, 'num_gpu', 0, 64);
    const milli = int(file, line, row, 'gpu_milli', 0, 1000);
    if (num > 1 && milli !== 1000) {
      throw new UserError('TRACE_BAD_FIELD', `${file}:${line}: field "gpu_milli": a pod with num_gpu ${num} must take whole GPUs (1000), got ${milli}`);
    }
    if (num >= 1 && milli === 0) throw new UserError('TRACE_BAD_FIELD', `${file}:${line}: field "gpu_milli": num_gpu is ${num} but gpu_milli is 0`);
    const spec = (row.gpu_spec ?? '').trim();
    const allowedModels = spec ? spec.split('|').filter(Boolean) : [];
    const gpu = num === 0 ? ({ kind: 'none' } as const) : milli < 1000 ? ({ kind: 'share', milli, memoryMiB: 0 } as const) : ({ kind: 'whole', count: num } as const);
    return { id: name, cpuMilli: cpu, memoryMiB: mem, gpu, allowedModels, totalMilliGpu: num * milli };
  });
}
