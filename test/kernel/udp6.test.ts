/**
 * UDP over IPv6 with the kernel as the peer (issue 12, phase 1): a Node dgram 'udp6' client in
 * the namespace against the stack's udp-echo app at [fd00::2]:7 (sizes up to 8000 bytes, so
 * fragments both ways, and a 'udp4' client to 10.0.0.2:7 on the same socket), and ICMPv6 port
 * unreachable for a closed port both ways (ECONNREFUSED for the kernel's client and the stack's).
 */
import { expect, it } from 'vitest';
import { startUdpEcho } from '../../src/apps/udp-echo.ts';
import { HOST_ADDR6, kernelDescribe, STACK_ADDR, STACK_ADDR6, withStack } from './harness.ts';

/**
 * Kernel-side client: TYPE (udp4/udp6) to ADDR:PORT, one datagram per size, each echo awaited
 * (3 s each: a loaded CI machine), a JSON summary printed. Errors are reported, not thrown.
 */
const ECHO_CLIENT = `
const dgram = require('node:dgram');
const [type, addr, port, sizesArg] = process.argv.slice(1);
const sizes = sizesArg.split(',').map(Number);
const s = dgram.createSocket(type);
const out = { echoed: [], mismatches: 0, errors: [] };
let i = 0, timer;
const payload = (n, k) => Buffer.alloc(n, 97 + (k % 26));
const finish = () => { clearTimeout(timer); console.log(JSON.stringify(out)); s.close(); };
const next = () => {
  if (i === sizes.length) return finish();
  s.send(payload(sizes[i], i));
  timer = setTimeout(() => { out.errors.push('timeout ' + sizes[i]); finish(); }, 3000);
};
s.on('message', (m) => {
  clearTimeout(timer);
  if (!m.equals(payload(sizes[i], i))) out.mismatches++;
  out.echoed.push(m.length);
  i++;
  next();
});
s.on('error', (e) => { out.errors.push(e.code); finish(); });
s.connect(Number(port), addr, () => next());`;

interface ClientResult {
  echoed: number[];
  mismatches: number;
  errors: string[];
}

kernelDescribe('udp over IPv6: a kernel client and the stack', () => {
  it('echoes datagrams of many sizes over IPv6 (fragments both ways), and over IPv4 on the same socket', async () => {
    await withStack(
      async (fx) => {
        const echo = await startUdpEcho(fx.stack, 7);
        const sizes = [0, 1, 18, 512, 1452, 1453, 4000, 8000, 1, 100];
        const r = await fx.node(ECHO_CLIENT, ['udp6', STACK_ADDR6, '7', sizes.join(',')], {
          timeoutMs: 30_000,
        });
        const out = JSON.parse(r.stdout) as ClientResult;
        expect(out.errors, r.stderr).toEqual([]);
        expect(out.echoed).toEqual(sizes);
        expect(out.mismatches).toBe(0);
        expect(fx.stack.stats.ip6.reassembled).toBeGreaterThanOrEqual(3); // 1453 (+48), 4000, 8000
        expect(fx.stack.stats.ip6.txFragmented).toBeGreaterThanOrEqual(3);
        const r4 = await fx.node(ECHO_CLIENT, ['udp4', STACK_ADDR, '7', '5,3000'], {
          timeoutMs: 20_000,
        });
        const out4 = JSON.parse(r4.stdout) as ClientResult;
        expect(out4.errors, r4.stderr).toEqual([]);
        expect(out4.echoed).toEqual([5, 3000]);
        expect(echo.echoed).toBe(sizes.length + 2);
        await echo.close();
      },
      { ipv6: true },
    );
  });

  it('a datagram to a closed port: ICMPv6 port unreachable, ECONNREFUSED for the kernel client', async () => {
    await withStack(
      async (fx) => {
        const r = await fx.node(ECHO_CLIENT, ['udp6', STACK_ADDR6, '9999', '10'], {
          timeoutMs: 20_000,
        });
        const out = JSON.parse(r.stdout) as ClientResult;
        expect(out.echoed).toEqual([]);
        expect(out.errors).toEqual(['ECONNREFUSED']);
        expect(fx.stack.stats.icmp6.txDestUnreachable).toBe(1);
      },
      { ipv6: true },
    );
  });

  it("the stack's connected udp6 socket hears ECONNREFUSED from the kernel's port unreachable", async () => {
    await withStack(
      async (fx) => {
        const s = fx.stack.dgram.createSocket('udp6');
        const error = new Promise<string>((resolve) =>
          s.on('error', (e) => resolve(String(e.code))),
        );
        s.connect(9, HOST_ADDR6); // nothing listens on the kernel's side
        s.send('anyone?');
        expect(await error).toBe('ECONNREFUSED');
        expect(fx.stack.stats.icmp6.rxErrorsReported).toBe(1);
        s.close();
      },
      { ipv6: true },
    );
  });
});
