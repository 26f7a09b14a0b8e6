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
import { registerDatasets } from './commands/datasets.js';
import { registerTop } from './commands/top.js';
import { registerTeams, registerUsers } from './commands/users.js';
import { registerQuickstart } from './commands/quickstart.js';
import { registerBudgets, registerCost, registerPrices } from './commands/cost.js';
import { registerHistory } from './commands/history.js';
import { registerPolicies } from './commands/policies.js';
import { registerServe } from './commands/serve.js';

export const EXIT_USAGE = 2;

export function buildProgram(): Command {
  const program = new Command('gantry')
    .description('Gantry: GPU workload orchestrator for machine-learning teams')
    .version('0.1.0')
    .exitOverride()
    // Usage errors are one line like every other error: what is wrong, where to look, a code.
    .configureOutput({ outputError: (str, write) => write(`gantry: ${str.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')} (see --help) [USAGE]\n`) });
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
  registerDatasets(program);
  registerServe(program);
  registerTop(program);
  registerUsers(program);
  registerTeams(program);
  registerPrices(program);
  registerCost(program);
  registerBudgets(program);
  registerHistory(program);
  registerPolicies(program);
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
      // API errors already start with their code; local ones get it appended.
      process.stderr.write(`gantry: ${oneLine(e.message)}${e.message.startsWith(`${e.code}:`) ? '' : ` [${e.code}]`}\n`);
      return EXIT_USAGE;
    }
    const sys = e as NodeJS.ErrnoException;
    if (typeof sys.code === 'string' && /^E[A-Z]+$/.test(sys.code)) {
      // The operating system refused something (a file, a port): the user's to fix, no stack.
      process.stderr.write(`gantry: ${oneLine(sys.message)} [${sys.code}]\n`);
      return 1;
    }
    if (process.env['GANTRY_DEBUG'] !== '1') {
      process.stderr.write(`gantry: internal error: ${oneLine((e as Error).message ?? String(e))} (a bug; GANTRY_DEBUG=1 shows the stack) [INTERNAL]\n`);
      return 70;
    }
    throw e;
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
