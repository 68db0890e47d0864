/** One tunstack subcommand (src/cli/commands.ts lists them). */
import type { Command } from 'commander';

export interface CliCommand {
  /** The subcommand name, as typed after `tunstack`. */
  readonly name: string;
  /** Add the subcommand (its options, help and action) to the program. */
  register(program: Command): void;
}
