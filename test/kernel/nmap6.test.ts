/**
 * nmap over IPv6 against the stack and against the kernel side by side (issue 12, Done-when:
 * "nmap -6 -sS -sU answered as the kernel answers"). In one dual-stack namespace: the stack at
 * fd00::2 with its HTTP app on TCP 80 and its UDP echo app on UDP 7; the namespace's kernel at
 * fd00::1 with the same services from Node (an HTTP server on [fd00::1]:80, a udp6 echo on
 * [fd00::1]:7). Port 81 is closed on both. nmap scans each; the port states must be the same,
 * and those nmap reports for Linux: TCP 80 open, 81 closed (a RST); UDP 7 open (the echo answers
 * nmap's probe), 81 closed (ICMPv6 port unreachable). The SYN scan alone is in tcp6.test.ts.
 */
import { expect, it } from 'vitest';
import { startHttp } from '../../src/apps/http.ts';
import { startUdpEcho } from '../../src/apps/udp-echo.ts';
import { HOST_ADDR6, kernelDescribe, STACK_ADDR6, withStack } from './harness.ts';
import { spawnInNs } from './tcp-peers.ts';

/** The kernel's services: HTTP on [addr]:80 and UDP echo on [addr]:7, from Node. */
const KERNEL_SERVICES = `
const addr = process.argv[1];
const http = require('node:http').createServer((q, s) => s.end('ok\\n'));
const udp = require('node:dgram').createSocket('udp6');
udp.on('message', (m, r) => udp.send(m, r.port, r.address));
http.listen(80, addr, () => udp.bind(7, addr, () => console.log('listening')));`;

/** nmap's XML: "tcp/80" → state, for every port it reports. */
function portStates(xml: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /<port protocol="(tcp|udp)" portid="(\d+)"><state state="([^"]+)"/g;
  for (const m of xml.matchAll(re)) out[`${m[1]}/${m[2]}`] = m[3];
  return out;
}

const WANT = { 'tcp/80': 'open', 'tcp/81': 'closed', 'udp/7': 'open', 'udp/81': 'closed' };

kernelDescribe('nmap -6 -sS -sU: the stack answers as the kernel does', () => {
  it('TCP 80 open, 81 closed; UDP 7 open, 81 closed (ICMPv6 port unreachable): the same states for fd00::2 (the stack) and fd00::1 (the kernel)', async () => {
    await withStack(
      async (fx) => {
        const apps = [await startHttp(fx.stack, 80), await startUdpEcho(fx.stack, 7)];
        const kernel = spawnInNs(
          fx.ns,
          [process.execPath, '-e', KERNEL_SERVICES, '--', HOST_ADDR6],
          120_000,
        );
        try {
          await kernel.waitForLine(/listening/, 20_000);
          const scan = async (target: string) => {
            const r = await fx.exec(
              [
                'nmap',
                '-6',
                '-n',
                '-Pn',
                '-sS',
                '-sU',
                '--max-retries',
                '3',
                '-p',
                'T:80,81,U:7,81',
                '-oX',
                '-',
                target,
              ],
              { timeoutMs: 90_000 },
            );
            expect(r.code, r.stderr).toBe(0);
            return portStates(r.stdout);
          };
          const unreach0 = fx.stack.stats.icmp6.txDestUnreachable;
          const stack = await scan(STACK_ADDR6);
          const unreach = fx.stack.stats.icmp6.txDestUnreachable - unreach0;
          const linux = await scan(HOST_ADDR6);
          console.log(
            `[nmap6] stack ${JSON.stringify(stack)}, kernel ${JSON.stringify(linux)}, stack's ICMPv6 port unreachables ${unreach}`,
          );
          expect(stack).toEqual(linux);
          expect(stack).toEqual(WANT);
          // UDP 81 was closed by an ICMPv6 port unreachable, not by silence.
          expect(unreach).toBeGreaterThan(0);
        } finally {
          kernel.kill();
          await kernel.exited;
          for (const a of apps) await a.close();
        }
      },
      { ipv6: true },
    );
  }, 240_000);
}, ['nmap']);
