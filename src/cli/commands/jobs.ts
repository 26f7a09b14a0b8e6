/** `gantry ls`, `gantry get JOB`, `gantry cancel JOB`, `gantry explain JOB`. */
import type { Command } from 'commander';
import { addOutputOption, age, gpuText, outputFormat, printJson, printTable } from '../output.js';
import { clientOf, connectionOptions } from './common.js';
import { cliName } from '../cli-name.js';
import { explainService, showService } from './serve.js';

type Job = Record<string, unknown>;

/** The REASON column gets what a terminal line leaves after the other columns (at least 40). */
function reasonWidth(): number {
  return Math.max(40, (process.stdout.columns ?? 120) - 80);
}

/** Cuts at a word boundary when one is near, and marks the cut. */
export function truncate(text: string, width: number): string {
  const t = text.replace(/\s+/g, ' ').trim();
  if (t.length <= width) return t;
  const cut = t.slice(0, width - 1);
  const space = cut.lastIndexOf(' ');
  return `${space > width * 0.6 ? cut.slice(0, space) : cut}…`;
}

export function registerLs(program: Command): void {
  const cmd = program
    .command('ls')
    .description('list jobs, newest first')
    .option('--state <states>', 'comma-separated states, or active / finished')
    .option('--queue <queue>', 'only this queue')
    .option('--limit <n>', 'how many', '50');
  connectionOptions(cmd);
  addOutputOption(cmd).action(async (o: Record<string, unknown>) => {
    const fmt = outputFormat(o['output']);
    const q = new URLSearchParams({ limit: String(o['limit']) });
    if (typeof o['state'] === 'string') q.set('state', o['state']);
    if (typeof o['queue'] === 'string') q.set('queue', o['queue']);
    const page = await clientOf(o).json<{ items: Job[]; nextCursor: string | null }>('GET', `/v1/jobs?${q.toString()}`);
    if (fmt === 'json') return printJson(page);
    printTable(
      ['ID', 'NAME', 'QUEUE', 'STATE', 'WORKERS', 'GPU', 'AGE', 'REASON'],
      page.items.map((j) => [String(j['id']), String(j['name']), String(j['queue']), String(j['state']), String(j['workers']), gpuText(j['resources'] as Job), age(j['submittedAt']), truncate((j['waitingFor'] as { message: string }[] | undefined)?.[0]?.message ?? (j['reason'] as string | null) ?? '', reasonWidth())]),
    );
    if (page.items.some((j) => j['state'] === 'queued')) process.stdout.write(`(${cliName()} explain JOB says in full why a job waits)\n`);
  });
}

export function registerGet(program: Command): void {
  const cmd = program.command('get').description('show one job, or a service as svc/NAME').argument('<job>', 'job id, e.g. job-3, or svc/NAME');
  connectionOptions(cmd);
  addOutputOption(cmd).action(async (id: string, o: Record<string, unknown>) => {
    const fmt = outputFormat(o['output']);
    if (id.startsWith('svc/')) return showService(clientOf(o), id.slice(4), fmt);
    const j = await clientOf(o).json('GET', `/v1/jobs/${encodeURIComponent(id)}`);
    if (fmt === 'json') return printJson(j);
    const lines = [
      `${String(j['id'])}  ${String(j['name'])}  (${String(j['state'])})`,
      `  queue ${String(j['queue'])}, team ${String(j['team'])}, owner ${String(j['owner'])}, priority ${String(j['priority'])}${j['preemptible'] ? ', preemptible' : ''}`,
      `  workers ${String(j['workers'])}, resources ${gpuText(j['resources'] as Job)}`,
      `  submitted ${String(j['submittedAt'])}, started ${String(j['startedAt'] ?? '-')}, finished ${String(j['finishedAt'] ?? '-')}`,
      `  attempts ${String(j['attempts'])}, retries ${String(j['retries'])}, preemptions ${String(j['preemptions'])}, exit code ${String(j['exitCode'] ?? '-')}`,
    ];
    if (j['reason']) lines.push(`  reason: ${String(j['reason'])}`);
    const progress = j['progress'] as Job | null;
    if (progress) lines.push(`  progress: step ${String(progress['step'] ?? '-')}, loss ${String(progress['loss'] ?? '-')}, ${String(progress['samplesPerSec'] ?? '-')} samples/s; last checkpoint ${String(j['lastCheckpointAt'] ?? '-')}`);
    for (const p of (j['placement'] as Job[]) ?? []) {
      const gpus = (p['gpus'] as Job[]).map((g) => `${String(g['index'])}${g['mig'] ? ` mig ${String((g['mig'] as Job)['profile'])}` : Number(g['milli']) < 1000 ? ` (${Number(g['milli']) / 1000})` : ''}`).join(',');
      lines.push(`  worker ${String(p['rank'])}: ${String(p['node'])}${p['simulated'] ? ' (simulated)' : ''} GPUs [${gpus}]`);
    }
    for (const w of (j['waitingFor'] as Job[]) ?? []) lines.push(`  waiting: ${String(w['message'])}`);
    lines.push(...dataLines(j['data']));
    process.stdout.write(lines.join('\n') + '\n');
  });
}

/** One line per dataset the job reads: version, and cached (where) or filling / waiting. */
function dataLines(data: unknown): string[] {
  if (!Array.isArray(data)) return [];
  return (data as Job[]).map((d) => {
    const ref = d['version'] === null ? String(d['name']) : `${String(d['name'])}@${String(d['version'])}`;
    const state = String(d['state']);
    if (state === 'cached') return `  data: ${ref} cached at ${String(d['path'])}`;
    if (state === 'external') return `  data: ${ref} read from ${String(d['path'])} (not managed)`;
    return `  data: ${typeof d['message'] === 'string' ? d['message'] : `${ref} ${state}`}`;
  });
}

export function registerCancel(program: Command): void {
  const cmd = program.command('cancel').description('cancel a job (SIGTERM, grace, SIGKILL)').argument('<jobs...>', 'job ids');
  connectionOptions(cmd);
  addOutputOption(cmd).action(async (ids: string[], o: Record<string, unknown>) => {
    const fmt = outputFormat(o['output']);
    const client = clientOf(o);
    const out: Job[] = [];
    for (const id of ids) {
      const j = await client.json('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`);
      out.push(j);
      if (fmt === 'table') process.stdout.write(`${String(j['id'])} ${String(j['state'])}\n`);
    }
    if (fmt === 'json') printJson(out);
  });
}

export function registerExplain(program: Command): void {
  const cmd = program.command('explain').description('why a job is pending, and when it is expected to start; for svc/NAME, the autoscaler\'s decisions').argument('<job>', 'job id, or svc/NAME');
  connectionOptions(cmd);
  addOutputOption(cmd).action(async (id: string, o: Record<string, unknown>) => {
    const fmt = outputFormat(o['output']);
    if (id.startsWith('svc/')) return explainService(clientOf(o), id.slice(4), fmt);
    const e = await clientOf(o).json('GET', `/v1/jobs/${encodeURIComponent(id)}/explain`);
    if (fmt === 'json') return printJson(e);
    if (e['state'] !== 'queued') {
      process.stdout.write(`${id} is ${String(e['state'])}${e['reason'] ? ` (${String(e['reason'])})` : ''}; nothing to explain\n` + dataLines(e['data']).map((l) => `${l}\n`).join(''));
      return;
    }
    const lines = [`${id} is queued${e['queuePosition'] ? `, position ${String(e['queuePosition'])} in its queue` : ''}`];
    const reasons = e['reasons'] as Job[];
    if (reasons.length === 0) lines.push('  no reason recorded yet: the next scheduling cycle will consider it');
    for (const r of reasons) {
      lines.push(`  ${String(r['kind'])}: ${String(r['message'])}`);
      for (const c of (r['reasons'] as Job[] | undefined) ?? []) lines.push(`    ${String(c['nodes'])} node(s): ${String(c['message'])}`);
    }
    const preempting = (e['preemptingFor'] as string[] | undefined) ?? [];
    if (preempting.length > 0) lines.push(`  preemption under way: ${preempting.join(', ')} ${preempting.length === 1 ? 'is' : 'are'} being stopped to make room for it`);
    const note = typeof e['estimateNote'] === 'string' ? ` (${e['estimateNote']})` : '';
    lines.push(...dataLines(e['data']));
    lines.push(e['estimatedStart'] ? `  expected to start around ${String(e['estimatedStart'])}${preempting.length > 0 ? '' : note}` : `  no start estimate${note}`);
    process.stdout.write(lines.join('\n') + '\n');
  });
}
