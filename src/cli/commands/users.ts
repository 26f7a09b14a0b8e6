/**
 * `gantry users create NAME --team TEAM [--admin] [--expires 30d]` (admin): prints the new
 * user's token once. `gantry users token USER` issues another; `gantry users tokens [USER]`
 * lists them (a member: their own); `gantry users revoke TOKEN_ID` revokes one.
 */
import type { Command } from 'commander';
import { addOutputOption, outputFormat, printJson, printTable } from '../output.js';
import { clientOf, connectionOptions } from './common.js';

function printToken(o: Record<string, unknown>, r: Record<string, unknown>, what: string): void {
  if (outputFormat(o['output']) === 'json') return printJson(r);
  const expiry = r['expiresAt'] ? `expires ${String(r['expiresAt'])}` : 'does not expire';
  process.stdout.write(`${what}. Token ${String(r['tokenId'])} (${expiry}), shown once:\n${String(r['token'])}\nUse it with: export GANTRY_TOKEN=<token>\n`);
}

export function registerUsers(program: Command): void {
  const users = program.command('users').description('users and their tokens (admin; a member may list and revoke their own tokens)');
  const create = users
    .command('create')
    .description('create a user (and its team) and print its token once')
    .argument('<name>', 'user name')
    .requiredOption('--team <team>', 'team')
    .option('--admin', 'an admin sees and changes everything')
    .option('--expires <duration>', 'the token expires after this long, e.g. 30d, 12h (default: never)');
  connectionOptions(create);
  addOutputOption(create).action(async (name: string, o: Record<string, unknown>) => {
    const r = await clientOf(o).json('POST', '/v1/users', { name, team: o['team'], admin: Boolean(o['admin']), ...(typeof o['expires'] === 'string' ? { expires: o['expires'] } : {}) });
    printToken(o, r, `user ${name} (team ${String(r['team'])}) created`);
  });

  const token = users.command('token').description('issue one more token for a user and print it once').argument('<user>', 'user name').option('--expires <duration>', 'the token expires after this long, e.g. 30d (default: never)');
  connectionOptions(token);
  addOutputOption(token).action(async (user: string, o: Record<string, unknown>) => {
    const r = await clientOf(o).json('POST', `/v1/users/${encodeURIComponent(user)}/tokens`, typeof o['expires'] === 'string' ? { expires: o['expires'] } : {});
    printToken(o, r, `new token for ${user}`);
  });

  const tokens = users.command('tokens').description("list tokens (all, or one user's; a member sees their own)").argument('[user]', 'user name');
  connectionOptions(tokens);
  addOutputOption(tokens).action(async (user: string | undefined, o: Record<string, unknown>) => {
    const r = await clientOf(o).json<{ items: Record<string, unknown>[] }>('GET', `/v1/tokens${user ? `?user=${encodeURIComponent(user)}` : ''}`);
    if (outputFormat(o['output']) === 'json') return printJson(r);
    printTable(['ID', 'USER', 'STATUS', 'CREATED', 'EXPIRES', 'REVOKED'], r.items.map((t) => [t['id'], t['user'], t['status'], t['createdAt'], t['expiresAt'] ?? 'never', t['revokedAt']] as (string | null)[]));
  });

  const revoke = users.command('revoke').description('revoke a token (it stops working at once)').argument('<token-id>', 'the ID column of gantry users tokens');
  connectionOptions(revoke);
  addOutputOption(revoke).action(async (id: string, o: Record<string, unknown>) => {
    const r = await clientOf(o).json('POST', `/v1/tokens/${encodeURIComponent(id)}/revoke`);
    if (outputFormat(o['output']) === 'json') return printJson(r);
    process.stdout.write(`token ${id} of ${String(r['user'])} revoked at ${String(r['revokedAt'])}\n`);
  });
}

export function registerTeams(program: Command): void {
  const teams = program.command('teams').description('teams (admin)');
  const create = teams.command('create').description('create a team (it may own queues before it has users)').argument('<name>', 'team name');
  connectionOptions(create);
  addOutputOption(create).action(async (name: string, o: Record<string, unknown>) => {
    const r = await clientOf(o).json('POST', '/v1/teams', { name });
    if (outputFormat(o['output']) === 'json') return printJson(r);
    process.stdout.write(`team ${name} created\n`);
  });
  const list = teams.command('list').alias('ls').description('list teams and their users');
  connectionOptions(list);
  addOutputOption(list).action(async (o: Record<string, unknown>) => {
    const r = await clientOf(o).json<{ items: { name: string; users: string[] }[] }>('GET', '/v1/teams');
    if (outputFormat(o['output']) === 'json') return printJson(r);
    printTable(['TEAM', 'USERS'], r.items.map((t) => [t.name, t.users.join(', ') || '-']));
  });
}
