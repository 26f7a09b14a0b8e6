/** `gantry users create NAME --team TEAM [--admin]` (admin): prints the new user's token once. */
import type { Command } from 'commander';
import { addOutputOption, outputFormat, printJson } from '../output.js';
import { clientOf, connectionOptions } from './common.js';

export function registerUsers(program: Command): void {
  const users = program.command('users').description('users and teams (admin)');
  const create = users.command('create').description('create a user (and its team) and print its token once').argument('<name>', 'user name').requiredOption('--team <team>', 'team').option('--admin', 'an admin sees and changes everything');
  connectionOptions(create);
  addOutputOption(create).action(async (name: string, o: Record<string, unknown>) => {
    const r = await clientOf(o).json('POST', '/v1/users', { name, team: o['team'], admin: Boolean(o['admin']) });
    if (outputFormat(o['output']) === 'json') return printJson(r);
    process.stdout.write(`user ${name} (team ${String(r['team'])}) created. Token, shown once:\n${String(r['token'])}\nUse it with: export GANTRY_TOKEN=<token>\n`);
  });
}
