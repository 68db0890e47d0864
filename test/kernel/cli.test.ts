/**
 * `tunstack up` as a person runs it: a separate process that creates its namespace, prints one
 * ready line, answers ping, prints stats on SIGUSR1, and on SIGTERM closes and removes the
 * namespace it created (and only that one).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import * as netns from '../../src/link/netns.ts';
import { kernelDescribe, parsePing, waitFor } from './harness.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

interface Up {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

function startUp(args: string[]): Up {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'up', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
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
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      if (code !== 0 && stderr) console.log(`[kernel] tunstack up stderr: ${stderr}`);
      resolve(code);
    }),
  );
  return { child, lines, exited };
}

const msgs = (up: Up): string[] => up.lines.map((l) => String(l.msg));

kernelDescribe('tunstack up (the CLI)', () => {
  it('creates its namespace, says ready, answers ping, and removes the namespace on SIGTERM', async () => {
    const ns = netns.uniqueName();
    const up = startUp(['--netns', ns, '--apps', 'udp-echo']);
    try {
      await waitFor(() => msgs(up).some((m) => m.startsWith('ready:')), 20_000, 'the ready line');
      const ready = up.lines.find((l) => String(l.msg).startsWith('ready:'))!;
      expect(ready).toMatchObject({ address: '10.0.0.2', dev: 'tun0', netns: ns });
      expect(ready.msg).toContain(`ip netns exec ${ns} ping 10.0.0.2`);
      expect(ready.msg).toContain(`ip netns exec ${ns} curl http://10.0.0.2/`);
      expect(await netns.exists(ns)).toBe(true);

      const r = await netns.exec(ns, [
        'ping',
        '-n',
        '-c',
        '3',
        '-i',
        '0.05',
        '-w',
        '5',
        '10.0.0.2',
      ]);
      expect(parsePing(r.stdout).received, r.stdout).toBe(3);

      up.child.kill('SIGUSR1');
      await waitFor(() => msgs(up).includes('stats'), 10_000, 'the stats line');
      const stats = up.lines.find((l) => l.msg === 'stats') as {
        stats: { stack: { icmp: { rxEchoRequests: number } }; tun: { rxPackets: number } };
      };
      expect(stats.stats.stack.icmp.rxEchoRequests).toBe(3);
      expect(stats.stats.tun.rxPackets).toBeGreaterThanOrEqual(3);

      up.child.kill('SIGTERM');
      expect(await up.exited).toBe(0);
      expect(msgs(up)).toContain('stopped');
      expect(await netns.exists(ns)).toBe(false);
    } finally {
      up.child.kill('SIGKILL');
      await netns.remove(ns);
    }
  });

  it('leaves a namespace it did not create in place', async () => {
    const ns = netns.uniqueName();
    await netns.create(ns);
    try {
      const up = startUp(['--netns', ns, '--apps', '']);
      await waitFor(() => msgs(up).some((m) => m.startsWith('ready:')), 20_000, 'the ready line');
      up.child.kill('SIGINT');
      expect(await up.exited).toBe(0);
      expect(await netns.exists(ns)).toBe(true);
      // The device went away with the process.
      const show = await netns.exec(ns, ['ip', 'link', 'show', 'dev', 'tun0']);
      expect(show.code).not.toBe(0);
    } finally {
      await netns.remove(ns);
    }
  });

  it('refuses bad options before creating anything', async () => {
    const ns = netns.uniqueName();
    const up = startUp(['--netns', ns, '--addr', '10.0.0.300']);
    expect(await up.exited).not.toBe(0);
    expect(await netns.exists(ns)).toBe(false);
  });
}, ['ping']);
