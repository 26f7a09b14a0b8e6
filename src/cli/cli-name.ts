/**
 * How the user runs this CLI, for the commands hints tell them to type: `gantry` when one is
 * on PATH (a global install or `npm link`), else `npx gantry` (a clone with `npm ci`, as the
 * README shows). One function, so every hint says the same.
 */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

let cached: string | undefined;

export function cliName(): string {
  if (cached !== undefined) return cached;
  const onPath = (process.env['PATH'] ?? '').split(delimiter).some((d) => d !== '' && !d.includes('node_modules') && existsSync(join(d, 'gantry')));
  cached = onPath ? 'gantry' : 'npx gantry';
  return cached;
}
