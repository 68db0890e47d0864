/**
 * ICMPv6 for the host (RFC 4443): answer echo requests, send the errors IPv6 input asks for
 * (Parameter Problem, Time Exceeded for reassembly) and those the stack decides (Parameter Problem
 * for an unknown Next Header), rate-limited as §2.4 (f) asks; count everything received. The
 * Neighbor Discovery and MLD messages the kernel sends into a point-to-point TUN device are
 * counted and ignored: on an L3 device there are no link-layer addresses to resolve and no
 * multicast group of ours to report.
 */
import type { Ip6Datagram } from '../ip/ipv6-input.ts';
import { IP6_HEADER_ROOM, type Ip6Output } from '../ip/ipv6-output.ts';
import { zeroCounts } from '../ip/stats.ts';
import { get16, get32 } from '../wire/bytes.ts';
import { writeEchoReply } from '../wire/icmp.ts';
import {
  carriesIcmpv6Error,
  emitIcmpv6,
  ICMPV6_HEADER_LEN,
  Icmpv6Type,
  Icmpv6View,
  isMldType,
  isNdType,
} from '../wire/icmpv6.ts';
import {
  IPV6_HEADER_LEN,
  IPV6_MIN_MTU,
  Ipv6Next,
  ipv6Equal,
  isIpv6Multicast,
  isIpv6Unspecified,
} from '../wire/ipv6.ts';
import { ParseError } from '../wire/parse-error.ts';
import { ICMP_DEFAULTS, type IcmpOptions } from './icmp.ts';
import { TokenBucket } from './token-bucket.ts';

export const ICMP6_DROP_REASONS = ['truncated', 'bad-checksum'] as const;
export type Icmp6DropReason = (typeof ICMP6_DROP_REASONS)[number];

export interface Icmp6Stats {
  rxMessages: number;
  rxEchoRequests: number;
  rxEchoReplies: number;
  /** Echo requests to a multicast address, not answered. */
  rxEchoMulticastIgnored: number;
  rxDestUnreachable: number;
  rxPacketTooBig: number;
  rxTimeExceeded: number;
  rxParameterProblem: number;
  /** Destination Unreachables handed to the upper layer that sent the quoted packet. */
  rxErrorsReported: number;
  /** Neighbor Discovery (RFC 4861: types 133-137), ignored: a TUN device has no link layer. */
  rxNdIgnored: number;
  /** MLD queries, reports and dones (RFC 2710, RFC 3810), ignored: we join no group. */
  rxMldIgnored: number;
  /** Any other type: counted, not acted on. */
  rxOther: number;
  txMessages: number;
  txEchoReplies: number;
  txDestUnreachable: number;
  txTimeExceeded: number;
  txParameterProblem: number;
  /** Errors not sent because the token bucket was empty (RFC 4443 §2.4 (f)). */
  txRateLimited: number;
  /** Errors we must not send (RFC 4443 §2.4 (e)): about an ICMPv6 error, to or from multicast, from ::. */
  txSuppressed: number;
  drops: Record<Icmp6DropReason, number>;
}

export function createIcmp6Stats(): Icmp6Stats {
  return {
    rxMessages: 0,
    rxEchoRequests: 0,
    rxEchoReplies: 0,
    rxEchoMulticastIgnored: 0,
    rxDestUnreachable: 0,
    rxPacketTooBig: 0,
    rxTimeExceeded: 0,
    rxParameterProblem: 0,
    rxErrorsReported: 0,
    rxNdIgnored: 0,
    rxMldIgnored: 0,
    rxOther: 0,
    txMessages: 0,
    txEchoReplies: 0,
    txDestUnreachable: 0,
    txTimeExceeded: 0,
    txParameterProblem: 0,
    txRateLimited: 0,
    txSuppressed: 0,
    drops: zeroCounts(ICMP6_DROP_REASONS),
  };
}

/** RFC 4443 §2.4 (c): an error carries as much of the invoking packet as fits in 1280 bytes. */
const MAX_QUOTE = IPV6_MIN_MTU - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN;

/**
 * A Destination Unreachable about a packet we sent, as the transport that sent it needs it
 * (RFC 4443 §3.1: pass it to the upper layer).
 */
export interface Icmp6ErrorReport {
  /** Icmpv6Type.DestUnreachable, or PacketTooBig (RFC 8201; only to handlers that ask for it). */
  type: number;
  /** Destination Unreachable code (Unreach6Code); 0 for a Packet Too Big. */
  code: number;
  /** A Packet Too Big's MTU, else 0. */
  mtu: number;
  /** Who sent it, and the quoted packet's destination: copies, 16 bytes each. */
  reporter: Uint8Array;
  dst: Uint8Array;
  /** The ports from the quoted upper-layer header's first 4 bytes. */
  srcPort: number;
  dstPort: number;
  /** Its bytes 4-7 (TCP's sequence number, RFC 5927 §4.1), or -1 when not quoted. */
  seq: number;
}

export type Icmp6ErrorHandler = (report: Icmp6ErrorReport) => void;

/** Called with each echo reply that arrives (a ping client). Views, valid during the call. */
export type Echo6ReplyListener = (
  src: Uint8Array,
  ident: number,
  seqNo: number,
  data: Uint8Array,
) => void;

export class Icmp6Layer {
  private readonly errors: TokenBucket;
  /** Upper layers that want to hear of Destination Unreachables about their packets. */
  private readonly errorHandlers = new Map<number, Icmp6ErrorHandler>();
  /** Of those, the upper layers that take Packet Too Bigs as well. */
  private readonly tooBigHandlers = new Set<number>();
  /** Set by whoever wants echo replies (a ping client). */
  onEchoReply: Echo6ReplyListener | null = null;

  constructor(
    private readonly ip: Ip6Output,
    private readonly stats: Icmp6Stats,
    options: IcmpOptions = {},
    now = 0,
  ) {
    const o = { ...ICMP_DEFAULTS, ...options };
    this.errors = new TokenBucket(o.errorRatePerSec, o.errorBurst, now);
  }

  /** One ICMPv6 message for us (or to a multicast address). */
  input(d: Ip6Datagram): void {
    const stats = this.stats;
    stats.rxMessages++;
    const icmp = Icmpv6View.check(d.payload, d.src, d.dst, !d.csumTrusted);
    if (icmp instanceof ParseError) {
      stats.drops[icmp.reason]++;
      return;
    }
    const type = icmp.type;
    switch (type) {
      case Icmpv6Type.EchoRequest:
        stats.rxEchoRequests++;
        if (d.multicast) stats.rxEchoMulticastIgnored++;
        else this.echoReply(d.src, icmp.bytes);
        return;
      case Icmpv6Type.EchoReply:
        stats.rxEchoReplies++;
        this.onEchoReply?.(d.src, icmp.ident, icmp.seqNo, icmp.data);
        return;
      case Icmpv6Type.DestUnreachable:
        stats.rxDestUnreachable++;
        this.reportError(Icmpv6Type.DestUnreachable, icmp.code, d.src, icmp.data, 0);
        return;
      case Icmpv6Type.PacketTooBig:
        stats.rxPacketTooBig++;
        this.reportError(Icmpv6Type.PacketTooBig, 0, d.src, icmp.data, icmp.rest >>> 0);
        return;
      case Icmpv6Type.TimeExceeded:
        stats.rxTimeExceeded++;
        return;
      case Icmpv6Type.ParameterProblem:
        stats.rxParameterProblem++;
        return;
    }
    if (isNdType(type)) stats.rxNdIgnored++;
    else if (isMldType(type)) stats.rxMldIgnored++;
    else stats.rxOther++;
  }

  /**
   * Hear about Destination Unreachables quoting our packets of upper-layer protocol `next`, and
   * Packet Too Bigs too when `tooBig` (TCP's path MTU discovery, RFC 8201).
   */
  setErrorHandler(next: number, handler: Icmp6ErrorHandler | null, tooBig = false): void {
    if (handler === null) {
      this.errorHandlers.delete(next);
      this.tooBigHandlers.delete(next);
    } else {
      this.errorHandlers.set(next, handler);
      if (tooBig) this.tooBigHandlers.add(next);
      else this.tooBigHandlers.delete(next);
    }
  }

  /**
   * Hand a Destination Unreachable (or a Packet Too Big) to the upper layer whose packet it
   * quotes: an IPv6 header from our address (anything else is not about our traffic, or forged),
   * then the upper-layer header, behind the Fragment header of a first fragment (we send no
   * other extension header), with at least the 4 bytes that hold the ports.
   */
  private reportError(
    type: number,
    code: number,
    reporter: Uint8Array,
    quote: Uint8Array,
    mtu: number,
  ): void {
    if (quote.length < IPV6_HEADER_LEN + 4 || quote[0] >>> 4 !== 6) return;
    if (!ipv6Equal(quote, this.ip.address, 8)) return;
    let next = quote[6];
    let at = IPV6_HEADER_LEN;
    if (next === Ipv6Next.Fragment) {
      if (quote.length < at + 8 + 4 || (get16(quote, at + 2) & 0xfff8) !== 0) return;
      next = quote[at];
      at += 8;
    }
    const handler = this.errorHandlers.get(next);
    if (handler === undefined) return;
    if (type === Icmpv6Type.PacketTooBig && !this.tooBigHandlers.has(next)) return;
    this.stats.rxErrorsReported++;
    handler({
      type,
      code,
      mtu,
      reporter: reporter.slice(),
      dst: quote.slice(24, 40),
      srcPort: get16(quote, at),
      dstPort: get16(quote, at + 2),
      seq: quote.length >= at + 8 ? get32(quote, at + 4) : -1,
    });
  }

  /**
   * RFC 4443 §4.2: the reply carries the request's identifier, sequence number and data, so copy
   * the message and change the type. The pseudo-header sums the same with the addresses swapped,
   * so the checksum follows from the one changed word (RFC 1624). Any size: IPv6 output
   * fragments what exceeds the MTU.
   */
  private echoReply(to: Uint8Array, request: Uint8Array): void {
    const pkt = this.ip.allocPacket(request.length);
    writeEchoReply(pkt.subarray(IP6_HEADER_ROOM), request, Icmpv6Type.EchoReply);
    if (this.ip.send(pkt, Ipv6Next.Icmpv6, to)) {
      this.stats.txMessages++;
      this.stats.txEchoReplies++;
    }
  }

  /**
   * A Parameter Problem (RFC 4443 §3.4) about `packet` (a whole IPv6 packet as received), with
   * `pointer` the offset of the field at fault. `multicastToo`: due even though the packet went
   * to a multicast address (an unrecognised option whose action bits say so, §2.4 (e.3)).
   */
  sendParameterProblem(
    packet: Uint8Array,
    code: number,
    pointer: number,
    multicastToo: boolean,
    now: number,
  ): boolean {
    if (!this.sendError(Icmpv6Type.ParameterProblem, code, pointer, packet, multicastToo, now)) {
      return false;
    }
    this.stats.txParameterProblem++;
    return true;
  }

  /** A Destination Unreachable (RFC 4443 §3.1) with `code` about received packet `d`. */
  sendUnreachable(code: number, d: Ip6Datagram, now: number): boolean {
    if (!this.sendError(Icmpv6Type.DestUnreachable, code, 0, d.packet, false, now)) {
      return false;
    }
    this.stats.txDestUnreachable++;
    return true;
  }

  /**
   * Time Exceeded code 1, "fragment reassembly time exceeded" (RFC 8200 §4.5: when the
   * offset-0 fragment had arrived), about that fragment, `packet`.
   */
  sendReassemblyTimeout(packet: Uint8Array, now: number): boolean {
    if (!this.sendError(Icmpv6Type.TimeExceeded, 1, 0, packet, false, now)) return false;
    this.stats.txTimeExceeded++;
    return true;
  }

  /**
   * An ICMPv6 error about `packet`, quoting as much of it as fits in 1280 bytes, unless RFC 4443
   * §2.4 (e) forbids it: about a packet carrying an ICMPv6 error message (looked for past its
   * extension headers as Linux does, whether input refused the packet before its upper layer,
   * the upper layer found no port, or a reassembly timed out on an error's fragments), to a
   * multicast address (save `multicastToo`), from the unspecified or a multicast address; or the
   * token bucket is empty (§2.4 (f)).
   */
  private sendError(
    type: number,
    code: number,
    rest: number,
    packet: Uint8Array,
    multicastToo: boolean,
    now: number,
  ): boolean {
    if (
      packet.length < IPV6_HEADER_LEN ||
      carriesIcmpv6Error(packet) ||
      isIpv6Unspecified(packet, 8) ||
      isIpv6Multicast(packet, 8) ||
      (isIpv6Multicast(packet, 24) && !multicastToo)
    ) {
      this.stats.txSuppressed++;
      return false;
    }
    if (!this.errors.take(now)) {
      this.stats.txRateLimited++;
      return false;
    }
    const quoteLen = Math.min(packet.length, MAX_QUOTE);
    const pkt = this.ip.allocPacket(ICMPV6_HEADER_LEN + quoteLen);
    const msg = pkt.subarray(IP6_HEADER_ROOM);
    const quote = msg.subarray(ICMPV6_HEADER_LEN);
    quote.set(packet.subarray(0, quoteLen));
    const to = packet.slice(8, 24);
    emitIcmpv6(msg, { kind: 'other', type, code, rest, data: quote }, this.ip.address, to);
    if (!this.ip.send(pkt, Ipv6Next.Icmpv6, to)) return false;
    this.stats.txMessages++;
    return true;
  }

  /** Send an echo request (a ping client). False when IPv6 output refused it. */
  sendEchoRequest(to: Uint8Array, ident: number, seqNo: number, data: Uint8Array): boolean {
    const pkt = this.ip.allocPacket(ICMPV6_HEADER_LEN + data.length);
    emitIcmpv6(
      pkt.subarray(IP6_HEADER_ROOM),
      { kind: 'echo-request', ident, seqNo, data },
      this.ip.address,
      to,
    );
    if (!this.ip.send(pkt, Ipv6Next.Icmpv6, to)) return false;
    this.stats.txMessages++;
    return true;
  }
}
