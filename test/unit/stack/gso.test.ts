/**
 * The TSO coalescer's joining rules (src/stack/gso.ts), one case each: what joins a
 * super-segment, what ends one, and what the super-segment looks like (IP header, flags of the
 * last segment, partial checksum, identification advanced per segment), over IPv4 and IPv6.
 */
import { describe, expect, it } from 'vitest';
import { Ip6Output } from '../../../src/ip/ipv6-output.ts';
import { IpOutput } from '../../../src/ip/output.ts';
import { TsoCoalescer } from '../../../src/stack/gso.ts';
import { createStackStats } from '../../../src/stack/stats.ts';
import { IPV6_ID_BASE } from '../../../src/tcp/address.ts';
import { get16, get32 } from '../../../src/wire/bytes.ts';
import { onesSum, pseudoHeaderSum, pseudoHeaderSum6 } from '../../../src/wire/checksum.ts';
import { IpProtocol, Ipv4View } from '../../../src/wire/ipv4.ts';
import { formatIpv6, Ipv6Next, Ipv6View, parseIpv6 } from '../../../src/wire/ipv6.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { TcpFlag } from '../../../src/wire/tcp.ts';
import { NO_OPTIONS, type TcpRepr } from '../../../src/wire/tcp-repr.ts';

const US = 0x0a000002;
const PEER = 0x0a000001;

function seg(seq: number, len: number, fields: Partial<TcpRepr> = {}): TcpRepr {
  return {
    srcPort: 80,
    dstPort: 40_000,
    control: 'none',
    psh: false,
    urg: false,
    ece: false,
    cwr: false,
    seq,
    ack: 7,
    window: 500,
    urgentPointer: 0,
    options: NO_OPTIONS,
    payload: new Uint8Array(len).fill(seq & 0xff),
    ...fields,
  };
}

function setup(maxSegment = 65_535) {
  const sent: { packet: Uint8Array; segmentSize?: number }[] = [];
  const stats = createStackStats();
  const ip = new IpOutput(
    { address: US, mtu: 1500, initialId: 100 },
    { send: (packet, segmentSize) => sent.push({ packet, segmentSize }) },
    stats.ip,
  );
  const direct: TcpRepr[] = [];
  const tso = new TsoCoalescer(ip, stats.link, stats.tcp, maxSegment, (s) => {
    direct.push(s);
    return true;
  });
  /** What went out: segment sizes (0: an ordinary packet) and TCP payload lengths. */
  const shape = () => sent.map(({ packet, segmentSize }) => [segmentSize ?? 0, packet.length - 40]);
  return { tso, sent, direct, stats, shape };
}

describe('TsoCoalescer', () => {
  it('joins full-sized contiguous segments and a shorter last one into one super-segment', () => {
    const { tso, sent, shape, stats } = setup();
    tso.add(seg(1000, 1000), PEER);
    tso.add(seg(2000, 1000), PEER);
    tso.add(seg(3000, 400, { psh: true, control: 'fin' }), PEER);
    expect(sent).toEqual([]); // held until the burst ends
    tso.end();
    expect(shape()).toEqual([[1000, 2400]]);
    const p = sent[0].packet;
    const ip = Ipv4View.check(p);
    if (ip instanceof ParseError) throw new Error(ip.reason);
    expect(ip.dontFrag).toBe(true);
    expect(ip.id).toBe(100);
    const tcp = ip.payload;
    expect(get32(tcp, 4)).toBe(1000); // the first segment's sequence number
    expect(tcp[13]).toBe(TcpFlag.ACK | TcpFlag.PSH | TcpFlag.FIN); // the last one's PSH, FIN
    // Partial checksum: the pseudo-header sum only.
    expect(get16(tcp, 16)).toBe(pseudoHeaderSum(US, PEER, IpProtocol.Tcp, tcp.length));
    expect([...tcp.subarray(20, 22)]).toEqual([1000 & 0xff, 1000 & 0xff]);
    expect(tcp[20 + 1000]).toBe(2000 & 0xff);
    expect(stats.link.txGsoPackets).toBe(1);
    expect(stats.link.txGsoSegments).toBe(3);
    expect(stats.tcp.txSegments).toBe(3);
    // The identification moved past the three segments the kernel's TSO numbers id, id+1, id+2.
    tso.add(seg(3400, 10), PEER);
    tso.end();
    expect(get16(sent[1].packet, 4)).toBe(103);
  });

  it('a lone segment leaves as an ordinary packet with a full checksum', () => {
    const { tso, sent, shape } = setup();
    tso.add(seg(1, 300, { psh: true }), PEER);
    tso.end();
    expect(shape()).toEqual([[0, 300]]);
    const tcp = sent[0].packet.subarray(20);
    expect(tcp[13]).toBe(TcpFlag.ACK | TcpFlag.PSH);
    expect(onesSum(tcp, 0, tcp.length, pseudoHeaderSum(US, PEER, IpProtocol.Tcp, tcp.length))).toBe(
      0xffff,
    );
  });

  it('ends the super-segment at a short segment, a FIN, a gap, or a changed ACK/window/options', () => {
    const ts = (v: number) => ({ ...NO_OPTIONS, timestamp: { tsVal: v, tsEcr: 1 } });
    const cases: [string, TcpRepr][] = [
      ['after a short one', seg(1500, 100)],
      ['a gap', seg(1600, 100)],
      ['another ACK', seg(1100, 100, { ack: 8 })],
      ['another window', seg(1100, 100, { window: 501 })],
      ['other options', seg(1100, 100, { options: ts(5) })],
      ['a larger one', seg(1100, 101)],
      ['another connection', seg(1100, 100, { dstPort: 40_001 })],
    ];
    for (const [what, next] of cases) {
      const { tso, shape } = setup();
      tso.add(seg(1000, 100), PEER);
      if (what === 'after a short one') tso.add(seg(1100, 400), PEER);
      tso.add(next, PEER);
      tso.end();
      const lens = shape().map(([, n]) => n);
      expect(lens.length, what).toBe(2);
    }
    const { tso, shape } = setup();
    tso.add(seg(1000, 100, { control: 'fin' }), PEER);
    tso.add(seg(1101, 100), PEER);
    tso.end();
    expect(shape().length, 'after a FIN').toBe(2);
  });

  it('sends SYNs, RSTs, pure ACKs and segments to our own address directly, in order', () => {
    const { tso, sent, direct } = setup();
    tso.add(seg(1000, 100), PEER);
    tso.add(seg(1100, 0), PEER); // a pure ACK: ends the held one first
    tso.add(seg(5, 0, { control: 'syn', ack: null }), PEER);
    tso.add(seg(1, 100), US);
    tso.end();
    expect(sent.length).toBe(1);
    expect(direct.map((s) => [s.seq, s.payload.length])).toEqual([
      [1100, 0],
      [5, 0],
      [1, 100],
    ]);
  });

  it('never builds a packet larger than maxSegment', () => {
    const { tso, shape } = setup(20 + 32 + 3 * 1000);
    for (let i = 0; i < 5; i++) tso.add(seg(i * 1000, 1000), PEER);
    tso.end();
    expect(shape()).toEqual([
      [1000, 3000],
      [1000, 2000],
    ]);
  });
});

describe('TsoCoalescer over IPv6 (the link has TSO6)', () => {
  const US6 = parseIpv6('fd00::2');
  const PEER6 = parseIpv6('fd00::1');
  const RELAYED6 = parseIpv6('2001:db8::80');
  /** The TCP layer's ids: our own address, a peer, and an address a relay answers from. */
  const OWN_ID = IPV6_ID_BASE;
  const PEER_ID = IPV6_ID_BASE + 1;
  const RELAYED_ID = IPV6_ID_BASE + 2;
  const bytesOf = new Map([
    [PEER_ID, PEER6],
    [RELAYED_ID, RELAYED6],
  ]);

  function setup6(withIpv6 = true, maxSegment = 65_535) {
    const sent: { packet: Uint8Array; segmentSize?: number }[] = [];
    const stats = createStackStats();
    const sink = {
      send: (packet: Uint8Array, segmentSize?: number) => sent.push({ packet, segmentSize }),
    };
    const ip = new IpOutput({ address: US, mtu: 1500, initialId: 100 }, sink, stats.ip);
    const ip6 = new Ip6Output({ address: US6, mtu: 1500, initialId: 1 }, sink, stats.ip6);
    const direct: [TcpRepr, number][] = [];
    const tso = new TsoCoalescer(
      ip,
      stats.link,
      stats.tcp,
      maxSegment,
      (s, dst) => {
        direct.push([s, dst]);
        return true;
      },
      withIpv6
        ? {
            output: ip6,
            addressBytes: (id) => {
              const b = bytesOf.get(id);
              if (b === undefined) throw new Error(`no address behind id ${id}`);
              return b;
            },
          }
        : null,
    );
    const view = (i: number) => {
      const v = Ipv6View.check(sent[i].packet);
      if (v instanceof ParseError) throw new Error(v.reason);
      return v;
    };
    return { tso, sent, direct, stats, view };
  }

  it('joins full-sized segments behind one IPv6 header, with the IPv6 pseudo-header sum', () => {
    const { tso, sent, stats, view } = setup6();
    tso.add(seg(1000, 1000), PEER_ID, OWN_ID);
    tso.add(seg(2000, 1000), PEER_ID, OWN_ID);
    tso.add(seg(3000, 400, { psh: true }), PEER_ID, OWN_ID);
    tso.end();
    expect(sent.map((s) => [s.segmentSize, s.packet.length])).toEqual([[1000, 40 + 20 + 2400]]);
    const ip = view(0);
    expect(ip.nextHeader).toBe(Ipv6Next.Tcp);
    expect(ip.payloadLength).toBe(20 + 2400);
    expect(formatIpv6(ip.src)).toBe('fd00::2');
    expect(formatIpv6(ip.dst)).toBe('fd00::1');
    const tcp = ip.payload;
    expect(get32(tcp, 4)).toBe(1000);
    expect(tcp[13]).toBe(TcpFlag.ACK | TcpFlag.PSH);
    expect(get16(tcp, 16)).toBe(pseudoHeaderSum6(US6, PEER6, IpProtocol.Tcp, tcp.length));
    expect(tcp[20 + 1000]).toBe(2000 & 0xff);
    expect(tcp[20 + 2000]).toBe(3000 & 0xff);
    expect(stats.link.txGsoPackets).toBe(1);
    expect(stats.link.txGsoSegments).toBe(3);
    expect(stats.tcp.txSegments).toBe(3);
    expect(stats.ip6.txPackets).toBe(1);
  });

  it('a lone IPv6 segment leaves as an ordinary packet with a full checksum', () => {
    const { tso, sent, stats, view } = setup6();
    tso.add(seg(1, 300, { psh: true }), PEER_ID, OWN_ID);
    tso.end();
    expect(sent.map((s) => s.segmentSize ?? 0)).toEqual([0]);
    const tcp = view(0).payload;
    expect(tcp.length).toBe(320);
    expect(onesSum(tcp, 0, tcp.length, pseudoHeaderSum6(US6, PEER6, IpProtocol.Tcp, 320))).toBe(
      0xffff,
    );
    expect(stats.tcp.txSegments).toBe(1);
  });

  it('answers from the address a relayed connection was dialled at', () => {
    const { tso, view } = setup6();
    tso.add(seg(1000, 1000), PEER_ID, RELAYED_ID);
    tso.add(seg(2000, 1000), PEER_ID, RELAYED_ID);
    tso.end();
    const ip = view(0);
    expect(formatIpv6(ip.src)).toBe('2001:db8::80');
    expect(get16(ip.payload, 16)).toBe(
      pseudoHeaderSum6(RELAYED6, PEER6, IpProtocol.Tcp, ip.payload.length),
    );
  });

  it('keeps the families apart: an IPv4 segment ends an IPv6 super-segment', () => {
    const { tso, sent } = setup6();
    tso.add(seg(1000, 1000), PEER_ID, OWN_ID);
    tso.add(seg(2000, 1000), PEER, US);
    tso.add(seg(3000, 1000), PEER, US);
    tso.end();
    expect(sent.map((s) => [s.packet[0] >>> 4, s.segmentSize ?? 0, s.packet.length])).toEqual([
      [6, 0, 40 + 20 + 1000],
      [4, 1000, 20 + 20 + 2000],
    ]);
  });

  it('never builds a packet larger than maxSegment, IPv6 header included', () => {
    const { tso, sent } = setup6(true, 40 + 20 + 3 * 1000);
    for (let i = 0; i < 5; i++) tso.add(seg(i * 1000, 1000), PEER_ID, OWN_ID);
    tso.end();
    expect(sent.map((s) => s.packet.length)).toEqual([40 + 20 + 3000, 40 + 20 + 2000]);
  });

  it('sends IPv6 segments one by one without TSO6, and to our own IPv6 address always', () => {
    const without = setup6(false);
    without.tso.add(seg(1000, 1000), PEER_ID, OWN_ID);
    without.tso.add(seg(2000, 1000), PEER_ID, OWN_ID);
    without.tso.end();
    expect(without.sent).toEqual([]);
    expect(without.direct.map(([s, dst]) => [s.seq, dst])).toEqual([
      [1000, PEER_ID],
      [2000, PEER_ID],
    ]);
    const own = setup6();
    own.tso.add(seg(1000, 1000), OWN_ID, OWN_ID);
    own.tso.add(seg(2000, 1000), OWN_ID, OWN_ID);
    own.tso.end();
    expect(own.sent).toEqual([]);
    expect(own.direct.length).toBe(2);
  });
});
