/**
 * The tunstack subcommands. Each lives in its own file and exports a CliCommand; adding one
 * (`ss`, `drill`, `ladder`, ...) is one import and one entry in COMMANDS.
 */
import type { CliCommand } from './command.ts';
import { drillCommand } from './drill.ts';
import { ladderCommand } from './ladder.ts';
import { relayCommand } from './relay.ts';
import { ssCommand } from './ss.ts';
import { upCommand } from './up.ts';

export type { CliCommand };

export const COMMANDS: readonly CliCommand[] = [
  upCommand,
  relayCommand,
  ssCommand,
  drillCommand,
  ladderCommand,
];
