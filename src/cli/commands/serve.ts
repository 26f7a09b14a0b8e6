/**
 * `gantry serve apply FILE|ls|get NAME|rm NAME|explain NAME` (and `gantry services`):
 * inference services. A service file is YAML (`kind: Service`); its replicas run as jobs
 * NAME-rN, and requests go to the service's URL on the router (`gantry serve get NAME` shows it).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { readYaml } from '../../spec/job-spec.js';
import { validateServiceFile } from '../../spec/service-spec.js';
import { addOutputOption, age, outputFormat, printJson, printTable } from '../output.js';
import type { Client } from '../client.js';
import { clientOf, connectionOptions } from './common.js';

type Row = Record<string, unknown>;

/** A service file's body as sent: what the user wrote, workingDir made absolute against the file. */
export function serviceBodyFromYaml(doc: Row, file: string): Row {
  validateServiceFile(doc);
  const wd = doc['workingDir'];
  const base = dirname(resolve(file));
  return { ...doc, workingDir: typeof wd !== 'string' ? base : isAbsolute(wd) ? wd : resolve(base, wd) };
}

export function readServiceFile(file: string): Row {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UserError('FILE_NOT_FOUND', `${file}: cannot read the file`);
  }
  const doc = readYaml(text, file);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new UserError('SERVICE_INVALID', `${file}: must be a mapping with at least name and command`);
  return serviceBodyFromYaml(doc as Row, file);
}

export async function applyService(client: Client, body: Row): Promise<Row> {
  const r = await client.request('POST', '/v1/services', body);
  return { ...(JSON.parse(r.text) as Row), created: r.status === 201 };
}

function replicasText(s: Row): string {
  const r = s['replicas'] as Row;
  return `${String(r['ready'])}/${String(r['desired'])}${Number(r['starting']) > 0 ? ` (+${String(r['starting'])} starting)` : ''}`;
}

export function printServiceList(items: Row[]): void {
  printTable(
    ['NAME', 'STATE', 'READY/DESIRED', 'IN FLIGHT', 'P99 MS', 'URL', 'AGE'],
    items.map((s) => {
      const t = s['traffic'] as Row;
      return [String(s['name']), String(s['state']), replicasText(s), String(t['inFlight']), String((t['latencyMs'] as Row)['p99'] ?? '-'), String(s['url']), age(s['createdAt'])];
    }),
  );
}

export async function showService(client: Client, name: string, fmt: string): Promise<void> {
  const s = await client.json('GET', `/v1/services/${encodeURIComponent(name)}`);
  if (fmt === 'json') return printJson(s);
  const r = s['replicas'] as Row;
  const t = s['traffic'] as Row;
  const ms = (x: unknown): string => `p50 ${String((x as Row)['p50'] ?? '-')} ms, p99 ${String((x as Row)['p99'] ?? '-')} ms`;
  const lines = [
    `${String(s['name'])}  (${String(s['state'])})  ${String(s['url'])}`,
    `  team ${String(s['team'])}, owner ${String(s['owner'])}; routing ${String(s['routing'])}, autoscaler ${String(s['autoscaler'])}`,
    `  replicas: ${String(r['ready'])} ready, ${String(r['starting'])} starting, ${String(r['draining'])} draining; desired ${String(r['desired'])} (min ${String(r['min'])}, max ${String(r['max'])})`,
    `  traffic: ${String(t['inFlight'])} in flight, ${String(t['held'])} held, ${String(t['requests'])} requests, ${String(t['errors5xx'])} 5xx; latency ${ms(t['latencyMs'])}; first byte of streams ${ms(t['ttftMs'])}`,
  ];
  lines.push(`  revision ${String(s['revision'])}`);
  const ro = s['rollout'] as Row | null;
  if (ro) {
    const n = ro['newRevision'] as Row;
    lines.push(`  rollout ${String(ro['from'])} -> ${String(ro['to'])} (${String(ro['strategy'])}): ${String(ro['phase'])}, canary weight ${String(ro['canaryWeight'])}%; new revision ${String(n['requests'])} requests, ${String(n['errors5xx'])} 5xx, p99 first byte ${String(n['ttftP99Ms'] ?? '-')} ms, p99 latency ${String(n['latencyP99Ms'] ?? '-')} ms`);
    lines.push(`    ${String(ro['reason'])}`);
  }
  for (const x of (s['replicaList'] as Row[]) ?? []) {
    const w = x['weights'] as Row | null;
    lines.push(`  ${String(x['name'])} (${String(x['job'])}): revision ${String(x['revision'])}, ${String(x['state'])}, port ${String(x['port'])}, ${String(x['inFlight'])} in flight, ${String(x['served'])} served${x['node'] ? `, on ${String(x['node'])}` : ''}${w ? `; weights ${String(w['state'])}` : ''}`);
  }
  lines.push(...weightsLines(s['weights'] as Row | null | undefined));
  const d = s['lastDecision'] as Row | null;
  if (d) lines.push(`  last decision ${String(d['at'])}: ${String(d['current'])} -> ${String(d['desired'])}: ${String(d['reason'])}`);
  process.stdout.write(lines.join('\n') + '\n');
}

/** The weights' state per node (expected start-up of a replica there) and where the next replica goes. */
function weightsLines(w: Row | null | undefined): string[] {
  if (!w) return [];
  const mib = (b: unknown): string => `${(Number(b) / 2 ** 20).toFixed(0)} MiB`;
  const lines = [`  weights ${String(w['dataset'])} (${mib(w['totalBytes'])}; fills at ${mib(w['fillBytesPerSecond'])}/s): expected replica start-up by node:`];
  for (const n of (w['nodes'] as Row[]) ?? []) lines.push(`    ${String(n['node'])}: ${String(n['state'])}${n['state'] === 'filling' ? ` (${mib(n['bytesDone'])})` : ''}, ${String(n['expectedStartSeconds'])} s to copy`);
  for (const r of (w['replicas'] as Row[] | undefined) ?? []) lines.push(`    replica ${String(r['replica'])} on ${String(r['node'])}: ${String(r['message'])}`);
  const next = w['next'] as Row | null;
  lines.push(next ? `    next replica would go to ${String(next['node'])}: ${String(next['message'])}` : '    next replica: none (at max replicas, or it fits nowhere now)');
  return lines;
}

export async function explainService(client: Client, name: string, fmt: string, limit = 20): Promise<void> {
  const e = await client.json('GET', `/v1/services/${encodeURIComponent(name)}/explain?limit=${limit}`);
  if (fmt === 'json') return printJson(e);
  const lines = [`service ${name}: ${String(e['desired'])} replica(s) desired by the ${String(e['autoscaler'])} autoscaler; decisions, newest first:`];
  for (const d of e['decisions'] as Row[]) lines.push(`  ${String(d['at'])}  ${String(d['current'])} -> ${String(d['desired'])}${d['panic'] ? ' (panic)' : ''}  ${String(d['reason'])}`);
  lines.push(...weightsLines(e['weights'] as Row | null | undefined));
  process.stdout.write(lines.join('\n') + '\n');
}

export function registerServe(program: Command): void {
  const serve = program.command('serve').description('inference services: replicas behind a router, scaled on load');

  const apply = serve.command('apply').description('create or replace a service from a YAML file (kind: Service)').argument('<file>', 'service file');
  connectionOptions(apply);
  addOutputOption(apply).action(async (file: string, o: Row) => {
    const fmt = outputFormat(o['output']);
    const s = await applyService(clientOf(o), readServiceFile(file));
    if (fmt === 'json') return printJson(s);
    process.stdout.write(`service ${String(s['name'])} ${s['created'] ? 'created' : 'updated'}: ${String(s['url'])}\n`);
  });

  const ls = serve.command('ls').description('list services');
  connectionOptions(ls);
  addOutputOption(ls).action(async (o: Row) => {
    const page = await clientOf(o).json<{ items: Row[] }>('GET', '/v1/services');
    if (outputFormat(o['output']) === 'json') return printJson(page);
    printServiceList(page.items);
  });

  const get = serve.command('get').description('show a service: URL, replicas, traffic, last autoscaler decision').argument('<name>');
  connectionOptions(get);
  addOutputOption(get).action(async (name: string, o: Row) => showService(clientOf(o), name, outputFormat(o['output'])));

  const rm = serve.command('rm').description('remove a service (Ready replicas drain first)').argument('<names...>');
  connectionOptions(rm);
  addOutputOption(rm).action(async (names: string[], o: Row) => {
    const out: Row[] = [];
    for (const n of names) {
      const r = await clientOf(o).json('DELETE', `/v1/services/${encodeURIComponent(n)}`);
      out.push(r);
      if (outputFormat(o['output']) === 'table') process.stdout.write(`service ${n} removed; ${String(r['replicasStopping'])} replica(s) stopping\n`);
    }
    if (outputFormat(o['output']) === 'json') printJson(out);
  });

  const explain = serve.command('explain').description('the autoscaler\'s decisions and rollout steps with their reasons').argument('<name>').option('--limit <n>', 'how many', '20');
  connectionOptions(explain);
  addOutputOption(explain).action(async (name: string, o: Row) => explainService(clientOf(o), name, outputFormat(o['output']), Number(o['limit'])));

  const services = program.command('services').description('list inference services (gantry serve ls)');
  connectionOptions(services);
  addOutputOption(services).action(async (o: Row) => {
    const page = await clientOf(o).json<{ items: Row[] }>('GET', '/v1/services');
    if (outputFormat(o['output']) === 'json') return printJson(page);
    printServiceList(page.items);
  });
}
