/**
 * The `gantry` command line. Each command lives in src/cli/commands/<name>.ts and registers
 * itself on the program. User mistakes (UserError, bad flags) print one clear line and exit
 * non-zero, without a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { isUserError } from '../core/errors.js';
import { registerSim } from './commands/sim.js';
import { registerBench } from './commands/bench.js';
import { registerK8s } from './commands/k8s.js';
import { registerUp } from './commands/up.js';
import { registerSubmit } from './commands/submit.js';
import { registerLs, registerGet, registerCancel, registerExplain } from './commands/jobs.js';
import { registerLogs } from './commands/logs.js';
import { registerQueues } from './commands/queues.js';
import { registerNodes } from './commands/nodes.js';
import { registerTop } from './commands/top.js';
import { registerTeams, registerUsers } from './commands/users.js';
import { registerQuickstart } from './commands/quickstart.js';

export const EXIT_USAGE = 2;

export function buildProgram(): Command {
  const program = new Command('gantry')
    .description('Gantry: GPU workload orchestrator for machine-learning teams')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerSim(program);
  registerBench(program);
  registerK8s(program);
  registerUp(program);
  registerQuickstart(program);
  registerSubmit(program);
  registerLs(program);
  registerGet(program);
  registerLogs(program);
  registerCancel(program);
  registerExplain(program);
  registerQueues(program);
  registerNodes(program);
  registerTop(program);
  registerUsers(program);
  registerTeams(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander already printed the message (or help / version).
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (isUserError(e)) {
      process.stderr.write(`gantry: ${e.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
}
