/**
 * Running `tunstack relay` from a test's egress namespace (relay.test.ts, relay6.test.ts):
 * `ip netns exec EGRESS tunstack relay --netns CLIENT ARGS -- CMD`, as a child of its own, its
 * output kept, the client namespace removed afterwards. Nothing relays from the root namespace.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as netns from '../../src/link/netns.ts';
import { waitFor } from './harness.ts';

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

/** The egress side of a relay test: its namespace, a random file and its hash, the servers. */
export interface Egress {
  ns: string;
  /** A scratch directory, removed by stop(). */
  dir: string;
  file: string;
  sha: string;
  /** The servers' output lines ("ready" once every port listens). */
  serverOut: string[];
  stop(): Promise<void>;
}

/**
 * A namespace of the test's own with `addr` on its loopback, a random file of `size` bytes, and
 * the servers (`node` with `serverArgs(file)`) started in it; resolves once they print "ready".
 * stop() kills them and removes the namespace and the directory, also after a failed start.
 */
export async function startEgress(o: {
  addr: string;
  size: number;
  tag: string;
  serverArgs: (file: string) => string[];
}): Promise<Egress> {
  const ns = netns.uniqueName();
  const dir = mkdtempSync(join(tmpdir(), `tunstack-${o.tag}-`));
  const serverOut: string[] = [];
  let servers: ChildProcess | null = null;
  const stop = async (): Promise<void> => {
    servers?.kill('SIGKILL');
    await netns.remove(ns).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await netns.create(ns);
    const v6 = o.addr.includes(':');
    await netns.ip(ns, [
      ...(v6 ? ['-6'] : []),
      'addr',
      'add',
      `${o.addr}/${v6 ? 128 : 32}`,
      'dev',
      'lo',
    ]);
    const file = join(dir, 'file');
    const data = randomBytes(o.size);
    const sha = createHash('sha256').update(data).digest('hex');
    writeFileSync(file, data);
    servers = spawn('ip', ['netns', 'exec', ns, process.execPath, ...o.serverArgs(file)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let partial = '';
    servers.stdout?.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      serverOut.push(...lines);
    });
    await waitFor(() => serverOut.includes('ready'), 20_000, 'the servers');
    return { ns, dir, file, sha, serverOut, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
