/** `gantry logs JOB [-f]`: a worker's output; -f follows until the job ends. */
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { clientOf, connectionOptions, sleep } from './common.js';

export function registerLogs(program: Command): void {
  const cmd = program
    .command('logs')
    .description("print a job's output (stdout and stderr of one worker)")
    .argument('<job>', 'job id')
    .option('-w, --worker <rank>', 'which worker', '0')
    .option('-f, --follow', 'keep printing until the job ends');
  connectionOptions(cmd).action(async (id: string, o: Record<string, unknown>) => {
    const worker = Number(o['worker']);
    if (!Number.isInteger(worker) || worker < 0) throw new UserError('BAD_FLAG', `--worker: "${String(o['worker'])}" is not a worker rank`);
    const client = clientOf(o);
    let offset = 0;
    for (;;) {
      const r = await client.request('GET', `/v1/jobs/${encodeURIComponent(id)}/logs?worker=${worker}&offset=${offset}`);
      if (r.text.length > 0) process.stdout.write(r.text);
      offset = Number(r.headers.get('x-next-offset') ?? offset);
      if (!o['follow']) return;
      if (r.headers.get('x-job-finished') === 'true' && r.text.length === 0) return;
      if (r.text.length === 0) await sleep(500);
    }
  });
}
