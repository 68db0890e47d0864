/**
 * A TCP segment in a whole IPv4 packet, both ways, for code that builds or reads packets outside
 * the stack's own paths: the packetdrill link, the lessons' injected segments, tests. (The stack
 * writes in place through IpOutput and reads through IpInput; it does not use these.)
 */
import { IPV4_MIN_HEADER_LEN, IpProtocol, Ipv4View } from './ipv4.ts';
import { IPV6_HEADER_LEN, Ipv6View } from './ipv6.ts';
import { ParseError } from './parse-error.ts';
import { emitTcp, emitTcp6, parseTcp, TcpView, tcpSegmentLen } from './tcp.ts';
import type { TcpRepr } from './tcp-repr.ts';

/** A TCP segment and the addresses of the IPv4 packet that carried it. */
export interface TcpPacket {
  src: number;
  dst: number;
  tcp: TcpRepr;
}

/**
 * A new IPv4 packet (DF set, TTL 64, id 0) carrying `seg` from `src` to `dst`, checksums filled in;
 * the IP header's ECN field is `seg.ipEcn` (Not-ECT when absent).
 */
export function emitTcpPacket(seg: TcpRepr, src: number, dst: number): Uint8Array {
  const len = tcpSegmentLen(seg);
  const packet = new Uint8Array(IPV4_MIN_HEADER_LEN + len);
  Ipv4View.emit(packet, {
    src,
    dst,
    protocol: IpProtocol.Tcp,
    ttl: 64,
    id: 0,
    dontFrag: true,
    moreFrags: false,
    fragOffset: 0,
    tos: (seg.ipEcn ?? 0) & 3,
    payloadLength: len,
  });
  emitTcp(packet.subarray(IPV4_MIN_HEADER_LEN), seg, src, dst);
  return packet;
}

/**
 * The TCP segment in an IPv4 packet, its payload a view into `packet` (`ipEcn` from the IP
 * header when not Not-ECT); or the reason it is not
 * one: an IPv4 or TCP parse reason, or 'not-tcp' for a valid packet of another protocol.
 */
export function parseTcpPacket(packet: Uint8Array): TcpPacket | ParseError {
  const ip = Ipv4View.check(packet);
  if (ip instanceof ParseError) return ip;
  if (ip.protocol !== IpProtocol.Tcp) return ParseError.of('not-tcp');
  const tcp = reprWithEcn(TcpView.check(ip.payload, ip.src, ip.dst), ip.tos & 3);
  if (tcp instanceof ParseError) return tcp;
  return { src: ip.src, dst: ip.dst, tcp };
}

/** The segment a checked TCP view holds, with the IP header's ECN bits (`ipEcn`) unless Not-ECT. */
function reprWithEcn(view: TcpView | ParseError, ecn: number): TcpRepr | ParseError {
  if (view instanceof ParseError) return view;
  const tcp = parseTcp(view);
  if (tcp instanceof ParseError) return tcp;
  if (ecn !== 0) tcp.ipEcn = ecn;
  return tcp;
}

/** A TCP segment and the addresses (16-byte copies) of the IPv6 packet that carried it. */
export interface TcpPacket6 {
  src: Uint8Array;
  dst: Uint8Array;
  tcp: TcpRepr;
}

/**
 * A new IPv6 packet (hop limit 64, flow label 0, no extension headers) carrying `seg` from `src`
 * to `dst`, checksum over the IPv6 pseudo-header; the Traffic Class's ECN bits are `seg.ipEcn`.
 */
export function emitTcpPacket6(seg: TcpRepr, src: Uint8Array, dst: Uint8Array): Uint8Array {
  const len = tcpSegmentLen(seg);
  const packet = new Uint8Array(IPV6_HEADER_LEN + len);
  Ipv6View.emit(packet, {
    src,
    dst,
    nextHeader: IpProtocol.Tcp,
    hopLimit: 64,
    trafficClass: (seg.ipEcn ?? 0) & 3,
    payloadLength: len,
  });
  emitTcp6(packet.subarray(IPV6_HEADER_LEN), seg, src, dst);
  return packet;
}

/**
 * The TCP segment right after an IPv6 fixed header (no extension headers: the stack sends none
 * with TCP), its payload a view into `packet`; or why it is not one ('not-tcp' for a valid
 * packet of another next header).
 */
export function parseTcpPacket6(packet: Uint8Array): TcpPacket6 | ParseError {
  const ip = Ipv6View.check(packet);
  if (ip instanceof ParseError) return ip;
  if (ip.nextHeader !== IpProtocol.Tcp) return ParseError.of('not-tcp');
  const tcp = reprWithEcn(TcpView.check6(ip.payload, ip.src, ip.dst), ip.trafficClass & 3);
  if (tcp instanceof ParseError) return tcp;
  return { src: ip.src.slice(), dst: ip.dst.slice(), tcp };
}
