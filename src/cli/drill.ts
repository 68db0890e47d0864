/**
 * `tunstack drill FILE.pkt…`: run packetdrill scripts against the TCP core in virtual time.
 *
 *   tunstack drill test/drill/*.pkt
 *   tunstack drill --profile linux --verbose test/drill/passive-open.pkt
 *   tunstack drill --ip_version=ipv6 --target stack test/drill   # the same scripts over IPv6
 *
 * Each script runs on a fresh CoreTarget (src/drill/core-target.ts): no TUN, no real clock, so a
 * script that takes minutes of TCP time finishes in milliseconds and always the same way. Prints
 * one line per script, a report for each failure (script line, expected and actual segment in
 * packetdrill notation, connection state), and `N passed, N failed`; exits 1 when any failed.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { defaultMtu } from '../drill/addresses.ts';
import { CoreTarget } from '../drill/core-target.ts';
import { PROFILE_NAMES, type ProfileName } from '../drill/profiles.ts';
import { type DrillResult, formatFailure, runSource } from '../drill/run.ts';
import { StackTarget } from '../drill/stack-target.ts';
import { IP_VERSIONS, type IpVersion } from '../drill/target.ts';
import type { CliCommand } from './command.ts';

export interface DrillCliOptions {
  profile: ProfileName;
  /** What runs the scripts: the TCP core alone, or a whole Stack (IP, wire codec, TCP layer). */
  target?: 'core' | 'stack';
  verbose: boolean;
  toleranceUsecs?: number;
  /** commander's --no-strict-end: packetdrill's leniency about trailing segments. */
  strictEnd: boolean;
  /** Print every event as it runs. */
  trace?: boolean;
  /** packetdrill's --ip_version (commander keeps the underscore): ipv4 by default. */
  ip_version?: IpVersion;
  /** The link MTU (default 1500, 1520 over IPv6 as packetdrill's run_all.py: MSS 1460 in both). */
  mtu?: number;
}

export interface DrillFileResult {
  file: string;
  result: DrillResult;
}

/** Files as given, with a directory standing for the .pkt files directly in it (sorted). */
export function expandScripts(paths: string[]): string[] {
  return paths.flatMap((p) => {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      return [p]; // reported as unreadable by runDrillFiles
    }
    if (!isDir) return [p];
    return readdirSync(p)
      .filter((f) => f.endsWith('.pkt'))
      .sort()
      .map((f) => join(p, f));
  });
}

/** Run each file on a fresh target, one after another; unreadable files fail. */
export async function runDrillFiles(
  files: string[],
  o: DrillCliOptions,
): Promise<DrillFileResult[]> {
  const results: DrillFileResult[] = [];
  for (const file of expandScripts(files)) results.push(await runDrillFile(file, o));
  return results;
}

async function runDrillFile(file: string, o: DrillCliOptions): Promise<DrillFileResult> {
  let src: string;
  try {
    src = readFileSync(file, 'utf8');
  } catch (e) {
    const message = `cannot read: ${(e as Error).message}`;
    return {
      file,
      result: {
        ok: false,
        failure: { line: 0, message },
        warnings: [],
        eventsRun: 0,
        endTime: 0,
      },
    };
  }
  if (o.trace) process.stdout.write(`${file}\n`);
  const t = { profile: o.profile, ipVersion: o.ip_version, mtu: o.mtu };
  const target = o.target === 'stack' ? new StackTarget(t) : new CoreTarget(t);
  return {
    file,
    result: await runSource(src, target, {
      file,
      toleranceUs: o.toleranceUsecs,
      strictEnd: o.strictEnd,
      trace: o.trace ? (line) => process.stdout.write(`  ${line}\n`) : undefined,
    }),
  };
}

/** The report `drill` prints, ending with the summary line. */
export function drillReport(results: DrillFileResult[], verbose: boolean): string {
  const out: string[] = [];
  for (const { file, result } of results) {
    const time = (result.endTime / 1e6).toFixed(3);
    out.push(`${result.ok ? 'PASS' : 'FAIL'} ${file} (${result.eventsRun} events, ${time} s)`);
    if (result.failure) out.push(formatFailure(file, result.failure).replace(/^/gm, '  '));
    if (verbose || !result.ok) for (const w of result.warnings) out.push(`  warning: ${w}`);
  }
  const passed = results.filter((r) => r.result.ok).length;
  out.push(`${passed} passed, ${results.length - passed} failed`);
  return out.join('\n');
}

/** An IPv4 link carries 68 bytes at least (RFC 791), IPv6 1280 (RFC 8200 §5, checked below). */
function mtuOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 68 || n > 65535)
    throw new InvalidArgumentError('a whole number of bytes from 68 to 65535');
  return n;
}

/** After the summary line of a run outside plain IPv4: which family and MTU it used. */
export function familyNote(o: DrillCliOptions): string {
  const v = o.ip_version ?? 'ipv4';
  if (v === 'ipv4' && o.mtu === undefined) return '';
  return ` (--ip_version=${v}, MTU ${o.mtu ?? defaultMtu(v)})`;
}

/** Why these options cannot run, or null. */
export function drillOptionsProblem(o: DrillCliOptions): string | null {
  const v6 = o.ip_version !== undefined && o.ip_version !== 'ipv4';
  if (v6 && o.mtu !== undefined && o.mtu < 1280)
    return `--ip_version=${o.ip_version} needs --mtu of at least 1280 (RFC 8200 §5), not ${o.mtu}`;
  return null;
}

function toleranceUsecs(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('a whole number of µs ≥ 0');
  return n;
}

export const drillCommand: CliCommand = {
  name: 'drill',
  register(program: Command): void {
    program
      .command('drill')
      .description('run packetdrill scripts against the TCP core in virtual time')
      .argument('<files...>', 'packetdrill scripts (.pkt), or directories of them')
      .addOption(
        new Option('--profile <name>', 'where the RFCs allow a choice, choose as')
          .choices(PROFILE_NAMES)
          .default('rfc'),
      )
      .addOption(
        new Option('--target <name>', 'run against the TCP core alone, or a whole Stack')
          .choices(['core', 'stack'])
          .default('core'),
      )
      .addOption(
        new Option('--ip_version <version>', 'the packets’ family, as packetdrill’s flag')
          .choices(IP_VERSIONS)
          .default('ipv4'),
      )
      .option(
        '--mtu <bytes>',
        'link MTU (default 1500; 1520 over IPv6, so that the MSS is 1460 in both)',
        mtuOption,
      )
      .option(
        '--tolerance-usecs <n>',
        'timing tolerance (default: the script’s, else 4000)',
        toleranceUsecs,
      )
      .option(
        '--no-strict-end',
        'ignore segments sent after the last > line (packetdrill does; for Linux’s own scripts)',
      )
      .option('--trace', 'print every segment and call as it happens', false)
      .option('-v, --verbose', 'print warnings of passing scripts too', false)
      .action(async (files: string[], o: DrillCliOptions, cmd: Command) => {
        const problem = drillOptionsProblem(o);
        if (problem !== null) cmd.error(`error: ${problem}`);
        const results = await runDrillFiles(files, o);
        process.stdout.write(`${drillReport(results, o.verbose)}${familyNote(o)}\n`);
        if (results.some((r) => !r.result.ok)) process.exitCode = 1;
      });
  },
};
