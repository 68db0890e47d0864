/**
 * The IPv6 peer table's headroom (tcp.ipv6PeerHeadroom, src/stack/addr6.ts's transient id):
 * once maxIpv6Peers − floor(maxIpv6Peers · headroom) peers are held, a SYN from a new peer takes
 * no id and gets a cookie SYN-ACK (or a closed port's reset); its cookie ACK takes an id from the
 * headroom; only a full table drops (ipv6PeersFull). Segment by segment at the stack's edge.
 */
import { describe, expect, it } from 'vitest';
import { Ipv6Peers } from '../../../src/stack/addr6.ts';
import { IPV6_ID_BASE } from '../../../src/tcp/address.ts';
import { formatIpv6, parseIpv6 } from '../../../src/wire/ipv6.ts';
import { NO_OPTIONS, type TcpRepr } from '../../../src/wire/tcp-repr.ts';
import { PEER, US } from '../ip/helpers.ts';
import { dualStack, sent6, tcp6Packet, US6 } from './dual-stack.ts';
import { tcpPacket, tcpSeg } from './tcp-packets.ts';

const peer = (n: number) => parseIpv6(`fd00::${(0x100 + n).toString(16)}`);

/** maxIpv6Peers 4, headroom 0.25: new peers' SYNs get cookies once 3 are held. */
function setup(tcp: Record<string, unknown> = {}) {
  const { link, stack } = dualStack({
    tcp: { isnSecret: new Uint8Array(16).fill(4), maxIpv6Peers: 4, ...tcp },
  });
  const send6 = (s: Partial<TcpRepr>, src: Uint8Array) => link.deliver(tcp6Packet(tcpSeg(s), src));
  /** The last packet sent, over IPv6. */
  const last = () => sent6(link.sent[link.sent.length - 1]);
  const states = () =>
    stack
      .connections()
      .filter((r) => r.state !== 'LISTEN')
      .map((r) => `${r.state} ${r.remote}`);
  return { link, stack, send6, last, states };
}

const TS_SYN: Partial<TcpRepr> = {
  control: 'syn',
  seq: 7000,
  options: {
    ...NO_OPTIONS,
    mss: 1440,
    windowScale: 7,
    sackPermitted: true,
    timestamp: { tsVal: 100, tsEcr: 0 },
  },
};

describe('Ipv6Peers: the transient id', () => {
  it('stands for an address without a slot, until the next call; never found, never counted', () => {
    const peers = new Ipv6Peers(US6, 2);
    const a = peers.intern(peer(1));
    const t = peers.transient(peer(7));
    expect(t).toBe(peers.transientId);
    expect(t).toBe(IPV6_ID_BASE + 3); // above every slot: own 0, peers 1 and 2
    expect(formatIpv6(peers.bytes(t))).toBe('fd00::107');
    expect(peers.size).toBe(1);
    expect(peers.find(peer(7))).toBe(-1);
    expect(peers.find(peer(1))).toBe(a);
    expect(peers.find(US6)).toBe(IPV6_ID_BASE);
    peers.ref(t);
    peers.releaseIfUnused(t);
    expect(peers.transient(peer(8))).toBe(t);
    expect(formatIpv6(peers.bytes(t))).toBe('fd00::108');
    // The two real slots are still there to take.
    expect(peers.intern(peer(2))).not.toBe(t);
    expect(peers.intern(peer(3))).toBe(-1);
    expect(peers.size).toBe(2);
  });
});

describe('the IPv6 peer table keeps headroom for cookie handshakes (tcp.ipv6PeerHeadroom)', () => {
  it('at 3 of 4 held, a new peer gets a cookie and no id; its ACK takes the 4th; data flows', () => {
    const { stack, send6, last, states } = setup();
    const got: Buffer[] = [];
    stack.net
      .createServer((s) => {
        s.on('data', (d: Buffer) => got.push(d));
      })
      .listen(80);
    for (let i = 1; i <= 3; i++) send6({ control: 'syn', seq: i }, peer(i));
    expect(stack.tcp.ipv6Peers).toBe(3);
    expect(states().filter((s) => s.startsWith('SYN_RECEIVED'))).toHaveLength(3);

    send6(TS_SYN, peer(9));
    const { dst, seg: synack } = last();
    expect(dst).toBe('fd00::109');
    expect(synack).toMatchObject({ control: 'syn', ack: 7001 });
    expect(synack.options.sackPermitted).toBe(true);
    expect(stack.tcp.stats.SyncookiesSent).toBe(1);
    expect(stack.tcp.stats.ipv6PeersHeadroom).toBe(1);
    expect(stack.tcp.ipv6Peers).toBe(3); // nothing kept for it
    expect(states()).toHaveLength(3);

    const tsEcr = synack.options.timestamp?.tsVal ?? 0;
    const ts = { ...NO_OPTIONS, timestamp: { tsVal: 101, tsEcr } };
    send6({ seq: 7001, ack: (synack.seq + 1) >>> 0, options: ts }, peer(9));
    expect(stack.tcp.stats.SyncookiesRecv).toBe(1);
    expect(stack.tcp.ipv6Peers).toBe(4);
    expect(states()).toContain('ESTABLISHED [fd00::109]:40000');
    const data = Buffer.from('through the headroom');
    send6(
      { seq: 7001, ack: (synack.seq + 1) >>> 0, options: ts, psh: true, payload: data },
      peer(9),
    );
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        expect(Buffer.concat(got).toString()).toBe('through the headroom');
        expect(stack.tcp.stats.ipv6PeersFull).toBe(0);
        resolve();
      }),
    );
  });

  it('a full table (the headroom used up) drops what a new peer sends, SYNs too (ipv6PeersFull)', () => {
    const { link, stack, send6, last } = setup();
    stack.net.createServer(() => {}).listen(80);
    for (let i = 1; i <= 3; i++) send6({ control: 'syn', seq: i }, peer(i));
    send6(TS_SYN, peer(9));
    const synack = last().seg;
    const ts = {
      ...NO_OPTIONS,
      timestamp: { tsVal: 101, tsEcr: synack.options.timestamp?.tsVal ?? 0 },
    };
    send6({ seq: 7001, ack: (synack.seq + 1) >>> 0, options: ts }, peer(9));
    expect(stack.tcp.ipv6Peers).toBe(4);

    // A stray ACK from a fifth peer: no id left, dropped and counted (no reset).
    const n = link.sent.length;
    send6({ seq: 1, ack: 1 }, peer(10));
    expect(link.sent.length).toBe(n);
    expect(stack.tcp.stats.ipv6PeersFull).toBe(1);
    // Its SYN too: with the table full, a cookie's ACK would find no id either.
    send6({ ...TS_SYN, seq: 8000 }, peer(10));
    expect(link.sent.length).toBe(n);
    expect(stack.tcp.stats.ipv6PeersFull).toBe(2);
    expect(stack.tcp.stats.SyncookiesSent).toBe(1);
    expect(stack.tcp.ipv6Peers).toBe(4);
  });

  it('a peer that holds an id opens as usual (no cookie); the listener keeps its own cookie mode', () => {
    const { stack, send6, states, link } = setup();
    stack.net.createServer(() => {}).listen(80);
    for (let i = 1; i <= 3; i++) send6({ control: 'syn', seq: i }, peer(i));
    send6({ control: 'syn', seq: 50, srcPort: 40_001 }, peer(2));
    expect(states()).toContain('SYN_RECEIVED [fd00::102]:40001');
    send6(TS_SYN, peer(9));
    expect(stack.tcp.stats.SyncookiesSent).toBe(1);
    // Mode 1 again after the cookie: an IPv4 SYN makes an embryonic connection.
    link.deliver(tcpPacket(tcpSeg({ control: 'syn', seq: 1 }), PEER, US));
    expect(states()).toContain('SYN_RECEIVED 10.0.0.1:40000');
    expect(stack.tcp.stats.SyncookiesSent).toBe(1);
  });

  it('with synCookies 0 there is no headroom: SYNs take ids up to the bound, then are dropped', () => {
    const { link, stack, send6 } = setup({ synCookies: 0 });
    stack.net.createServer(() => {}).listen(80);
    for (let i = 1; i <= 5; i++) send6({ control: 'syn', seq: i }, peer(i));
    expect(link.sent).toHaveLength(4);
    expect(stack.tcp.ipv6Peers).toBe(4);
    expect(stack.tcp.stats.ipv6PeersFull).toBe(1);
    expect(stack.tcp.stats.ipv6PeersHeadroom).toBe(0);
    expect(stack.tcp.stats.SyncookiesSent).toBe(0);
  });

  it('ipv6PeerHeadroom 0 keeps the old behaviour; a value outside 0–1 is refused', () => {
    const { link, stack, send6 } = setup({ ipv6PeerHeadroom: 0 });
    stack.net.createServer(() => {}).listen(80);
    for (let i = 1; i <= 5; i++) send6({ control: 'syn', seq: i }, peer(i));
    expect(link.sent).toHaveLength(4);
    expect(stack.tcp.stats.ipv6PeersFull).toBe(1);
    expect(() => setup({ ipv6PeerHeadroom: 1.5 })).toThrow(RangeError);
  });
});
