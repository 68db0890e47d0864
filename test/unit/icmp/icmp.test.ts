import { describe, expect, it } from 'vitest';
import { createIcmpStats, IcmpLayer, type IcmpOptions } from '../../../src/icmp/icmp.ts';
import { TokenBucket } from '../../../src/icmp/token-bucket.ts';
import { type IpDatagram, IpInput } from '../../../src/ip/input.ts';
import { IpOutput } from '../../../src/ip/output.ts';
import { createIpStats } from '../../../src/ip/stats.ts';
import { emitIcmp, type IcmpRepr, IcmpView, icmpLen, UnreachCode } from '../../../src/wire/icmp.ts';
import { Ipv4View } from '../../../src/wire/ipv4.ts';
import { emitUdp } from '../../../src/wire/udp.ts';
import { PEER, packet, pattern, US } from '../ip/helpers.ts';
import { PING } from '../wire/known-packets.ts';

function setup(mtu = 1500, options: IcmpOptions = {}) {
  const sent: Uint8Array[] = [];
  const stats = createIcmpStats();
  const out = new IpOutput({ address: US, mtu }, { send: (p) => sent.push(p) }, createIpStats());
  const icmp = new IcmpLayer(out, stats, options);
  const input = new IpInput({ address: US }, createIpStats());
  /** Feed a packet through IP input into ICMP. */
  const feed = (p: Uint8Array) => {
    const d = input.receive(p, 0);
    if (d !== null) icmp.input(d);
  };
  const datagram = (p: Uint8Array): IpDatagram => ({ ...input.receive(p, 0)! });
  return { sent, stats, icmp, feed, datagram };
}

function icmpPacket(repr: IcmpRepr, ip: Parameters<typeof packet>[1] = {}): Uint8Array {
  const msg = new Uint8Array(icmpLen(repr));
  emitIcmp(msg, repr);
  return packet(msg, { protocol: 1, ...ip });
}

function udpPacket(dstPort: number, ip: Parameters<typeof packet>[1] = {}): Uint8Array {
  const u = new Uint8Array(8 + 20);
  emitUdp(u, { srcPort: 5555, dstPort, payload: pattern(20) }, ip.src ?? PEER, ip.dst ?? US);
  return packet(u, ip);
}

describe('IcmpLayer: echo', () => {
  it('answers a Linux ping with the same id, sequence and data', () => {
    const { sent, stats, feed } = setup();
    feed(PING.slice()); // 10.0.0.1 (PEER) → 10.0.0.2 (US)
    expect(sent.length).toBe(1);
    const ip = Ipv4View.check(sent[0]) as Ipv4View;
    expect(ip).toMatchObject({ src: US, dst: PEER, protocol: 1, ttl: 64 });
    const reply = IcmpView.check(ip.payload) as IcmpView;
    expect(reply).toBeInstanceOf(IcmpView); // checksum valid
    expect(reply.toRepr()).toEqual({
      kind: 'echo-reply',
      ident: 0x1c46,
      seqNo: 1,
      data: PING.subarray(28),
    });
    expect(stats).toMatchObject({ rxEchoRequests: 1, txEchoReplies: 1, txMessages: 1 });
  });

  it('answers an 8000-byte ping with a fragmented reply', () => {
    const { sent, feed } = setup(1500);
    feed(icmpPacket({ kind: 'echo-request', ident: 1, seqNo: 2, data: pattern(8000) }));
    expect(sent.length).toBe(6);
    const input = new IpInput({ address: PEER }, createIpStats());
    let whole: IpDatagram | null = null;
    for (const p of sent) whole = input.receive(p, 0) ?? whole;
    const reply = IcmpView.check(whole!.payload) as IcmpView;
    expect(reply.toRepr()).toEqual({ kind: 'echo-reply', ident: 1, seqNo: 2, data: pattern(8000) });
  });

  it('ignores pings to broadcast, and counts corrupt messages', () => {
    const { sent, stats, feed } = setup();
    feed(
      icmpPacket(
        { kind: 'echo-request', ident: 1, seqNo: 1, data: pattern(8) },
        { dst: 0xffffffff },
      ),
    );
    const bad = icmpPacket({ kind: 'echo-request', ident: 1, seqNo: 1, data: pattern(8) });
    bad[30] ^= 1;
    feed(bad);
    feed(packet(new Uint8Array(4), { protocol: 1 }));
    expect(sent.length).toBe(0);
    expect(stats.rxEchoBroadcastIgnored).toBe(1);
    expect(stats.drops).toEqual({ 'bad-checksum': 1, truncated: 1 });
  });

  it('hands echo replies to a listener', () => {
    const { icmp, feed } = setup();
    const got: unknown[] = [];
    icmp.onEchoReply = (src, ident, seqNo, data) => got.push([src, ident, seqNo, Array.from(data)]);
    feed(icmpPacket({ kind: 'echo-reply', ident: 7, seqNo: 9, data: pattern(3) }));
    expect(got).toEqual([[PEER, 7, 9, [0, 1, 2]]]);
  });
});

describe('IcmpLayer: destination unreachable', () => {
  it('quotes the original header and data', () => {
    const { sent, stats, icmp, datagram } = setup();
    const original = udpPacket(9);
    expect(icmp.sendUnreachable(UnreachCode.Port, datagram(original), 0)).toBe(true);
    const ip = Ipv4View.check(sent[0]) as Ipv4View;
    expect(ip.dst).toBe(PEER);
    const msg = IcmpView.check(ip.payload) as IcmpView;
    expect(msg.type).toBe(3);
    expect(msg.code).toBe(3);
    expect(msg.data).toEqual(original); // the whole thing fits in 576
    expect(stats.txDestUnreachable).toBe(1);
  });

  it('quotes at most what fits in 576 bytes (RFC 1812 §4.3.2.3)', () => {
    const { sent, icmp, datagram } = setup();
    icmp.sendUnreachable(
      UnreachCode.Protocol,
      datagram(packet(pattern(2000), { protocol: 99 })),
      0,
    );
    expect(sent[0].length).toBe(576);
  });

  it('never answers an ICMP error or a broadcast (RFC 1122 §3.2.2)', () => {
    const { sent, stats, icmp, datagram } = setup();
    const err = icmpPacket({ kind: 'dest-unreachable', code: 3, nextHopMtu: 0, data: pattern(28) });
    expect(icmp.sendUnreachable(UnreachCode.Protocol, datagram(err), 0)).toBe(false);
    const unknown = icmpPacket({ kind: 'other', type: 42, code: 0, rest: 0, data: pattern(4) });
    expect(icmp.sendUnreachable(UnreachCode.Protocol, datagram(unknown), 0)).toBe(false);
    expect(
      icmp.sendUnreachable(UnreachCode.Port, datagram(udpPacket(9, { dst: 0xffffffff })), 0),
    ).toBe(false);
    expect(sent.length).toBe(0);
    expect(stats.txSuppressed).toBe(3);
    // An echo request is a query: an error about it is allowed.
    const echo = icmpPacket({ kind: 'echo-request', ident: 1, seqNo: 1, data: pattern(4) });
    expect(icmp.sendUnreachable(UnreachCode.Protocol, datagram(echo), 0)).toBe(true);
  });

  it('is rate limited by a token bucket', () => {
    const { sent, stats, icmp, datagram } = setup(1500, { errorRatePerSec: 10, errorBurst: 3 });
    const d = datagram(udpPacket(9));
    for (let i = 0; i < 10; i++) icmp.sendUnreachable(UnreachCode.Port, d, 0);
    expect(sent.length).toBe(3);
    expect(stats.txRateLimited).toBe(7);
    icmp.sendUnreachable(UnreachCode.Port, d, 100); // 100 ms at 10/s: one token
    icmp.sendUnreachable(UnreachCode.Port, d, 100);
    expect(sent.length).toBe(4);
  });
});

describe('IcmpLayer: errors about our datagrams', () => {
  /** A port unreachable from PEER quoting `quoted` (an IP header + 8 bytes we supposedly sent). */
  function unreachable(quoted: Uint8Array, code = UnreachCode.Port): Uint8Array {
    return icmpPacket({ kind: 'dest-unreachable', code, nextHopMtu: 0, data: quoted });
  }
  /** What we sent: UDP from US:4000 to PEER:53. */
  function ours(src = US): Uint8Array {
    const u = new Uint8Array(8);
    u.set([0x0f, 0xa0, 0, 53, 0, 8, 0, 0]);
    return packet(u, { src, dst: PEER }).subarray(0, 28);
  }

  it('hands the report to the protocol that sent the quoted datagram', () => {
    const { icmp, feed, stats } = setup();
    const reports: unknown[] = [];
    icmp.setErrorHandler(17, (r) => reports.push(r));
    feed(unreachable(ours()));
    expect(reports).toEqual([
      // seq: the quoted transport header's bytes 4-7 (here UDP's length 8 and checksum 0).
      {
        code: 3,
        nextHopMtu: 0,
        reporter: PEER,
        dst: PEER,
        srcPort: 4000,
        dstPort: 53,
        seq: 0x80000,
      },
    ]);
    expect(stats.rxErrorsReported).toBe(1);
  });

  it('ignores quotes that are not of our datagrams, too short, or for no handler', () => {
    const { icmp, feed, stats } = setup();
    const reports: unknown[] = [];
    icmp.setErrorHandler(17, (r) => reports.push(r));
    feed(unreachable(ours(PEER))); // not sent by us: forged or misdirected
    feed(unreachable(ours().subarray(0, 27))); // ports cut off
    const tcpQuote = ours().slice();
    tcpQuote[9] = 6;
    feed(unreachable(tcpQuote)); // TCP has no handler here
    expect(reports).toEqual([]);
    expect(stats.rxDestUnreachable).toBe(3);
    expect(stats.rxErrorsReported).toBe(0);
  });
});

describe('TokenBucket', () => {
  it('refills at its rate up to its burst', () => {
    const b = new TokenBucket(1000, 2, 0);
    expect([b.take(0), b.take(0), b.take(0)]).toEqual([true, true, false]);
    expect(b.take(0.5)).toBe(false);
    expect(b.take(1)).toBe(true);
    expect([b.take(1000), b.take(1000), b.take(1000)]).toEqual([true, true, false]);
  });
});
