/**
 * Running `tunstack relay` from a test's egress namespace (relay.test.ts, relay6.test.ts):
 * `ip netns exec EGRESS tunstack relay --netns CLIENT ARGS -- CMD`, as a child of its own, its
 * output kept, the client namespace removed afterwards. Nothing relays from the root namespace.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as netns from '../../src/link/netns.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface RelayRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The two ways a test runs the relay, with DNS going to `dns` on the egress side; `tag` names
 * the test file in the log line of a command that failed.
 */
export function relayRunner(dns: string, tag: string) {
  /** The relay as a child; `done` when it exits. */
  function startRelay(
    egress: string,
    client: string,
    cmd: readonly string[],
    args: string[] = [],
  ): { child: ChildProcess; done: Promise<RelayRun> } {
    const child = spawn(
      'ip',
      [
        ...['netns', 'exec', egress, process.execPath, '--import', 'tsx', MAIN, 'relay'],
        ...['--netns', client, '--dns', dns, '--log-level', 'warn', ...args, '--', ...cmd],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const done = new Promise<RelayRun>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
    );
    return { child, done };
  }

  /** Run a command through the relay and wait for it (killed after `timeoutMs`). */
  async function relay(
    egress: string,
    cmd: readonly string[],
    timeoutMs = 60_000,
    args: string[] = [],
  ): Promise<RelayRun> {
    const client = netns.uniqueName();
    const r = startRelay(egress, client, cmd, args);
    const timer = setTimeout(() => r.child.kill('SIGKILL'), timeoutMs);
    try {
      const out = await r.done;
      if (out.code !== 0) console.log(`[${tag}] ${cmd.join(' ')} → ${out.code}\n${out.stderr}`);
      return out;
    } finally {
      clearTimeout(timer);
      await netns.remove(client).catch(() => {});
    }
  }

  return { startRelay, relay };
}
