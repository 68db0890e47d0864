/**
 * `tunstack up` dual-stack (issue 12, phase 1): by default the device has fd00::1/64 beside
 * 10.0.0.1/24 and the stack answers ping -6 at fd00::2; --no-ipv6 leaves IPv6 disabled on the
 * device, as before; its http and echo apps answer IPv6 clients (phase 2), and so does every app
 * of `up` (echo, discard, chargen, http, the styles demo with ws, udp echo), each on one listener
 * or socket for both families. Each run in a namespace of its own, removed at the end.
 */
import { expect, it } from 'vitest';
import { chargenChunk } from '../../src/apps/chargen.ts';
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

  it('every app of up answers over IPv6 from the kernel side, and over IPv4 on the same listener', async () => {
    const ns = netns.uniqueName();
    const up = startUp(['--netns', ns, '--apps', 'echo,discard,chargen,http,styles,udp-echo']);
    const run = (argv: string[], input?: string) =>
      netns.exec(ns, argv, { timeoutMs: 20_000, ...(input !== undefined ? { input } : {}) });
    const curl6 = (url: string, ...args: string[]) =>
      run(['curl', '-6', '-sS', '--max-time', '15', ...args, url]);
    try {
      await readyRecord(up);
      // echo (TCP 7), over both families.
      const echo6 = await run(['socat', '-t', '5', '-', 'TCP6:[fd00::2]:7'], 'echo over IPv6\n');
      expect([echo6.code, echo6.stdout], echo6.stderr).toEqual([0, 'echo over IPv6\n']);
      const echo4 = await run(['socat', '-t', '5', '-', 'TCP4:10.0.0.2:7'], 'echo over IPv4\n');
      expect([echo4.code, echo4.stdout], echo4.stderr).toEqual([0, 'echo over IPv4\n']);
      // discard (TCP 9): taken, nothing back, closed when we close.
      const discard = await run(['socat', '-t', '5', '-', 'TCP6:[fd00::2]:9'], 'x'.repeat(20_000));
      expect([discard.code, discard.stdout], discard.stderr).toEqual([0, '']);
      // chargen (TCP 19): RFC 864's lines from the first.
      const chargen = await run(['sh', '-c', 'socat -u TCP6:[fd00::2]:19 - | head -c 740']);
      expect(chargen.stdout).toBe(chargenChunk(1).subarray(0, 740).toString());
      // http (TCP 80): a body of a known size.
      const bytes = await curl6(
        'http://[fd00::2]/bytes/100000',
        '-o',
        '/dev/null',
        '-w',
        '%{size_download}',
      );
      expect([bytes.code, bytes.stdout], bytes.stderr).toEqual([0, '100000']);
      // styles: the page on 8080, keep-alive naming the IPv6 peer on 8081, each style's server
      // answering on 8081-8085, and Node's ws taking a WebSocket upgrade over IPv6 on 8085.
      const page = await curl6('http://[fd00::2]:8080/', '-o', '/dev/null', '-w', '%{http_code}');
      expect([page.code, page.stdout], page.stderr).toEqual([0, '200']);
      const ka = await curl6('http://[fd00::2]:8081/ka');
      expect(ka.code, ka.stderr).toBe(0);
      expect(JSON.parse(ka.stdout)).toMatchObject({
        local: '[fd00::2]:8081',
        remote: expect.stringMatching(/^\[fd00::1\]:\d+$/),
      });
      // A path none serves: 404, or 426 from the WebSocket port (upgrade required).
      for (const [port, status] of [
        [8081, '404'],
        [8082, '404'],
        [8083, '404'],
        [8084, '404'],
        [8085, '426'],
      ] as const) {
        const r = await curl6(
          `http://[fd00::2]:${port}/nothing-here`,
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
        );
        expect([r.code, r.stdout], `${port} ${r.stderr}`).toEqual([0, status]);
      }
      const ws = await run([
        'curl',
        '-6',
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--max-time',
        '3',
        '-H',
        'Connection: Upgrade',
        '-H',
        'Upgrade: websocket',
        '-H',
        'Sec-WebSocket-Version: 13',
        '-H',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        'http://[fd00::2]:8085/ws',
      ]);
      // 101, then curl holds the upgraded connection until --max-time (exit 28).
      expect(ws.stdout).toBe('101');
      // udp-echo (UDP 7): one udp6 socket for both families.
      const udp6 = await run(['socat', '-t', '2', '-', 'UDP6:[fd00::2]:7'], 'udp over IPv6\n');
      expect([udp6.code, udp6.stdout], udp6.stderr).toEqual([0, 'udp over IPv6\n']);
      const udp4 = await run(['socat', '-t', '2', '-', 'UDP4:10.0.0.2:7'], 'udp over IPv4\n');
      expect([udp4.code, udp4.stdout], udp4.stderr).toEqual([0, 'udp over IPv4\n']);
      up.child.kill('SIGTERM');
      expect((await up.exited).code).toBe(0);
    } finally {
      up.child.kill('SIGKILL');
      await netns.remove(ns);
    }
  }, 120_000);

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
