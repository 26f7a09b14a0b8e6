/** Flag parsers shared by commands; each throws a UserError naming the flag. */
import { existsSync, statSync } from 'node:fs';
import { UserError } from '../core/errors.js';
import { POLICY_NAMES, isPolicyName, type PolicyName } from '../core/policies.js';

export function parseSeeds(flag: string, value: string): number[] {
  const out: number[] = [];
  for (const part of value.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new UserError('BAD_FLAG', `${flag}: "${part}" is not a seed or a range (examples: 42, 42-51, 1,2,3)`);
    const a = Number(m[1]);
    const b = m[2] !== undefined ? Number(m[2]) : a;
    if (b < a) throw new UserError('BAD_FLAG', `${flag}: range ${part} is backwards`);
    if (b - a > 10_000) throw new UserError('BAD_FLAG', `${flag}: range ${part} is too long`);
    for (let s = a; s <= b; s++) out.push(s);
  }
  return [...new Set(out)];
}

export function parsePolicies(flag: string, value: string, allowed: readonly string[] = POLICY_NAMES): PolicyName[] {
  if (value.trim() === 'all') return [...allowed] as PolicyName[];
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new UserError('BAD_FLAG', `${flag}: give at least one policy (${allowed.join(', ')}, or all)`);
  for (const n of names) {
    if (!isPolicyName(n) || !allowed.includes(n)) throw new UserError('BAD_FLAG', `${flag}: unknown policy "${n}" (choose from ${allowed.join(', ')}, or all)`);
  }
  return [...new Set(names)] as PolicyName[];
}

export function parseNumber(flag: string, value: string, min: number, max: number, integer = false): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v)) throw new UserError('BAD_FLAG', `${flag}: "${value}" is not a number`);
  if (integer && !Number.isInteger(v)) throw new UserError('BAD_FLAG', `${flag}: "${value}" is not a whole number`);
  if (v < min || v > max) throw new UserError('BAD_FLAG', `${flag}: ${v} is outside ${min}..${max}`);
  return v;
}

/** A TCP port (0: any free one, or off where the flag says so; `note` is added to the error). */
export function parsePort(flag: string, value: string, note?: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UserError('BAD_FLAG', `${flag}: "${value}" is not a port number${note !== undefined ? ` (${note})` : ''}`);
  return n;
}

export function existingFile(flag: string, path: string): string {
  if (!existsSync(path)) throw new UserError('FILE_NOT_FOUND', `${flag}: ${path} does not exist`);
  if (!statSync(path).isFile()) throw new UserError('FILE_NOT_FOUND', `${flag}: ${path} is not a file`);
  return path;
}
