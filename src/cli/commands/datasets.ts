/**
 * `gantry datasets add|ls|get|rm|fill|evict|verify|cache`: versioned datasets and the node's
 * dataset cache. NAME@VERSION names one version; NAME alone, the newest.
 */
import { isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { addOutputOption, age, outputFormat, printJson, printTable } from '../output.js';
import { clientOf, connectionOptions, sleep } from './common.js';

type Row = Record<string, unknown>;

function ref(arg: string): { name: string; version: string } {
  const m = /^([a-z0-9][a-z0-9._-]*)(?:@([1-9][0-9]*|latest))?$/.exec(arg);
  if (!m) throw new UserError('BAD_ARGUMENT', `"${arg}" is not NAME or NAME@VERSION (e.g. imagenet@3)`);
  return { name: m[1] as string, version: m[2] ?? 'latest' };
}
function path(r: { name: string; version: string }, tail = ''): string {
  return `/v1/datasets/${encodeURIComponent(r.name)}/${r.version}${tail}`;
}

export function bytes(n: unknown): string {
  let v = Number(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** A source argument: an s3:// URL or a folder (made absolute here, as the server reads it). */
function sourceOf(arg: string, o: Row): Row {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(arg);
  if (m) return { type: 's3', bucket: m[1], prefix: m[2] ?? '', ...(typeof o['endpoint'] === 'string' ? { endpoint: o['endpoint'] } : {}), ...(typeof o['region'] === 'string' ? { region: o['region'] } : {}) };
  return { type: 'local', path: isAbsolute(arg) ? arg : resolve(arg) };
}

function cacheText(c: Row | null | undefined): string {
  if (!c) return '-';
  const d = c['describe'];
  if (typeof d === 'string') return d.replace(/^[^ ]+ /, '');
  return String(c['state'] ?? '-');
}

export function registerDatasets(program: Command): void {
  const ds = program.command('datasets').description('versioned datasets and the node\'s dataset cache');

  const add = ds
    .command('add')
    .description('register a new version of a dataset from a folder on the server or s3://BUCKET/PREFIX (admin); files are listed and hashed')
    .argument('<name>', 'dataset name')
    .argument('<source>', 'absolute folder on the server, or s3://bucket/prefix')
    .option('--endpoint <url>', 'S3-compatible endpoint (default: AWS)')
    .option('--region <region>', 'S3 region');
  connectionOptions(add);
  addOutputOption(add).action(async (name: string, source: string, o: Row) => {
    const r = await clientOf(o).json('POST', '/v1/datasets', { name, source: sourceOf(source, o) });
    if (outputFormat(o['output']) === 'json') return printJson(r);
    process.stdout.write(`${String(r['ref'])}: ${String(r['fileCount'])} files, ${bytes(r['totalBytes'])}${r['created'] ? '' : ' (unchanged: the newest version already holds these files)'}\n`);
  });

  const ls = ds.command('ls').description('datasets, their newest version and what the cache holds');
  connectionOptions(ls);
  addOutputOption(ls).action(async (o: Row) => {
    const r = await clientOf(o).json<{ items: Row[] }>('GET', '/v1/datasets');
    if (outputFormat(o['output']) === 'json') return printJson(r);
    printTable(
      ['NAME', 'LATEST', 'SIZE', 'VERSIONS', 'CACHED', 'SOURCE'],
      r.items.map((d) => {
        const l = d['latest'] as Row | null;
        const vs = d['versions'] as Row[];
        const src = l?.['source'] as Row | undefined;
        return [String(d['name']), l ? String(l['version']) : '(removed)', l ? bytes(l['totalBytes']) : '-', String(vs.length), vs.filter((v) => v['cached'] === 'ready').map((v) => `@${String(v['version'])}`).join(',') || '-', src ? (src['type'] === 's3' ? `s3://${String(src['bucket'])}/${String(src['prefix'])}` : String(src['path'])) : '-'];
      }),
    );
  });

  const get = ds.command('get').description('one version: files, checksums, cache state').argument('<ref>', 'NAME or NAME@VERSION');
  connectionOptions(get);
  addOutputOption(get).action(async (arg: string, o: Row) => {
    const r = await clientOf(o).json('GET', path(ref(arg)));
    if (outputFormat(o['output']) === 'json') return printJson(r);
    const files = r['files'] as Row[];
    process.stdout.write(`${String(r['ref'])}  ${bytes(r['totalBytes'])} in ${files.length} files, added ${age(r['createdAt'])} ago by ${String(r['createdBy'])}${r['removedAt'] ? `, REMOVED ${String(r['removedAt'])}` : ''}\n`);
    process.stdout.write(`  cache (node ${String(r['node'])}): ${cacheText(r['cache'] as Row | null)}${(r['cache'] as Row | null)?.['path'] ? ` at ${String((r['cache'] as Row)['path'])}` : ''}\n`);
    printTable(['FILE', 'SIZE', 'SHA-256'], files.slice(0, 50).map((f) => [String(f['path']), bytes(f['size']), String(f['sha256'])]));
    if (files.length > 50) process.stdout.write(`  ... ${files.length - 50} more (-o json lists all)\n`);
  });

  const rm = ds.command('rm').description('remove a version (admin): kept for provenance, dropped from the cache; refused while a job names it').argument('<ref>', 'NAME@VERSION');
  connectionOptions(rm).action(async (arg: string, o: Row) => {
    const r = await clientOf(o).json('DELETE', path(ref(arg)));
    process.stdout.write(`${String(r['name'])}@${String(r['version'])} removed${r['evicted'] ? ' (and evicted from the cache)' : ''}\n`);
  });

  const fill = ds.command('fill').description('copy a version into the node\'s cache (admin), showing progress until it is complete').argument('<ref>', 'NAME or NAME@VERSION').option('--no-wait', 'start the fill and return').option('--node <name>', 'another node\'s cache (a simulated node of gantry up --sim-nodes); waits without progress');
  connectionOptions(fill).action(async (arg: string, o: Row) => {
    const r0 = ref(arg);
    const client = clientOf(o);
    if (typeof o['node'] === 'string') {
      const r = await client.json('POST', `${path(r0, '/fill')}?node=${encodeURIComponent(o['node'])}&wait=${o['wait'] === false ? 'false' : 'true'}`);
      return void process.stdout.write(`${String(r['name'])}@${String(r['version'])} on ${String(r['node'])}: ${cacheText(r['cache'] as Row)}\n`);
    }
    const r = await client.json('POST', path(r0, '/fill'));
    const target = { name: String(r['name']), version: String(r['version']) };
    if (o['wait'] === false) return void process.stdout.write(`${target.name}@${target.version}: ${cacheText(r['cache'] as Row)}\n`);
    for (;;) {
      const v = await client.json('GET', path(target));
      const c = v['cache'] as Row | null;
      const state = c?.['state'];
      if (state === 'ready') return void process.stdout.write(`${target.name}@${target.version}: cached at ${String(c?.['path'])}\n`);
      const err = c?.['lastError'] as Row | null | undefined;
      if (state !== 'filling' && err) throw new UserError(String(err['code']), String(err['message']));
      if (process.stderr.isTTY) process.stderr.write(`\r${target.name}@${target.version}: ${cacheText(c)}   `);
      await sleep(500);
    }
  });

  for (const [action, help] of [
    ['evict', 'drop a version from the node\'s cache (admin); refused while a job reads it'],
    ['verify', 'hash the cached copy again and fetch any corrupted file anew (admin)'],
  ] as const) {
    const c = ds.command(action).description(help).argument('<ref>', 'NAME or NAME@VERSION');
    connectionOptions(c);
    addOutputOption(c).action(async (arg: string, o: Row) => {
      const r = await clientOf(o).json('POST', path(ref(arg), `/${action}`));
      if (outputFormat(o['output']) === 'json') return printJson(r);
      if (action === 'evict') process.stdout.write(`${String(r['name'])}@${String(r['version'])} evicted from ${String(r['node'])}\n`);
      else {
        const rep = r['repaired'] as string[];
        process.stdout.write(`${String(r['name'])}@${String(r['version'])}: ${String(r['checked'])} files checked, ${rep.length} corrupted and fetched again${rep.length > 0 ? `: ${rep.join(', ')}` : ''}\n`);
      }
    });
  }

  const cache = ds.command('cache').description('what the node\'s dataset cache holds (least recently used first to go)');
  connectionOptions(cache);
  addOutputOption(cache).action(async (o: Row) => {
    const r = await clientOf(o).json<Row & { items: Row[] }>('GET', '/v1/dataset-cache');
    if (outputFormat(o['output']) === 'json') return printJson(r);
    process.stdout.write(`node ${String(r['node'])}: ${bytes(r['usedBytes'])} of ${bytes(r['capacityBytes'])} used in ${String(r['dir'])}\n`);
    printTable(
      ['DATASET', 'STATE', 'SIZE', 'DONE', 'PINNED', 'LAST USED'],
      r.items.map((e) => [String(e['ref']), String(e['state']), bytes(e['totalBytes']), `${e['totalBytes'] ? Math.floor((100 * Number(e['bytesDone'])) / Number(e['totalBytes'])) : 100}%`, e['pinned'] ? 'yes' : 'no', `${age(e['lastUsedAt'])} ago`]),
    );
  });
}
