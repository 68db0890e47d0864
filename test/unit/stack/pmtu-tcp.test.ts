/**
 * Path MTU discovery at the stack's edge (issue 12 item 5): ICMP "fragmentation needed" and
 * ICMPv6 Packet Too Big quoting a live connection's segment in its window (RFC 5927 §4.1) lower
 * the destination's path MTU and the connection's send MSS, and what was in flight goes again at
 * once at the new size without a congestion response; anything else is dropped and counted.
 */
import { describe, expect, it } from 'vitest';
import type { TcpHandle, TcpOwner } from '../../../src/stack/tcp.ts';
import { get32, put16, put32 } from '../../../src/wire/bytes.ts';
import { emitIcmp } from '../../../src/wire/icmp.ts';
import { Ipv4View } from '../../../src/wire/ipv4.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { NO_OPTIONS, type TcpRepr } from '../../../src/wire/tcp-repr.ts';
import { PEER, packet, US } from '../ip/helpers.ts';
import { dualStack, HOST6, packetTooBig, sent6, tcp6Packet } from './dual-stack.ts';
import { sentSegment, tcpPacket, tcpSeg } from './tcp-packets.ts';

const ROUTER = 0x0a000063; // 10.0.0.99: the router that answers, not the peer

const owner: TcpOwner = { tcpEvent: () => {} };
const tick = () => new Promise<void>((r) => setImmediate(r));

function setup(pmtu?: { maxEntries?: number; expiryMs?: number }) {
  return dualStack({ pmtu, tcp: { isnSecret: new Uint8Array(16).fill(3), conn: { rack: true } } });
}

/** The IPv6 packet's TCP segment (checksum checked). */
const seg6 = (p: Uint8Array): TcpRepr => sent6(p).seg;

/** A "fragmentation needed" from ROUTER quoting `pkt` (one of ours) with next-hop MTU `mtu`. */
function fragNeeded(pkt: Uint8Array, mtu: number, edit?: (q: Uint8Array) => void): Uint8Array {
  const quote = pkt.slice(0, 28); // IP header and 8 bytes, RFC 792's minimum
  edit?.(quote);
  const msg = new Uint8Array(8 + quote.length);
  emitIcmp(msg, { kind: 'dest-unreachable', code: 4, nextHopMtu: mtu, data: quote });
  return packet(msg, { src: ROUTER, dst: US, protocol: 1 });
}

/**
 * An active open to 10.0.0.1:80 (or fd00::1 with `v6`), established, then 30 000 bytes written:
 * the initial window's ten full segments are in flight. Returns the handle and the data packets.
 */
async function established(v6 = false, pmtu?: { maxEntries?: number; expiryMs?: number }) {
  const env = setup(pmtu);
  const { link, stack } = env;
  const h = (
    v6 ? stack.tcp.connect6(HOST6, 80, owner) : stack.tcp.connect(PEER, 80, owner)
  ) as TcpHandle;
  await tick();
  const syn = v6 ? seg6(link.sent[0]) : sentSegment(link.sent[0]);
  expect(syn.control).toBe('syn');
  const synAck = tcpSeg({
    srcPort: 80,
    dstPort: syn.srcPort,
    control: 'syn',
    seq: 9000,
    ack: syn.seq + 1,
    options: { ...NO_OPTIONS, mss: 1460, sackPermitted: true },
  });
  link.deliver(v6 ? tcp6Packet(synAck) : tcpPacket(synAck, PEER, US));
  expect(h.state).toBe('ESTABLISHED');
  link.sent = [];
  h.send(new Uint8Array(30_000).fill(7));
  await tick();
  const data = link.sent;
  link.sent = [];
  return { ...env, h, syn, data, seg: v6 ? seg6 : sentSegment };
}

function row(stack: ReturnType<typeof setup>['stack']) {
  const r = stack.connections().find((c) => c.state === 'ESTABLISHED');
  if (r === undefined) throw new Error('no connection');
  return r;
}

describe('path MTU discovery (RFC 1191, RFC 8201) after RFC 5927’s checks', () => {
  it('IPv4: a fragmentation needed in the window lowers the MSS and resends the flight, cwnd kept', async () => {
    const { link, stack, h, data, seg } = await established();
    expect(data.length).toBe(10);
    expect(data.every((p) => p.length === 1500)).toBe(true);
    const before = row(stack);
    expect(before).toMatchObject({ mss: 1460, pmtu: 1500 });
    const dropped = seg(data[3]).seq;

    link.deliver(fragNeeded(data[3], 1300));

    expect(stack.tcp.stats).toMatchObject({ icmpAccepted: 1, pmtuMssLowered: 1, pmtuResends: 1 });
    expect(stack.pmtu.get4(PEER, stack.now())).toBe(1300);
    const after = row(stack);
    expect(after).toMatchObject({ mss: 1260, pmtu: 1300 });
    expect(after.cwnd).toBe(before.cwnd); // no congestion response
    expect(after.rto).toBe(before.rto); // no backoff
    // The flight again from the quoted segment (the three before it got through), in segments
    // that fit 1300 bytes, as far as cwnd lets with those three still in flight.
    expect(h.conn.sndUna).not.toBe(dropped);
    expect(link.sent.length).toBeGreaterThan(0);
    expect(link.sent.every((p) => p.length <= 1300)).toBe(true);
    const first = seg(link.sent[0]);
    expect(first.seq).toBe(dropped);
    expect(first.payload.length).toBe(1260);
    let at = dropped;
    for (const p of link.sent) {
      const s = seg(p);
      expect(s.seq).toBe(at);
      at = (at + s.payload.length) >>> 0;
    }
    // Every packet that goes out has the DF bit (RFC 1191: what lets routers answer at all).
    const ip = Ipv4View.check(link.sent[0]);
    if (ip instanceof ParseError) throw new Error(ip.reason);
    expect(ip.dontFrag).toBe(true);
  });

  it('a second message about the same flight changes nothing more (no second resend)', async () => {
    const { link, stack, data } = await established();
    link.deliver(fragNeeded(data[0], 1300));
    const n = link.sent.length;
    link.deliver(fragNeeded(data[1], 1300));
    expect(stack.tcp.stats).toMatchObject({ icmpAccepted: 2, pmtuMssLowered: 1, pmtuResends: 1 });
    expect(link.sent.length).toBe(n);
  });

  it('a late message about an earlier old-size segment moves the resend back to it', async () => {
    const { link, stack, data, seg } = await established();
    link.deliver(fragNeeded(data[5], 1300));
    expect(seg(link.sent[0]).seq).toBe(seg(data[5]).seq);
    link.sent = [];
    link.deliver(fragNeeded(data[2], 1300));
    expect(stack.tcp.stats).toMatchObject({ pmtuMssLowered: 1, pmtuResends: 2 });
    expect(seg(link.sent[0]).seq).toBe(seg(data[2]).seq);
    expect(link.sent.every((p) => p.length <= 1300)).toBe(true);
  });

  it('drops a message quoting a sequence number outside [SND.UNA, SND.MAX), counted', async () => {
    const { link, stack, data, h } = await established();
    const below = (h.conn.sndUna - 2000) >>> 0;
    const above = h.conn.sndMax;
    link.deliver(fragNeeded(data[0], 1300, (q) => put32(q, 24, below)));
    link.deliver(fragNeeded(data[0], 1300, (q) => put32(q, 24, above)));
    expect(stack.tcp.stats).toMatchObject({ icmpOutOfWindow: 2, icmpAccepted: 0 });
    expect(stack.pmtu.size).toBe(0);
    expect(row(stack)).toMatchObject({ mss: 1460, pmtu: 1500 });
    expect(link.sent).toHaveLength(0);
  });

  it('drops a message quoting no connection (wrong port, wrong peer, acknowledged data)', async () => {
    const { link, stack, data, h } = await established();
    link.deliver(fragNeeded(data[0], 1300, (q) => put16(q, 22, 81))); // destination port
    link.deliver(fragNeeded(data[0], 1300, (q) => put32(q, 16, 0x0a000009))); // destination
    expect(stack.tcp.stats.icmpNoConnection).toBe(2);
    // Everything acknowledged: the same quote is out of the window now.
    const ack = tcpSeg({
      srcPort: 80,
      dstPort: h.localPort,
      seq: 9001,
      ack: h.conn.sndMax,
      window: 65_535,
    });
    link.deliver(tcpPacket(ack, PEER, US));
    link.deliver(fragNeeded(data[0], 1300));
    expect(stack.tcp.stats.icmpOutOfWindow).toBe(1);
    expect(stack.pmtu.size).toBe(0);
    expect(get32(data[0], 16)).toBe(PEER);
  });

  it('clamps a next-hop MTU below 552 (and a router’s 0) to 552: MSS 512', async () => {
    const { link, stack, data } = await established();
    link.deliver(fragNeeded(data[0], 0));
    expect(stack.stats.pmtu.clampedV4).toBe(1);
    expect(row(stack)).toMatchObject({ mss: 512, pmtu: 552 });
    expect(link.sent.every((p) => p.length <= 552)).toBe(true);
  });

  it('IPv6: a Packet Too Big lowers the MSS to MTU − 60 and resends; below 1280 is clamped', async () => {
    const { link, stack, data, h } = await established(true);
    expect(data.every((p) => p.length === 1500)).toBe(true);
    const cwnd = row(stack).cwnd;
    link.deliver(packetTooBig(data[2], 1400));
    expect(row(stack)).toMatchObject({ mss: 1340, pmtu: 1400, cwnd });
    expect(link.sent.length).toBeGreaterThan(0);
    expect(link.sent.every((p) => p.length <= 1400)).toBe(true);
    expect(seg6(link.sent[0]).seq).toBe(seg6(data[2]).seq);
    expect(h.conn.sndUna).toBe(seg6(data[0]).seq);
    expect(stack.stats.icmp6.rxPacketTooBig).toBe(1);
    link.sent = [];
    link.deliver(packetTooBig(data[3], 900));
    expect(stack.stats.pmtu.clampedV6).toBe(1);
    expect(row(stack)).toMatchObject({ mss: 1220, pmtu: 1280 });
    expect(link.sent.every((p) => p.length <= 1280)).toBe(true);
  });

  it('IPv6: out of window and unknown connections are dropped, counted', async () => {
    const { link, stack, data, h } = await established(true);
    link.deliver(packetTooBig(data[0], 1400, (q) => put32(q, 44, (h.conn.sndUna - 1) >>> 0)));
    link.deliver(packetTooBig(data[0], 1400, (q) => put16(q, 42, 81)));
    expect(stack.tcp.stats).toMatchObject({ icmpOutOfWindow: 1, icmpNoConnection: 1 });
    expect(stack.pmtu.size).toBe(0);
    expect(link.sent).toHaveLength(0);
  });

  it('a new connection to a destination with a known path MTU starts at the lower MSS (its SYN announces the link’s)', async () => {
    const { link, stack, data } = await established();
    link.deliver(fragNeeded(data[0], 1300));
    link.sent = [];
    const h2 = stack.tcp.connect(PEER, 81, owner) as TcpHandle;
    await tick();
    const syn = sentSegment(link.sent[0]);
    expect(syn.options.mss).toBe(1460);
    link.deliver(
      tcpPacket(
        tcpSeg({
          srcPort: 81,
          dstPort: syn.srcPort,
          control: 'syn',
          seq: 1,
          ack: syn.seq + 1,
          options: { ...NO_OPTIONS, mss: 1460 },
        }),
        PEER,
        US,
      ),
    );
    link.sent = [];
    h2.send(new Uint8Array(5000));
    await tick();
    expect(link.sent.length).toBeGreaterThan(0);
    expect(link.sent.every((p) => p.length <= 1300)).toBe(true);
    expect(sentSegment(link.sent[0]).payload.length).toBe(1260);
  });

  it('when the entry expires, the connection goes back to the link’s MSS', async () => {
    const { link, stack, data, clock } = await established(false, { expiryMs: 5000 });
    link.deliver(fragNeeded(data[0], 1300));
    expect(row(stack).mss).toBe(1260);
    clock.advance(5001);
    await tick();
    expect(stack.stats.pmtu.expired).toBe(1);
    expect(row(stack)).toMatchObject({ mss: 1460, pmtu: 1500 });
  });
});
