/**
 * `tunstack ss` against a running `tunstack up` (two processes, as a person uses them): the
 * table through the control socket (plain, -i, --json), the same table on stderr after SIGUSR2,
 * and a clear error once the stack is gone (its socket file removed). Also `tunstack ladder
 * --live`, which asks the same socket for the packets `up --record K` kept.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { controlPath } from '../../src/cli/control.ts';
import * as netns from '../../src/link/netns.ts';
import { kernelDescribe, STACK_ADDR, STACK_ADDR6, waitFor } from './harness.ts';
import { spawnInNs } from './tcp-peers.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function tunstack(args: readonly string[]): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void exited.then(() => clearTimeout(timer));
  return { child, out: () => out, err: () => err, exited };
}

/** Run `tunstack ss ...` (or another command: `ladder`) to completion. */
async function ss(
  args: readonly string[],
  command = 'ss',
): Promise<{ code: number | null; out: string; err: string }> {
  const p = tunstack([command, ...args]);
  const code = await p.exited;
  return { code, out: p.out(), err: p.err() };
}

kernelDescribe('tunstack ss', () => {
  it('shows the running stack its listeners and an open connection, then says when it is gone', async () => {
    const ns = netns.uniqueName();
    const up = tunstack(['up', '--netns', ns, '--apps', 'echo,http']);
    let download: ReturnType<typeof spawnInNs> | undefined;
    try {
      await waitFor(() => up.out().includes('ready:'), 20_000, 'the ready line');
      // A slow download keeps one connection ESTABLISHED while we look.
      download = spawnInNs(
        ns,
        [
          'curl',
          '-sS',
          '-o',
          '/dev/null',
          '--limit-rate',
          '200k',
          '--max-time',
          '30',
          `http://${STACK_ADDR}/bytes/100000000`,
        ],
        40_000,
      );
      let table = '';
      for (let i = 0; i < 50 && !/ESTAB/.test(table); i++) {
        table = (await ss(['--netns', ns])).out;
        if (!/ESTAB/.test(table)) await new Promise((r) => setTimeout(r, 200));
      }
      const lines = table.trimEnd().split('\n');
      expect(lines[0]).toMatch(
        /^State\s+Recv-Q\s+Send-Q\s+Local Address:Port\s+Peer Address:Port$/,
      );
      expect(table).toMatch(/^LISTEN\s+0\s+\d+\s+0\.0\.0\.0:7\s+\*:\*$/m);
      expect(table).toMatch(/^LISTEN\s+0\s+\d+\s+0\.0\.0\.0:80\s+\*:\*$/m);
      expect(table).toMatch(/^ESTAB\s+\d+\s+\d+\s+10\.0\.0\.2:80\s+10\.0\.0\.1:\d+$/m);

      const info = await ss(['--netns', ns, '-i']);
      expect(info.out).toMatch(
        /^\t rto:\d+ .*cwnd:\d+ bytes_sent:\d+ bytes_received:\d+ retrans:\d+( [a-z_]+:\d+)* hist:\S+$/m,
      );
      // The download's connection: a passive open, established within a second of its SYN.
      expect(info.out).toMatch(/ hist:SYN-RECV@0ms>ESTAB@\d{1,3}(\.\d+)?ms$/m);

      const json = JSON.parse((await ss(['--netns', ns, '--json'])).out) as { state: string }[];
      expect(json.map((r) => r.state)).toContain('ESTABLISHED');

      // SIGUSR2: the process prints the same table (with -i lines) to its stderr.
      up.child.kill('SIGUSR2');
      await waitFor(
        () => /ESTAB\s+\d+\s+\d+\s+10\.0\.0\.2:80/.test(up.err()),
        10_000,
        'the table on stderr',
      );
      expect(up.err()).toMatch(/^LISTEN\s+0\s+\d+\s+0\.0\.0\.0:7/m);

      download.kill();
      up.child.kill('SIGTERM');
      expect(await up.exited).toBe(0);
      await expect(stat(controlPath(ns))).rejects.toMatchObject({ code: 'ENOENT' });
      const gone = await ss(['--netns', ns]);
      expect(gone.code).toBe(1);
      expect(gone.err).toMatch(/tunstack ss: no tunstack is running there/);
    } finally {
      download?.kill();
      up.child.kill('SIGKILL');
      await netns.remove(ns);
    }
  });

  it('ladder --live draws the last packets of a running stack started with --record', async () => {
    const ns = netns.uniqueName();
    const up = tunstack(['up', '--netns', ns, '--apps', 'http', '--record', '200']);
    try {
      await waitFor(() => up.out().includes('ready:'), 20_000, 'the ready line');
      const curl = spawnInNs(
        ns,
        ['curl', '-sS', '-o', '/dev/null', `http://${STACK_ADDR}/`],
        20_000,
      );
      expect((await curl.exited).code).toBe(0);

      const drawn = await ss(['--live', '--netns', ns], 'ladder');
      expect(drawn.err).toBe('');
      expect(drawn.code).toBe(0);
      // The kernel (a, 10.0.0.1) opens; the stack (b, 10.0.0.2:80) answers.
      expect(drawn.out).toMatch(/10\.0\.0\.1:\d+ .*10\.0\.0\.2:80/);
      expect(drawn.out).toMatch(/\|--- SYN seq=0 /);
      expect(drawn.out).toMatch(/\|<-- SYN\/ACK seq=0 ack=1 /);
      expect(drawn.out).toMatch(/ESTABLISHED.*\n(.*\n)*.*ESTABLISHED/);
      expect(drawn.out).toMatch(/^netns \S+ \(live\): \d+ packets, 1 TCP connection/m);

      // Over IPv6 too: the recorder keeps both families, the ends read [fd00::1]:port.
      const curl6 = spawnInNs(
        ns,
        ['curl', '-sS', '-6', '-o', '/dev/null', `http://[${STACK_ADDR6}]/`],
        20_000,
      );
      expect((await curl6.exited).code).toBe(0);
      const six = await ss(['--live', '--netns', ns, '--conn', '2'], 'ladder');
      expect([six.code, six.err]).toEqual([0, '']);
      expect(six.out).toMatch(/\[fd00::1\]:\d+ .*\[fd00::2\]:80/);
      expect(six.out).toMatch(/\|--- SYN seq=0 win=\d+ <mss 1440,/);
      expect(six.out).toMatch(/^connection 2 of 2 /m);

      up.child.kill('SIGTERM');
      expect(await up.exited).toBe(0);
    } finally {
      up.child.kill('SIGKILL');
      await netns.remove(ns);
    }
  });

  it('ladder --live says how to turn recording on when the stack records nothing', async () => {
    const ns = netns.uniqueName();
    const up = tunstack(['up', '--netns', ns, '--apps', 'http']);
    try {
      await waitFor(() => up.out().includes('ready:'), 20_000, 'the ready line');
      const off = await ss(['--live', '--netns', ns], 'ladder');
      expect(off.code).toBe(1);
      expect(off.err).toMatch(/recording is off: start the stack with `tunstack up --record K`/);
      up.child.kill('SIGTERM');
      expect(await up.exited).toBe(0);
    } finally {
      up.child.kill('SIGKILL');
      await netns.remove(ns);
    }
  });
}, ['curl']);
