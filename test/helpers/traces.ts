/** Where the public traces are: ../shared/traces beside the repo (override: GANTRY_TRACES). */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const TRACES = process.env.GANTRY_TRACES ?? resolve(process.cwd(), '../shared/traces');
export const OPENB = join(TRACES, 'openb');

/** Writes the header and the first `n` rows of a CSV to a temp file (slices stay out of the repo). */
export function sliceCsv(file: string, n: number, dir = mkdtempSync(join(tmpdir(), 'gantry-test-'))): string {
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const out = join(dir, file.split('/').pop() as string);
  writeFileSync(out, lines.slice(0, n + 1).join('\n') + '\n');
  return out;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'gantry-test-'));
}
