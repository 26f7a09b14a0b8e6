/**
 * `gantry policies ls | apply FILE | test FILE`: the admission policies (docs/policies.md).
 * The file is read and checked here first (the same check the server makes), so a mistake is
 * reported with where and why before anything is sent.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { readYaml } from '../../spec/job-spec.js';
import { validatePolicyFile } from '../../spec/policy-file.js';
import type { BodyOf } from '../client.js';
import { addOutputOption, outputFormat, printJson, printTable } from '../output.js';
import { clientOf, connectionOptions } from './common.js';

type PolicyBody = BodyOf<'applyPolicies'>;

/** The policy file's document, checked (POLICY_INVALID with where and why). */
function readPolicyFile(file: string): PolicyBody {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UserError('FILE_NOT_FOUND', `${file}: cannot read the file`);
  }
  let doc: unknown;
  try {
    doc = readYaml(text, file);
  } catch (e) {
    if (e instanceof UserError) throw new UserError('POLICY_INVALID', e.message, { issues: [{ where: '(file)', why: e.message }] });
    throw e;
  }
  validatePolicyFile(doc, file);
  return doc as PolicyBody;
}

interface Refused {
  id: string;
  name: string;
  team: string;
  owner: string;
  state: string;
  denials: { policy: string; rule: string; message: string }[];
}

function printRefused(r: { checked: number; refused: Refused[] }): void {
  if (r.refused.length === 0) {
    process.stdout.write(`none of the ${r.checked} active jobs would be refused\n`);
    return;
  }
  printTable(['JOB', 'NAME', 'TEAM', 'OWNER', 'STATE', 'POLICY', 'RULE', 'WHY'], r.refused.flatMap((j) => j.denials.map((d) => [j.id, j.name, j.team, j.owner, j.state, d.policy, d.rule, d.message])));
  process.stdout.write(`${r.refused.length} of ${r.checked} active jobs would be refused\n`);
}

export function registerPolicies(program: Command): void {
  const policies = program.command('policies').description('admission policies: what jobs may ask for (docs/policies.md)');
  connectionOptions(addOutputOption(policies.command('ls').description('the policies in force and their rules'))).action(async (o: Record<string, unknown>) => {
    const fmt = outputFormat(o['output']);
    const r = await clientOf(o).call('getPolicies');
    if (fmt === 'json') return printJson(r);
    if (r.revision === 0) {
      process.stdout.write('no admission policies applied (every job is allowed); apply a file with gantry policies apply FILE\n');
      return;
    }
    process.stdout.write(`revision ${r.revision}, applied ${r.appliedAt ?? '?'} by ${r.appliedBy ?? '?'}\n`);
    printTable(['POLICY', 'MATCH', 'RULES', 'DESCRIPTION'], r.policies.map((p) => [p.name, Object.keys(p.match).length > 0 ? JSON.stringify(p.match) : '(all work)', p.rules.join(', '), p.description]));
  });
  connectionOptions(addOutputOption(policies.command('apply').description('apply a policy file (admin); later submissions and starts are judged by it').argument('<file>', 'YAML policy file'))).action(async (file: string, o: Record<string, unknown>) => {
    const fmt = outputFormat(o['output']);
    const r = await clientOf(o).call('applyPolicies', { body: readPolicyFile(file) });
    if (fmt === 'json') return printJson(r);
    process.stdout.write(`policies applied: revision ${r.revision} (${r.policies.map((p) => p.name).join(', ') || 'none'})\n`);
    if (r.wouldRefuse.refused.length > 0) {
      process.stdout.write('active jobs these policies refuse (running ones keep running; queued ones are judged again before they start):\n');
      printRefused(r.wouldRefuse);
    }
  });
  connectionOptions(addOutputOption(policies.command('test').description('dry run (admin): which active jobs a policy file would refuse').argument('<file>', 'YAML policy file'))).action(async (file: string, o: Record<string, unknown>) => {
    const fmt = outputFormat(o['output']);
    const r = await clientOf(o).call('testPolicies', { body: readPolicyFile(file) });
    if (fmt === 'json') return printJson(r);
    printRefused(r);
  });
}
