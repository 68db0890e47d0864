/**
 * From captured IPv4 packets to TCP segments, and from segments to connections.
 *
 * Decoding goes through src/wire (Ipv4View.check, TcpView.check, parseTcp), so the ladder sees a
 * segment exactly as the stack would. Two differences, both because a capture is not a receive
 * path:
 *  - A TCP checksum that does not verify is, in a capture taken on the sending host, almost always
 *    checksum offload (the kernel leaves the pseudo-header sum for the NIC, or for nobody on
 *    loopback and veth), not corruption. Such a segment is decoded from a copy with the checksum
 *    recomputed and counted under `checksumUnverified`; Wireshark by default does not check either.
 *  - Everything else that is not a whole IPv4/TCP segment (not IPv4, UDP, fragments, bad headers,
 *    frames cut by the snaplen) is skipped and counted by reason.
 */
import { seqAdd, seqGt } from '../../tcp/seq.ts';
import { IpProtocol, Ipv4View } from '../../wire/ipv4.ts';
import { ParseError } from '../../wire/parse-error.ts';
import { parseTcp, TcpView } from '../../wire/tcp.ts';
import type { TcpRepr } from '../../wire/tcp-repr.ts';

/** One captured packet: when, and the IPv4 packet's bytes. */
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
  src: number;
  dst: number;
  tcp: TcpRepr;
  /** IPv4 total length. */
  ipLength: number;
}

/** A TCP endpoint: IPv4 address (u32) and port. */
export interface Endpoint {
  addr: number;
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

/** Decode one IPv4 packet to a segment, or the reason it is not one. */
export function decodeSegment(
  frame: number,
  packet: CapturedPacket,
): { segment: Segment; checksumUnverified: boolean } | ParseError {
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
  return {
    segment: { frame, at: packet.at, src: ip.src, dst: ip.dst, tcp, ipLength: ip.totalLength },
    checksumUnverified,
  };
}

/** A key for one direction of a 4-tuple. */
function flowKey(src: number, srcPort: number, dst: number, dstPort: number): string {
  return `${src}:${srcPort}>${dst}:${dstPort}`;
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
