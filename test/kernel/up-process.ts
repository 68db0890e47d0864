/**
 * `tunstack up` as a person runs it, in a process of its own: its log lines (JSON when piped,
 * else the pretty text) collected as they come, for the kernel tests that drive the CLI.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface UpProcess {
  child: ChildProcess;
  /** Each stdout line parsed as JSON, or `{ msg: line }` when it is not JSON. */
  lines: Record<string, unknown>[];
  /** The same lines as printed. */
  raw: string[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `tunstack up ARGS…`; a non-zero exit prints its stderr (a failing test says why). */
export function startUp(args: readonly string[]): UpProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'up', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      raw.push(line);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ msg: line });
      }
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      if (code !== 0 && code !== null && stderr) {
        console.log(`[kernel] tunstack up stderr: ${stderr}`);
      }
      resolve({ code, signal });
    }),
  );
  return { child, lines, raw, stderr: () => stderr, exited };
}

/** The `msg` of every log line so far. */
export const msgs = (up: UpProcess): string[] => up.lines.map((l) => String(l.msg));
