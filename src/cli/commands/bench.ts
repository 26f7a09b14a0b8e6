/** `gantry bench ...`: benchmarks of the decision core. */
import type { Command } from 'commander';

export function registerBench(program: Command): void {
  program.command('bench').description('benchmarks of the decision core (see docs/benchmarks.md)');
}
