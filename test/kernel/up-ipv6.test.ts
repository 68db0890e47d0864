/**
 * `tunstack up` dual-stack (issue 12, phase 1): by default the device has fd00::1/64 beside
 * 10.0.0.1/24 and the stack answers ping -6 at fd00::2; --no-ipv6 leaves IPv6 disabled on the
 * device, as before; its http and echo apps answer IPv6 clients (phase 2). Each run in a namespace
 * of its own, removed at the end.
 */
import { expect, it } from 'vitest';
import * as netns from '../../src/link/netns.ts';
import { kernelDescribe, parsePing, waitFor } from './harness.ts';
import { msgs, startUp } from './up-process.ts';

async function readyRecord(up: ReturnType<typeof startUp>): Promise<Record<string, unknown>> {
  await waitFor(() => msgs(up).some((m) => m.startsWith('ready:')), 20_000, 'the ready line');
  return up.lines.find((l) => String(l.msg).startsWith('ready:'))!;
}

kernelDescribe('tunstack up: dual stack', () => {
  it('puts fd00::1/64 on the device, names fd00::2 on the ready line, and answers ping -6', async () => {
    const ns = netns.uniqueName();
    const up = startUp(['--netns', ns, '--apps', '']);
    try {
      const ready = await readyRecord(up);
      expect(ready).toMatchObject({
        address: '10.0.0.2',
        address6: 'fd00::2',
        hostAddress6: 'fd00::1/64',
      });
      expect(ready.msg).toContain('stack 10.0.0.2 and fd00::2 on tun0');
      expect(ready.msg).toContain(`ip netns exec ${ns} ping -6 fd00::2`);
      const addrs = await netns.exec(ns, ['ip', '-6', '-o', 'addr', 'show', 'dev', 'tun0']);
      expect(addrs.stdout).toContain('fd00::1/64');
      expect(addrs.stdout).not.toContain('tentative');
      const r6 = await netns.exec(ns, [
        'ping',
        '-6',
        '-n',
        '-c',
        '3',
        '-i',
        '0.05',
        '-w',
        '5',
        'fd00::2',
      ]);
      expect(parsePing(r6.stdout).received, r6.stdout + r6.stderr).toBe(3);
      const r4 = await netns.exec(ns, [
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
      expect(parsePing(r4.stdout).received, r4.stdout).toBe(3);
      up.child.kill('SIGTERM');
      expect((await up.exited).code).toBe(0);
      const stopped = up.lines.find((l) => l.msg === 'stopped') as {
        stats: { stack: { icmp6: { txEchoReplies: number } } };
      };
      expect(stopped.stats.stack.icmp6.txEchoReplies).toBe(3);
    } finally {
      up.child.kill('SIGKILL');
      await netns.remove(ns);
    }
  });

  it('its http and echo apps serve IPv6 clients: curl -6 http://[fd00::2]/ and socat to [fd00::2]:7', async () => {
    const ns = netns.uniqueName();
    const up = startUp(['--netns', ns, '--apps', 'http,echo']);
    try {
      const ready = await readyRecord(up);
      expect(ready.msg).toContain(`ip netns exec ${ns} curl -6 http://[fd00::2]/`);
      const page = await netns.exec(
        ns,
        ['curl', '-6', '-sS', '--max-time', '20', 'http://[fd00::2]/'],
        {
          timeoutMs: 25_000,
        },
      );
      expect(page.code, page.stderr).toBe(0);
      expect(page.stdout).toMatch(/you are \[fd00::1\]:\d+, this is \[fd00::2\]:80\n/);
      expect(page.stdout).toMatch(/connection: state=ESTABLISHED /);
      const echo = await netns.exec(ns, ['socat', '-t', '5', '-', 'TCP6:[fd00::2]:7'], {
        input: 'hello over IPv6\n',
        timeoutMs: 20_000,
      });
      expect(echo.code, echo.stderr).toBe(0);
      expect(echo.stdout).toBe('hello over IPv6\n');
      up.child.kill('SIGTERM');
      expect((await up.exited).code).toBe(0);
    } finally {
      up.child.kill('SIGKILL');
      await netns.remove(ns);
    }
  }, 60_000);

  it('--no-ipv6: IPv6 stays disabled on the device and the ready line names IPv4 only', async () => {
    const ns = netns.uniqueName();
    const up = startUp(['--netns', ns, '--apps', '', '--no-ipv6']);
    try {
      const ready = await readyRecord(up);
      expect(ready.address6).toBeUndefined();
      expect(ready.msg).not.toContain('fd00::');
      const sysctl = await netns.exec(ns, ['sysctl', '-n', 'net.ipv6.conf.tun0.disable_ipv6']);
      expect(sysctl.stdout.trim()).toBe('1');
      up.child.kill('SIGTERM');
      expect((await up.exited).code).toBe(0);
    } finally {
      up.child.kill('SIGKILL');
      await netns.remove(ns);
    }
  });
}, ['ping', 'curl', 'socat']);
