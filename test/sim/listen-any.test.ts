/**
 * The wildcard listener (TcpLayer.listenAny) and its held SYNs (src/stack/held-syn.ts): a stack
 * that accepts any destination answers a SYN to any address only when its owner decides, from
 * the address the client dialled. Against a scripted raw host (exact replies) and a second stack
 * (a whole connection through it), in virtual time.
 */
import { describe, expect, it } from 'vitest';
import type { HeldSyn } from '../../src/stack/held-syn.ts';
import type { TcpHandle, TcpOwner } from '../../src/stack/tcp.ts';
import type { TcpEvent } from '../../src/tcp/events.ts';
import { IcmpType, UnreachCode } from '../../src/wire/icmp.ts';
import { IpProtocol, Ipv4View, parseIpv4 } from '../../src/wire/ipv4.ts';
import { ParseError } from '../../src/wire/parse-error.ts';
import { parseTcpPacket } from '../../src/wire/tcp-packet.ts';
import type { TcpRepr } from '../../src/wire/tcp-repr.ts';
import { tcpPacket, tcpSeg } from '../unit/stack/tcp-packets.ts';
import {
  advance,
  CLIENT_ADDR,
  drainTasks,
  ipPacket,
  netPair,
  rawHost,
  runUntil,
  SERVER_ADDR,
} from './fixture.ts';

const FAR = parseIpv4('93.184.216.34');
const FAR2 = parseIpv4('192.0.2.7');

/** A raw host and a stack that accepts any destination, its SYNs collected in `held`. */
function setup(options: { maxHeld?: number; holdMs?: number } = {}) {
  const h = rawHost();
  const held: HeldSyn<TcpHandle>[] = [];
  const datagrams: number[] = [];
  h.stack.acceptAnyDestination({ datagram: (d) => datagrams.push(d.dst) });
  expect(h.stack.tcp.listenAny({ syn: (s) => held.push(s) }, options)).toBe(true);
  // A decision flushes the link a microtask later, as any user call does.
  const replies = async () => {
    await drainTasks();
    h.clock.advance(0);
    const out = h.received.slice();
    h.received.length = 0;
    return out;
  };
  // The wire delivers on the clock: advance(0) hands the packet to the stack.
  const send = (...packets: Uint8Array[]) => {
    h.send(...packets);
    h.clock.advance(0);
  };
  const syn = (dst: number, srcPort = 40_000, dstPort = 80) =>
    send(tcpPacket(tcpSeg({ control: 'syn', seq: 5000, srcPort, dstPort }), CLIENT_ADDR, dst));
  return { ...h, send, held, datagrams, replies, syn, any: h.stack.tcp.stats.any };
}

/** The TCP segment (with its addresses) in a packet the stack sent. */
function tcpOf(p: Uint8Array): { src: number; dst: number; tcp: TcpRepr } {
  const d = parseTcpPacket(p);
  if (d instanceof ParseError) throw new Error(`not a TCP packet: ${d.reason}`);
  return d;
}

/** An owner that records its events. */
function recorder(): TcpOwner & { events: string[] } {
  const events: string[] = [];
  return { events, tcpEvent: (_h: TcpHandle, e: TcpEvent) => events.push(e.type) };
}

describe('listenAny: a SYN to any address, answered when the owner decides', () => {
  it('holds the SYN (nothing sent), then accept answers a SYN-ACK from the dialled address', async () => {
    const { syn, held, replies, any, stack } = setup();
    syn(FAR);
    expect(await replies()).toEqual([]);
    expect(held).toHaveLength(1);
    const s = held[0];
    expect([s.localAddr, s.localPort, s.remoteAddr, s.remotePort]).toEqual([
      FAR,
      80,
      CLIENT_ADDR,
      40_000,
    ]);
    expect(stack.tcp.heldSyns).toBe(1);
    // The client's retransmission while held: dropped, counted, not a second decision.
    syn(FAR);
    expect(held).toHaveLength(1);
    expect(any.synRetransmits).toBe(1);

    const owner = recorder();
    const handle = s.accept(owner);
    expect(handle).not.toBeNull();
    expect(s.pending).toBe(false);
    const [synAck, ...rest] = (await replies()).map(tcpOf);
    expect(rest).toEqual([]);
    expect(synAck.src).toBe(FAR);
    expect(synAck.dst).toBe(CLIENT_ADDR);
    expect(synAck.tcp).toMatchObject({ srcPort: 80, dstPort: 40_000, control: 'syn', ack: 5001 });
    expect(handle?.localAddr).toBe(FAR);
    expect(stack.tcp.heldSyns).toBe(0);
    expect(any.accepted).toBe(1);
    // A second decision on the same SYN does nothing.
    expect(s.accept(owner)).toBeNull();
    s.refuse();
    expect(await replies()).toEqual([]);
    expect(any.refused).toBe(0);
  });

  it('refuse answers <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK> from the dialled address', async () => {
    const { syn, held, replies, any } = setup();
    syn(FAR, 40_001, 9);
    held[0].refuse();
    const [rst, ...rest] = (await replies()).map(tcpOf);
    expect(rest).toEqual([]);
    expect(rst.src).toBe(FAR);
    expect(rst.tcp).toMatchObject({ srcPort: 9, dstPort: 40_001, control: 'rst', ack: 5001 });
    expect(any.refused).toBe(1);
  });

  it('unreachable answers ICMP host unreachable from the stack, quoting the SYN', async () => {
    const { syn, held, replies, any } = setup();
    syn(FAR2, 40_002, 443);
    held[0].unreachable();
    const [p, ...rest] = await replies();
    expect(rest).toEqual([]);
    const ip = Ipv4View.check(p);
    if (ip instanceof ParseError) throw new Error(ip.reason);
    expect(ip.protocol).toBe(IpProtocol.Icmp);
    expect(ip.src).toBe(SERVER_ADDR);
    expect(ip.dst).toBe(CLIENT_ADDR);
    expect(ip.payload[0]).toBe(IcmpType.DestUnreachable);
    expect(ip.payload[1]).toBe(UnreachCode.Host);
    // The quote: the SYN's IP header (to FAR2) and its ports.
    const quote = ip.payload.subarray(8);
    expect(Buffer.from(quote.subarray(16, 20)).readUInt32BE(0)).toBe(FAR2);
    expect(Buffer.from(quote.subarray(20, 24)).readUInt16BE(2)).toBe(443);
    expect(any.unreachable).toBe(1);
  });

  it('holds at most maxHeld SYNs, and forgets one after holdMs', async () => {
    const { syn, held, any, clock, stack } = setup({ maxHeld: 2, holdMs: 1000 });
    syn(FAR, 1);
    syn(FAR, 2);
    syn(FAR, 3);
    expect(held).toHaveLength(2);
    expect(any.heldFull).toBe(1);
    await advance(clock, 1001);
    expect(any.expired).toBe(2);
    expect(stack.tcp.heldSyns).toBe(0);
    expect(held[0].pending).toBe(false);
    expect(held[0].accept(recorder())).toBeNull();
  });

  it('answers a non-SYN to another address with no connection by a RST from it', async () => {
    const { send, replies, any, held } = setup();
    send(tcpPacket(tcpSeg({ control: 'none', ack: 77, seq: 9 }), CLIENT_ADDR, FAR));
    const [rst, ...rest] = (await replies()).map(tcpOf);
    expect(rest).toEqual([]);
    expect(rst.src).toBe(FAR);
    expect(rst.tcp).toMatchObject({ control: 'rst', seq: 77 });
    expect(any.noConnection).toBe(1);
    expect(held).toEqual([]);
  });

  it('leaves the stack its own address: its listeners, and UDP to others goes to the handler', async () => {
    const { syn, held, replies, stack, datagrams, send } = setup();
    const accepted: TcpHandle[] = [];
    stack.tcp.listen(80, {
      accept: (h) => {
        accepted.push(h);
        return recorder();
      },
    });
    syn(SERVER_ADDR);
    const [synAck] = (await replies()).map(tcpOf);
    expect(synAck.src).toBe(SERVER_ADDR);
    expect(synAck.tcp.control).toBe('syn');
    expect(held).toEqual([]);
    send(tcpPacket(tcpSeg({ control: 'syn', seq: 1 }), CLIENT_ADDR, FAR));
    expect(held).toHaveLength(1);
    // A UDP datagram to another address goes to the foreign handler, not to a port.
    const udp = new Uint8Array([0x9c, 0x40, 0, 53, 0, 8, 0, 0]);
    send(ipPacket(udp, { dst: FAR2, protocol: IpProtocol.Udp }));
    expect(datagrams).toEqual([FAR2]);
    expect(stack.stats.udp.rxDatagrams).toBe(0);
  });

  it('without acceptAnyDestination, a SYN to another address is dropped at IP', async () => {
    const h = rawHost();
    h.send(tcpPacket(tcpSeg({ control: 'syn' }), CLIENT_ADDR, FAR));
    h.clock.advance(0);
    expect(h.received).toEqual([]);
    expect(h.stack.stats.ip.drops['not-our-address']).toBe(1);
  });
});

describe('listenAny: a whole connection through it (two stacks)', () => {
  it('the client connects to a far address; bytes flow both ways; FIN ends it', async () => {
    const { clock, client, server } = netPair();
    server.acceptAnyDestination({ datagram: () => {} });
    const got: string[] = [];
    let serverHandle: TcpHandle | null = null;
    const events: string[] = [];
    server.tcp.listenAny({
      // The owner decides later, as a relay does after its upstream connect.
      syn: (s) =>
        setTimeout(() => {
          serverHandle = s.accept({
            tcpEvent: (h: TcpHandle, e: TcpEvent) => {
              events.push(e.type);
              if (e.type === 'data') {
                got.push(Buffer.from(e.data).toString());
                h.send(Buffer.from('pong'));
              }
              if (e.type === 'fin') h.shutdown();
            },
          });
        }, 0),
    });
    const sock = client.net.connect(80, '93.184.216.34');
    const reply: Buffer[] = [];
    sock.on('data', (d: Buffer) => reply.push(d));
    sock.on('connect', () => sock.end('ping'));
    let closed = false;
    sock.on('close', () => {
      closed = true;
    });
    await runUntil(clock, () => closed, 30_000, 'client closed');
    expect(got.join('')).toBe('ping');
    expect(Buffer.concat(reply).toString()).toBe('pong');
    expect(sock.remoteAddress).toBe('93.184.216.34');
    expect((serverHandle as TcpHandle | null)?.localAddr).toBe(FAR);
    expect(events).toContain('connected');
    expect(events).toContain('fin');
    await client.close();
    await server.close();
  });
});
