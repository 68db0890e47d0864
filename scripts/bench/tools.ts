/**
 * The bench's kernel-side tools: built from scripts/bench-tools/*.c with the system C compiler
 * into a temporary directory, run inside a namespace with `ip netns exec`, each printing one JSON
 * line. The same binaries serve every system, so the client is never what differs between them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as netns from '../../src/link/netns.ts';

const SOURCE_DIR = fileURLToPath(new URL('../bench-tools/', import.meta.url));

export const TOOL_NAMES = [
  'tcpserve',
  'tcpbulk',
  'tcprr',
  'tcpcrr',
  'tcpidle',
  'tunbridge',
  'tcploss',
] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

export interface Tools {
  dir: string;
  path(name: ToolName): string;
  /** Remove the build directory. */
  remove(): Promise<void>;
}

/** Compile every tool (two at a time: the machine has two cores shared with others). */
export async function buildTools(): Promise<Tools> {
  const dir = await mkdtemp(join(tmpdir(), 'tunstack-bench-'));
  const build = async (name: ToolName): Promise<void> => {
    await netns.runChecked(
      [
        process.env.CC ?? 'cc',
        '-O2',
        '-Wall',
        '-pthread',
        '-o',
        join(dir, name),
        join(SOURCE_DIR, `${name}.c`),
      ],
      { timeoutMs: 60_000 },
    );
  };
  try {
    for (let i = 0; i < TOOL_NAMES.length; i += 2) {
      await Promise.all(TOOL_NAMES.slice(i, i + 2).map(build));
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    path: (name) => join(dir, name),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** What a tool printed: its JSON object, or why there is none. */
export type ToolOutput = { ok: true; json: Record<string, unknown> } | { ok: false; why: string };

/**
 * Run a tool inside namespace `ns` and parse its JSON line. `boundMs` is the driver's own bound
 * on top of the tool's: a tool that outlives it is killed.
 */
export async function runTool(
  ns: string,
  argv: readonly string[],
  boundMs: number,
): Promise<ToolOutput> {
  const r = await netns.exec(ns, argv, { timeoutMs: boundMs });
  return parseToolOutput(r);
}

export function parseToolOutput(r: netns.ExecResult): ToolOutput {
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let json: Record<string, unknown> | null = null;
  try {
    json = line ? (JSON.parse(line) as Record<string, unknown>) : null;
  } catch {
    json = null;
  }
  if (json && typeof json.error === 'string') return { ok: false, why: json.error };
  if (json && r.code === 0) return { ok: true, json };
  if (r.timedOut) return { ok: false, why: 'timed out (killed by the driver)' };
  const stderr = r.stderr.trim().split('\n').pop() ?? '';
  return { ok: false, why: `exit ${r.code ?? r.signal}${stderr ? `: ${stderr}` : ''}` };
}

/** A long-lived child (a server, the bridge, the stack) that the bench must always stop. */
export interface Daemon {
  child: ChildProcess;
  pid: number;
  /** Lines it wrote to stdout and stderr (the last 200), for error messages. */
  output: string[];
  exited: Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs` if it is still there. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Start argv and wait until a stdout line matches `ready` (or until `isReady` resolves true, polled
 * every 100 ms). Rejects, after stopping the child, if it exits first or `timeoutMs` passes.
 */
export async function startDaemon(
  argv: readonly string[],
  opts: {
    ready?: RegExp;
    isReady?: () => Promise<boolean>;
    timeoutMs: number;
    env?: NodeJS.ProcessEnv;
    cwd?: string;
  },
): Promise<Daemon> {
  const [file, ...args] = argv;
  const child = spawn(file, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ? { ...process.env, ...opts.env } : process.env,
    cwd: opts.cwd,
  });
  const output: string[] = [];
  let sawReady = false;
  const remember = (line: string): void => {
    output.push(line);
    if (output.length > 200) output.shift();
    if (opts.ready?.test(line)) sawReady = true;
  };
  createInterface({ input: child.stdout! }).on('line', remember);
  createInterface({ input: child.stderr! }).on('line', remember);
  let exitedFlag = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exitedFlag = true;
      resolve();
    });
    child.once('error', (err) => {
      remember(`spawn: ${err.message}`);
      exitedFlag = true;
      resolve();
    });
  });
  const daemon: Daemon = {
    child,
    pid: child.pid ?? -1,
    output,
    exited,
    async stop(graceMs = 2_000) {
      if (exitedFlag) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (sawReady || (opts.isReady && !exitedFlag && (await opts.isReady()))) return daemon;
    if (exitedFlag) {
      throw new Error(
        `${argv.join(' ')} exited before it was ready: ${output.slice(-5).join(' | ') || '(no output)'}`,
      );
    }
    if (Date.now() > deadline) {
      await daemon.stop();
      throw new Error(
        `${argv.join(' ')} was not ready after ${opts.timeoutMs} ms: ${output.slice(-5).join(' | ')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Is `cmd` an executable on PATH? */
export function hasCommand(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
