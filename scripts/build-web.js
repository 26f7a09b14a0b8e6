#!/usr/bin/env node
// Builds the dashboard: type-checks web/ against the API contract (web/tsconfig.json), then
// bundles web/src/main.tsx with its libraries (preact, uPlot) into dist/ui/app.js and
// app.css, which `gantry up` serves at /ui/. Nothing is fetched from a CDN at run time.
// Usage: node scripts/build-web.js [--no-check]
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

if (!process.argv.includes('--no-check')) {
  const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'web/tsconfig.json'], { stdio: 'inherit' });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
}
rmSync('dist/ui', { recursive: true, force: true });
const result = await build({
  entryPoints: { app: 'web/src/main.tsx' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox115', 'safari16'],
  outdir: 'dist/ui',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
});
const sizes = Object.entries(result.metafile.outputs)
  .filter(([f]) => /\.(js|css)$/.test(f))
  .map(([f, o]) => `${f} ${(o.bytes / 1024).toFixed(0)} KiB`);
console.log(`dashboard bundle: ${sizes.join(', ')}`);
