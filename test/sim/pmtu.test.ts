/**
 * Path MTU discovery between two stacks in virtual time (issue 12 item 5): mid-transfer, the
 * path from the server narrows to 1300 bytes and a router next to the server drops what is
 * larger (DF set), answering each with ICMP "fragmentation needed" (IPv4) or Packet Too Big
 * (IPv6), as the kernel does when it forwards onto a smaller link. The transfer completes
 * intact, the server's send MSS follows the path, and no loss recovery or timeout (so no cwnd
 * cut) was needed: the resend at the new size is outside congestion control.
 */
import { describe, expect, it } from 'vitest';
import { createStack } from '../../src/api/index.ts';
import { SimLink } from '../../src/link/sim.ts';
import type { VirtualClock } from '../../src/stack/clock.ts';
import { VirtualClock as Clock } from '../../src/stack/clock.ts';
import type { Link, LinkReceiver } from '../../src/stack/link.ts';
import type { TcpConnectionRow } from '../../src/stack/tcp.ts';
import { emitIcmp } from '../../src/wire/icmp.ts';
import { emitIcmpv6 } from '../../src/wire/icmpv6.ts';
import { Ipv6View, parseIpv6 } from '../../src/wire/ipv6.ts';
import { packet } from '../unit/ip/helpers.ts';
import { randomBytes, runFor, sha256 } from './fixture.ts';

const ROUTER4 = 0x0a0000fe; // 10.0.0.254
const ROUTER6 = parseIpv6('fd00::fe');

/**
 * The server's side of the wire with a router on it: once `narrow(mtu)` is called, a packet
 * larger than `mtu` is dropped (an IPv4 one only with DF set; without, a router would fragment
 * it, and it passes) and, a tenth of a millisecond later, the sender gets the ICMP error
 * quoting it: the IP header and 8 bytes for IPv4 (RFC 792), as much as fits in 1280 bytes for
 * IPv6 (RFC 4443).
 */
class NarrowingLink implements Link {
  readonly mtu: number;
  #limit = Number.POSITIVE_INFINITY;
  #rx: LinkReceiver | null = null;
  dropped = 0;
  /** The largest packet let through after narrowing. */
  largestAfter = 0;

  constructor(
    private readonly inner: Link,
    private readonly clock: VirtualClock,
  ) {
    this.mtu = inner.mtu;
  }

  narrow(mtu: number): void {
    this.#limit = mtu;
  }

  attach(rx: LinkReceiver): void {
    this.#rx = rx;
    this.inner.attach(rx);
  }

  send(p: Uint8Array, segmentSize?: number): void {
    const v4 = p[0] >>> 4 === 4;
    const df = v4 && (p[6] & 0x40) !== 0;
    if (p.length > this.#limit && (df || !v4)) {
      this.dropped++;
      const icmp = v4 ? this.#fragNeeded(p) : this.#tooBig(p);
      this.clock.setTimer(this.clock.now() + 0.1, () => {
        this.#rx?.packet(icmp);
        this.#rx?.batchEnd?.();
      });
      return;
    }
    if (this.#limit !== Number.POSITIVE_INFINITY) {
      this.largestAfter = Math.max(this.largestAfter, p.length);
    }
    this.inner.send(p, segmentSize);
  }

  flush(): void {
    this.inner.flush();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  #fragNeeded(p: Uint8Array): Uint8Array {
    const quote = p.slice(0, (p[0] & 0x0f) * 4 + 8);
    const msg = new Uint8Array(8 + quote.length);
    emitIcmp(msg, { kind: 'dest-unreachable', code: 4, nextHopMtu: this.#limit, data: quote });
    const dst = ((p[12] << 24) | (p[13] << 16) | (p[14] << 8) | p[15]) >>> 0;
    return packet(msg, { src: ROUTER4, dst, protocol: 1, ttl: 64 });
  }

  #tooBig(p: Uint8Array): Uint8Array {
    const quote = p.slice(0, Math.min(p.length, 1280 - 48));
    const msg = new Uint8Array(8 + quote.length);
    const dst = p.slice(8, 24);
    emitIcmpv6(msg, { kind: 'packet-too-big', mtu: this.#limit, data: quote }, ROUTER6, dst);
    const out = new Uint8Array(40 + msg.length);
    Ipv6View.emit(out, {
      src: ROUTER6,
      dst,
      nextHeader: 58,
      hopLimit: 64,
      payloadLength: msg.length,
    });
    out.set(msg, 40);
    return out;
  }
}

const LINUX_LIKE = { congestion: 'cubic', rack: true, tailLossProbe: true } as const;

describe('path MTU discovery mid-transfer, two stacks in virtual time', () => {
  for (const family of [4, 6] as const) {
    for (const [name, conn] of [
      ['defaults', {}],
      ['CUBIC, RACK and TLP', LINUX_LIKE],
    ] as const) {
      it(`IPv${family}, ${name}: 3 MB download through a path that narrows to 1300 bytes`, async () => {
        const clock = new Clock();
        const [la, lb] = SimLink.pair(clock, { delayMs: 1 });
        const path = new NarrowingLink(lb, clock);
        const tcp = { isnSecret: new Uint8Array(16).fill(9), conn };
        const client = createStack({
          link: la,
          address: '10.0.0.1',
          address6: 'fd00::1',
          clock,
          tcp,
        });
        const server = createStack({
          link: path,
          address: '10.0.0.2',
          address6: 'fd00::2',
          clock,
          tcp,
        });
        const data = randomBytes(3_000_000, family * 10 + (name === 'defaults' ? 1 : 2));
        server.net
          .createServer((s) => {
            s.on('error', () => {});
            s.end(data);
          })
          .listen(80);
        const serverRow = () =>
          server
            .connections()
            .find((r) => r.remote.startsWith(family === 4 ? '10.0.0.1' : '[fd00'));
        let before: TcpConnectionRow | undefined;
        let late: TcpConnectionRow | undefined;
        const got = new Promise<Buffer>((resolve, reject) => {
          const s = client.net.connect(80, family === 4 ? '10.0.0.2' : 'fd00::2');
          const chunks: Buffer[] = [];
          let n = 0;
          s.on('data', (d: Buffer) => {
            chunks.push(d);
            n += d.length;
            if (before === undefined && n >= 500_000) {
              before = serverRow();
              path.narrow(1300);
            }
            if (late === undefined && n >= 2_500_000) late = serverRow();
          });
          s.on('end', () => resolve(Buffer.concat(chunks)));
          s.on('error', reject);
        });
        const back = await runFor(clock, got, 600_000);
        expect(back.length).toBe(data.length);
        expect(sha256(back)).toBe(sha256(data));

        expect(path.dropped).toBeGreaterThan(0);
        expect(path.largestAfter).toBeLessThanOrEqual(1300);
        const layer = server.tcp.stats;
        expect(layer.pmtuMssLowered).toBe(1);
        expect(layer.pmtuResends).toBeGreaterThanOrEqual(1);
        expect(layer.icmpOutOfWindow + layer.icmpNoConnection).toBe(0);
        const icmp =
          family === 4 ? server.stats.icmp.rxDestUnreachable : server.stats.icmp6.rxPacketTooBig;
        expect(icmp).toBe(path.dropped);
        expect(server.pmtu.size).toBe(1);

        // 200 bytes less per segment (the timestamp option still taken off as before), and the
        // path MTU shown beside it.
        expect(before?.mss).toBeGreaterThan(1200);
        expect(before?.pmtu).toBe(1500);
        expect(late?.mss).toBe((before?.mss ?? 0) - 200);
        expect(late?.pmtu).toBe(1300);
        // Nothing was repaired as a loss: no timeout, no fast recovery, so no cwnd cut.
        expect(late?.recovery).toMatchObject({ timeouts: 0, recoveries: 0 });
        expect(late?.retransmits).toBeGreaterThan(0);
        await client.close();
        await server.close();
      });
    }
  }
});
