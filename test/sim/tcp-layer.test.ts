/**
 * The stack's TCP layer (src/stack/tcp.ts) against a scripted peer: the raw host at 10.0.0.1
 * sends segments the test builds and the test reads exactly what the stack answers. This pins
 * the layer's own rules (RST for closed ports, demux, listener verdicts, the table bound, bad
 * segments counted and never answered), apart from the socket API.
 */
import { describe, expect, it } from 'vitest';
import { mssFromMtu } from '../../src/tcp/options.ts';
import { IpProtocol } from '../../src/wire/ipv4.ts';
import { ParseError } from '../../src/wire/parse-error.ts';
import { emitTcp, tcpSegmentLen } from '../../src/wire/tcp.ts';
import { parseTcpPacket } from '../../src/wire/tcp-packet.ts';
import { NO_OPTIONS, type TcpRepr } from '../../src/wire/tcp-repr.ts';
import { tcpSeg } from '../unit/stack/tcp-packets.ts';
import { CLIENT_ADDR, ipPacket, rawHost, SERVER_ADDR } from './fixture.ts';

/** A segment from the raw host to port 80, plain defaults (tcpSeg) under `fields`. */
const seg = (fields: Partial<TcpRepr>): TcpRepr => tcpSeg({ dstPort: 80, ...fields });

/** An IPv4 packet carrying `s` from the raw host to the stack. */
function tcpPacket(s: TcpRepr): Uint8Array {
  const bytes = new Uint8Array(tcpSegmentLen(s));
  emitTcp(bytes, s, CLIENT_ADDR, SERVER_ADDR);
  return ipPacket(bytes, { protocol: IpProtocol.Tcp });
}

/** The TCP segments among the packets the stack sent. */
function segmentsIn(packets: Uint8Array[]): TcpRepr[] {
  const out: TcpRepr[] = [];
  for (const p of packets) {
    const d = parseTcpPacket(p);
    if (d instanceof ParseError && d.reason === 'not-tcp') continue;
    if (d instanceof ParseError) throw new Error(`the stack sent a bad packet: ${d.reason}`);
    out.push(d.tcp);
  }
  return out;
}

function setup(tcp = {}) {
  const h = rawHost({ stack: { tcp } });
  const replies = () => {
    h.clock.advance(0);
    const segs = segmentsIn(h.received);
    h.received.length = 0;
    return segs;
  };
  return { ...h, replies };
}

describe('TCP layer: segments that reach no connection', () => {
  it('answers a SYN to a closed port with <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>', () => {
    const { stack, send, replies } = setup();
    send(tcpPacket(seg({ control: 'syn', seq: 0xffff_fff0 })));
    const [rst, ...rest] = replies();
    expect(rest).toEqual([]);
    expect(rst).toMatchObject({
      srcPort: 80,
      dstPort: 40_000,
      control: 'rst',
      seq: 0,
      ack: 0xffff_fff1,
    });
    expect(stack.stats.tcp.layer).toMatchObject({ noPort: 1, resetsSent: 1 });
  });

  it('answers an ACK to a closed port with <SEQ=SEG.ACK><CTL=RST>', () => {
    const { send, replies } = setup();
    send(tcpPacket(seg({ ack: 12_345, payload: new Uint8Array(10) })));
    expect(replies()).toMatchObject([{ control: 'rst', seq: 12_345, ack: null }]);
  });

  it('never answers a RST, a bad checksum or a truncated header; the drops are counted', () => {
    const { stack, send, replies } = setup();
    send(tcpPacket(seg({ control: 'rst', ack: 5 })));
    const bad = tcpPacket(seg({ control: 'syn' }));
    bad[20 + 16] ^= 0x01; // the TCP checksum
    send(bad);
    send(ipPacket(new Uint8Array(12), { protocol: IpProtocol.Tcp }));
    expect(replies()).toEqual([]);
    expect(stack.stats.tcp.drops).toMatchObject({ 'bad-checksum': 1, truncated: 1 });
    expect(stack.stats.tcp.layer).toMatchObject({ noPort: 1, resetsSent: 0 });
  });
});

describe('TCP layer: listeners and the table', () => {
  it('a SYN to a listener gets a SYN-ACK announcing MSS = MTU - 40', () => {
    const { stack, send, replies } = setup();
    stack.net.createServer().listen(80);
    send(tcpPacket(seg({ control: 'syn', seq: 7, options: { ...NO_OPTIONS, mss: 1400 } })));
    const [synAck] = replies();
    expect(synAck).toMatchObject({ control: 'syn', ack: 8, srcPort: 80, dstPort: 40_000 });
    expect(synAck.options.mss).toBe(mssFromMtu(stack.mtu));
    expect(stack.connections().map((r) => r.state)).toEqual(['LISTEN', 'SYN_RECEIVED']);
  });

  it("an ACK that matches no connection at a listener's port is reset", () => {
    const { stack, send, replies } = setup();
    stack.net.createServer().listen(80);
    send(tcpPacket(seg({ ack: 999 })));
    expect(replies()).toMatchObject([{ control: 'rst', seq: 999 }]);
  });

  it('demuxes by the whole 4-tuple: two peers on one server port are two connections', () => {
    const { stack, send, replies } = setup();
    stack.net.createServer().listen(80);
    send(tcpPacket(seg({ control: 'syn', srcPort: 1111 })));
    send(tcpPacket(seg({ control: 'syn', srcPort: 2222 })));
    const synAcks = replies();
    expect(synAcks.map((s) => s.dstPort)).toEqual([1111, 2222]);
    expect(stack.connections().map((r) => r.remote)).toEqual([
      '*:*',
      '10.0.0.1:1111',
      '10.0.0.1:2222',
    ]);
  });

  it('drops SYNs beyond maxConnections without an answer, and counts them', () => {
    const { stack, send, replies } = setup({ maxConnections: 1 });
    stack.net.createServer().listen(80);
    send(tcpPacket(seg({ control: 'syn', srcPort: 1111 })));
    send(tcpPacket(seg({ control: 'syn', srcPort: 2222 })));
    expect(replies().map((s) => s.dstPort)).toEqual([1111]);
    expect(stack.stats.tcp.layer).toMatchObject({ tableFull: 1 });
  });

  it('resets connections still in the handshake when the server closes', async () => {
    const { stack, send, replies } = setup();
    const server = stack.net.createServer().listen(80);
    send(tcpPacket(seg({ control: 'syn', seq: 41 })));
    const [synAck] = replies();
    server.close();
    await new Promise((r) => setImmediate(r)); // user calls are serviced and flushed in microtasks
    const [rst] = replies();
    expect(rst).toMatchObject({ control: 'rst', seq: (synAck.seq + 1) >>> 0 });
    expect(stack.connections()).toEqual([]);
  });
});
