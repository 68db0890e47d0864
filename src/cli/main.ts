/**
 * The tunstack command line (commander 14). Run with `npx tsx src/cli/main.ts <command>`,
 * `npm start` (`up --netns tunstack`) or bin/tunstack.js.
 */
import { Command } from 'commander';
import { COMMANDS } from './commands.ts';
import { addExamples } from './examples.ts';

export function buildProgram(): Command {
  const program = new Command()
    .name('tunstack')
    .description('A userspace TCP/IP stack in TypeScript on a Linux TUN device')
    .showHelpAfterError()
    .enablePositionalOptions();
  for (const cmd of COMMANDS) cmd.register(program);
  addExamples(program);
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  // A failed command: one line for a person (the stack trace with --log-level debug in logs).
  const e = err as NodeJS.ErrnoException;
  process.stderr.write(`tunstack: ${e.message}${e.code ? ` (${e.code})` : ''}\n`);
  process.exitCode = 1;
}
