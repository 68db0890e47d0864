/**
 * TCP segmentation offload on the send side: consecutive full-sized data segments that one
 * connection dispatches in one go are sent as ONE super-segment of up to 64 KiB, which the link
 * (a TUN device with TUN_F_TSO4, see src/link/tun.ts) hands to the kernel with
 * gso_size = the segments' payload size. One packet through IP, the link and one write()
 * instead of up to 44, and one checksum pass fewer: the super-segment carries only the
 * pseudo-header sum (the partial checksum convention; the receiver of a TSO packet finishes or
 * trusts it).
 *
 * The TCP core is untouched: it still cuts at SMSS, so Nagle, SWS avoidance, cwnd and
 * retransmission reason in segments as before; this only repackages its output, and the
 * super-segment cuts back into exactly the segments the core made. Two segments join when
 *  - the second starts where the first ends (same connection, destination, ACK, window,
 *    options: what a GSO cut copies into every segment must be the same in all of them),
 *  - every segment so far carried exactly `segmentSize` bytes (the first one's size; only the
 *    last may be shorter), and the second is no larger,
 *  - none is a SYN or RST, none but the last has a FIN, none has URG, ECE or CWR, and all carry
 *    the same IP ECN field (ECT(0) on new data of an ECN connection),
 *  - the whole fits in `maxSegment` bytes of IP packet.
 * PSH and FIN of the last go into the super-segment's header: the kernel's GSO clears them on
 * every cut but the last (tcp_gso_segment). Segments to our own address are never joined: they
 * loop back into our own input, which would have to verify a partial checksum.
 *
 * Both families: a connection to an IPv6 peer (an address id ≥ IPV6_ID_BASE, src/tcp/address.ts)
 * is coalesced the same way when the link cuts IPv6 super-segments too (`LinkOffload.tso6`, the
 * TUN device's TSO6): the IPv6 fixed header in front (no extension headers), the pseudo-header
 * sum over the 16-byte addresses. Without it, IPv6 segments go out one by one.
 */

import { IP6_HEADER_ROOM, type Ip6Output } from '../ip/ipv6-output.ts';
import type { IpOutput } from '../ip/output.ts';
import { IP_HEADER_ROOM } from '../ip/output.ts';
import { IPV6_ID_BASE } from '../tcp/address.ts';
import { put16 } from '../wire/bytes.ts';
import { onesSum, pseudoHeaderSum, pseudoHeaderSum6 } from '../wire/checksum.ts';
import { IpProtocol } from '../wire/ipv4.ts';
import { Ipv6Next } from '../wire/ipv6.ts';
import { emitTcp, emitTcp6, TcpFlag, tcpHeaderLen } from '../wire/tcp.ts';
import type { TcpOptions, TcpRepr } from '../wire/tcp-repr.ts';
import type { LinkStats, TcpStackStats } from './stats.ts';

const TCP_FLAGS = 13;
const TCP_CHECKSUM = 16;
const NO_PAYLOAD = new Uint8Array(0);
/** Where the TCP header starts in the scratch buffer: room for either IP header before it. */
const TCP_AT = IP6_HEADER_ROOM;

/** What the coalescer needs for IPv6 super-segments (the link has TSO6). */
export interface TsoIpv6 {
  output: Ip6Output;
  /** The 16 bytes behind an address id ≥ IPV6_ID_BASE (the TCP layer's, src/stack/addr6.ts). */
  addressBytes(id: number): Uint8Array;
}

/** What a held super-segment needs to decide whether the next segment joins it. */
interface Held {
  /** Source address: ours, or the one a relayed connection answers from. */
  src: number;
  dst: number;
  /** IPv6: the 16 bytes behind src and dst (looked up once per super-segment); IPv4: null. */
  src6: Uint8Array | null;
  dst6: Uint8Array | null;
  /** Bytes of IP header in front: 20 or 40. */
  ipRoom: number;
  srcPort: number;
  dstPort: number;
  /** Sequence number just past the held payload. */
  nextSeq: number;
  ack: number | null;
  window: number;
  options: TcpOptions;
  /** The IP header's ECN field (ECT(0) on new data of an ECN connection): the same in all. */
  ipEcn: number;
  /** Start of the TCP header in the scratch buffer, its length, the payload bytes held. */
  headerLen: number;
  payloadLen: number;
  segmentSize: number;
  segments: number;
  /** The last segment's PSH and FIN, for the super-segment's header. */
  lastFlags: number;
  /** The last segment was shorter than segmentSize or carried a FIN: nothing may follow. */
  closed: boolean;
}

function sameOptions(a: TcpOptions, b: TcpOptions): boolean {
  if (a === b) return true;
  if (a.mss !== null || b.mss !== null || a.windowScale !== null || b.windowScale !== null) {
    return false; // SYN options: never on a segment that joins
  }
  const ta = a.timestamp;
  const tb = b.timestamp;
  if (ta === null ? tb !== null : tb === null || ta.tsVal !== tb.tsVal || ta.tsEcr !== tb.tsEcr) {
    return false;
  }
  const sa = a.sackBlocks;
  const sb = b.sackBlocks;
  if (sa.length !== sb.length) return false;
  for (let i = 0; i < sa.length; i++) {
    if (sa[i].left !== sb[i].left || sa[i].right !== sb[i].right) return false;
  }
  return true;
}

/** A data segment that may start or join a super-segment. */
function joinable(seg: TcpRepr): boolean {
  return (
    seg.payload.length > 0 &&
    (seg.control === 'none' || seg.control === 'fin') &&
    seg.ack !== null &&
    !seg.urg &&
    !seg.ece &&
    !seg.cwr
  );
}

export class TsoCoalescer {
  /** Where the super-segment is built: IP header room (TCP_AT), TCP header, payload. */
  readonly #scratch: Uint8Array;
  #held: Held | null = null;

  /**
   * @param maxSegment the largest IP packet the link takes (LinkOffload.maxSegment)
   * @param sendOne a segment that joins nothing: the stack's ordinary path (full checksum)
   * @param ip6 IPv6 output when the link takes IPv6 super-segments too (TSO6); null: IPv6
   *   segments go to sendOne
   */
  constructor(
    private readonly ip: IpOutput,
    private readonly stats: LinkStats,
    private readonly tcpStats: TcpStackStats,
    private readonly maxSegment: number,
    private readonly sendOne: (seg: TcpRepr, dst: number, src: number) => boolean,
    private readonly ip6: TsoIpv6 | null = null,
  ) {
    this.#scratch = new Uint8Array(TCP_AT - IP_HEADER_ROOM + maxSegment);
  }

  /**
   * One segment the connection dispatched to `dst`. Joined to the held super-segment, held to
   * start one, or sent at once (after what was held). False when IP refused to send. `src`: our
   * address, or the one a relayed connection answers from.
   */
  add(seg: TcpRepr, dst: number, src: number = this.ip.address): boolean {
    const held = this.#held;
    if (held !== null && this.#joins(held, seg, dst, src)) {
      this.#append(held, seg);
      this.tcpStats.txSegments++;
      return true;
    }
    const ok = this.end();
    // IPV6_ID_BASE is our own IPv6 address's id: looped back, as our IPv4 address.
    const mine =
      dst < IPV6_ID_BASE ? dst === this.ip.address : this.ip6 === null || dst === IPV6_ID_BASE;
    if (mine || !joinable(seg)) return this.sendOne(seg, dst, src) && ok;
    this.#start(seg, dst, src);
    this.tcpStats.txSegments++;
    return ok;
  }

  /** Send what is held: the end of a connection's burst. False when IP refused it. */
  end(): boolean {
    const held = this.#held;
    if (held === null) return true;
    this.#held = null;
    const tcpLen = held.headerLen + held.payloadLen;
    // The link owns what it is given, so the packet leaves the scratch buffer as a copy.
    const packet = this.#scratch.slice(TCP_AT - held.ipRoom, TCP_AT + tcpLen);
    const tcp = packet.subarray(held.ipRoom);
    tcp[TCP_FLAGS] |= held.lastFlags;
    const src6 = held.src6;
    const dst6 = held.dst6;
    const v6 = src6 !== null && dst6 !== null && this.ip6 !== null;
    const pseudo = v6
      ? pseudoHeaderSum6(src6, dst6, IpProtocol.Tcp, tcpLen)
      : pseudoHeaderSum(held.src, held.dst, IpProtocol.Tcp, tcpLen);
    if (held.segments === 1) {
      // Nothing joined: an ordinary segment with a full checksum.
      put16(tcp, TCP_CHECKSUM, 0);
      put16(tcp, TCP_CHECKSUM, ~onesSum(tcp, 0, tcpLen, pseudo) & 0xffff);
      if (v6) return this.ip6!.output.send(packet, Ipv6Next.Tcp, dst6, true, src6, held.ipEcn);
      return this.ip.send(packet, IpProtocol.Tcp, held.dst, true, held.src, held.ipEcn);
    }
    // The partial checksum: the pseudo-header sum, folded, not complemented (Linux's
    // tcp_v4_send_check / __tcp_v6_send_check for CHECKSUM_PARTIAL); the rest is summed per cut
    // segment, or not at all.
    put16(tcp, TCP_CHECKSUM, pseudo);
    this.stats.txGsoPackets++;
    this.stats.txGsoSegments += held.segments;
    if (v6) {
      return this.ip6!.output.sendSegmented(
        packet,
        Ipv6Next.Tcp,
        dst6,
        held.segmentSize,
        src6,
        held.ipEcn,
      );
    }
    return this.ip.sendSegmented(
      packet,
      IpProtocol.Tcp,
      held.dst,
      held.segmentSize,
      held.segments,
      held.src,
      held.ipEcn,
    );
  }

  #joins(held: Held, seg: TcpRepr, dst: number, src: number): boolean {
    return (
      !held.closed &&
      dst === held.dst &&
      src === held.src &&
      seg.srcPort === held.srcPort &&
      seg.dstPort === held.dstPort &&
      seg.seq === held.nextSeq &&
      seg.ack === held.ack &&
      seg.window === held.window &&
      (seg.ipEcn ?? 0) === held.ipEcn &&
      seg.payload.length <= held.segmentSize &&
      held.ipRoom + held.headerLen + held.payloadLen + seg.payload.length <= this.maxSegment &&
      joinable(seg) &&
      sameOptions(seg.options, held.options)
    );
  }

  #start(seg: TcpRepr, dst: number, src: number): void {
    const scratch = this.#scratch;
    const tcp = scratch.subarray(TCP_AT);
    // The header alone (its checksum is rewritten at the end), then the payload behind it.
    const headerLen = tcpHeaderLen(seg);
    const header: TcpRepr = { ...seg, control: 'none', psh: false, payload: NO_PAYLOAD };
    let src6: Uint8Array | null = null;
    let dst6: Uint8Array | null = null;
    if (dst < IPV6_ID_BASE) {
      emitTcp(tcp, header, src, dst);
    } else {
      // add() sends nothing here without ip6. Our own address is IPV6_ID_BASE; a relayed
      // connection answers from the id of the address its client dialled.
      const ip6 = this.ip6!;
      dst6 = ip6.addressBytes(dst);
      src6 = src > IPV6_ID_BASE ? ip6.addressBytes(src) : ip6.output.address;
      emitTcp6(tcp, header, src6, dst6);
    }
    tcp.set(seg.payload, headerLen);
    const len = seg.payload.length;
    this.#held = {
      src,
      dst,
      src6,
      dst6,
      ipRoom: dst < IPV6_ID_BASE ? IP_HEADER_ROOM : IP6_HEADER_ROOM,
      srcPort: seg.srcPort,
      dstPort: seg.dstPort,
      nextSeq: (seg.seq + len) >>> 0,
      ack: seg.ack,
      window: seg.window,
      options: seg.options,
      ipEcn: seg.ipEcn ?? 0,
      headerLen,
      payloadLen: len,
      segmentSize: len,
      segments: 1,
      lastFlags: segFlags(seg),
      closed: seg.control === 'fin',
    };
  }

  #append(held: Held, seg: TcpRepr): void {
    const len = seg.payload.length;
    this.#scratch.set(seg.payload, TCP_AT + held.headerLen + held.payloadLen);
    held.payloadLen += len;
    held.nextSeq = (held.nextSeq + len) >>> 0;
    held.segments++;
    held.lastFlags = segFlags(seg);
    held.closed = len < held.segmentSize || seg.control === 'fin';
  }
}

/** The PSH and FIN bits of `seg`. */
function segFlags(seg: TcpRepr): number {
  return (seg.psh ? TcpFlag.PSH : 0) | (seg.control === 'fin' ? TcpFlag.FIN : 0);
}
