/**
 * The tunstack subcommands. Each lives in its own file and exports a CliCommand; adding one
 * (`ss`, `drill`, `ladder`, ...) is one import and one entry in COMMANDS.
 */
import type { Command } from 'commander';
import { drillCommand } from './drill.ts';
import { ladderCommand } from './ladder.ts';
import { ssCommand } from './ss.ts';
import { upCommand } from './up.ts';

export interface CliCommand {
  /** The subcommand name, as typed after `tunstack`. */
  readonly name: string;
  /** Add the subcommand (its options, help and action) to the program. */
  register(program: Command): void;
}

export const COMMANDS: readonly CliCommand[] = [upCommand, ssCommand, drillCommand, ladderCommand];
