/**
 * UDP between a kernel client (Node dgram inside the namespace) and the stack (RFC 768), the ICMP
 * port unreachable for a closed port (RFC 1122 §4.1.3.1), and a pcap of the run that tcpdump
 * reads back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startUdpEcho } from '../../src/apps/udp-echo.ts';
import * as netns from '../../src/link/netns.ts';
import { kernelDescribe, STACK_ADDR, withStack } from './harness.ts';

/**
 * Kernel-side client: send each size as one datagram to PORT, wait for each echo (1 s each), and
 * print a JSON summary. Errors (ECONNREFUSED on the connected socket) are reported, not thrown.
 */
const ECHO_CLIENT = `
const dgram = require('node:dgram');
const [port, sizesArg] = process.argv.slice(1);
const sizes = sizesArg.split(',').map(Number);
const s = dgram.createSocket('udp4');
const out = { echoed: [], mismatches: 0, errors: [], localPort: 0 };
let i = 0, timer;
const payload = (n, k) => Buffer.alloc(n, 97 + (k % 26));
const finish = () => { clearTimeout(timer); console.log(JSON.stringify(out)); s.close(); };
const next = () => {
  if (i === sizes.length) return finish();
  s.send(payload(sizes[i], i));
  timer = setTimeout(() => { out.errors.push('timeout ' + sizes[i]); finish(); }, 3000); // generous: a loaded CI machine
};
s.on('message', (m) => {
  clearTimeout(timer);
  if (!m.equals(payload(sizes[i], i))) out.mismatches++;
  out.echoed.push(m.length);
  i++;
  next();
});
s.on('error', (e) => { out.errors.push(e.code); finish(); });
s.connect(Number(port), '${STACK_ADDR}', () => { out.localPort = s.address().port; next(); });`;

interface ClientResult {
  echoed: number[];
  mismatches: number;
  errors: string[];
  localPort: number;
}

kernelDescribe('udp: a kernel client and the stack', () => {
  it('echoes datagrams of many sizes, fragmented ones included', async () => {
    await withStack(async (fx) => {
      await startUdpEcho(fx.stack, 7);
      const sizes = [0, 1, 18, 512, 1472, 1473, 4000, 8000, 1, 100];
      const r = await fx.node(ECHO_CLIENT, ['7', sizes.join(',')], { timeoutMs: 20_000 });
      const out = JSON.parse(r.stdout) as ClientResult;
      expect(out.errors, r.stderr).toEqual([]);
      expect(out.echoed).toEqual(sizes);
      expect(out.mismatches).toBe(0);
    });
  });

  it('a datagram to a closed port: the kernel client sees ECONNREFUSED', async () => {
    await withStack(async (fx) => {
      const r = await fx.node(ECHO_CLIENT, ['9999', '10'], { timeoutMs: 10_000 });
      const out = JSON.parse(r.stdout) as ClientResult;
      expect(out.echoed).toEqual([]);
      expect(out.errors).toEqual(['ECONNREFUSED']);
    });
  });

  it('records the run to a pcap that tcpdump reads back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tunstack-udp-'));
    const file = join(dir, 'echo.pcap');
    try {
      let clientPort = 0;
      await withStack(
        async (fx) => {
          await startUdpEcho(fx.stack, 7);
          const r = await fx.node(ECHO_CLIENT, ['7', '5,6,7'], { timeoutMs: 10_000 });
          const out = JSON.parse(r.stdout) as ClientResult;
          expect(out.echoed).toEqual([5, 6, 7]);
          clientPort = out.localPort;
        },
        { pcap: file },
      );
      // The pcap is complete once the stack (and with it the PcapLink) is closed.
      const t = await netns.run(['tcpdump', '-nn', '-r', file, 'udp'], { timeoutMs: 10_000 });
      expect(t.code, t.stderr).toBe(0);
      const lines = t.stdout.trim().split('\n');
      const req = (n: number) => `IP 10.0.0.1.${clientPort} > 10.0.0.2.7: UDP, length ${n}`;
      const rep = (n: number) => `IP 10.0.0.2.7 > 10.0.0.1.${clientPort}: UDP, length ${n}`;
      const seen = lines.map((l) => l.replace(/^\S+ /, '')); // drop the timestamp
      expect(seen).toEqual([req(5), rep(5), req(6), rep(6), req(7), rep(7)]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}, ['tcpdump']);
