/** `gantry submit FILE...`: validates job files locally, then submits them. */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { parseJobYaml, readYaml } from '../../spec/job-spec.js';
import { addOutputOption, outputFormat, printJson } from '../output.js';
import { clientOf, connectionOptions, sleep } from './common.js';
import { applyService, serviceBodyFromYaml } from './serve.js';

export function registerSubmit(program: Command): void {
  const cmd = program
    .command('submit')
    .description('submit jobs described in YAML files (a file with kind: Service creates or replaces a service)')
    .argument('<files...>', 'job files (YAML)')
    .option('--idempotency-key <key>', 'retrying with the same key never submits twice (one file only)')
    .option('--wait', 'wait until the jobs finish; exit non-zero if one did not succeed');
  connectionOptions(cmd);
  addOutputOption(cmd).action(async (files: string[], o: Record<string, unknown>) => {
    const fmt = outputFormat(o['output']);
    if (o['idempotencyKey'] && files.length > 1) throw new UserError('BAD_FLAG', '--idempotency-key applies to one file');
    const client = clientOf(o);
    const texts = files.map((f) => {
      try {
        return { file: f, text: readFileSync(f, 'utf8') };
      } catch {
        throw new UserError('FILE_NOT_FOUND', `${f}: cannot read the file`);
      }
    });
    const isService = (t: string, f: string): boolean => {
      const doc = readYaml(t, f);
      return doc !== null && typeof doc === 'object' && (doc as Record<string, unknown>)['kind'] === 'Service';
    };
    const serviceFiles = texts.filter((t) => isService(t.text, t.file));
    if (serviceFiles.length > 0 && (o['wait'] || o['idempotencyKey'])) throw new UserError('BAD_FLAG', '--wait and --idempotency-key apply to jobs, not to a service file');
    // Checked before anything is sent: one bad file submits nothing.
    const serviceBodies = serviceFiles.map((t) => serviceBodyFromYaml(readYaml(t.text, t.file) as Record<string, unknown>, t.file));
    const jobs = texts.filter((t) => !serviceFiles.includes(t)).map(({ file: f, text }) => {
      const spec = parseJobYaml(text, f);
      // Send what the user wrote (the server validates again); workingDir is relative to the job file; by default the job runs in the file's folder.
      const wd = spec.workingDir;
      const base = dirname(resolve(f));
      return { file: f, body: { ...(readYaml(text, f) as Record<string, unknown>), workingDir: wd === undefined ? base : isAbsolute(wd) ? wd : resolve(base, wd) } };
    });
    const submitted: Record<string, unknown>[] = [];
    for (const body of serviceBodies) {
      const s = await applyService(client, body);
      submitted.push(s);
      if (fmt === 'table') process.stdout.write(`service ${String(s['name'])} ${s['created'] ? 'created' : 'updated'}: ${String(s['url'])}\n`);
    }
    for (const j of jobs) {
      const headers: Record<string, string> = typeof o['idempotencyKey'] === 'string' ? { 'idempotency-key': o['idempotencyKey'] } : {};
      const job = await client.json('POST', '/v1/jobs', j.body, headers);
      submitted.push(job);
      if (fmt === 'table') process.stdout.write(`submitted ${String(job['id'])} (${String(job['name'])}) to queue ${String(job['queue'])}\n`);
    }
    if (o['wait']) {
      const final: Record<string, unknown>[] = [];
      for (const j of submitted) {
        for (;;) {
          const cur = await client.json('GET', `/v1/jobs/${String(j['id'])}`);
          if (['succeeded', 'failed', 'cancelled'].includes(String(cur['state']))) {
            final.push(cur);
            if (fmt === 'table') process.stdout.write(`${String(cur['id'])} ${String(cur['state'])}${cur['reason'] ? `: ${String(cur['reason'])}` : ''}\n`);
            break;
          }
          await sleep(300);
        }
      }
      if (fmt === 'json') printJson(final);
      if (final.some((f) => f['state'] !== 'succeeded')) process.exitCode = 1;
    } else if (fmt === 'json') printJson(submitted);
  });
}
