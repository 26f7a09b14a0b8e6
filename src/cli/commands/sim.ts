/** `gantry sim ...`: the simulators over real traces. */
import type { Command } from 'commander';

export function registerSim(program: Command): void {
  program.command('sim').description('simulate placement and queueing policies over real cluster traces');
}
