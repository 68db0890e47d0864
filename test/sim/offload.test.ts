/**
 * Segmentation and checksum offload in virtual time: two stacks over a wire whose ends offer TSO
 * (Link.offload), as a TUN device with TUN_F_TSO4 (and TUN_F_TSO6, for IPv6) does. What one stack sends as a super-segment
 * (Link.send(packet, segmentSize)) reaches the other either
 *  - whole, flagged RxFlag.CsumTrusted: what the Linux kernel does with a GSO packet we write
 *    to TUN (its TCP receives one 64 KiB segment) and what it hands us when it sends; or
 *  - cut into MTU-sized segments with full checksums, as the kernel's GSO does on the way out
 *    of a real NIC (tcp_gso_segment): checks that the super-segment cuts back into exactly the
 *    segments the TCP core made.
 * Over IPv4 and over IPv6 (two dual-stack stacks, the client dialling fd00::2).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { VirtualClock } from '../../src/stack/clock.ts';
import { type Link, type LinkReceiver, RxFlag } from '../../src/stack/link.ts';
import { get16, put16, put32 } from '../../src/wire/bytes.ts';
import { onesSum, pseudoHeaderSum, pseudoHeaderSum6 } from '../../src/wire/checksum.ts';
import { IpProtocol, Ipv4View } from '../../src/wire/ipv4.ts';
import { Ipv6View } from '../../src/wire/ipv6.ts';
import { ParseError } from '../../src/wire/parse-error.ts';
import { TcpFlag } from '../../src/wire/tcp.ts';
import { netPair, runUntil } from './fixture.ts';

type Delivery = 'whole' | 'whole-unflagged' | 'cut';

/**
 * The kernel's GSO for TCP in miniature: cut `packet`'s payload into `size`-byte pieces, each
 * behind a copy of the IP and TCP headers with its own length, (IPv4) identification, sequence
 * number and checksums; FIN and PSH on the last piece only.
 */
function gsoCut(packet: Uint8Array, size: number): Uint8Array[] {
  return packet[0] >>> 4 === 6 ? gsoCut6(packet, size) : gsoCut4(packet, size);
}

/** gsoCut for IPv6/TCP (tcp_gso_segment behind ipv6_gso_segment): no identification. */
function gsoCut6(packet: Uint8Array, size: number): Uint8Array[] {
  const thl = (packet[40 + 12] >>> 4) * 4;
  const hdr = 40 + thl;
  const seq = new DataView(packet.buffer, packet.byteOffset).getUint32(40 + 4);
  const out: Uint8Array[] = [];
  for (let off = hdr; off < packet.length; off += size) {
    const len = Math.min(size, packet.length - off);
    const p = new Uint8Array(hdr + len);
    p.set(packet.subarray(0, hdr));
    p.set(packet.subarray(off, off + len), hdr);
    put16(p, 4, p.length - 40);
    put32(p, 40 + 4, (seq + off - hdr) >>> 0);
    if (off + len < packet.length) p[40 + 13] &= ~(TcpFlag.FIN | TcpFlag.PSH);
    const tcpLen = p.length - 40;
    const pseudo = pseudoHeaderSum6(p.subarray(8, 24), p.subarray(24, 40), IpProtocol.Tcp, tcpLen);
    put16(p, 40 + 16, 0);
    put16(p, 40 + 16, ~onesSum(p, 40, p.length, pseudo) & 0xffff);
    out.push(p);
  }
  return out;
}

function gsoCut4(packet: Uint8Array, size: number): Uint8Array[] {
  const ihl = (packet[0] & 0x0f) * 4;
  const thl = (packet[ihl + 12] >>> 4) * 4;
  const hdr = ihl + thl;
  const seq = new DataView(packet.buffer, packet.byteOffset).getUint32(ihl + 4);
  const id = get16(packet, 4);
  const out: Uint8Array[] = [];
  for (let off = hdr, i = 0; off < packet.length; off += size, i++) {
    const len = Math.min(size, packet.length - off);
    const p = new Uint8Array(hdr + len);
    p.set(packet.subarray(0, hdr));
    p.set(packet.subarray(off, off + len), hdr);
    put16(p, 2, p.length);
    put16(p, 4, (id + i) & 0xffff);
    put16(p, 10, 0);
    put16(p, 10, ~onesSum(p, 0, ihl) & 0xffff);
    put32(p, ihl + 4, (seq + off - hdr) >>> 0);
    if (off + len < packet.length) p[ihl + 13] &= ~(TcpFlag.FIN | TcpFlag.PSH);
    const src = new DataView(p.buffer).getUint32(12);
    const dst = new DataView(p.buffer).getUint32(16);
    const tcpLen = p.length - ihl;
    put16(p, ihl + 16, 0);
    put16(
      p,
      ihl + 16,
      ~onesSum(p, ihl, p.length, pseudoHeaderSum(src, dst, IpProtocol.Tcp, tcpLen)) & 0xffff,
    );
    out.push(p);
  }
  return out;
}

/** One end of a 1 ms wire that offers TSO; `delivery` says what the far end receives. */
class TsoEnd implements Link {
  readonly mtu = 1500;
  readonly offload = { tso: true, tso6: true, maxSegment: 65_535 };
  peer!: TsoEnd;
  rx: LinkReceiver | null = null;
  /** Super-segments sent, the largest one, and partial checksums that were wrong. */
  superSegments = 0;
  /** Of which IPv6 ones. */
  superSegments6 = 0;
  largest = 0;
  badPartial = 0;
  #queue: { packet: Uint8Array; segmentSize: number }[] = [];

  constructor(
    private readonly clock: VirtualClock,
    private readonly delivery: Delivery,
  ) {}

  attach(rx: LinkReceiver): void {
    this.rx = rx;
  }
  send(packet: Uint8Array, segmentSize = 0): void {
    if (segmentSize === 0 && packet.length > this.mtu) throw new Error('oversize without TSO');
    if (segmentSize > 0) {
      this.superSegments++;
      this.largest = Math.max(this.largest, packet.length);
      if (packet[0] >>> 4 === 6) {
        this.superSegments6++;
        const ip = Ipv6View.check(packet);
        if (ip instanceof ParseError) throw new Error(`bad IPv6 header: ${ip.reason}`);
        const pseudo = pseudoHeaderSum6(ip.src, ip.dst, IpProtocol.Tcp, ip.payload.length);
        if (get16(ip.payload, 16) !== pseudo) this.badPartial++;
      } else {
        const ip = Ipv4View.check(packet);
        if (ip instanceof ParseError) throw new Error(`bad IP header: ${ip.reason}`);
        const pseudo = pseudoHeaderSum(ip.src, ip.dst, IpProtocol.Tcp, ip.payload.length);
        if (get16(ip.payload, 16) !== pseudo) this.badPartial++;
      }
    }
    this.#queue.push({ packet, segmentSize });
  }
  flush(): void {
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    this.clock.setTimer(this.clock.now() + 1, () => this.peer.#receive(batch, this.delivery));
  }
  #receive(batch: { packet: Uint8Array; segmentSize: number }[], delivery: Delivery): void {
    const rx = this.rx;
    if (rx === null) return;
    for (const { packet, segmentSize } of batch) {
      if (segmentSize === 0) rx.packet(packet);
      else if (delivery === 'whole') rx.packet(packet, RxFlag.CsumTrusted);
      else if (delivery === 'whole-unflagged') rx.packet(packet);
      else for (const p of gsoCut(packet, segmentSize)) rx.packet(p);
    }
    rx.batchEnd?.();
  }
  async close(): Promise<void> {}
}

/** Two stacks on a TSO wire; `ipv6`: dual stack (fd00::1, fd00::2) as well. */
function tsoPair(delivery: Delivery, ipv6 = false) {
  return netPair({
    ipv6,
    links: (clock) => {
      const la = new TsoEnd(clock, delivery);
      const lb = new TsoEnd(clock, delivery);
      la.peer = lb;
      lb.peer = la;
      return [la, lb];
    },
  });
}

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >>> 11)) & 0xff;
  return b;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * The server sends `data` to the client, which reads it all; returns what arrived. `host`: the
 * server's address the client dials (fd00::2 over IPv6).
 */
async function download(
  p: Pick<ReturnType<typeof tsoPair>, 'clock' | 'client' | 'server'>,
  data: Uint8Array,
  limitMs = 60_000,
  host = '10.0.0.2',
) {
  const srv = p.server.net.createServer((s) => s.end(data));
  srv.listen(80);
  const chunks: Uint8Array[] = [];
  let ended = false;
  const c = p.client.net.connect(80, host);
  c.on('data', (d: Uint8Array) => chunks.push(d));
  c.on('end', () => {
    ended = true;
  });
  await runUntil(p.clock, () => ended, limitMs, 'the download');
  return Buffer.concat(chunks);
}

describe('TCP over a TSO link (virtual time)', () => {
  const data = pattern(2_000_000);

  it('super-segments delivered whole with trusted checksums: every byte, large segments both ways counted', async () => {
    const p = tsoPair('whole');
    const got = await download(p, data);
    expect(sha(got)).toBe(sha(data));
    const sent = p.server.stats.link;
    expect(p.lb.superSegments).toBeGreaterThan(10);
    expect(sent.txGsoPackets).toBe(p.lb.superSegments);
    expect(sent.txGsoSegments / sent.txGsoPackets).toBeGreaterThan(2);
    expect(p.lb.largest).toBeGreaterThan(10 * 1460);
    expect(p.lb.largest).toBeLessThanOrEqual(65_535);
    expect(p.lb.badPartial).toBe(0);
    const recv = p.client.stats;
    expect(recv.link.rxLarge).toBe(p.lb.superSegments);
    expect(recv.link.rxCsumTrusted).toBe(p.lb.superSegments);
    expect(recv.tcp.drops['bad-checksum']).toBe(0);
  });

  it('super-segments cut as the kernel GSO does: the same bytes, all checksums verify', async () => {
    const p = tsoPair('cut');
    const got = await download(p, data);
    expect(sha(got)).toBe(sha(data));
    expect(p.server.stats.link.txGsoPackets).toBeGreaterThan(10);
    expect(p.client.stats.link.rxLarge).toBe(0);
    expect(p.client.stats.tcp.drops['bad-checksum']).toBe(0);
  });

  it('a super-segment without the trusted flag fails its (partial) checksum and is dropped', async () => {
    const p = tsoPair('whole-unflagged');
    await expect(download(p, data, 5_000)).rejects.toThrow(/download/);
    expect(p.client.stats.tcp.drops['bad-checksum']).toBeGreaterThan(0);
  });

  it('interactive traffic stays in ordinary segments with full checksums', async () => {
    const p = tsoPair('whole');
    const got = await download(p, pattern(1000));
    expect(got.length).toBe(1000);
    expect(p.server.stats.link.txGsoPackets).toBe(0);
    expect(p.client.stats.link.rxCsumTrusted).toBe(0);
  });
});

describe('TCP over IPv6 on a TSO link (TSO6, virtual time)', () => {
  const data = pattern(2_000_000);

  it('IPv6 super-segments delivered whole, checksums trusted: every byte, none over IPv4', async () => {
    const p = tsoPair('whole', true);
    const got = await download(p, data, 60_000, 'fd00::2');
    expect(sha(got)).toBe(sha(data));
    expect(p.lb.superSegments).toBeGreaterThan(10);
    expect(p.lb.superSegments6).toBe(p.lb.superSegments);
    expect(p.lb.largest).toBeGreaterThan(10 * 1440);
    expect(p.lb.largest).toBeLessThanOrEqual(65_535);
    expect(p.lb.badPartial).toBe(0);
    const sent = p.server.stats.link;
    expect(sent.txGsoPackets).toBe(p.lb.superSegments);
    expect(sent.txGsoSegments / sent.txGsoPackets).toBeGreaterThan(2);
    expect(p.server.stats.ip6.txFragmented).toBe(0);
    const recv = p.client.stats;
    expect(recv.link.rxLarge).toBe(p.lb.superSegments);
    expect(recv.link.rxCsumTrusted).toBe(p.lb.superSegments);
    expect(recv.tcp.drops['bad-checksum']).toBe(0);
  });

  it('IPv6 super-segments cut as the kernel GSO does: the same bytes, all checksums verify', async () => {
    const p = tsoPair('cut', true);
    const got = await download(p, data, 60_000, 'fd00::2');
    expect(sha(got)).toBe(sha(data));
    expect(p.lb.superSegments6).toBeGreaterThan(10);
    expect(p.client.stats.link.rxLarge).toBe(0);
    expect(p.client.stats.tcp.drops['bad-checksum']).toBe(0);
  });

  it('an IPv6 super-segment without the trusted flag fails its partial checksum', async () => {
    const p = tsoPair('whole-unflagged', true);
    await expect(download(p, data, 5_000, 'fd00::2')).rejects.toThrow(/download/);
    expect(p.client.stats.tcp.drops['bad-checksum']).toBeGreaterThan(0);
  });
});
