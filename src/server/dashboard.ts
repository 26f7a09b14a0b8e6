/**
 * The dashboard: one HTML page that loads the bundle `npm run build` makes (web/ -> dist/ui,
 * see scripts/build-web.js and docs/dashboard.md). The page and its files hold no data: the
 * bundle asks for a token and reads the API with it. A checkout whose bundle was not built
 * gets a page that says how to build it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** dist/ui, next to dist/src (this file is dist/src/server/dashboard.js once compiled). */
const BUNDLE_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

export interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

const TYPES: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

let assets: Map<string, Asset> | null = null;

/** The bundle's files, read once (a rebuild is picked up by a restart). */
function loadAssets(dir = BUNDLE_DIR): Map<string, Asset> {
  if (assets) return assets;
  const found = new Map<string, Asset>();
  if (existsSync(dir)) {
    for (const name of readdirSync(dir)) {
      const ext = name.split('.').pop() ?? '';
      const type = TYPES[ext];
      if (!type || !/^[a-z0-9-]+\.(js|css)$/.test(name)) continue;
      const body = readFileSync(`${dir}/${name}`);
      found.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
    }
  }
  assets = found;
  return found;
}

export function dashboardAsset(file: string): Asset | undefined {
  return loadAssets().get(file);
}

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Gantry</title></head>
<body style="font:15px system-ui,sans-serif;margin:2rem"><h1>Gantry</h1>
<p>The dashboard was not built in this installation. Run <code>npm run build</code> (it bundles <code>web/</code> into <code>dist/ui</code>) and restart <code>gantry up</code>.</p>
<p>The API works without it: <a href="/openapi.json">/openapi.json</a>.</p></body></html>`;

export function dashboardHtml(): string {
  const a = loadAssets();
  const js = a.get('app.js');
  if (!js) return NOT_BUILT;
  const css = a.get('app.css');
  // The bundle reads the API document first (api.ts): it downloads alongside the bundle.
  // The etag in the URL makes a rebuilt bundle a new URL, so a browser never mixes versions.
  const v = (x: Asset) => encodeURIComponent(x.etag.slice(1, 9));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gantry</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
${css ? `<link rel="stylesheet" href="/ui/app.css?v=${v(css)}">` : ''}
<link rel="preload" href="/openapi.json" as="fetch" crossorigin="anonymous">
</head><body><div id="app"></div>
<script type="module" src="/ui/app.js?v=${v(js)}"></script>
</body></html>`;
}
