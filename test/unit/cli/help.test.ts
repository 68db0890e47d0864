/**
 * `tunstack --help` and every command's help end with examples: checked on the real command
 * line (main.ts wires them) and, for every registered command, in process.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../../src/cli/commands.ts';
import { addExamples, COMMAND_EXAMPLES } from '../../../src/cli/examples.ts';

const MAIN = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));

/** The help text `tunstack ARGS` prints. */
function cliHelp(args: string[]): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** The examples section: the lines after "Examples:", up to a blank line. */
function examplesOf(help: string): string[] {
  const lines = help.split('\n');
  const at = lines.indexOf('Examples:');
  if (at < 0) return [];
  const end = lines.indexOf('', at);
  return lines.slice(at + 1, end < 0 ? undefined : end);
}

describe('help text', () => {
  it('tunstack --help ends with examples of every command', () => {
    const help = cliHelp(['--help']);
    const examples = examplesOf(help);
    for (const cmd of COMMANDS) {
      expect(examples.some((l) => l.startsWith(`  tunstack ${cmd.name}`))).toBe(true);
    }
    // After the options and commands, not before.
    expect(help.indexOf('Examples:')).toBeGreaterThan(help.indexOf('Commands:'));
  });

  it('tunstack up --help ends with examples, --log-format among the options', () => {
    const help = cliHelp(['up', '--help']);
    expect(help).toContain('--log-format <format>');
    const examples = examplesOf(help);
    expect(
      examples.some((l) => /^ {2}tunstack up --log-format json +# JSON log lines/.test(l)),
    ).toBe(true);
    expect(help.indexOf('Examples:')).toBeGreaterThan(help.indexOf('--help'));
  });

  it('every command has examples of itself, each a command and a comment', () => {
    const program = new Command().name('tunstack');
    for (const cmd of COMMANDS) cmd.register(program);
    addExamples(program);
    for (const sub of program.commands) {
      let out = '';
      sub.configureOutput({
        writeOut: (s) => {
          out += s;
        },
      });
      sub.outputHelp();
      const examples = examplesOf(out);
      expect(examples.length, sub.name()).toBeGreaterThan(0);
      expect(examples.length).toBe(COMMAND_EXAMPLES[sub.name()].length);
      for (const line of examples) expect(line).toMatch(/^ {2}\S.* +# \S/);
      expect(
        examples.filter((l) => l.startsWith(`  tunstack ${sub.name()}`)).length,
      ).toBeGreaterThan(0);
    }
  });
});
