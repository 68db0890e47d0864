/**
 * TCP over IPv6 at the stack's edge (issue 12, phase 2): segments in and out over IPv6 with the
 * IPv6 pseudo-header's checksum, the MSS from the IPv6 header, RSTs for closed ports, listeners'
 * families, SYN cookies over IPv6 addresses, and the bounded table of IPv6 peers.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ipv4View } from '../../../src/wire/ipv4.ts';
import { parseIpv6 } from '../../../src/wire/ipv6.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { NO_OPTIONS, type TcpRepr } from '../../../src/wire/tcp-repr.ts';
import { PEER, US } from '../ip/helpers.ts';
import { dualStack, HOST6, sent6, tcp6Packet } from './dual-stack.ts';
import { sentSegment, tcpPacket, tcpSeg } from './tcp-packets.ts';

function setup(tcp: Record<string, unknown> = {}, mtu = 1500) {
  const env = dualStack({ tcp: { isnSecret: new Uint8Array(16).fill(3), ...tcp } }, mtu);
  const { link } = env;
  /** `s` from `src` over IPv6, its TCP checksum broken if `corrupt`. */
  const send6 = (s: Partial<TcpRepr>, src = HOST6, corrupt = false) => {
    const p = tcp6Packet(tcpSeg(s), src);
    if (corrupt) p[40 + 16] ^= 1;
    link.deliver(p);
  };
  const send4 = (s: Partial<TcpRepr>) => link.deliver(tcpPacket(tcpSeg(s), PEER, US));
  return { ...env, send6, send4 };
}

const SYN: Partial<TcpRepr> = {
  control: 'syn',
  seq: 5000,
  options: { ...NO_OPTIONS, mss: 1440 },
};

describe('TCP over IPv6', () => {
  it('answers a SYN to a listener with a SYN-ACK over IPv6, MSS = MTU − 60', () => {
    const { link, stack, send6 } = setup();
    stack.net.createServer(() => {}).listen(80);
    send6(SYN);
    expect(link.sent).toHaveLength(1);
    const { src, dst, seg } = sent6(link.sent[0]);
    expect({ src, dst }).toEqual({ src: 'fd00::2', dst: 'fd00::1' });
    expect(seg).toMatchObject({ control: 'syn', ack: 5001, srcPort: 80, dstPort: 40_000 });
    expect(seg.options.mss).toBe(1440);
    expect(stack.connections().find((r) => r.state === 'SYN_RECEIVED')).toMatchObject({
      local: '[fd00::2]:80',
      remote: '[fd00::1]:40000',
    });
    expect(stack.tcp.ipv6Peers).toBe(1);
  });

  it('keeps MSS = MTU − 40 for IPv4 beside it, and follows a smaller MTU for both', () => {
    const { link, stack, send4, send6 } = setup({}, 1400);
    stack.net.createServer(() => {}).listen(80);
    send4({ control: 'syn', seq: 1 });
    send6(SYN);
    const v4 = Ipv4View.check(link.sent[0]);
    if (v4 instanceof ParseError) throw new Error(v4.reason);
    expect(sentSegment(link.sent[0]).options.mss).toBe(1360);
    expect(sent6(link.sent[1]).seg.options.mss).toBe(1340);
  });

  it('resets a segment to a closed port over IPv6 and keeps no peer for it', () => {
    const { link, stack, send6 } = setup();
    send6({ control: 'syn', dstPort: 81, seq: 7000 });
    expect(link.sent).toHaveLength(1);
    expect(sent6(link.sent[0]).seg).toMatchObject({ control: 'rst', ack: 7001, seq: 0 });
    expect(stack.tcp.stats.resetsSent).toBe(1);
    expect(stack.tcp.ipv6Peers).toBe(0);
  });

  it('drops a segment whose checksum is wrong over the IPv6 pseudo-header, counted', () => {
    const { link, stack, send6 } = setup();
    stack.net.createServer(() => {}).listen(80);
    send6(SYN, HOST6, true);
    expect(link.sent).toHaveLength(0);
    expect(stack.stats.tcp.drops['bad-checksum']).toBe(1);
    expect(stack.tcp.ipv6Peers).toBe(0);
  });

  it("a '0.0.0.0' listener takes no IPv6 peer and an ipv6Only one no IPv4 peer (both reset)", () => {
    const { link, send4, send6, stack } = setup();
    stack.net.createServer(() => {}).listen(80, '0.0.0.0');
    stack.net.createServer(() => {}).listen({ port: 81, host: '::', ipv6Only: true });
    send6(SYN);
    send4({ control: 'syn', seq: 1, dstPort: 81 });
    expect(sent6(link.sent[0]).seg.control).toBe('rst');
    expect(sentSegment(link.sent[1]).control).toBe('rst');
    expect(stack.tcp.stats.noPort).toBe(2);
  });

  it('keeps one connection per IPv6 4-tuple apart from IPv4 ones with the same ports', () => {
    const { link, stack, send4, send6 } = setup();
    stack.net.createServer(() => {}).listen(80);
    send6(SYN);
    send6(SYN, parseIpv6('fd00::3'));
    send6(SYN, parseIpv6('fd00::1:0:0:1'));
    send4({ control: 'syn', seq: 5000 });
    expect(link.sent).toHaveLength(4);
    const rows = stack.connections().filter((r) => r.state === 'SYN_RECEIVED');
    expect(rows.map((r) => r.remote).sort()).toEqual([
      '10.0.0.1:40000',
      '[fd00::1:0:0:1]:40000',
      '[fd00::1]:40000',
      '[fd00::3]:40000',
    ]);
    expect(stack.tcp.ipv6Peers).toBe(3);
  });

  it('bounds the IPv6 peers (maxIpv6Peers): a new one past it is dropped and counted', () => {
    const { link, stack, send6 } = setup({ maxIpv6Peers: 1 });
    stack.net.createServer(() => {}).listen(80);
    send6(SYN);
    send6(SYN, parseIpv6('fd00::3'));
    expect(link.sent).toHaveLength(1);
    expect(stack.tcp.stats.ipv6PeersFull).toBe(1);
    // The first peer still gets its answers.
    send6({ ...SYN, srcPort: 40_001 });
    expect(link.sent).toHaveLength(2);
  });

  it('completes a handshake from a SYN cookie over IPv6 (the cookie hashes the real addresses)', () => {
    const { link, stack, send6 } = setup({ synCookies: 2 });
    let accepted = 0;
    stack.net.createServer(() => accepted++).listen(80);
    send6(SYN);
    const synack = sent6(link.sent[0]).seg;
    expect(stack.tcp.stats.SyncookiesSent).toBe(1);
    expect(stack.tcp.ipv6Peers).toBe(0); // nothing kept
    // The same ACK from another address is not a cookie of ours.
    const ack = { control: 'none' as const, seq: 5001, ack: (synack.seq + 1) >>> 0 };
    send6(ack, parseIpv6('fd00::3'));
    expect(stack.tcp.stats.SyncookiesFailed).toBe(1);
    send6(ack);
    expect(stack.tcp.stats.SyncookiesRecv).toBe(1);
    expect(stack.connections().find((r) => r.state === 'ESTABLISHED')?.remote).toBe(
      '[fd00::1]:40000',
    );
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        expect(accepted).toBe(1);
        resolve();
      }),
    );
  });

  it('holds an IPv6 peer exactly while a connection refers to it, whatever arrives (fast-check)', () => {
    const { clock, stack, send6 } = setup({ synCookies: 1, synBacklog: 4 });
    stack.net.createServer((sock) => sock.on('error', () => {})).listen(80);
    const sources = ['fd00::1', 'fd00::3', 'fd00::1:0:0:1', '2001:db8::9'].map(parseIpv6);
    /** Peers the table refers to: the distinct IPv6 remote addresses of its rows. */
    const referenced = () =>
      new Set(
        stack
          .connections()
          .filter((r) => r.remote.startsWith('['))
          .map((r) => r.remote.slice(0, r.remote.lastIndexOf(':'))),
      ).size;
    const segment = fc.record({
      src: fc.integer({ min: 0, max: sources.length - 1 }),
      srcPort: fc.integer({ min: 40_000, max: 40_003 }),
      dstPort: fc.constantFrom(80, 81),
      control: fc.constantFrom('syn', 'none', 'fin', 'rst') as fc.Arbitrary<TcpRepr['control']>,
      seq: fc.integer({ min: 0, max: 0xffff_ffff }),
      ack: fc.option(fc.integer({ min: 0, max: 0xffff_ffff }), { nil: null }),
      wait: fc.integer({ min: 0, max: 5_000 }),
    });
    let most = 0;
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 30 }), (segs) => {
        for (const g of segs) {
          send6({ ...g, options: { ...NO_OPTIONS, mss: 1440 } }, sources[g.src]);
          clock.advance(g.wait);
          expect(stack.tcp.ipv6Peers).toBe(referenced());
          most = Math.max(most, stack.tcp.ipv6Peers);
        }
      }),
      { numRuns: 200, seed: 6 },
    );
    expect(stack.stats.link.rxErrors).toBe(0);
    expect(most).toBeGreaterThan(1); // connections were made from several peers at once
    // Everything times out (handshakes, TIME_WAIT): no peer is left.
    clock.advance(600_000);
    expect(referenced()).toBe(0);
    expect(stack.tcp.ipv6Peers).toBe(0);
  });
});
