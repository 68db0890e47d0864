/**
 * From captured IP packets (IPv4 and IPv6) to TCP segments, and from segments to connections.
 *
 * Decoding goes through src/wire (Ipv4View.check or Ipv6View.check and walkIpv6Chain, then
 * TcpView.check/check6 and parseTcp), so the ladder sees a segment exactly as the stack would.
 * Addresses are kept as text (`10.0.0.1`, `fd00::1` in RFC 5952's form), which keys the
 * connections of both families alike. Two differences from a receive path, both because a
 * capture is not one:
 *  - A TCP checksum that does not verify is, in a capture taken on the sending host, almost always
 *    checksum offload (the kernel leaves the pseudo-header sum for the NIC, or for nobody on
 *    loopback and veth), not corruption. Such a segment is decoded from a copy with the checksum
 *    recomputed and counted under `checksumUnverified`; Wireshark by default does not check either.
 *  - Everything else that is not a whole TCP segment (not IP, UDP, ICMPv6, fragments, bad headers,
 *    an IPv6 header chain the stack would refuse, frames cut by the snaplen) is skipped and
 *    counted by reason.
 */
import { seqAdd, seqGt } from '../../tcp/seq.ts';
import { formatIpv4, IpProtocol, Ipv4View } from '../../wire/ipv4.ts';
import {
  formatIpv6,
  IPV6_WALK_DEFAULTS,
  Ipv6Next,
  Ipv6View,
  isIpv6Multicast,
  newIpv6Chain,
  walkIpv6Chain,
} from '../../wire/ipv6.ts';
import { ParseError } from '../../wire/parse-error.ts';
import { parseTcp, TcpView } from '../../wire/tcp.ts';
import type { TcpRepr } from '../../wire/tcp-repr.ts';

/** One captured packet: when, and the IP packet's bytes (IPv4 or IPv6). */
export interface CapturedPacket {
  /** Milliseconds (any origin: pcap wall time or a stack clock). */
  at: number;
  bytes: Uint8Array;
  /** Its 1-based position in the capture, when packets were left out before; default: index + 1. */
  frame?: number;
}

export interface Segment {
  /** 1-based position of the packet in the capture (Wireshark's frame number). */
  frame: number;
  at: number;
  /** Addresses as text: dotted quad, or RFC 5952's IPv6 form. */
  src: string;
  dst: string;
  tcp: TcpRepr;
  /** The IP packet's length: IPv4's total length, or 40 + IPv6's Payload Length. */
  ipLength: number;
}

/** A TCP endpoint: address as text (`10.0.0.1`, `fd00::1`) and port. */
export interface Endpoint {
  addr: string;
  port: number;
}

/** The segments of one connection, in capture order; `a` is the end that opened it. */
export interface Connection {
  /** 1-based, in order of first packet. */
  id: number;
  a: Endpoint;
  b: Endpoint;
  segments: Segment[];
}

export interface Trace {
  connections: Connection[];
  /** Packets given. */
  packets: number;
  /** Segments whose checksum did not verify (offload) and were decoded anyway. */
  checksumUnverified: number;
  /** Packets skipped, by reason ('not-tcp', 'ip-fragment', 'bad-checksum', 'truncated', …). */
  skipped: Record<string, number>;
}

type Decoded = { segment: Segment; checksumUnverified: boolean } | ParseError;

/** Decode one IP packet to a segment, or the reason it is not one. */
export function decodeSegment(frame: number, packet: CapturedPacket): Decoded {
  if (packet.bytes.length > 0 && packet.bytes[0] >>> 4 === 6) return decodeSegment6(frame, packet);
  const ip = Ipv4View.check(packet.bytes);
  if (ip instanceof ParseError) return ip;
  if (ip.protocol !== IpProtocol.Tcp) return ParseError.of('not-tcp');
  if (ip.isFragment) return ParseError.of('ip-fragment');
  let view = TcpView.check(ip.payload, ip.src, ip.dst);
  // A capture taken before checksum offload filled the field in (a partial checksum): decode the
  // segment anyway, without verifying, and count it (Trace.checksumUnverified).
  const checksumUnverified = view instanceof ParseError && view.reason === 'bad-checksum';
  if (checksumUnverified) view = TcpView.check(ip.payload, ip.src, ip.dst, false);
  if (view instanceof ParseError) return view;
  const tcp = parseTcp(view);
  if (tcp instanceof ParseError) return tcp;
  const src = formatIpv4(ip.src);
  const dst = formatIpv4(ip.dst);
  return {
    segment: { frame, at: packet.at, src, dst, tcp, ipLength: ip.totalLength },
    checksumUnverified,
  };
}

/** One chain record for every IPv6 packet decoded (the walk fills it in). */
const chain = newIpv6Chain();

/** An IPv6 packet: the fixed header, the extension headers walked as the stack walks them. */
function decodeSegment6(frame: number, packet: CapturedPacket): Decoded {
  const ip = Ipv6View.check(packet.bytes);
  if (ip instanceof ParseError) return ip;
  const bytes = ip.bytes;
  const walk = walkIpv6Chain(bytes, isIpv6Multicast(ip.dst), IPV6_WALK_DEFAULTS, chain);
  if (walk !== 'ok') return ParseError.of(walk);
  if (chain.protocol === Ipv6Next.Fragment) return ParseError.of('ip-fragment');
  if (chain.protocol !== IpProtocol.Tcp) return ParseError.of('not-tcp');
  const payload = bytes.subarray(chain.payloadAt);
  let view = TcpView.check6(payload, ip.src, ip.dst);
  const checksumUnverified = view instanceof ParseError && view.reason === 'bad-checksum';
  if (checksumUnverified) view = TcpView.check6(payload, ip.src, ip.dst, false);
  if (view instanceof ParseError) return view;
  const tcp = parseTcp(view);
  if (tcp instanceof ParseError) return tcp;
  const src = formatIpv6(ip.src);
  const dst = formatIpv6(ip.dst);
  return {
    segment: { frame, at: packet.at, src, dst, tcp, ipLength: bytes.length },
    checksumUnverified,
  };
}

/** A key for one direction of a 4-tuple. */
function flowKey(src: string, srcPort: number, dst: string, dstPort: number): string {
  return `${src}|${srcPort}>${dst}|${dstPort}`;
}

interface Open {
  conn: Connection;
  /** The ISN of each end's SYN, keyed by its flow key as sender; absent until seen. */
  isn: Map<string, number>;
  /** Flow keys of the ends that have sent anything. */
  senders: Set<string>;
  /** Flow keys of the ends that have sent a FIN or RST: their next SYN opens anew. */
  finished: Set<string>;
}

/**
 * Decode packets and group the segments into connections by 4-tuple. A SYN without ACK starts a
 * new connection on a 4-tuple already in use (port reuse) when its sender has closed or reset
 * the current one, or has sent in it and the SYN is not a retransmission of its SYN (same ISN).
 */
export function traceConnections(packets: readonly CapturedPacket[]): Trace {
  const trace: Trace = {
    connections: [],
    packets: packets.length,
    checksumUnverified: 0,
    skipped: {},
  };
  const open = new Map<string, Open>();
  packets.forEach((packet, i) => {
    const decoded = decodeSegment(packet.frame ?? i + 1, packet);
    if (decoded instanceof ParseError) {
      trace.skipped[decoded.reason] = (trace.skipped[decoded.reason] ?? 0) + 1;
      return;
    }
    const { segment: seg, checksumUnverified } = decoded;
    if (checksumUnverified) trace.checksumUnverified++;
    const { tcp } = seg;
    const from = flowKey(seg.src, tcp.srcPort, seg.dst, tcp.dstPort);
    const to = flowKey(seg.dst, tcp.dstPort, seg.src, tcp.srcPort);
    let cur = open.get(from);
    if (cur !== undefined && tcp.control === 'syn' && tcp.ack === null) {
      const isn = cur.isn.get(from);
      const reused =
        cur.finished.has(from) || (isn === undefined ? cur.senders.has(from) : isn !== tcp.seq);
      if (reused) cur = undefined;
    }
    if (cur === undefined) {
      // The opener is the SYN's sender; a capture that starts later calls the first sender `a`,
      // except that a SYN/ACK's receiver is the opener.
      const synAck = tcp.control === 'syn' && tcp.ack !== null;
      const sender = { addr: seg.src, port: tcp.srcPort };
      const receiver = { addr: seg.dst, port: tcp.dstPort };
      const conn: Connection = {
        id: trace.connections.length + 1,
        a: synAck ? receiver : sender,
        b: synAck ? sender : receiver,
        segments: [],
      };
      trace.connections.push(conn);
      cur = { conn, isn: new Map(), senders: new Set(), finished: new Set() };
      open.set(from, cur);
      open.set(to, cur);
    }
    if (tcp.control === 'syn' && !cur.isn.has(from)) cur.isn.set(from, tcp.seq);
    cur.senders.add(from);
    if (tcp.control === 'fin' || tcp.control === 'rst') cur.finished.add(from);
    cur.conn.segments.push(seg);
  });
  return trace;
}

/** What `--list` shows about a connection. */
export interface ConnectionSummary {
  id: number;
  a: Endpoint;
  b: Endpoint;
  packets: number;
  /** IP bytes both ways. */
  bytes: number;
  /** Payload bytes a→b and b→a (retransmissions counted once, by sequence space covered). */
  dataAtoB: number;
  dataBtoA: number;
  /** Milliseconds from first to last packet. */
  durationMs: number;
}

export function summarize(conn: Connection): ConnectionSummary {
  let bytes = 0;
  const covered = { a: new DataCount(), b: new DataCount() };
  for (const seg of conn.segments) {
    bytes += seg.ipLength;
    const side = seg.src === conn.a.addr && seg.tcp.srcPort === conn.a.port ? 'a' : 'b';
    covered[side].add(seg.tcp.seq, seg.tcp.payload.length);
  }
  const first = conn.segments[0]?.at ?? 0;
  const last = conn.segments[conn.segments.length - 1]?.at ?? first;
  return {
    id: conn.id,
    a: conn.a,
    b: conn.b,
    packets: conn.segments.length,
    bytes,
    dataAtoB: covered.a.total,
    dataBtoA: covered.b.total,
    durationMs: last - first,
  };
}

/** Payload bytes counted once: only what extends past the highest sequence number seen. */
class DataCount {
  total = 0;
  private high: number | null = null;
  add(seq: number, len: number): void {
    if (len === 0) return;
    const end = seqAdd(seq, len);
    if (this.high === null) {
      this.total += len;
      this.high = end;
    } else if (seqGt(end, this.high)) {
      this.total += Math.min(len, (end - this.high) >>> 0);
      this.high = end;
    }
  }
}
