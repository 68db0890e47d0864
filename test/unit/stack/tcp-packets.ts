/** TCP segments as IPv4 packets on the wire, for tests that deliver them to a Stack's link. */
import { Ipv4View } from '../../../src/wire/ipv4.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { emitTcp, parseTcp, TcpView, tcpSegmentLen } from '../../../src/wire/tcp.ts';
import { NO_OPTIONS, type TcpRepr } from '../../../src/wire/tcp-repr.ts';
import { packet } from '../ip/helpers.ts';

/** A segment with every field given a plain default. */
export function tcpSeg(s: Partial<TcpRepr>): TcpRepr {
  return {
    srcPort: 40_000,
    dstPort: 80,
    control: 'none',
    psh: false,
    urg: false,
    ece: false,
    cwr: false,
    seq: 1000,
    ack: null,
    window: 65_535,
    urgentPointer: 0,
    options: NO_OPTIONS,
    payload: new Uint8Array(0),
    ...s,
  };
}

/** `seg` from `src` to `dst` as an IPv4 packet, checksums right. */
export function tcpPacket(seg: TcpRepr, src: number, dst: number): Uint8Array {
  const bytes = new Uint8Array(tcpSegmentLen(seg));
  emitTcp(bytes, seg, src, dst);
  return packet(bytes, { src, dst, protocol: 6 });
}

/** The TCP segment inside a packet the stack sent. */
export function sentSegment(p: Uint8Array): TcpRepr {
  const ip = Ipv4View.check(p);
  if (ip instanceof ParseError) throw new Error(`bad IPv4: ${ip.reason}`);
  const v = TcpView.check(ip.payload, ip.src, ip.dst, true);
  if (v instanceof ParseError) throw new Error(`bad TCP: ${v.reason}`);
  const seg = parseTcp(v);
  if (seg instanceof ParseError) throw new Error(`bad TCP: ${seg.reason}`);
  return seg;
}
